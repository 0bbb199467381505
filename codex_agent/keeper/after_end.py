"""A job's end, recorded once by its keeper with what belongs to it: agents.log, claims, the worktree commit
before the end is written, a retry and notify-on-complete after. Each step is best-effort: a failure is
recorded as an event, and the next one runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from codex_agent.errors import CodexAgentError
from codex_agent.keeper.record import Ending, Recorder, will_retry
from codex_agent.models import Job, JobKind

RETRY_OUTPUT_LINES = 20


def close(recorder: Recorder, ending: Ending, env: dict[str, str] | None) -> Job:
    """Record the job's end, once, and do what belongs to it.

    agents.log, the claims and the worktree commit come first: `wait` returns at the end, and an
    orchestrator that reads the log, takes a released claim or merges the branch next must find them done.
    A retry and notify-on-complete come after: they act on an ended job."""
    from codex_agent import agentslog, claims

    current = recorder.store.get_job(recorder.job_id)
    if current.status.is_terminal:
        return current  # whoever recorded the end did what follows
    closing = recorder.trusted(recorder.closing(current, ending))
    _step(recorder, "log", agentslog.record_completion, recorder.store, project_root_of(closing), closing)
    _step(recorder, "claims", claims.release, recorder.store, closing.id)
    if closing.attrs.get("worktree"):
        _step(recorder, "worktree", _commit_worktree, recorder, closing)
    ended = recorder.ended(ending, at=closing.completed_at)
    if recorder.ended_here:
        _after_end(recorder, recorder.trusted(ended), env)
    return ended


def _after_end(recorder: Recorder, job: Job, env: dict[str, str] | None) -> None:
    from codex_agent import oncomplete

    if will_retry(job) and env is not None:
        _step(recorder, "retry", retry, recorder, job, env)
    _step(recorder, "notify", oncomplete.notify, job, recorder.job_dir, "end", env)


def _step(recorder: Recorder, name: str, action: Callable[..., object], *args: Any) -> None:
    try:
        action(*args)
    except (CodexAgentError, OSError) as exc:
        recorder.event("coordination_error", {"step": name, "error": str(exc)})


def project_root_of(job: Job) -> Path:
    from codex_agent import worktrees
    from codex_agent.store import find_project_root

    recorded = job.attrs.get("project_root")
    if isinstance(recorded, str) and recorded:
        return Path(recorded)
    worktree = worktrees.Worktree.from_job(job)
    return worktree.root if worktree is not None else find_project_root(Path(job.cwd))


def _commit_worktree(recorder: Recorder, job: Job) -> None:
    from codex_agent import worktrees

    commit = worktrees.commit_leftovers(job)
    if commit:
        recorder.event("worktree_commit", {"commit": commit})


def next_prompt(job: Job, job_dir: Path, recorder_task: str | None = None) -> str:
    """What the next attempt is given: the same task, and with --retry-on-failure also what went wrong."""
    from codex_agent.jobs import read_prompt, tail_lines

    task = recorder_task if recorder_task is not None else read_prompt(job_dir, job)
    plan = job.attrs.get("retry") or {}
    if not plan.get("on_failure") or job.kind is JobKind.COMMAND:
        return task
    lines = tail_lines(job_dir, RETRY_OUTPUT_LINES)
    shown = "\n".join(lines) if lines else "(no output)"
    return (
        f"{task}\n\n---\nA previous attempt at this task (job {job.id}) failed: "
        f"{job.error or 'no reason given'}\n"
        f"The last lines it printed:\n{shown}\n"
    )


def retry(recorder: Recorder, job: Job, env: dict[str, str]) -> Job:
    from codex_agent import claims, jobs
    from codex_agent.tmux import Tmux

    store = recorder.store
    plan = dict(job.attrs["retry"])
    plan.update(
        attempt=int(plan.get("attempt", 1)) + 1,
        first=plan.get("first") or job.id,
        previous=job.id,
        reason="failed to start" if job.started_at is None else f"ended {job.status.value}",
    )
    carried: dict[str, Any] = {
        key: job.attrs[key] for key in ("max_parallel", "worktree", "project_root") if key in job.attrs
    }
    prompt = next_prompt(job, recorder.job_dir, recorder.task)
    request = jobs.StartRequest(
        prompt=prompt if job.kind.is_codex else "",
        kind=job.kind,
        cwd=Path(job.cwd),
        model=job.model,
        reasoning=job.reasoning,
        sandbox=job.sandbox,
        parent_session=job.parent_session,
        command=(recorder.task or job.prompt) if job.kind is JobKind.COMMAND else None,
        attrs={**carried, "retry": plan, "queued": bool(carried.get("max_parallel")), "after": []},
        claims=claims.claims_of(store, job.id),
        queued=bool(carried.get("max_parallel")),
    )
    project = jobs.Project(project_root_of(job), store, Tmux.from_env(env))
    request.job_id = store.new_job_id()
    recorder.update(lambda record: record.attrs.update(retried_as=request.job_id))
    attempt = jobs.start(project, request, env=env)  # a launch that fails here is the attempt's failure
    recorder.event("retried", {"attempt": attempt.id, "number": plan["attempt"]})
    return attempt
