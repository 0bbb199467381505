"""Queues, dependencies and retries, driven by job endings: no daemon, no polling loop.

A job started with `--after ID` or under a parallel limit (`--max-parallel N`, or `max_parallel` in the
project config) is recorded `pending` with `queued: true` in its attrs and launched later by `drain`, which
runs whenever something may have freed the way:
  - in the job's own pane, right after its agent exits (the launcher runs `python -m codex_agent.queue
    JOB_DIR`, which records the end and drains the queue);
  - whenever any codex-agent process records a job's end or a turn's end (reconcile, kill);
  - when a job is queued (it may be able to start at once).
`drain` holds an exclusive lock on `queue.lock` in the state directory, so two processes never launch the
same job or overshoot the limit. A queued job starts when each job it waits for has completed (an interactive
agent that is idle counts as done) and fewer than its limit of jobs are starting, running, stalled or waiting
for input (idle interactive agents hold no slot). If a job it waits for ends any other way, and will not be
retried, the queued job fails and says which one.

Retries: with `--retry N` a job whose launch fails is tried again, up to N more times; with
`--retry-on-failure` also a job whose run fails (non-zero exit, lost). Each attempt is a new job, queued at
once, linked by `attrs.retry` (`first`, `previous`, `attempt`) and by `retried_as` on the attempt before;
each gets its own Spawned entry in agents.log.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codex_agent import agentslog, claims, jobs, safefs, worktrees
from codex_agent.agents.notify import QUEUED_SQL
from codex_agent.config import read_project_config
from codex_agent.errors import CodexAgentError, NotFoundError, UsageError
from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.store import Store, find_project_root
from codex_agent.tmux import Tmux

LOCK_FILE = "queue.lock"
CONFIG_KEY = "max_parallel"
SLOT_STATUSES = (JobStatus.RUNNING, JobStatus.NEEDS_INPUT, JobStatus.STALLED)
_draining = False


@dataclass(slots=True)
class Coordination:
    """The coordination options of `start`."""

    claims: list[str] = field(default_factory=list)
    force: bool = False
    after: list[str] = field(default_factory=list)
    max_parallel: int | None = None
    retry: int = 0
    retry_on_failure: bool = False
    worktree: bool = False
    ref: str | None = None


def configured_max_parallel(root: Path) -> int | None:
    data, source = read_project_config(root)
    value = data.get(CONFIG_KEY, data.get(CONFIG_KEY.replace("_", "-")))
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{source}: {CONFIG_KEY} must be a whole number of at least 1")
    return value


# --- submitting -------------------------------------------------------------------------------------------


def submit(project: jobs.Project, request: jobs.StartRequest, coord: Coordination) -> Job:
    """Start a job with its coordination options: claims, worktree, queue position, retries."""
    if coord.ref and not coord.worktree:
        raise UsageError("--ref needs --worktree", "pass --worktree to start from another commit")
    if coord.retry < 0:
        raise UsageError("--retry must be 0 or more")
    if coord.max_parallel is not None and coord.max_parallel < 1:
        raise UsageError("--max-parallel must be at least 1")
    jobs.plan_start(project, request)  # refuse a bad request before anything is created
    after = [project.store.resolve_id(text) for text in coord.after]
    limit = coord.max_parallel or configured_max_parallel(project.root)
    base = worktrees.resolve_base(project.root, coord.ref) if coord.worktree else None
    request.claims = [claims.normalize(pattern, project.root) for pattern in coord.claims]
    if not project.store.exists:
        project.store = Store.open(project.store.state_dir, create=True)
    store = project.store
    request.force = coord.force
    if coord.retry or coord.retry_on_failure:
        request.attrs["retry"] = {
            "attempt": 1,
            "max_retries": coord.retry or 1,
            "on_failure": coord.retry_on_failure,
        }
    if after or limit:
        request.queued = True
        request.attrs.update(queued=True, after=after, max_parallel=limit)
    worktree = None
    request.job_id = store.new_job_id()  # known beforehand: the worktree is named after it
    if base is not None:
        worktree = worktrees.create(project.root, store.state_dir, request.job_id, base)
        request.cwd = worktree.cwd_for(request.cwd)
        request.attrs["worktree"] = worktree.to_attrs()
    try:
        job = jobs.start(project, request)
    except CodexAgentError:
        recorded = _find(store, request.job_id)
        if worktree is not None and recorded is None:
            worktrees.discard(worktree)
        latest = _latest_attempt(store, recorded)
        if latest is not None and latest.status is not JobStatus.FAILED:
            return latest  # the launch failed, and a retry is under way
        raise
    if request.queued:
        drain(project)
        job = store.get_job(job.id)
    return job


def _find(store: Store, job_id: str) -> Job | None:
    try:
        return store.get_job(job_id)
    except NotFoundError:
        return None


def _latest_attempt(store: Store, job: Job | None) -> Job | None:
    seen = 0
    while job is not None and job.attrs.get("retried_as") and seen < 100:
        job = _find(store, str(job.attrs["retried_as"])) or job
        seen += 1
    return job


# --- after a change of status ----------------------------------------------------------------------------


def after_changes(project: jobs.Project, moved: list[Job]) -> None:
    """What follows from jobs whose new status this process recorded. Each step is best-effort."""
    for job in moved:
        if not job.status.is_terminal:
            continue
        _step(project, job, "log", agentslog.record_completion, project.store, project.root, job)
        if job.attrs.get("worktree"):
            _step(project, job, "worktree", _commit_worktree, project, job)
        _step(project, job, "retry", _maybe_retry, project, job)
    _step(project, None, "queue", drain, project)


def _step(
    project: jobs.Project, job: Job | None, name: str, action: Callable[..., object], *args: Any
) -> None:
    try:
        action(*args)
    except Exception as exc:
        with contextlib.suppress(Exception):
            data = {"step": name, "error": str(exc)}
            project.store.add_event(job.id if job else None, "coordination_error", data)


def _commit_worktree(project: jobs.Project, job: Job) -> None:
    if project.store.mark_once(job.id, "worktree:commit"):
        commit = worktrees.commit_leftovers(job)
        if commit:
            project.store.add_event(job.id, "worktree_commit", {"commit": commit})


def _will_retry(job: Job) -> bool:
    retry = job.attrs.get("retry")
    if not isinstance(retry, dict) or job.attrs.get("retried_as") or job.attrs.get("dependency_failed"):
        return False
    if job.status in (JobStatus.COMPLETED, JobStatus.KILLED) or not job.status.is_terminal:
        return False
    launch_failed = job.started_at is None
    if not launch_failed and not retry.get("on_failure"):
        return False
    return int(retry.get("attempt", 1)) <= int(retry.get("max_retries", 0))


def _maybe_retry(project: jobs.Project, job: Job) -> Job | None:
    store = project.store
    if not _will_retry(job) or not store.mark_once(job.id, "retry"):
        return None
    retry = dict(job.attrs["retry"])
    retry.update(
        attempt=int(retry.get("attempt", 1)) + 1,
        first=retry.get("first") or job.id,
        previous=job.id,
        reason="failed to start" if job.started_at is None else f"ended {job.status.value}",
    )
    carried: dict[str, Any] = {
        key: job.attrs[key] for key in ("max_parallel", "worktree") if key in job.attrs
    }
    whole = jobs.read_prompt(project, job)  # the record keeps a preview only
    request = jobs.StartRequest(
        prompt=whole if job.kind.is_codex else "",
        kind=job.kind,
        cwd=Path(job.cwd),
        model=job.model,
        reasoning=job.reasoning,
        sandbox=job.sandbox,
        parent_session=job.parent_session,
        command=whole if job.kind is JobKind.COMMAND else None,
        attrs={**carried, "retry": retry, "queued": True, "after": []},
        claims=claims.claims_of(store, job.id),
        queued=True,
    )
    attempt = jobs.start(project, request)
    _update_attrs(store, job.id, retried_as=attempt.id)
    job.attrs["retried_as"] = attempt.id
    store.add_event(job.id, "retried", {"attempt": attempt.id, "number": retry["attempt"]})
    return attempt


def _update_attrs(store: Store, job_id: str, **values: Any) -> None:
    for _ in range(20):
        job = store.get_job(job_id)
        job.attrs.update(values)
        if store.save_job(job):
            return


# --- draining the queue ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _queue_lock(state_dir: Path) -> Iterator[None]:
    fd = safefs.open_file(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT)  # never a link an agent put there
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def has_queued(store: Store) -> bool:
    return bool(store.exists and store.query(QUEUED_SQL))


def drain(project: jobs.Project) -> list[Job]:
    """Launch every queued job whose turn has come; fail those whose predecessors failed."""
    global _draining
    store = project.store
    if _draining or not has_queued(store):
        return []
    _draining = True
    launched: list[Job] = []
    try:
        with _queue_lock(store.state_dir):
            jobs.reconcile(project, store.unfinished_jobs())
            progress = True
            while progress:
                progress = _drain_pass(project, launched)
    finally:
        _draining = False
    return launched


def _drain_pass(project: jobs.Project, launched: list[Job]) -> bool:
    store = project.store
    waiting = [job for job in store.list_jobs(statuses=[JobStatus.PENDING]) if job.attrs.get("queued")]
    waiting.sort(key=lambda job: (job.created_at, job.id))
    active = store.list_jobs(statuses=[*SLOT_STATUSES, JobStatus.PENDING])
    busy = sum(1 for job in active if not job.attrs.get("queued"))
    progress = False
    for job in waiting:
        verdict, reason = _dependencies(store, job)
        if verdict == "failed":
            _fail_waiting(project, job, reason)
            progress = True
            continue
        if verdict == "wait":
            continue
        limit = job.attrs.get("max_parallel")
        if isinstance(limit, int) and busy >= limit:
            continue
        before = job.updated_at
        job.attrs.update(queued=False, creator_pid=os.getpid(), dequeued_at=now_ms())
        if not store.save_job(job, expected_updated_at=before):
            continue  # changed meanwhile (killed, say): look again next time
        busy += 1
        progress = True
        try:
            jobs.launch(project, job)
        except CodexAgentError:
            continue  # recorded as failed by launch, and retried if it asked to be
        launched.append(job)
    return progress


def _satisfied(job: Job) -> bool:
    return job.status is JobStatus.COMPLETED or (job.kind is JobKind.CODEX and job.status is JobStatus.IDLE)


def _dependencies(store: Store, job: Job) -> tuple[str, str]:
    """("ready" | "wait" | "failed", why) for a queued job's predecessors."""
    waiting = False
    for dep_id in job.attrs.get("after") or []:
        dep = _latest_attempt(store, _find(store, str(dep_id)))
        if dep is None:
            return "failed", f"job {dep_id}, which it waited for, was deleted"
        if _satisfied(dep):
            continue
        if not dep.status.is_terminal or _will_retry(dep):
            waiting = True
            continue
        return "failed", f"job {dep.id}, which it waited for, ended {dep.status.value}"
    return ("wait", "") if waiting else ("ready", "")


def _fail_waiting(project: jobs.Project, job: Job, reason: str) -> None:
    before = job.updated_at
    job.status = JobStatus.FAILED
    job.error = f"never started: {reason}"
    job.completed_at = now_ms()
    job.attrs.update(queued=False, dependency_failed=True)
    if project.store.save_job(job, expected_updated_at=before):
        project.store.add_event(job.id, "ended", {"status": "failed", "reason": reason})
        after_changes(project, [job])


# --- entry point for a job's end ---------------------------------------------------------------------------


def project_root_of(job: Job) -> Path:
    worktree = worktrees.Worktree.from_job(job)
    return worktree.root if worktree is not None else find_project_root(Path(job.cwd))


def main(argv: list[str]) -> int:
    """`python -m codex_agent.queue JOB_DIR`: run by a job's launcher after its agent exits."""
    if len(argv) != 2:
        print("usage: python -m codex_agent.queue JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(argv[1]).resolve()
    store = Store.open(job_dir.parent.parent, create=False)
    try:
        if not store.exists:
            return 0
        try:
            job = store.get_job(job_dir.name)
        except NotFoundError:
            return 0
        project = jobs.Project(project_root_of(job), store, Tmux.from_env())
        jobs.reconcile(project, [job])
        drain(project)
    except CodexAgentError as exc:
        print(f"codex-agent: {exc.one_line()}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
