"""Memory of one live TUI job, and `send`-to-receipt latency: the real codex against the test model server.

    unshare -n sh -c 'ip link set lo up; exec python -m bench.live_job [--source DIR] [--codex PATH]'

Everything runs in a loopback-only network namespace (the real codex tries public hosts on its own).
`--source` runs another checkout of codex-agent (e.g. an older commit, to compare). A job's memory is the sum
over every process of its tmux session (the pane's process and all its descendants: for a keeper job the
keeper, codex's app-server and the TUI; before the keeper, `sh` and the TUI) plus tmux's `cat` for the output
log, as PSS (shared pages split between sharers) and RSS, from /proc/PID/smaps_rollup. Medians of repeated
runs; figures go to stdout as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.model_server import API_KEY_ENV, ModelServer, write_codex_config  # noqa: E402


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += _children(current)
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in KiB of one process."""
    pss = rss = 0
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    return pss, rss


def _session_pids(socket: str, session: str) -> list[int]:
    out = subprocess.run(
        ["tmux", "-L", socket, "list-panes", "-t", session, "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    pids = [pid for pane in out for pid in _tree(int(pane))]
    server = subprocess.run(
        ["tmux", "-L", socket, "display-message", "-p", "#{pid}"], capture_output=True, text=True
    )
    for child in _children(int(server.stdout.strip())):  # pipe-pane's `cat` for this session's output log
        try:
            if "cat" in Path(f"/proc/{child}/comm").read_text() and str(child) not in out:
                pids.append(child)
        except OSError:
            continue
    return pids


def run(source: Path, codex: str, jobs: int, sends: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    project = work / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    home = work / "home"
    (home / ".codex").mkdir(parents=True)
    socket = f"bench-live-{os.getpid()}"
    env = {
        **os.environ, "HOME": str(home), "CODEX_HOME": str(home / ".codex"), API_KEY_ENV: "mock-key",
        "CODEX_AGENT_TMUX_SOCKET": socket, "CODEX_AGENT_CODEX_BIN": codex, "PYTHONPATH": str(source),
        "TERM": "xterm-256color", "SHELL": "/bin/sh",
    }  # fmt: skip

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "codex_agent", *args], cwd=project, env=env, capture_output=True, text=True
        )

    def wait_idle(job_id: str) -> None:
        deadline = time.monotonic() + 90
        while json.loads(cli("status", job_id, "--json").stdout)["status"] != "idle":
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job_id} never became idle")
            time.sleep(0.1)

    try:
        with ModelServer(turn_delay=0.0) as server:
            write_codex_config(home / ".codex", server.base_url, trusted_projects=[project])
            pss, rss, latency_ms, receipt_ms = [], [], [], []
            for n in range(jobs):
                job = json.loads(cli("start", f"bench job {n}", "--json").stdout)
                wait_idle(job["id"])
                time.sleep(2)  # let the TUI settle: memory is measured at rest
                sizes = [_memory(pid) for pid in _session_pids(socket, job["tmux_session"])]
                pss.append(sum(p for p, _ in sizes) / 1024)
                rss.append(sum(r for _, r in sizes) / 1024)
                for m in range(sends if n == 0 else 0):
                    began = time.monotonic()
                    sent = cli("send", job["id"], f"bench message {m}", "--json")
                    latency_ms.append((time.monotonic() - began) * 1000)
                    receipt = json.loads(sent.stdout or "{}")
                    if "waited_ms" in receipt:
                        receipt_ms.append(float(receipt["waited_ms"]))
                    wait_idle(job["id"])
                cli("kill", job["id"])
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "source": str(source),
        "codex": subprocess.run([codex, "--version"], capture_output=True, text=True).stdout.strip(),
        "jobs": jobs,
        "pss_mib_median": round(statistics.median(pss), 1),
        "rss_mib_median": round(statistics.median(rss), 1),
        "pss_mib": [round(v, 1) for v in pss],
        "send_ms_median": round(statistics.median(latency_ms), 1) if latency_ms else None,
        "send_ms_min": round(min(latency_ms), 1) if latency_ms else None,
        "send_waited_ms_median": round(statistics.median(receipt_ms), 1) if receipt_ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--codex", default=os.environ.get("CODEX_AGENT_REAL_CODEX", "codex"))
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--sends", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.source.resolve(), args.codex, args.jobs, args.sends), indent=2))


if __name__ == "__main__":
    main()
