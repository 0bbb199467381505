"""A job's notify-on-complete command, run by the job's keeper (the one process that sees each change once).

  - `end`:  when the job has ended (completed, failed or killed);
  - `turn`: when a TUI agent's turn completed and it waits for the next message.

The command is the user's own command line, run by their shell as typed (like `exec --cmd`), with the job's
submitter's environment. What happened is passed only in environment variables, never put into the command
line: CODEX_AGENT_JOB_ID, CODEX_AGENT_STATUS, CODEX_AGENT_EXIT_CODE (empty while the job lives),
CODEX_AGENT_SUMMARY (the last message, cut to 4,000 characters), CODEX_AGENT_EVENT (end or turn).
It starts in the background (its output goes to the job's `notify.log`), so neither codex nor the job waits.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from codex_agent.models import Job

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


def notify(job: Job, job_dir: Path, event: str, env: dict[str, str] | None) -> bool:
    """Start the job's notify-on-complete command, if it has one. True when one was started."""
    command = job.attrs.get("notify_on_complete")
    if not isinstance(command, str) or not command.strip():
        return False
    base = dict(env if env is not None else os.environ)
    shell = base.get("SHELL") or "/bin/sh"
    fd = os.open(job_dir / NOTIFY_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        subprocess.Popen(
            [shell, "-c", command],
            cwd=job.cwd if Path(job.cwd).is_dir() else None,
            env={**base, **notification_env(job, event)},
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
        )
    finally:
        os.close(fd)
    return True
