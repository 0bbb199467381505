"""`context`: what an orchestrator needs to pick up where it left off, e.g. after its own context was
compacted. Jobs grouped by what they need (running, waiting for input, idle, queued, recently completed,
recently failed) with prompts, last messages, claims and ages; the live claims; the latest agents.log entries.
"""

from __future__ import annotations

from typing import Any

from codex_agent import agentslog, claims, job_reads, jobs
from codex_agent.models import JSON_VERSION, Job, JobStatus, iso, now_ms

RECENT_MS = 24 * 3600 * 1000
RECENT_LIMIT = 8
LOG_ENTRIES = 8
LOG_TAIL_BYTES = 4 << 20
PROMPT_CHARS = 160
MESSAGE_CHARS = 240

# (key, title, statuses) in the order an orchestrator should look at them.
GROUPS: tuple[tuple[str, str, tuple[JobStatus, ...]], ...] = (
    ("needs_input", "Waiting for input", (JobStatus.NEEDS_INPUT,)),
    ("running", "Running", (JobStatus.RUNNING, JobStatus.STALLED)),
    ("idle", "Idle (turn done, can take a follow-up)", (JobStatus.IDLE,)),
    ("queued", "Queued / starting", (JobStatus.PENDING,)),
    ("completed", "Recently completed", (JobStatus.COMPLETED,)),
    ("failed", "Recently failed, killed or lost", (JobStatus.FAILED, JobStatus.KILLED, JobStatus.LOST)),
)


def _cut(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _job_entry(job: Job, held: dict[str, list[str]], now: int) -> dict[str, Any]:
    worktree = job.attrs.get("worktree") if isinstance(job.attrs.get("worktree"), dict) else None
    return {
        "id": job.id,
        "kind": job.kind.value,
        "status": job.status.value,
        "age_ms": max(0, now - job.created_at),
        "elapsed_ms": job.elapsed_ms(now),
        "ended_ago_ms": max(0, now - job.completed_at) if job.completed_at else None,
        "prompt": _cut(job.prompt, PROMPT_CHARS),
        "last_message": _cut(job.summary, MESSAGE_CHARS),
        "error": _cut(job.error, MESSAGE_CHARS),
        "claims": held.get(job.id, []),
        "files_modified": job.files_modified or [],
        "branch": worktree.get("branch") if worktree else None,
        "after": job.attrs.get("after") or [],
        "queued": bool(job.attrs.get("queued")),
        "retry_of": (job.attrs.get("retry") or {}).get("previous"),
        "tokens": (job.tokens.input + job.tokens.output) if job.tokens else None,
    }


def build(
    project: jobs.Project, *, recent_ms: int = RECENT_MS, log_entries: int = LOG_ENTRIES
) -> dict[str, Any]:
    now = now_ms()
    every = job_reads.list_jobs(project, limit=None)
    held: dict[str, list[str]] = {}
    live = claims.live_claims(project.store)
    for claim in live:
        held.setdefault(claim.job_id, []).append(claim.pattern)
    groups: dict[str, list[dict[str, Any]]] = {}
    for key, _title, statuses in GROUPS:
        members = [job for job in every if job.status in statuses]
        if key in ("completed", "failed"):
            members = [job for job in members if now - (job.completed_at or job.created_at) <= recent_ms]
            members.sort(key=lambda job: job.completed_at or job.created_at, reverse=True)
            members = members[:RECENT_LIMIT]
        groups[key] = [_job_entry(job, held, now) for job in members]
    counts: dict[str, int] = {}
    for job in every:
        counts[job.status.value] = counts.get(job.status.value, 0) + 1
    # The log's tail is enough for its latest entries, and keeps `context` small whatever the log's size.
    entries = agentslog.parse(agentslog.read_text(project.root, tail_bytes=LOG_TAIL_BYTES))
    agentslog.verify(project.store, entries[-log_entries:])
    return {
        "version": JSON_VERSION,
        "generated_at": iso(now),
        "project": str(project.root),
        "state_dir": str(project.store.state_dir),
        "counts": counts,
        "total_jobs": len(every),
        "groups": groups,
        "claims": [claim.to_json() for claim in live],
        "log": {
            "path": str(agentslog.log_path(project.root)),
            "entries": len(entries),
            "recent": [entry.to_json() for entry in entries[-log_entries:]],
        },
    }
