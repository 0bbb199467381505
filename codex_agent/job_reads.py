"""Reading jobs: their records, reconciled with tmux, and their output.

A live job's state is its keeper's to write; a read adds one thing, `lost` (or `failed`) for a job nobody is
left to end. Returns records and prints nothing."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import signal
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from codex_agent import output_log, procs, safefs
from codex_agent.agents.launch import ENV_FIFO
from codex_agent.errors import CodexAgentError, DiskFullError, UsageError
from codex_agent.models import Job, JobStatus, now_ms
from codex_agent.output_log import OUTPUT_LOG, strip_ansi
from codex_agent.tmux import PaneState

if TYPE_CHECKING:
    from codex_agent.jobs import Project


# --- reconciling -----------------------------------------------------------------------------------------


def reconcile(project: Project, jobs: Sequence[Job]) -> None:
    """Notice jobs whose keeper is gone without recording an end: the one write a read may make.

    A live job's state is its keeper's to write; a read only looks at tmux (one call for all jobs), and
    records `lost` (or `failed`, for a start that died) where nobody is left to record the end."""
    unfinished = [job for job in jobs if not job.status.is_terminal]
    if not unfinished:
        return
    panes = project.tmux.panes()
    for job in unfinished:
        pane = panes.get(job.tmux_session)
        if _handover_missed(project, job, pane):
            # Its keeper waits for an environment that will never come.
            procs.stop_session(project.tmux, job.tmux_session)
            pane = None
        ending = _orphaned(job, pane)
        if ending is None:
            continue
        before = job.updated_at
        status, error = ending
        job.status = status
        job.error = error
        job.completed_at = now_ms()
        job.attrs["status_basis"] = "tmux"
        job.attrs.pop("attention", None)
        job.attrs.pop("question", None)
        try:
            saved = project.store.save_job(job, expected_updated_at=before)
        except DiskFullError:
            continue  # a read still answers on a full disk (the way out needs it); the next one records it
        if saved:
            project.store.add_event(
                job.id, "ended", {"status": status.value, "exit_code": None, "error": error}
            )
            _log_end(project, job)
        else:
            _copy_into(job, project.store.get_job(job.id))  # someone else got there first: theirs stands


def _log_end(project: Project, job: Job) -> None:
    """The Complete entry the gone keeper could not write: whoever records an end writes it (once)."""
    from codex_agent import agentslog

    with contextlib.suppress(CodexAgentError, OSError):  # the status stands; the log is best-effort
        agentslog.record_completion(project.store, project.root, job)


HANDOVER_SETTLE_S = 2.0  # how long a keeper that has its environment may take to record the job running


def _handover_missed(project: Project, job: Job, pane: PaneState | None) -> bool:
    """A start that died between making the session and handing over the environment: the keeper has done
    nothing (it has nothing to run with), so ending it here takes nothing from anyone."""
    if job.status is not JobStatus.PENDING or pane is None or pane.dead or job.attrs.get("queued"):
        return False
    if _alive(job.attrs.get("creator_pid"), job.attrs.get("creator_started")):
        return False
    if (project.job_dir(job) / ENV_FIFO).exists():
        return True
    # The keeper has its environment and records the job running at once: wait for that, do not write it.
    from codex_agent import waiting

    waiting.wait_until(
        project,
        [job.id],
        lambda current: current[0].status is not JobStatus.PENDING,
        timeout_s=HANDOVER_SETTLE_S,
    )
    _copy_into(job, project.store.get_job(job.id))
    return False


def _orphaned(job: Job, pane: PaneState | None) -> tuple[JobStatus, str] | None:
    """(status, why) for a job nobody is left to end; None while its keeper (or its starter) lives."""
    if pane is not None and not pane.dead:
        return None
    if pane is not None:
        code = pane.dead_status
        how = f"exit status {code}" if code is not None and code < 128 else _signal_name(code)
        return JobStatus.LOST, f"its keeper ended without recording an end ({how})"
    if job.status is JobStatus.PENDING:
        if _alive(job.attrs.get("creator_pid"), job.attrs.get("creator_started")):
            return None  # recorded, and its session is being made (queued or not)
        if not job.attrs.get("queued"):
            return JobStatus.FAILED, "start was interrupted before the agent ran"
    return JobStatus.LOST, "its tmux session vanished without an end record"


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown exit status"
    with contextlib.suppress(ValueError):
        return f"killed by {signal.Signals(code - 128).name}"
    return f"exit status {code}"


def _copy_into(target: Job, source: Job) -> None:
    for item in dataclasses.fields(Job):
        setattr(target, item.name, getattr(source, item.name))


def _alive(pid: object, started: object = None) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # The pid may have been reused by a later process (pids wrap around quickly on busy machines).
    return not isinstance(started, int) or procs.start_time(pid) in (started, None)


# --- reading -----------------------------------------------------------------------------------------


def list_jobs(
    project: Project, *, limit: int | None, statuses: Sequence[JobStatus] | None = None
) -> list[Job]:
    reconcile(project, project.store.unfinished_jobs())
    return project.store.list_jobs(limit=limit, statuses=statuses)


def get_job(project: Project, job_id: str) -> Job:
    job = project.store.find_job(job_id)
    reconcile(project, [job])
    return job


def capture(project: Project, job_id: str, *, lines: int, ansi: bool) -> str:
    """The last `lines` lines of the pane (its scrollback included); from the output log once it is gone."""
    if lines <= 0:
        raise UsageError("the number of lines must be positive")
    job = get_job(project, job_id)
    if job.tmux_session in project.tmux.panes():
        return project.tmux.capture(job.tmux_session, lines=lines, ansi=ansi)
    data = output_log.read_end(project.job_dir(job) / OUTPUT_LOG, lines, under=project.store.state_dir)
    if not ansi:
        data = strip_ansi(data)
    text = data.decode("utf-8", errors="replace")
    rows = text.rstrip("\n").split("\n")
    return "\n".join(rows[-lines:]) + "\n" if text else ""


def read_output(project: Project, job: Job, *, ansi: bool) -> str:
    """The job's whole output as written to its pane, kept in the output log (in memory: small logs only)."""
    data = b"".join(output_chunks(project, job))
    if not ansi:
        data = strip_ansi(data)
    return data.decode("utf-8", errors="replace")


def output_chunks(project: Project, job: Job) -> Iterator[bytes]:
    """The job's output log in pieces: `output` of a 1 GB log costs a few MB. A link, FIFO or folder put in
    its place is refused (safefs), never followed."""
    return safefs.iter_chunks(project.job_dir(job) / OUTPUT_LOG, under=project.store.state_dir)


def output(project: Project, job_id: str) -> Iterator[bytes]:
    return output_chunks(project, get_job(project, job_id))
