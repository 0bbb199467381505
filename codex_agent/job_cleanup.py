"""Stopping and removing jobs: kill, delete, clean (old jobs, orphaned sessions and folders).

Returns records and prints nothing."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codex_agent import job_reads, procs, worktrees
from codex_agent.errors import AgentError, ConflictError, DiskFullError
from codex_agent.models import Job, JobStatus, now_ms
from codex_agent.store import STAGING_DIR_NAME

if TYPE_CHECKING:
    from codex_agent.jobs import Project

ORPHAN_FOLDER_AGE_S = 120  # a staged job folder this old belongs to a start that was interrupted


# --- stopping ------------------------------------------------------------------------------------------


KILL_GRACE_S = 15.0  # how long the keeper has to stop the turn and record the end


def kill(project: Project, job_id: str) -> Job:
    """Ask the job's keeper to stop the turn and end the job; where no keeper answers, end it here."""
    from codex_agent import waiting
    from codex_agent.keeper import control

    job = job_reads.get_job(project, job_id)
    if job.status.is_terminal:
        # An interrupted earlier kill may have left the agent behind, and an ended job its dead pane.
        if job.tmux_session in project.tmux.panes():
            procs.stop_session(project.tmux, job.tmux_session)
        return job
    ended = None  # a queued job's keeper waits for its turn and takes no requests: it is ended here
    if not (job.status is JobStatus.PENDING and job.attrs.get("queued")):
        try:
            control.ask(project.job_dir(job), {"op": "kill"}, timeout_s=KILL_GRACE_S)
            ended = waiting.wait_for_end(project, job.id, timeout_s=KILL_GRACE_S)
        except (AgentError, ConflictError):
            ended = None  # no keeper answers: one that died
    procs.stop_session(project.tmux, job.tmux_session)  # first: stopping frees space and needs none
    if ended is None:
        try:
            _record_kill(project, job.id)
        except DiskFullError as exc:
            raise DiskFullError(
                f"job {job.id} was stopped, but not recorded as killed: {exc.message}",
                "free some space, then run `codex-agent kill` again to record it",
            ) from exc
    return project.store.get_job(job.id)


def _record_kill(project: Project, job_id: str) -> None:
    from codex_agent.keeper.after_end import close
    from codex_agent.keeper.record import Ending, Recorder

    close(Recorder(project.store, job_id), Ending(JobStatus.KILLED, None, "killed by request"), None)


def delete(project: Project, job_id: str, *, force: bool) -> Job:
    job = job_reads.get_job(project, job_id)
    if not job.status.is_terminal and not force:
        raise ConflictError(f"job {job.id} is {job.status.value}", "kill it first, or pass --force")
    procs.stop_session(project.tmux, job.tmux_session)
    remove_tree(project.job_dir(job))
    project.store.delete_job(job.id)
    return job


TRASH_PREFIX = ".trash-"


def remove_tree(path: Path, *, trash_first: bool = True) -> None:
    """Move the folder aside in one rename, then delete it: an interrupted removal leaves either the whole
    folder or a trash folder that the next `clean` sweeps, never half a job folder under its id."""
    import shutil

    trash = path.with_name(f"{TRASH_PREFIX}{path.name}-{os.urandom(4).hex()}") if trash_first else path
    try:
        path.rename(trash)
    except OSError:
        trash = path
    if trash.is_symlink() or (trash.exists() and not trash.is_dir()):
        # Something an agent put in place of a job folder: the link (or file) goes, never what it points at.
        with contextlib.suppress(OSError):
            trash.unlink()
        return
    shutil.rmtree(trash, ignore_errors=True)


def _sweep_folders(project: Project) -> list[str]:
    """Job folders with no record, left by an interrupted `start` or removal.

    A job's folder moves into jobs/ in the transaction that records it, so under the write lock a folder
    there without a record is an orphan. Staged folders of starts killed midway are swept once they are
    older than any start could take.
    """
    folders = project.store.state_dir / "jobs"
    if not project.store.exists or not folders.is_dir():
        return []
    removed = []
    with project.store.transaction() as tx:
        known = project.store.job_ids(tx)
        for folder in list(folders.iterdir()):
            if folder.name.startswith(TRASH_PREFIX):
                remove_tree(folder, trash_first=False)
            elif folder.name not in known:
                remove_tree(folder)
                removed.append(folder.name)
    staging = project.store.state_dir / STAGING_DIR_NAME
    settled_before = time.time() - ORPHAN_FOLDER_AGE_S
    for folder in list(staging.iterdir()) if staging.is_dir() else []:
        if _mtime(folder) < settled_before:
            remove_tree(folder, trash_first=False)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")


@dataclass(slots=True)
class CleanReport:
    removed_jobs: list[str] = field(default_factory=list)
    killed_orphan_sessions: list[str] = field(default_factory=list)
    foreign_sessions: list[str] = field(default_factory=list)
    worktrees: list[str] = field(default_factory=list)  # what happened to each job's worktree, in words
    stopped_leftover_sessions: list[str] = field(default_factory=list)
    removed_orphan_folders: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "removed_jobs": self.removed_jobs,
            "killed_orphan_sessions": self.killed_orphan_sessions,
            "foreign_sessions": self.foreign_sessions,
            "worktrees": self.worktrees,
            "stopped_leftover_sessions": self.stopped_leftover_sessions,
            "removed_orphan_folders": self.removed_orphan_folders,
        }


def clean(project: Project, *, older_than_ms: int) -> CleanReport:
    """Remove ended jobs older than the cutoff, and this project's sessions that have no job record."""
    report = CleanReport()
    cutoff = now_ms() - older_than_ms
    job_reads.reconcile(project, project.store.unfinished_jobs())
    for job in project.store.list_jobs():
        if job.status.is_terminal and (job.completed_at or job.created_at) <= cutoff:
            worktree = worktrees.Worktree.from_job(job)
            if worktree is not None:
                may_go, said = worktrees.release(worktree, job.id)
                report.worktrees.append(said)
                if not may_go:
                    continue  # the job stays, so its report and worktree stay findable
            project.tmux.kill_session(job.tmux_session)
            remove_tree(project.job_dir(job))
            project.store.delete_job(job.id)
            report.removed_jobs.append(job.id)
    report.removed_orphan_folders = _sweep_folders(project)
    # Sessions first, then records: `start` records a job before it makes its session, so a session seen
    # here whose record is missing below is truly orphaned, not one that a concurrent start just made.
    panes = project.tmux.panes()
    remaining = project.store.list_jobs()
    for orphan in worktrees.orphans(project.root, project.store.state_dir, {job.id for job in remaining}):
        report.worktrees.append(worktrees.release(orphan, orphan.path.name)[1])
    worktrees.remove_folder_if_empty(project.store.state_dir)
    known = {job.tmux_session: job for job in remaining}
    ours = str(project.store.state_dir)
    for name, pane in panes.items():
        if name in known:
            if known[name].status.is_terminal and not pane.dead and pane.state_dir == ours:
                # An ended job whose agent still runs: an interrupted `kill`, or a session that appeared
                # after an interrupted `start` was recorded as failed.
                procs.stop_session(project.tmux, name)
                report.stopped_leftover_sessions.append(name)
            continue
        if pane.state_dir == ours:
            project.tmux.kill_session(name)
            report.killed_orphan_sessions.append(name)
        elif not pane.state_dir:
            report.foreign_sessions.append(name)
    return report
