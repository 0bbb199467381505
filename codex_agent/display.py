"""Plain-text pieces that every human-facing view shares (the CLI's tables, the dashboard, `context`)."""

from __future__ import annotations

from codex_agent.models import Job, JobStatus

# A symbol per status, so every view reads without colour.
SYMBOLS = {
    JobStatus.PENDING: "…",
    JobStatus.RUNNING: "▶",
    JobStatus.IDLE: "◆",
    JobStatus.NEEDS_INPUT: "?",
    JobStatus.STALLED: "!",
    JobStatus.COMPLETED: "✓",
    JobStatus.FAILED: "✗",
    JobStatus.KILLED: "■",
    JobStatus.LOST: "~",
}


def tokens_text(job: Job) -> str:
    if job.tokens is None:
        return "-"
    total = job.tokens.input + job.tokens.output
    return f"{total / 1000:.1f}k" if total >= 1000 else str(total)


def human_duration(ms: int) -> str:
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def one_line(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"
