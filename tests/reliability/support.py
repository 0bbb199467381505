"""Shared checks for the reliability suite: what a well-formed job looks like, and the state's invariants."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codex_agent.models import SESSION_PREFIX, JobKind, JobStatus
from codex_agent.tmux import PaneState, Tmux
from tests.helpers import CLI, REPO_ROOT, wait_for

# Trial counts scale with this factor (CODEX_AGENT_RELIABILITY_SCALE=3 for a longer soak run).
SCALE = float(os.environ.get("CODEX_AGENT_RELIABILITY_SCALE", "1"))

JOB_KEYS = frozenset(
    {
        "id", "status", "kind", "prompt", "model", "reasoning", "sandbox", "cwd", "elapsed_ms",
        "created_at", "started_at", "completed_at", "exit_code", "tmux_session", "thread_id", "error",
        "parent_session", "tokens", "files_modified", "summary", "attention",
    }
)  # fmt: skip
STATUSES = frozenset(status.value for status in JobStatus)
TERMINAL = frozenset(status.value for status in JobStatus if status.is_terminal)
KINDS = frozenset(kind.value for kind in JobKind)
_ID = re.compile(r"^[0-9a-f]{8}$")
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def trials(base: int) -> int:
    return max(1, round(base * SCALE))


def check_job(job: Any) -> list[str]:
    """Everything wrong with one job object from `--json` output (empty when it is well-formed)."""
    if not isinstance(job, dict):
        return [f"not an object: {job!r}"]
    problems = []
    missing = JOB_KEYS - job.keys()
    if missing:
        problems.append(f"missing keys {sorted(missing)}")
        return problems
    if not (isinstance(job["id"], str) and _ID.match(job["id"])):
        problems.append(f"bad id {job['id']!r}")
    if job["status"] not in STATUSES:
        problems.append(f"bad status {job['status']!r}")
    if job["kind"] not in KINDS:
        problems.append(f"bad kind {job['kind']!r}")
    if job["tmux_session"] != f"{SESSION_PREFIX}{job['id']}":
        problems.append(f"bad session {job['tmux_session']!r}")
    if not (isinstance(job["created_at"], str) and _ISO.match(job["created_at"])):
        problems.append(f"bad created_at {job['created_at']!r}")
    if not isinstance(job["elapsed_ms"], int) or job["elapsed_ms"] < 0:
        problems.append(f"bad elapsed_ms {job['elapsed_ms']!r}")
    if job["status"] in TERMINAL and job["completed_at"] is None:
        problems.append(f"{job['status']} without completed_at")
    if job["status"] not in TERMINAL and job["completed_at"] is not None:
        problems.append(f"{job['status']} with completed_at")
    if job["status"] not in ("pending", *TERMINAL) and job["started_at"] is None:
        problems.append(f"{job['status']} without started_at")
    if job["status"] == "completed" and job["exit_code"] != 0:
        problems.append(f"completed with exit code {job['exit_code']!r}")
    if job["status"] == "failed" and not job["error"]:
        problems.append("failed without an error")
    if not isinstance(job["cwd"], str) or not job["cwd"].startswith("/"):
        problems.append(f"bad cwd {job['cwd']!r}")
    return problems


def check_listing(text: str) -> list[dict[str, Any]]:
    """Parse `jobs --json` output and validate every job in it; fail with the first problem found."""
    import json

    data = json.loads(text)
    assert data.get("version") == 1 and "generated_at" in data, data
    jobs = data["jobs"]
    for job in jobs:
        problems = check_job(job)
        assert not problems, (problems, job)
    ids = [job["id"] for job in jobs]
    assert len(ids) == len(set(ids)), "a job listed twice"
    return jobs  # type: ignore[no-any-return]


def assert_one_line_refusal(result: Any, code: int, *fragments: str) -> None:
    assert result.code == code, (result.code, result.err, result.out)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    for fragment in fragments:
        assert fragment in result.err, (fragment, result.err)


def integrity(state_dir: Path) -> str:
    db = sqlite3.connect(f"file:{state_dir / 'state.db'}?mode=ro", uri=True)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def record_ids(state_dir: Path) -> set[str]:
    if not (state_dir / "state.db").exists():
        return set()
    db = sqlite3.connect(f"file:{state_dir / 'state.db'}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT id FROM jobs")}
    finally:
        db.close()


def panes(socket: str) -> dict[str, PaneState]:
    """This tmux server's codex-agent sessions, read the way codex-agent reads them."""
    return Tmux(socket).panes()


def pane_pid(pane: PaneState) -> int:
    """The pid of a pane's process: tmux gives one for every pane it lists, so its absence is a failure."""
    assert pane.pid is not None, pane
    return pane.pid


def wait_keeper_gone(socket: str, job_id: str) -> None:
    """Wait until the job's keeper has exited: a job reads as ended before its keeper's last writes."""
    session = f"{SESSION_PREFIX}{job_id}"

    def gone() -> bool:
        pane = panes(socket).get(session)
        return pane is None or pane.dead

    wait_for(gone, timeout=20, what=f"the keeper of {job_id} to exit")


def popen_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `python -m codex_agent ARGS` without waiting (for racing and for killing it midway)."""
    return subprocess.Popen(
        [sys.executable, "-m", "codex_agent", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_after(proc: subprocess.Popen[bytes], delay_s: float) -> tuple[bool, int, str, str]:
    """SIGKILL `proc` after `delay_s` unless it ended first: (killed, exit status, stdout, stderr)."""
    killed = False
    try:
        proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        killed = True
    out, err = proc.communicate()
    return killed, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def race(cwd: Path, argvs: Sequence[Sequence[str]], timeout: float = 180) -> list[tuple[int, str, str]]:
    """Start every command at once, then collect (exit status, stdout, stderr) of each."""
    procs = [popen_cli(cwd, *argv) for argv in argvs]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")))
    return results


def typical_duration(cli: CLI, *args: str, runs: int = 3) -> float:
    """Median wall time of a command, to draw kill delays from [0, typical]."""
    times = []
    for _ in range(runs):
        begin = time.monotonic()
        cli.ok(*args)
        times.append(time.monotonic() - begin)
    return sorted(times)[len(times) // 2]


@dataclass
class Tally:
    """Counts for the report at the end of a test (printed with -s, and kept in docs/reliability.md)."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def report(self) -> str:
        text = ", ".join(f"{key}={value}" for key, value in sorted(self.counts.items()))
        line = f"[reliability] {self.name}: {text}"
        sys.stderr.write(line + "\n")
        return line


def live_statuses() -> Sequence[str]:
    return [status.value for status in JobStatus if status.is_live]
