"""A job's notify-on-complete command: `python -m codex_agent.oncomplete JOB_DIR end|turn`.

There is no daemon, so the two processes that see a job change run it:
  - `end`:  the job's launcher, right after it recorded the exit status (completed or failed);
  - `turn`: codex's turn-complete hook (codex_agent.agents.notify), when the turn left a TUI agent idle.
A job that is killed or lost has no one left to run it: nothing is sent for those.

The command is the user's own command line, run by their shell as typed (like `exec --cmd`). What happened is
passed only in environment variables, never put into the command line:
  CODEX_AGENT_JOB_ID, CODEX_AGENT_STATUS, CODEX_AGENT_EXIT_CODE (empty while the job lives),
  CODEX_AGENT_SUMMARY (the last message, cut to 4,000 characters), CODEX_AGENT_EVENT (end or turn).
It starts in the background (its output goes to the job's `notify.log`), so neither codex nor the job's pane
waits for it. Each turn and each end is notified at most once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from codex_agent import jobs
from codex_agent.models import Job, JobStatus
from codex_agent.store import Store
from codex_agent.tmux import Tmux

NOTIFY_LOG = "notify.log"
SUMMARY_MAX_CHARS = 4000


def notification_env(job: Job, event: str) -> dict[str, str]:
    return {
        "CODEX_AGENT_JOB_ID": job.id,
        "CODEX_AGENT_STATUS": job.status.value,
        "CODEX_AGENT_EXIT_CODE": "" if job.exit_code is None else str(job.exit_code),
        "CODEX_AGENT_SUMMARY": (job.summary or "")[:SUMMARY_MAX_CHARS].replace("\x00", ""),
        "CODEX_AGENT_EVENT": event,
    }


def _claim(project: jobs.Project, job: Job, key: str) -> bool:
    """Record that `key` is being notified; False when it already was (by this or another process)."""
    for _ in range(50):
        sent = list(job.attrs.get("notified") or [])
        if key in sent:
            return False
        job.attrs["notified"] = [*sent, key][-20:]
        if project.store.save_job(job, expected_updated_at=job.updated_at):
            return True
        job = project.store.get_job(job.id)
    return False


def run(job_dir: Path, event: str) -> int:
    state_dir = job_dir.parent.parent
    store = Store.open(state_dir, create=False)
    if not store.exists:
        return 0
    project = jobs.Project(state_dir.parent, store, Tmux.from_env())
    try:
        job = jobs.get_job(project, job_dir.name)
        command = job.attrs.get("notify_on_complete")
        if not isinstance(command, str) or not command.strip():
            return 0
        if event == "end" and job.status.is_terminal:
            key = "end"
        elif event == "turn" and job.status is JobStatus.IDLE:
            key = f"turn:{job.attrs.get('turns_completed', 0)}"
        else:
            return 0
        if not _claim(project, job, key):
            return 0
        env = {**os.environ, **notification_env(job, event)}
        shell = os.environ.get("SHELL") or "/bin/sh"
        fd = os.open(job_dir / NOTIFY_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            subprocess.Popen(
                [shell, "-c", command],
                cwd=job.cwd if Path(job.cwd).is_dir() else None,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                start_new_session=True,
            )
        finally:
            os.close(fd)
        store.add_event(job.id, "notified", {"event": event, "status": job.status.value})
    finally:
        store.close()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[2] not in ("end", "turn"):
        return 2
    try:
        return run(Path(argv[1]), argv[2])
    except Exception as exc:  # a notification must never disturb the job; say why in its folder
        try:
            with open(Path(argv[1]) / NOTIFY_LOG, "a") as handle:
                handle.write(f"codex-agent: notify-on-complete failed: {type(exc).__name__}: {exc}\n")
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
