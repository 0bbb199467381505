"""Submitting a job with its coordination options: claims, a worktree, a place in the queue, retries.

A job started with `--after ID` or under a parallel limit (`--max-parallel N`, or `max_parallel` in the
project config) is recorded `pending` and queued, and its keeper starts at once in its own session (so it has
its submitter's environment) and waits there for its turn (keeper/queue_wait.py): each job it waits for has
completed (an interactive agent whose last turn completed counts as done) and fewer than its limit of jobs
are starting, running, stalled or waiting for input (idle interactive agents hold no slot). If a job it waits
for ends any other way, and will not be retried, the queued job fails and says which one.

Retries (`--retry N`): a run that fails — a non-zero exit, a failed turn of an exec job, a failed launch —
is tried again by its keeper, up to N more times, with the same task; with `--retry-on-failure` (one retry
unless `--retry` says more) the next attempt's prompt also carries the failure's error text and the last
lines of its output. Each attempt is a new job, linked by `attrs.retry` (`first`, `previous`, `attempt`) and
by `retried_as` on the attempt before; each gets its own Spawned entry in agents.log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from codex_agent import claims, jobs, worktrees
from codex_agent.config import read_project_config
from codex_agent.errors import CodexAgentError, UsageError
from codex_agent.keeper.record import will_retry
from codex_agent.models import Job
from codex_agent.store import Store

CONFIG_KEY = "max_parallel"


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
        return jobs.start(project, request)
    except CodexAgentError:
        recorded = store.find_job_or_none(request.job_id)
        if worktree is not None and recorded is None:
            worktrees.discard(worktree)
        if recorded is not None and will_retry(recorded):
            return _retry_launch(store, recorded)
        raise


def _retry_launch(store: Store, failed: Job) -> Job:
    """A launch that failed here is retried here, with this process's environment (as the job would have
    run), while attempts last; the last failure is raised."""
    from codex_agent.keeper.after_end import retry
    from codex_agent.keeper.record import Recorder

    while True:
        try:
            return retry(Recorder(store, failed.id), failed, dict(os.environ))
        except CodexAgentError:
            attempt = store.get_job(store.get_job(failed.id).attrs.get("retried_as") or failed.id)
            if attempt.id == failed.id or not will_retry(attempt):
                raise
            failed = attempt
