"""The core lifecycle against a real tmux server and the codex test double."""

from __future__ import annotations

import hashlib
import stat
import subprocess
from pathlib import Path

import libtmux

from tests.helpers import CLI, wait_for


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_tui_job_goes_idle_with_reply_tokens_and_thread(cli: CLI, tmux_socket: str) -> None:
    job = cli.start("explain the build")
    assert job["status"] == "running"
    assert job["kind"] == "codex"
    assert (
        job["model"] == "gpt-5.3-codex"
        and job["reasoning"] == "xhigh"
        and job["sandbox"] == "workspace-write"
    )

    idle = cli.wait_status(job["id"], ["idle"])
    assert idle["summary"].startswith(f"ECHO[17 chars sha256={sha('explain the build')}]")
    assert idle["tokens"]["input"] > 0 and idle["tokens"]["output"] > 0
    assert idle["tokens"]["context_window"] == 258400  # what the double reports, as codex 0.169 does
    assert idle["thread_id"]
    assert idle["started_at"] and idle["completed_at"] is None

    # The pane runs the TUI as a client of the job's app-server: it draws the reply once it has it.
    wait_for(lambda: "ECHO[17 chars" in cli.ok("capture", job["id"], "--strip-ansi").out)

    # The session is a real tmux session a person can attach to.
    server = libtmux.Server(socket_name=tmux_socket)
    assert server.has_session(f"codex-agent-{job['id']}")

    killed = cli.ok("kill", job["id"], "--json").json()
    assert killed["status"] == "killed"
    assert not server.has_session(f"codex-agent-{job['id']}")
    assert cli.job(job["id"])["status"] == "killed"


def test_human_start_output_names_the_next_commands(cli: CLI) -> None:
    out = cli.ok("start", "hello").out
    job_id = out.split()[2]
    assert f"codex-agent-{job_id}" in out
    assert f"codex-agent capture {job_id}" in out
    assert f"codex-agent send {job_id}" in out
    assert "attach -t codex-agent-" in out


def test_killing_the_tmux_server_makes_running_jobs_lost(cli: CLI, tmux_socket: str) -> None:
    job = cli.start("first")
    cli.wait_status(job["id"], ["idle"])
    subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], check=True)
    lost = cli.wait_status(job["id"], ["lost"])
    assert "session" in lost["error"], lost["error"]  # recorded by the keeper as it went, or by this read
    assert lost["completed_at"] is not None


def test_exec_job_completes_with_summary_and_modified_files(cli: CLI, project: Path) -> None:
    job = cli.start("--exec", "please WRITE notes.txt now")
    done = cli.wait_status(job["id"], ["completed", "failed"])
    assert done["status"] == "completed", done
    assert done["exit_code"] == 0
    assert done["summary"].startswith("ECHO[")
    assert done["files_modified"] == ["notes.txt"]
    assert (project / "notes.txt").exists()
    assert done["tokens"]["input"] > 0


def test_an_exec_job_whose_turn_fails_ends_failed_with_codex_error(cli: CLI) -> None:
    job = cli.start("--exec", "FAIL model exploded")
    done = cli.wait_status(job["id"], ["completed", "failed"])
    assert done["status"] == "failed"
    assert done["exit_code"] == 1
    assert done["error"] == "model exploded"
    assert cli.run("wait", job["id"]).code == 10


def test_large_prompts_arrive_byte_exact(cli: CLI, tmp_path: Path) -> None:
    # 300 KB: far over what one argv value may hold. Exec reads it on stdin; the TUI gets it pasted.
    text = ('line with $(rm -rf /) ; `quotes\' "and" \\ backslashes — ünïcode\n' * 4700)[:300_000]
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(text)
    for args in (("--exec",), ()):
        job = cli.start(*args, f"@{prompt_file}")
        done = cli.wait_status(job["id"], ["completed", "idle"], timeout=60)
        assert f"sha256={sha(text)}" in done["summary"], args


def test_command_output_exit_code_and_signal(cli: CLI) -> None:
    result = cli.run("exec", "run", "--cmd", "echo out; echo err >&2; exit 3")
    assert result.code == 3
    assert "out\n" in result.out and "err\n" in result.out

    started = cli.ok("exec", "start", "--cmd", "kill -9 $$").out.strip()
    ended = cli.wait_status(started, ["failed"])
    assert ended["exit_code"] == 137
    assert ended["error"] == "killed by signal SIGKILL"


def test_capture_reaches_scrolled_off_lines_and_output_outlives_the_session(cli: CLI) -> None:
    job_id = cli.ok("exec", "start", "--cmd", "seq 1 400").out.strip()
    cli.wait_status(job_id, ["completed"])
    lines = cli.ok("capture", job_id, "300", "--strip-ansi").out.splitlines()
    assert lines == [str(n) for n in range(101, 401)]
    cli.ok("clean", "--older-than", "0s")
    assert cli.run("status", job_id).code == 3  # removed


def test_output_after_kill(cli: CLI) -> None:
    job_id = cli.ok("exec", "start", "--cmd", "echo marker-123; sleep 60").out.strip()
    wait_for(lambda: "marker-123" in cli.ok("output", job_id).out)
    cli.ok("kill", job_id)
    assert "marker-123" in cli.ok("output", job_id, "--strip-ansi").out
    assert "marker-123" in cli.ok("capture", job_id, "5").out


def test_jobs_json_shape_and_filters(cli: CLI) -> None:
    first = cli.ok("exec", "start", "--cmd", "true").out.strip()
    second = cli.ok("exec", "start", "--cmd", "sleep 60").out.strip()
    cli.wait_status(first, ["completed"])
    listing = cli.ok("jobs", "--json").json()
    assert listing["version"] == 1 and listing["generated_at"].endswith("Z")
    assert [job["id"] for job in listing["jobs"]] == [second, first]
    expected = {
        "id", "status", "kind", "prompt", "model", "reasoning", "sandbox", "cwd", "elapsed_ms", "created_at",
        "started_at", "completed_at", "exit_code", "tmux_session", "thread_id", "error", "parent_session",
        "tokens", "files_modified", "summary",
    }  # fmt: skip
    assert set(listing["jobs"][0]) >= expected
    running = cli.ok("jobs", "--json", "--status", "running").json()["jobs"]
    assert [job["id"] for job in running] == [second]
    assert len(cli.ok("jobs", "--json", "--limit", "1").json()["jobs"]) == 1


def test_long_prompts_are_kept_once_in_the_job_folder(cli: CLI, project: Path) -> None:
    job = cli.start("x" * 500)
    listed = cli.ok("jobs", "--json").json()["jobs"][0]
    assert listed["prompt"] == "x" * 100 and listed["prompt_bytes"] == 500
    assert cli.job(job["id"])["prompt"] == "x" * 100  # records carry a preview, and its size
    assert cli.job(job["id"])["prompt_bytes"] == 500
    assert (project / ".codex-agent" / "jobs" / job["id"] / "prompt.txt").read_text() == "x" * 500


def test_ids_accept_unique_prefixes_and_session_names(cli: CLI) -> None:
    job_id = cli.ok("exec", "start", "--cmd", "true").out.strip()
    assert cli.job(job_id[:3])["id"] == job_id
    assert cli.job(f"codex-agent-{job_id}")["id"] == job_id


def test_ambiguous_prefix_is_refused(cli: CLI, project: Path) -> None:
    ids = {cli.ok("exec", "start", "--cmd", "true").out.strip() for _ in range(20)}
    first_chars = [job_id[0] for job_id in ids]
    shared = next(c for c in first_chars if first_chars.count(c) > 1)
    result = cli.run("status", shared)
    assert result.code == 4
    assert "matches several jobs" in result.err and "\n" not in result.err.strip()


def test_delete_refuses_a_live_job_unless_forced(cli: CLI, tmux_socket: str) -> None:
    job_id = cli.ok("exec", "start", "--cmd", "sleep 60").out.strip()
    refused = cli.run("delete", job_id)
    assert refused.code == 5 and "--force" in refused.err
    assert cli.job(job_id)["status"] == "running"
    cli.ok("delete", job_id, "--force")
    assert cli.run("status", job_id).code == 3
    assert not libtmux.Server(socket_name=tmux_socket).has_session(f"codex-agent-{job_id}")


def test_clean_kills_orphaned_sessions_of_this_project_only(
    cli: CLI, project: Path, tmux_socket: str
) -> None:
    job_id = cli.ok("exec", "start", "--cmd", "sleep 60").out.strip()
    # Forget the job (as if its record were lost): its session becomes an orphan of this project.
    state = project / ".codex-agent"
    subprocess.run(["sqlite3", str(state / "state.db"), f"DELETE FROM jobs WHERE id='{job_id}'"], check=False)
    if cli.run("status", job_id).code != 3:  # no sqlite3 command-line tool: use Python instead
        import sqlite3

        with sqlite3.connect(state / "state.db") as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    server = libtmux.Server(socket_name=tmux_socket)
    server.new_session(session_name="codex-agent-0000beef", detach=True)  # someone else's
    report = cli.ok("clean", "--json").json()
    assert report["killed_orphan_sessions"] == [f"codex-agent-{job_id}"]
    assert report["foreign_sessions"] == ["codex-agent-0000beef"]
    assert server.has_session("codex-agent-0000beef")


def test_sessions_lists_live_sessions(cli: CLI) -> None:
    job_id = cli.ok("exec", "start", "--cmd", "sleep 60").out.strip()
    rows = cli.ok("sessions", "--json").json()["sessions"]
    assert [(row["session"], row["alive"], row["this_project"]) for row in rows] == [
        (f"codex-agent-{job_id}", True, True)
    ]


def test_dry_run_creates_nothing(cli: CLI, project: Path) -> None:
    plan = cli.ok("start", "plan this", "--dry-run", "--json", "-r", "low", "-s", "read-only").json()
    assert plan["argv"][1:3] == ["app-server", "--listen"]  # the job's own app-server
    assert (plan["job"]["sandbox"], plan["job"]["reasoning"]) == ("read-only", "low")  # sent in thread/start
    assert plan["prompt_via"] == "protocol"
    assert not (project / ".codex-agent").exists()


def test_state_lives_at_the_git_top_level_with_private_modes(cli: CLI, project: Path) -> None:
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    job_id = CLI(cwd=sub).ok("exec", "start", "--cmd", "true").out.strip()
    state = project / ".codex-agent"
    assert (state / "state.db").exists()
    cli.wait_status(job_id, ["completed"])
    for path in [state, *state.rglob("*")]:
        try:
            info = path.stat()
        except FileNotFoundError:
            continue  # SQLite's -wal/-shm files go when the job's after-exit process closes the database
        mode = info.st_mode & 0o777
        assert mode == (0o700 if stat.S_ISDIR(info.st_mode) else 0o600), (path, oct(mode))


def test_state_dir_override(cli: CLI, tmp_path: Path) -> None:
    elsewhere = tmp_path / "state-elsewhere"
    job_id = cli.ok(
        "exec", "start", "--cmd", "true", env={"CODEX_AGENT_STATE_DIR": str(elsewhere)}
    ).out.strip()
    assert (elsewhere / "jobs" / job_id).is_dir()
    assert cli.run("status", job_id).code == 3  # not in the default state
