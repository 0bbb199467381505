"""Measure the dashboard's CPU use while nothing changes, with 50 jobs (30 of them live).

Runs the real `codex-agent dashboard` in an 80x24 tmux pane on a private tmux server, with the codex test
double, in a throw-away project; prints the CPU seconds the dashboard process (and the tmux calls it made)
used over the idle window. Usage: python scripts/dashboard_idle_cpu.py [SECONDS] [--settled]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def wait_for(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime: the process and the children it waited for (its tmux calls)
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def main() -> None:
    numbers = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    window = float(numbers[0]) if numbers else 30.0
    work = Path(tempfile.mkdtemp(prefix="dash-cpu-"))
    project = work / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (work / "codex-home").mkdir()
    jobs_socket = f"dash-cpu-{uuid.uuid4().hex[:8]}"
    host_socket = f"{jobs_socket}-host"
    os.environ.update(
        CODEX_AGENT_TMUX_SOCKET=jobs_socket,
        CODEX_AGENT_CODEX_BIN=str(REPO / "tests" / "fakes" / "codex"),
        CODEX_HOME=str(work / "codex-home"),
        SHELL="/bin/sh",
    )
    os.environ.pop("TMUX", None)
    sys.path.insert(0, str(REPO))
    from codex_agent import job_reads, jobs
    from codex_agent.models import JobKind

    started = []
    first_start = time.time()
    with jobs.opened(project, create=True) as proj:
        for number in range(50):
            if number < 10:
                request = jobs.StartRequest(prompt=f"task {number}", cwd=project)
            elif number < 30:
                request = jobs.StartRequest(
                    prompt="", kind=JobKind.COMMAND, cwd=project, command=f"echo step {number}; sleep 600"
                )
            else:
                code = 1 if number % 7 == 0 else 0
                request = jobs.StartRequest(
                    prompt="", kind=JobKind.COMMAND, cwd=project, command=f"echo done {number}; exit {code}"
                )
            started.append(jobs.start(proj, request).id)

        def settled() -> bool:
            found = job_reads.list_jobs(proj, limit=None)
            return all(job.status.value in ("idle", "running", "completed", "failed") for job in found) and (
                sum(job.status.value == "idle" for job in found) == 10
                and sum(job.status.is_terminal for job in found) == 20
            )

        wait_for(settled, 60, "the jobs to settle")

    command = [sys.executable, "-m", "codex_agent", "dashboard"]
    subprocess.run(
        ["tmux", "-L", host_socket, "new-session", "-d", "-x", "80", "-y", "24", "-s", "host",
         "-c", str(project), "-e", f"PYTHONPATH={REPO}", "-e", "NO_COLOR=1", *command],
        check=True,
    )  # fmt: skip

    def screen() -> str:
        return subprocess.run(
            ["tmux", "-L", host_socket, "capture-pane", "-p", "-t", "host"], capture_output=True, text=True
        ).stdout

    try:
        wait_for(lambda: "50 jobs" in screen(), 30, "the dashboard to show 50 jobs")
        pid = int(
            subprocess.run(
                ["tmux", "-L", host_socket, "display", "-p", "-t", "host", "#{pane_pid}"],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        # Let start-up work finish; with --settled, also let every job pass its first minute (the elapsed
        # column shows seconds only in a job's first minute, so that is when it repaints most).
        time.sleep(3 if "--settled" not in sys.argv else max(3.0, 62 - (time.time() - first_start)))
        before = cpu_seconds(pid)
        time.sleep(window)
        used = cpu_seconds(pid) - before
        print(screen())
        print(f"dashboard CPU over {window:.0f}s idle with 50 jobs (30 live): {used:.2f}s "
              f"({100 * used / window:.1f}% of one core)")  # fmt: skip
    finally:
        subprocess.run(["tmux", "-L", host_socket, "kill-server"], capture_output=True)
        subprocess.run(["tmux", "-L", jobs_socket, "kill-server"], capture_output=True)


if __name__ == "__main__":
    main()
