"""`report`: everything about one job's outcome in one place.

Status and timings, tokens, the files it changed with line counts measured against the commit that was HEAD
where it ran when it started (`attrs.base_commit`; for a `--worktree` job, the commit its branch started
from), errors and warnings seen, its claims, retries, and its last message.

Files are measured with `git diff --numstat BASE` over the working tree (commits made since included) plus
untracked files (every line counted as added). In a shared checkout, files that were already dirty when the
job started are not attributed to it (their earlier edits cannot be told apart), and neither is agents.log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codex_agent import claims, git, job_reads, jobs, worktrees
from codex_agent.models import Job, iso, now_ms


def build(project: jobs.Project, job_id: str) -> dict[str, Any]:
    job = job_reads.get_job(project, job_id)
    now = now_ms()
    worktree = worktrees.Worktree.from_job(job)
    base_commit = job.attrs.get("base_commit") or (worktree.base if worktree else None)
    files, base = _changes(job, worktree, base_commit)
    claimed = claims.claims_of(project.store, job.id)
    errors = _errors(project, job)
    warnings = _warnings(job, files, claimed, worktree)
    retry = job.attrs.get("retry") if isinstance(job.attrs.get("retry"), dict) else None
    return {
        "id": job.id,
        "kind": job.kind.value,
        "status": job.status.value,
        "exit_code": job.exit_code,
        "prompt": job.prompt,
        "cwd": job.cwd,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "duration_ms": job.elapsed_ms(now),
        "tokens": job.tokens.to_json() if job.tokens else None,
        "base": base,
        "worktree": {"path": str(worktree.path), "branch": worktree.branch} if worktree else None,
        "files": [stat.to_json() for stat in files] if files is not None else None,
        "totals": _totals(files),
        "claims": claimed,
        "after": job.attrs.get("after") or [],
        "retry": {**retry, "retried_as": job.attrs.get("retried_as")} if retry else None,
        "errors": errors,
        "warnings": warnings,
        "summary": job.summary,
    }


def _changes(
    job: Job, worktree: worktrees.Worktree | None, base_commit: str | None
) -> tuple[list[git.FileStat] | None, dict[str, Any] | None]:
    if not base_commit:
        return None, None
    where = Path(job.cwd)
    description = "HEAD of the job's checkout when it started"
    if worktree is not None:
        description = f"the commit branch {worktree.branch} started from; its changes are measured on it"
        if not worktree.path.is_dir():  # the folder was cleaned away: the branch holds the work
            where = worktree.root
    if not where.is_dir():
        return None, {"commit": base_commit, "description": description, "subject": None}
    base = {
        "commit": base_commit,
        "subject": git.commit_subject(where, base_commit),
        "description": description,
    }
    if worktree is not None and not worktree.path.is_dir():
        stats = git.diff_stats_between(where, base_commit, worktree.branch)
        return stats, base
    stats = git.diff_stats(where, base_commit)
    if stats is None or worktree is not None:
        return stats, base
    # A shared checkout: only the files this job changed (what was dirty before it started is not its work).
    own = set(job.files_modified or []) if job.status.is_terminal else None
    if own is None:
        own = set(git.changed_since(where, base_commit, job.attrs.get("dirty_at_start", [])) or [])
    return [stat for stat in stats if stat.path in own], base


def _totals(files: list[git.FileStat] | None) -> dict[str, int] | None:
    if files is None:
        return None
    return {
        "files": len(files),
        "added": sum(stat.added or 0 for stat in files),
        "deleted": sum(stat.deleted or 0 for stat in files),
    }


def _errors(project: jobs.Project, job: Job) -> list[str]:
    found: list[str] = []
    if job.error:
        found.append(job.error)
    turn = job.attrs.get("turn") or {}
    if turn.get("error") and turn["error"] not in found:
        found.append(f"the last turn failed: {turn['error']}")
    for event in project.store.events(job.id):
        if event["kind"] == "coordination_error":
            found.append(f"codex-agent {event['data'].get('step')}: {event['data'].get('error')}")
    return found


def _warnings(
    job: Job, files: list[git.FileStat] | None, claimed: list[str], worktree: worktrees.Worktree | None
) -> list[str]:
    found: list[str] = []
    if files is None and not job.attrs.get("base_commit"):
        found.append("not a git checkout (or no commit yet): changed files cannot be measured")
    if files and claimed:
        outside = claims.outside_claims([stat.path for stat in files], claimed)
        if outside:
            found.append(f"changed files outside its claims ({', '.join(claimed)}): {', '.join(outside)}")
    dirty = [path for path in job.attrs.get("dirty_at_start") or [] if path != git.AGENTS_LOG]
    if dirty and worktree is None:
        found.append(f"{len(dirty)} file(s) were already changed when it started and are not counted")
    if job.attrs.get("retried_as"):
        found.append(f"this attempt failed and was retried as job {job.attrs['retried_as']}")
    if job.status.value == "stalled":
        found.append("no output for a long time: look at it with `codex-agent capture`")
    return found
