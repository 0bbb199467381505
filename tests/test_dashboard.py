"""The dashboard: its rows and snapshot, change notifications, the Textual app driven by its own pilot, and
the real command in a tmux pane. Jobs are real (tmux, the codex test double, plain commands)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_agent import jobs
from codex_agent.dashboard.fleet import (
    ATTENTION_MARK,
    Change,
    Row,
    Snapshot,
    claims_text,
    classify,
    last_output_line,
    live_claims,
    render_text,
    sort_rows,
    watch_changes,
)
from codex_agent.models import Job, JobKind, JobStatus
from tests.helpers import CLI, REPO_ROOT, wait_for

# --- rows, snapshot text ------------------------------------------------------------------------------


def make_job(job_id: str, status: JobStatus, created_at: int, kind: JobKind = JobKind.COMMAND) -> Job:
    return Job(id=job_id, kind=kind, status=status, prompt=f"task {job_id}", cwd="/", created_at=created_at)


def test_rows_put_jobs_needing_attention_first_then_live_then_ended() -> None:
    statuses = [
        JobStatus.COMPLETED, JobStatus.RUNNING, JobStatus.FAILED, JobStatus.IDLE,
        JobStatus.NEEDS_INPUT, JobStatus.KILLED, JobStatus.STALLED, JobStatus.RUNNING,
    ]  # fmt: skip
    rows = [Row(make_job(f"{n:08x}", status, 1000 + n)) for n, status in enumerate(statuses)]
    ordered = [(row.job.status, row.job.id) for row in sort_rows(rows)]
    assert [status for status, _ in ordered] == [
        JobStatus.NEEDS_INPUT, JobStatus.STALLED, JobStatus.FAILED, JobStatus.RUNNING, JobStatus.RUNNING,
        JobStatus.IDLE, JobStatus.KILLED, JobStatus.COMPLETED,
    ]  # fmt: skip
    assert ordered[3][1] == "00000007"  # newest first within a group
    assert [row.attention for row in sort_rows(rows)][:4] == [True, True, True, False]


def test_snapshot_text_fits_80_columns_and_marks_attention_rows() -> None:
    rows = sort_rows(
        [
            Row(make_job("aaaaaaaa", JobStatus.RUNNING, 1), "compiling " + "x" * 200),
            Row(make_job("bbbbbbbb", JobStatus.NEEDS_INPUT, 2, JobKind.CODEX), "Allow command? [y/n]"),
        ]
    )
    text = render_text(Snapshot(rows, project_root="/p", taken_at=10_000), width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert lines[2].startswith(f"{ATTENTION_MARK} bbbbbbbb  ? needs_input")
    assert lines[3].startswith("  aaaaaaaa  ▶ running")
    assert "Allow command? [y/n]" in lines[2]
    assert lines[-2] == "2 jobs  ?1 needs_input  ▶1 running"
    assert lines[-1] == "claims: none"
    only = render_text(Snapshot(rows, taken_at=10_000), width=80, attention_only=True)
    assert "bbbbbbbb" in only and "aaaaaaaa" not in only


def test_a_codex_row_shows_what_its_keeper_recorded_and_a_command_row_its_last_line(tmp_path: Path) -> None:
    tui = make_job("cccccccc", JobStatus.RUNNING, 1, JobKind.CODEX)
    (tmp_path / "output.log").write_bytes(b"\xe2\x80\xba Ask Codex to do anything\r\n")  # the TUI's chrome
    tui.attrs["doing"] = "running pytest -q"
    assert last_output_line(tmp_path, tui) == "running pytest -q"
    tui.attrs["attention"] = "Run `rm -rf build`?"
    assert last_output_line(tmp_path, tui) == "Run `rm -rf build`?"  # a question comes first
    tui.attrs.clear()
    tui.summary = "all done\nthe answer is 42"
    assert last_output_line(tmp_path, tui) == "the answer is 42"
    command = make_job("dddddddd", JobStatus.RUNNING, 1, JobKind.COMMAND)
    (tmp_path / "output.log").write_bytes(b"\x1b[1mbuilding\x1b[0m\r\nstep 3 of 9\r\n\r\n")
    assert last_output_line(tmp_path, command) == "step 3 of 9"
    (tmp_path / "output.log").unlink()
    command.summary = "from the summary"
    assert last_output_line(tmp_path, command) == "from the summary"


def test_the_footer_lists_the_claims_of_live_jobs(cli: CLI, project: Path) -> None:
    holder = cli.ok("start", "write the parser SLEEP 60", "--claim", "src/parser/**", "--json").json()["id"]
    with jobs.opened(project) as opened:
        claims = live_claims(opened)
    assert [(claim.target, claim.holder) for claim in claims] == [("src/parser/**", holder)]
    assert claims_text(claims, 80) == f"claims 1: src/parser/** ({holder})"


def test_changes_are_classified_and_quiet_is_reported(tmp_path: Path) -> None:
    state = tmp_path / "state"
    job_dir = state / "jobs" / "0123abcd"
    job_dir.mkdir(parents=True)
    assert classify(state, [str(job_dir / "output.log")]) == Change(output_of={"0123abcd"})
    assert classify(state, [str(job_dir / "state.stamp")]).records  # the keeper wrote the record
    assert classify(state, [str(state / "state.db-wal")]).database

    stop = threading.Event()
    seen: list[Change | None] = []

    def consume() -> None:
        for change in watch_changes(state, stop, quiet_s=0.3):
            seen.append(change)

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        wait_for(lambda: None in seen, timeout=5, what="a quiet report")
        (job_dir / "output.log").write_text("hello\n")
        wait_for(lambda: any(c and c.output_of == {"0123abcd"} for c in seen), timeout=5, what="output")
        (job_dir / "state.stamp").write_text("1\n")
        wait_for(lambda: any(c and c.records for c in seen), timeout=5, what="a record written")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


# --- the command without a screen ---------------------------------------------------------------------


def start_command(cli: CLI, command: str) -> str:
    return str(cli.ok("exec", "start", "--cmd", command, "--json").json()["job"]["id"])


def test_once_prints_a_plain_snapshot_without_loading_textual(cli: CLI) -> None:
    failed = start_command(cli, "echo about to fail; exit 3")
    running = start_command(cli, "echo working hard; sleep 60")
    cli.wait_status(failed, ["failed"])
    wait_for(lambda: "working hard" in cli.ok("capture", running).out, what="the command's output")
    code = (
        "import sys; from codex_agent.cli import run; status = run(['dashboard', '--once']); "
        "print('textual loaded' if 'textual' in sys.modules else 'textual not loaded'); sys.exit(status)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "80"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cli.cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "textual not loaded"
    assert all(len(line) <= 80 for line in lines)
    assert lines[2].startswith(f"{ATTENTION_MARK} {failed}  ✗ failed") and "about to fail" in lines[2]
    assert lines[3].startswith(f"  {running}  ▶ running") and "working hard" in lines[3]
    assert lines[-3] == "2 jobs  ✗1 failed  ▶1 running"
    assert lines[-2] == "claims: none"

    data = cli.ok("dashboard", "--once", "--json").json()
    assert data["version"] == 1
    assert [job["id"] for job in data["jobs"]] == [failed, running]
    assert data["jobs"][0]["attention"] is True and data["attention"] == 1
    assert data["counts"] == {"failed": 1, "running": 1} and data["claims"] == []
    attention = cli.ok("dashboard", "--once", "--attention", "--json").json()
    assert [job["id"] for job in attention["jobs"]] == [failed]


def test_dashboard_without_a_terminal_refuses_in_one_line(cli: CLI) -> None:
    result = cli.run("dashboard")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "codex-agent: the dashboard needs a terminal — run it in one, or print a snapshot with --once"
    ]
    bad = cli.run("dashboard", "--once", "--dir", str(cli.cwd / "missing"))
    assert bad.code == 2 and "not a directory" in bad.err


# --- the app, driven by Textual's pilot --------------------------------------------------------------


def drive(project: Path, scenario: Callable[[Any, Any], Any], size: tuple[int, int] = (80, 24)) -> None:
    """Run the dashboard headless in `project` and play `scenario(app, pilot)` against it."""
    from codex_agent.dashboard.app import DashboardApp

    async def main() -> None:
        app = DashboardApp(project, quiet_s=0.5)
        async with app.run_test(size=size) as pilot:
            await scenario(app, pilot)

    previous = Path.cwd()
    os.chdir(project)
    try:
        asyncio.run(main())
    finally:
        os.chdir(previous)


async def until(pilot: Any, condition: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await pilot.pause(0.05)


def shown_ids(app: Any) -> list[str]:
    return [job_id for job_id, _cells in app.shown]


async def select(app: Any, pilot: Any, job_id: str) -> None:
    while app.selected_id != job_id:
        index = shown_ids(app).index(job_id)
        current = shown_ids(app).index(app.selected_id)
        await pilot.press("down" if index > current else "up")
        await pilot.pause()


def screen_text(cli: CLI, job_id: str) -> str:
    return cli.ok("capture", job_id, "--strip-ansi").out


def test_pilot_selects_a_job_shows_its_output_and_report_and_follows_new_jobs(
    cli: CLI, project: Path
) -> None:
    first = cli.start("explain the build")["id"]
    cli.wait_status(first, ["idle"])
    second = start_command(cli, "echo line one; echo line two; sleep 60")

    async def scenario(app: Any, pilot: Any) -> None:
        await until(pilot, lambda: set(shown_ids(app)) == {first, second}, what="both jobs listed")
        await select(app, pilot, first)
        await until(pilot, lambda: "ECHO[17 chars" in app.detail_output.get(first, ""), what="its output")
        detail = str(app.query_one("#detail").render())
        assert first in detail and "◆ idle" in detail and "explain the build" in detail
        await select(app, pilot, second)
        await until(
            pilot, lambda: "line two" in app.detail_output.get(second, ""), what="the command's output"
        )

        await pilot.press("enter")  # the full view: report and recent output
        from codex_agent.dashboard.screens import JobScreen

        await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.output_text, what="view")
        report = str(app.screen.query_one("#report").render())
        assert "attach:" in report and f"codex-agent-{second}" in report and "▶ running" in report
        assert "line one" in app.screen.output_text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, JobScreen), what="back to the list")

        # A job started elsewhere shows up by itself: the state directory changed.
        third = start_command(cli, "echo third; exit 5")
        await until(pilot, lambda: third in shown_ids(app), what="the new job")
        await until(pilot, lambda: app.rows[third].job.status is JobStatus.FAILED, what="it to fail")
        assert shown_ids(app)[0] == third  # needs attention: first
        status = str(app.query_one("#status").render())
        assert "3 jobs" in status and "claims: none" in status

        await pilot.press("f")  # attention only
        await until(pilot, lambda: shown_ids(app) == [third], what="the filter")
        await pilot.press("f")
        await until(pilot, lambda: len(shown_ids(app)) == 3, what="the filter off")

    drive(project, scenario)


def test_pilot_sends_a_message_to_a_live_tui_job(cli: CLI, project: Path) -> None:
    job_id = cli.start("first task")["id"]
    cli.wait_status(job_id, ["idle"])
    message = "second task WRITE note.txt"

    async def scenario(app: Any, pilot: Any) -> None:
        from textual.widgets import Input

        from codex_agent.dashboard.screens import MessageScreen

        await until(pilot, lambda: job_id in shown_ids(app), what="the job")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MessageScreen), what="the message box")
        await pilot.press(*"second task")  # typed key by key, like a person
        assert app.screen.query_one(Input).value == "second task"
        app.screen.query_one(Input).value = message
        await pilot.press("enter")
        await until(pilot, lambda: f"message sent to {job_id}" in app.notes, what="the message sent")
        # The agent answered: its last line in the table follows the output log.
        await until(pilot, lambda: "ECHO[26 chars" in app.rows[job_id].last_line, what="the reply in the row")

    drive(project, scenario)
    done = cli.wait_status(job_id, ["idle"])
    assert "second task" in done["summary"]
    assert (project / "note.txt").read_text() == message


def test_pilot_answers_a_question_with_y(cli: CLI, project: Path) -> None:
    asking = cli.start("please ASK before you touch anything")["id"]
    cli.wait_status(asking, ["needs_input"])
    other = start_command(cli, "sleep 60")

    async def scenario(app: Any, pilot: Any) -> None:
        await until(pilot, lambda: {asking, other} <= set(shown_ids(app)), what="the jobs")
        await until(pilot, lambda: "touch approved.txt" in app.rows[asking].last_line, what="the question")
        await select(app, pilot, asking)
        await pilot.press("y")
        await until(pilot, lambda: f"answered y to {asking}" in app.notes, what="the answer")

    drive(project, scenario)
    assert cli.wait_status(asking, ["idle"])["summary"].startswith("ECHO[")
    assert (project / "approved.txt").exists()  # codex was told yes, through its protocol
    assert cli.job(other)["status"] == "running"  # the other job was not touched


def test_pilot_kills_only_after_confirmation(cli: CLI, project: Path) -> None:
    victim = start_command(cli, "echo doomed; sleep 60")
    bystander = start_command(cli, "echo safe; sleep 60")

    async def scenario(app: Any, pilot: Any) -> None:
        from codex_agent.dashboard.screens import ConfirmScreen

        await until(pilot, lambda: {victim, bystander} <= set(shown_ids(app)), what="the jobs")
        await select(app, pilot, victim)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="the question gone")
        assert app.rows[victim].job.status is JobStatus.RUNNING
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question again")
        await pilot.press("y")
        await until(pilot, lambda: app.rows[victim].job.status is JobStatus.KILLED, what="the kill shown")
        assert f"killed {victim}" in app.notes
        await pilot.press("x")  # an ended job: refused with a note, no question
        await until(pilot, lambda: any("already ended" in note for note in app.notes), what="the refusal")
        assert not isinstance(app.screen, ConfirmScreen)

    drive(project, scenario)
    assert cli.job(victim)["status"] == "killed"
    assert cli.job(bystander)["status"] == "running"


# --- the real command in a terminal --------------------------------------------------------------------


@pytest.fixture
def host(tmux_socket: str) -> Iterator[str]:
    """A second tmux server: the terminal the dashboard runs in (the jobs live on `tmux_socket`)."""
    socket = f"{tmux_socket}-host"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)


def test_real_dashboard_in_a_tmux_pane(cli: CLI, project: Path, host: str, tmux_socket: str) -> None:
    first = cli.start("explain the build")["id"]
    cli.wait_status(first, ["idle"])
    env = {key: os.environ[key] for key in ("HOME", "CODEX_HOME", "CODEX_AGENT_TMUX_SOCKET",
                                            "CODEX_AGENT_CODEX_BIN", "NO_COLOR", "SHELL")}  # fmt: skip
    env["PYTHONPATH"] = str(REPO_ROOT)
    settings = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    subprocess.run(
        ["tmux", "-L", host, "new-session", "-d", "-x", "80", "-y", "24", "-s", "screen", "-c", str(project),
         *settings, sys.executable, "-m", "codex_agent", "dashboard"],
        check=True,
        # The test run's COLUMNS would tell Textual the terminal is that wide: the pane's size must rule.
        env={key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")},
    )  # fmt: skip

    def screen() -> str:
        result = subprocess.run(
            ["tmux", "-L", host, "capture-pane", "-p", "-t", "screen"], capture_output=True, text=True
        )
        return result.stdout if result.returncode == 0 else ""

    def screen_with(*parts: str) -> str | None:
        """The screen once it shows every one of `parts` (one capture: the parts are seen together)."""
        shown = screen()
        return shown if all(part in shown for part in parts) else None

    text = wait_for(lambda: screen_with(first, "1 job"), what="the dashboard")
    assert "◆ idle" in text and "explain the…" in text
    assert "claims: none" in text and "q quit" in text
    assert all(len(line) <= 80 for line in text.splitlines())

    second = start_command(cli, "echo from the second job; exit 2")
    text = wait_for(lambda: screen_with("2 jobs", "✗1 failed"), what="job two")
    rows = [line for line in text.splitlines() if first in line or second in line]
    assert rows[0].startswith(f" {ATTENTION_MARK} {second}")  # the failed job, first and marked
    assert "from the second job" in rows[0]

    # Attach to the idle agent: the dashboard gives the terminal to tmux and takes it back on detach.
    subprocess.run(["tmux", "-L", host, "send-keys", "-t", "screen", "Down"], check=True)
    wait_for(lambda: f"{first}  ◆ idle" in screen(), what="the agent selected")
    subprocess.run(["tmux", "-L", host, "send-keys", "-t", "screen", "a"], check=True)
    wait_for(lambda: "Ask Codex to do anything" in screen() and "q quit" not in screen(), what="the attach")
    clients = subprocess.run(
        ["tmux", "-L", tmux_socket, "list-clients", "-t", f"codex-agent-{first}"],
        capture_output=True,
        text=True,
    )
    assert clients.stdout.strip(), "no client attached to the job's session"
    subprocess.run(["tmux", "-L", tmux_socket, "detach-client", "-s", f"codex-agent-{first}"], check=True)
    wait_for(lambda: "q quit" in screen() and "2 jobs" in screen(), what="the dashboard back")

    subprocess.run(["tmux", "-L", host, "send-keys", "-t", "screen", "q"], check=True)
    wait_for(
        lambda: (
            subprocess.run(
                ["tmux", "-L", host, "has-session", "-t", "screen"], capture_output=True
            ).returncode
            != 0
        ),
        what="the dashboard to quit",
    )
    assert cli.job(first)["status"] == "idle"  # attaching and leaving did not disturb the agent
