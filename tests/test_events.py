"""`codex-agent events`: job transitions from the store, followed on inotify, resumable with --since; and the
plugin's monitor and hooks run exactly as Claude Code runs them.

Kinds that no code writes yet (the keeper will: turn_completed, needs_input, turn_failed, stalled) are added
through the Store API, as the keeper will add them; started and ended come from real plain-command jobs.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_agent import event_lines, events
from codex_agent.store import Store
from tests.helpers import CLI, REPO_ROOT, wait_for

PLUGIN = REPO_ROOT / "plugins" / "codex-orchestrator"
DEADLINE_S = 20.0


class Follower:
    """A running `events` process whose stdout lines are collected by a thread."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None, shell: bool = False):
        full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        command: Any = argv[0] if shell else [sys.executable, "-m", "codex_agent", *argv]
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=full_env,
            shell=shell,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def take(self, count: int, timeout: float = DEADLINE_S) -> list[str]:
        out = []
        for _ in range(count):
            try:
                out.append(self.lines.get(timeout=timeout))
            except queue.Empty:
                err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
                raise AssertionError(f"got {len(out)} of {count} lines: {out} {err}") from None
        return out

    def ready(self) -> None:
        """Wait until the follower (or a process it started) watches with inotify: from then on, it
        misses nothing written."""
        wait_for(lambda: _watching(self.proc.pid), timeout=DEADLINE_S, what="the follower's inotify watch")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
        self.proc.wait(timeout=10)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _watching(pid: int) -> bool:
    for process in _descendants(pid):
        try:
            fds = list(Path(f"/proc/{process}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if "inotify" in os.readlink(fd):
                    return True
            except OSError:
                continue
    return False


@pytest.fixture
def follower_factory() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for follower in started:
        follower.stop()


def follow(started: list[Follower], cwd: Path, *args: str, **kwargs: Any) -> Follower:
    follower = Follower(list(args), cwd, **kwargs)
    started.append(follower)
    return follower


def store_of(project: Path) -> Store:
    return Store.open(project / ".codex-agent", create=False)


def add(project: Path, job_id: str, kind: str, data: dict[str, Any]) -> None:
    store = store_of(project)
    try:
        store.add_event(job_id, kind, data)
    finally:
        store.close()


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


# --- the command ------------------------------------------------------------------------------------------


def test_real_jobs_and_keeper_kinds_arrive_once_in_order(
    cli: CLI, project: Path, follower_factory: list[Follower]
) -> None:
    follower = follow(follower_factory, project, "events", "--follow", "--json")  # before any state exists
    ran = cli.run("exec", "run", "--cmd", "echo built", "--json")
    job = ran.json()["exec_id"]
    first = parsed(follower.take(2))
    assert [(e["job_id"], e["kind"]) for e in first] == [(job, "started"), (job, "ended")]
    assert first[0]["data"] == {"kind": "command"}
    assert first[1]["data"] == {"status": "completed", "exit_code": 0, "error": None}

    question = {"question": "Allow `rm -rf build`?", "command": "rm -rf build", "cwd": str(project)}
    add(project, job, "needs_input", {**question, "answers": ["y", "n"], "extra": 1})
    add(project, job, "turn_failed", {"error": "stream disconnected", "turn_id": "t2"})
    add(project, job, "message_confirmed", {"by": "rollout"})  # bookkeeping: not shown
    add(project, job, "turn_completed", {"summary": "Done.\nDetails follow", "turn_id": "t3"})
    add(project, job, "stalled", {"quiet_s": 725})
    later = parsed(follower.take(4))
    assert [e["kind"] for e in later] == ["needs_input", "turn_failed", "turn_completed", "stalled"]
    assert later[0]["data"] == {**question, "reason": None, "answers": ["y", "n"]}
    seqs = [e["seq"] for e in first + later]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    add(project, job, "stalled", {"quiet_s": 1})  # nothing was repeated before this one
    (marker,) = parsed(follower.take(1))
    assert marker["data"] == {"quiet_s": 1.0} and marker["seq"] > seqs[-1]
    assert follower.lines.empty() and follower.proc.poll() is None

    history = parsed(cli.ok("events", "--json").out.splitlines())
    assert history == first + later + [marker]
    from codex_agent.schema import EventLine

    for line in history:
        EventLine.model_validate(line)


def test_restart_with_since_loses_and_repeats_nothing(
    cli: CLI, project: Path, follower_factory: list[Follower]
) -> None:
    job = cli.run("exec", "run", "--cmd", "true", "--json").json()["exec_id"]
    first = follow(follower_factory, project, "events", "--follow", "--json", "--kind", "stalled")
    for quiet in range(5):
        add(project, job, "stalled", {"quiet_s": quiet})
    seen = parsed(first.take(5))
    first.stop()
    for quiet in range(5, 10):  # written while nobody follows
        add(project, job, "stalled", {"quiet_s": quiet})
    resumed = follow(
        follower_factory,
        project,
        "events",
        "--follow",
        "--json",
        "--kind",
        "stalled",
        "--since",
        str(seen[-1]["seq"]),
    )
    resumed.ready()
    for quiet in range(10, 12):
        add(project, job, "stalled", {"quiet_s": quiet})
    rest = parsed(resumed.take(7))
    assert [e["data"]["quiet_s"] for e in seen + rest] == [float(n) for n in range(12)]
    assert resumed.lines.empty()


def test_fifty_jobs_ending_at_once_lose_nothing(
    cli: CLI, project: Path, follower_factory: list[Follower], tmp_path: Path
) -> None:
    lock = tmp_path / "gate"
    lock.touch()
    with lock.open("w") as gate:
        fcntl.flock(gate, fcntl.LOCK_EX)  # every job waits for this lock, so all end together
        ids = [
            cli.ok("exec", "start", "--cmd", f"flock -s {lock} true", "--json").json()["exec_id"]
            for _ in range(50)
        ]
        follower = follow(follower_factory, project, "events", "--follow", "--json", "--kind", "ended")
        follower.ready()
        fcntl.flock(gate, fcntl.LOCK_UN)
        ended = parsed(follower.take(50, timeout=60))
    assert sorted(e["job_id"] for e in ended) == sorted(ids)
    assert {e["data"]["status"] for e in ended} == {"completed"}
    assert follower.lines.empty()


def test_a_job_ends_once_and_kill_is_an_end(cli: CLI, project: Path) -> None:
    tui = cli.start("describe the project")
    cli.wait_status(tui["id"], ["idle"])
    cli.ok("kill", tui["id"])
    add(project, tui["id"], "ended", {"status": "killed", "exit_code": None})  # a second record of it
    lines = parsed(cli.ok("events", "--json", "--job", tui["id"][:5], "--kind", "ended").out.splitlines())
    assert [e["data"]["status"] for e in lines] == ["killed"]


def test_filters_cursor_and_refusals(cli: CLI, project: Path) -> None:
    assert cli.ok("events").err.strip() == "no events yet"
    one = cli.run("exec", "run", "--cmd", "true", "--json").json()["exec_id"]
    two = cli.run("exec", "run", "--cmd", "exit 4", "--json").json()["exec_id"]
    only_two = parsed(cli.ok("events", "--json", "--job", two).out.splitlines())
    assert {e["job_id"] for e in only_two} == {two}
    ends = parsed(cli.ok("events", "--json", "--kind", "ended").out.splitlines())
    assert [(e["job_id"], e["data"]["exit_code"]) for e in ends] == [(one, 0), (two, 4)]
    after = parsed(cli.ok("events", "--json", "--since", str(ends[0]["seq"])).out.splitlines())
    assert all(e["seq"] > ends[0]["seq"] for e in after) and after
    assert cli.ok("events", "--since", "now").out == ""
    for args, code in (
        (["--kind", "creatd"], 2),
        (["--since", "yesterday"], 2),
        (["--since", "-3"], 2),
        (["--job", "ffffffff"], 3),
        (["--dir", str(project / "missing")], 2),
    ):
        result = cli.run("events", *args)
        assert result.code == code, (args, result)
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_human_lines_name_the_job_and_the_next_command_and_strip_escapes() -> None:
    def line(kind: str, data: dict[str, Any], job_kind: str = "codex") -> str:
        event = events._public(_NoStore(), 7, 0, "3f9a1c2e", kind, json.dumps(data), job_kind)  # type: ignore[arg-type]
        assert event is not None
        return event_lines.describe(event)

    hostile = "Allow \x1b]52;c;ZXZpbA==\x07`rm -rf build`\x1b[2J?\u202e\udcff\nnow"
    asked = line("needs_input", {"question": hostile, "answers": ["y", "n"]})
    assert asked == (
        "job 3f9a1c2e needs input: Allow `rm -rf build`? now → codex-agent send 3f9a1c2e --key y "
        "(answers: y, n)"
    )
    assert "codex-agent capture 3f9a1c2e" in line("needs_input", {})
    assert line("turn_completed", {"summary": "\n\nAll tests pass.\nMore"}).startswith(
        "job 3f9a1c2e finished its turn: All tests pass. → codex-agent report 3f9a1c2e"
    )
    assert "resume 3f9a1c2e" in line("ended", {"status": "failed", "exit_code": 1, "error": "boom"})
    assert "resume" not in line("ended", {"status": "failed", "exit_code": 1}, job_kind="command")
    assert line("killed", {}) == "job 3f9a1c2e ended: killed → codex-agent report 3f9a1c2e"
    assert "no progress for 12m" in line("stalled", {"quiet_s": 725})
    assert event_lines.clean("a\x00b\x9b31mc\u200bd") == "abcd"
    spoof = line("turn_completed", {"summary": "Done → codex-agent kill 0badc0de"})
    assert spoof.count("→") == 1 and "Done -> codex-agent kill 0badc0de → codex-agent report" in spoof


class _NoStore:
    def has_event_before(self, job_id: str, kinds: Any, seq: int) -> bool:
        return False


# --- the plugin's monitor and hooks, run as Claude Code runs them ------------------------------------------


def _fleet(cli: CLI, project: Path, gate: Any) -> dict[str, str]:
    """A project with jobs in several states: completed, failed, running (until `gate` is unlocked), idle,
    killed."""
    fcntl.flock(gate, fcntl.LOCK_EX)
    jobs = {
        "completed": cli.run("exec", "run", "--cmd", "echo ok", "--json").json()["exec_id"],
        "failed": cli.run("exec", "run", "--cmd", "exit 2", "--json").json()["exec_id"],
        "running": cli.ok("exec", "start", "--cmd", f"flock -s {gate.name} true", "--json").json()["exec_id"],
        "idle": cli.start("describe the project")["id"],
        "killed": cli.start("another look")["id"],
    }
    cli.wait_status(jobs["idle"], ["idle"])
    cli.wait_status(jobs["killed"], ["idle"])
    cli.ok("kill", jobs["killed"])
    return jobs


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Any]:
    with (tmp_path / "gate").open("w") as handle:
        yield handle


def _claude_env(project: Path, tmp_path: Path) -> dict[str, str]:
    """What Claude Code puts in a plugin command's environment, plus a `codex-agent` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "codex-agent"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m codex_agent "$@"\n')
    launcher.chmod(0o755)
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO_ROOT),
        "CLAUDE_PLUGIN_ROOT": str(PLUGIN),
        "CLAUDE_PROJECT_DIR": str(project),
    }


def _hook_command(event: str, source: str | None) -> tuple[str, int]:
    config = json.loads((PLUGIN / "hooks" / "hooks.json").read_text())
    for group in config["hooks"][event]:
        matcher = group.get("matcher")
        if source is None or matcher is None or source in matcher.split("|"):
            (hook,) = group["hooks"]
            assert hook["type"] == "command"
            return hook["command"], hook["timeout"]
    raise AssertionError(f"no {event} hook for {source}")


def _run_hook(event: str, source: str | None, payload: dict[str, Any], env: dict[str, str]) -> str:
    command, timeout = _hook_command(event, source)
    result = subprocess.run(
        ["sh", "-c", command],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd="/",
        env={**os.environ, **env},
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_session_start_hook_puts_the_fleet_back_after_compaction(
    cli: CLI, project: Path, tmp_path: Path, gate: Any
) -> None:
    jobs = _fleet(cli, project, gate)
    env = _claude_env(project, tmp_path)
    subdir = project / "src"
    subdir.mkdir()
    for source in ("compact", "resume"):
        payload = {
            "session_id": "abc",
            "transcript_path": str(tmp_path / "t.jsonl"),
            "cwd": str(subdir),  # the session's cwd: the project is found from it
            "hook_event_name": "SessionStart",
            "source": source,
        }
        out = _run_hook("SessionStart", source, payload, env)
        assert f"after {source}" in out and "codex-agent context" in out
        for state in ("completed", "failed", "running", "idle", "killed"):
            assert jobs[state] in out, (state, out)
    with pytest.raises(AssertionError):
        _hook_command("SessionStart", "startup")  # a fresh session starts clean: no hook
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    quiet = _run_hook("SessionStart", "compact", {"cwd": str(empty), "source": "compact"}, env)
    assert quiet == ""  # a project without jobs gets nothing added
    missing = _run_hook("SessionStart", "compact", {"cwd": str(project)}, {**env, "PATH": "/usr/bin:/bin"})
    assert "codex-agent is not on PATH" in missing


def test_session_end_hook_notes_live_jobs_in_agents_log(
    cli: CLI, project: Path, tmp_path: Path, gate: Any
) -> None:
    jobs = _fleet(cli, project, gate)
    env = _claude_env(project, tmp_path)
    payload = {"session_id": "abc", "cwd": str(project), "hook_event_name": "SessionEnd", "reason": "logout"}
    assert _run_hook("SessionEnd", None, payload, env) == ""
    (note,) = [line for line in (project / "agents.log").read_text().splitlines() if "session ended" in line]
    assert "(logout)" in note and jobs["running"] in note and jobs["idle"] in note
    assert jobs["completed"] not in note and jobs["killed"] not in note
    fcntl.flock(gate, fcntl.LOCK_UN)
    cli.wait_status(jobs["running"], ["completed"])
    cli.ok("kill", jobs["idle"])
    before = (project / "agents.log").read_text()
    assert _run_hook("SessionEnd", None, payload, env) == ""
    assert (project / "agents.log").read_text() == before  # nothing live: nothing to say


def test_monitor_command_pushes_what_needs_the_orchestrator(
    cli: CLI, project: Path, tmp_path: Path, follower_factory: list[Follower], gate: Any
) -> None:
    jobs = _fleet(cli, project, gate)
    (monitor,) = json.loads((PLUGIN / "monitors" / "monitors.json").read_text())
    assert monitor["name"] and monitor["description"] and monitor.get("when", "always") == "always"
    argv = shlex.split(monitor["command"])
    kinds = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--kind"]
    assert sorted(kinds) == sorted(events.ACTIONABLE_KINDS) and argv[argv.index("--since") + 1] == "now"
    env = _claude_env(project, tmp_path)
    # Claude Code substitutes ${CLAUDE_PLUGIN_ROOT} and friends, then runs it in the session's cwd.
    command = monitor["command"].replace("${CLAUDE_PLUGIN_ROOT}", str(PLUGIN))
    pushed = follow(follower_factory, project, command, env=env, shell=True)
    pushed.ready()
    idle = jobs["idle"]
    add(project, idle, "needs_input", {"question": "Allow `rm -rf build`?", "answers": ["y", "n"]})
    add(project, idle, "turn_failed", {"error": "stream disconnected before completion"})
    add(project, idle, "turn_completed", {"summary": "Found 3 call sites; details below."})
    add(project, idle, "stalled", {"quiet_s": 900})
    add(project, idle, "message_confirmed", {})
    cli.ok("kill", idle)
    fcntl.flock(gate, fcntl.LOCK_UN)  # the running command ends
    lines = pushed.take(6)
    texts = [line.split(" ", 2)[2] for line in lines]
    assert texts[:5] == [
        f"job {idle} needs input: Allow `rm -rf build`? → codex-agent send {idle} --key y (answers: y, n)",
        f"job {idle} turn failed: stream disconnected before completion → codex-agent capture {idle}; "
        f'retry: codex-agent send {idle} "..."',
        f"job {idle} finished its turn: Found 3 call sites; details below. → codex-agent report {idle}; "
        f'follow up: codex-agent send {idle} "..."',
        f"job {idle} stalled: no progress for 15m → codex-agent capture {idle}; "
        f'nudge: codex-agent send {idle} "..."',
        f"job {idle} ended: killed → codex-agent report {idle}",
    ]
    assert (
        texts[5] == f"job {jobs['running']} ended: completed, exit 0 → codex-agent report {jobs['running']}"
    )
    report = os.environ.get("CODEX_AGENT_EVENTS_CAPTURE")
    if report:  # for the closing note of the issue: the lines exactly as the model receives them
        Path(report).write_text("\n".join(lines) + "\n")


def test_follow_outlives_its_state_and_ends_with_the_project(
    cli: CLI, project: Path, follower_factory: list[Follower]
) -> None:
    import shutil

    cli.run("exec", "run", "--cmd", "true")
    follower = follow(follower_factory, project, "events", "--follow", "--json", "--kind", "ended")
    assert parsed(follower.take(1))[0]["data"]["status"] == "completed"
    store = store_of(project)
    old_seq = events.last_seq(store)
    store.close()
    shutil.rmtree(project / ".codex-agent")  # someone starts the project's state again
    again = cli.run("exec", "run", "--cmd", "exit 5", "--json").json()["exec_id"]
    (fresh,) = parsed(follower.take(1))
    assert fresh["job_id"] == again and fresh["data"]["exit_code"] == 5 and fresh["seq"] <= old_seq
    refused = cli.run("events", "--since", str(old_seq + 10))
    assert refused.code == 2 and "the state database was replaced" in refused.err
    assert follower.proc.poll() is None
    shutil.rmtree(project)
    assert follower.proc.wait(timeout=DEADLINE_S) != 0
    assert follower.proc.stderr is not None
    err = follower.proc.stderr.read()
    assert err.count("\n") == 1 and "no longer exists" in err, err


def test_store_events_after_filters_and_pages(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state", create=True)
    try:
        for number in range(7):
            store.add_event(
                "aaaaaaaa" if number % 2 else "bbbbbbbb", "stalled" if number < 5 else "ended", {}
            )
        rows = store.events_after(0, (), (), 3)
        assert [row[0] for row in rows] == [1, 2, 3] and rows[0][5] is None  # no such job: no job kind
        assert [row[0] for row in store.events_after(3, (), (), 10)] == [4, 5, 6, 7]
        assert [row[0] for row in store.events_after(0, ["aaaaaaaa"], ["ended"], 10)] == [6]
        pages = list(events.batches(store, 0, [], ["stalled"]))
        assert [[event.seq for event in page] for page, _cursor in pages] == [[1, 2, 3, 4, 5]]
        assert pages[-1][1] == 5
    finally:
        store.close()
