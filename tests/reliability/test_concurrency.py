"""Many codex-agent processes at once: 50 `start`s racing on a fresh state, a reader polling `jobs --json`
throughout, then 50 `kill`s racing. Nothing may be lost, doubled or seen half-written."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import CLI, wait_for
from tests.reliability.support import (
    Tally,
    check_listing,
    integrity,
    panes,
    popen_cli,
    record_ids,
    trials,
)

CONCURRENT = trials(50)


class Reader(threading.Thread):
    """Calls `jobs --json --all` back to back (each call its own process) and validates every answer."""

    def __init__(self, cli: CLI) -> None:
        super().__init__(daemon=True)
        self.cli = cli
        self.stop = threading.Event()
        self.calls = 0
        self.failures: list[str] = []
        self.jobs_seen = 0

    def run(self) -> None:
        while not self.stop.is_set():
            result = self.cli.run("jobs", "--json", "--all")
            self.calls += 1
            if result.code != 0:
                self.failures.append(f"exit {result.code}: {result.err.strip()}")
                continue
            try:
                self.jobs_seen += len(check_listing(result.out))
            except (AssertionError, ValueError) as exc:
                self.failures.append(f"{exc}")


def _race(cwd: Path, argvs: list[list[str]]) -> list[tuple[int, str, str]]:
    procs = [popen_cli(cwd, *argv) for argv in argvs]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append((proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")))
    return results


@pytest.mark.parametrize("kind", ["codex", "command"])
def test_fifty_concurrent_starts_and_kills_lose_nothing(
    kind: str, cli: CLI, project: Path, tmux_socket: str
) -> None:
    tally = Tally(f"concurrency[{kind}]")
    state_dir = project / ".codex-agent"
    assert not state_dir.exists()  # the racing starts also race to create the state
    reader = Reader(cli)
    reader.start()
    try:
        if kind == "codex":
            argvs = [["start", f"task number {n}", "--json"] for n in range(CONCURRENT)]
        else:
            argvs = [["exec", "start", "--cmd", "sleep 300", "--json"] for _ in range(CONCURRENT)]
        begin = time.monotonic()
        started = _race(project, argvs)
        tally.add("start_phase_ms", int((time.monotonic() - begin) * 1000))
        for code, _out, err in started:
            assert code == 0, err
        outputs = [json.loads(out) for _code, out, _err in started]
        ids = [data["id"] if kind == "codex" else data["exec_id"] for data in outputs]
        assert len(set(ids)) == CONCURRENT
        tally.add("starts", CONCURRENT)

        # 50 jobs, 50 sessions, every record readable.
        assert record_ids(state_dir) == set(ids)
        sessions = panes(tmux_socket)
        assert {f"codex-agent-{job_id}" for job_id in ids} == set(sessions)
        assert all(not pane.dead and pane.state_dir == str(state_dir) for pane in sessions.values())
        for job_id in ids:
            assert (state_dir / "jobs" / job_id / "launch.json").is_file()
        if kind == "codex":
            wanted = {"idle"}

            def all_idle() -> bool:
                listing = check_listing(cli.ok("jobs", "--json", "--all").out)
                return {job["status"] for job in listing} == wanted

            wait_for(all_idle, timeout=120, interval=0.5, what="every TUI job to go idle")
        else:
            listing = check_listing(cli.ok("jobs", "--json", "--all").out)
            assert {job["status"] for job in listing} == {"running"}

        begin = time.monotonic()
        killed = _race(project, [["kill", job_id, "--json"] for job_id in ids])
        tally.add("kill_phase_ms", int((time.monotonic() - begin) * 1000))
        for code, out, err in killed:
            assert code == 0, err
            assert json.loads(out)["status"] == "killed"
        tally.add("kills", CONCURRENT)
    finally:
        reader.stop.set()
        reader.join(timeout=120)
    listing = check_listing(cli.ok("jobs", "--json", "--all").out)
    assert sorted(job["id"] for job in listing) == sorted(ids)
    assert {job["status"] for job in listing} == {"killed"}, [job["status"] for job in listing]
    assert panes(tmux_socket) == {}
    assert integrity(state_dir) == "ok"
    assert reader.failures == [], reader.failures[:5]
    assert reader.calls >= 3
    tally.add("reader_calls", reader.calls)
    tally.add("jobs_validated", reader.jobs_seen)
    tally.add("records_lost", CONCURRENT - len(listing))
    tally.report()
