"""A queued job's keeper waits here for its turn: its predecessors done and a free slot.

There is no drainer and no lock file: each queued job's keeper is already running in its own session (it got
its submitter's environment when it was queued) and re-checks when the state database changes (inotify on the
state directory). The check and the claim of a slot are one SQLite write transaction: two keepers never take
the same slot. Among the queued jobs that are ready, the earliest submitted go first.
"""

from __future__ import annotations

from pathlib import Path

from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.store import Store

SLOT_STATUSES = (JobStatus.RUNNING, JobStatus.NEEDS_INPUT, JobStatus.STALLED)
SAFETY_RECHECK_S = 5.0  # a change that inotify cannot see (another machine's write to a shared disk)


def satisfied(job: Job) -> bool:
    """A predecessor is done: it completed, or it is an interactive agent that finished its turn well."""
    if job.status is JobStatus.COMPLETED:
        return True
    turn = job.attrs.get("turn") or {}
    return job.kind is JobKind.CODEX and job.status is JobStatus.IDLE and turn.get("status") == "completed"


def _latest_attempt(store: Store, job: Job) -> Job:
    for _ in range(100):
        nxt = job.attrs.get("retried_as")
        if not nxt:
            return job
        found = store.find_job_or_none(str(nxt))
        if found is None:
            return job
        job = found
    return job


def verdict(store: Store, job: Job) -> tuple[str, str]:
    """("ready" | "wait" | "failed", why) for a queued job's predecessors."""
    waiting = False
    for dep_id in job.attrs.get("after") or []:
        dep = store.find_job_or_none(str(dep_id))
        if dep is None:
            return "failed", f"job {dep_id}, which it waited for, was deleted"
        dep = _latest_attempt(store, dep)
        if satisfied(dep):
            continue
        if not dep.status.is_terminal or dep.attrs.get("retrying"):
            waiting = True
            continue
        return "failed", f"job {dep.id}, which it waited for, ended {dep.status.value}"
    return ("wait", "") if waiting else ("ready", "")


def try_take_slot(store: Store, job_id: str) -> tuple[str, str]:
    """One look, in one write transaction: ("go", ""), ("wait", ""), or ("failed", why)."""
    with store.transaction() as tx:
        job = store.get_job(job_id, tx=tx)
        if job.status is not JobStatus.PENDING:
            return "failed", f"it was {job.status.value} before its turn came"
        state, why = verdict(store, job)
        if state != "ready":
            return state, why
        limit = job.attrs.get("max_parallel")
        if isinstance(limit, int):
            busy = store.count_jobs(SLOT_STATUSES, tx=tx) + store.count_starting(tx=tx)
            mine = (job.created_at, job.id)
            earlier = [other for other in store.queued_jobs(tx=tx) if (other.created_at, other.id) < mine]
            ahead = [other for other in earlier if verdict(store, other)[0] == "ready"]
            if busy + len(ahead) >= limit:
                return "wait", ""
        job.attrs.update(queued=False, dequeued_at=now_ms())
        store.save_job(job, tx=tx)
    return "go", ""


def wait_for_turn(store: Store, job_id: str) -> str | None:
    """Block until the job may start (None) or never will (the reason)."""
    from codex_agent.waiting import Watcher

    state_dir: Path = store.state_dir
    with Watcher([state_dir], frozenset({"state.db", "state.db-wal"})) as watcher:
        while True:
            state, why = try_take_slot(store, job_id)
            if state == "go":
                return None
            if state == "failed":
                return why
            watcher.wait(SAFETY_RECHECK_S)
