"""The keeper's pen: the only writer of a job's state while the job lives, and of its end.

Every change is written in one transaction on the freshest record, with an event for `codex-agent events`, and
then `state.stamp` in the job's folder is replaced so that waiters (inotify on the job folder) wake at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codex_agent.agents.launch import STAMP_FILE
from codex_agent.errors import DiskFullError, StateError
from codex_agent.models import Job, JobStatus, now_ms
from codex_agent.store import Store

if TYPE_CHECKING:
    from codex_agent.keeper.tracker import View

BASIS = "protocol"  # status_basis of everything the keeper records
DISK_FULL_FIRST_PAUSE_S = 0.1
DISK_FULL_PATIENCE_S = 60.0
SUMMARY_EVENT_CHARS = 300


@dataclass(slots=True)
class Ending:
    status: JobStatus
    exit_code: int | None
    error: str | None


class Recorder:
    def __init__(self, store: Store, job_id: str, *, patient: bool = False) -> None:
        """`patient`: wait out a full disk (the keeper); a short-lived command refuses at once instead."""
        self.patient = patient
        self.store = store
        self.job_id = job_id
        self.job_dir = store.job_dir(job_id)
        self.ended_here = False  # this process recorded the job's end: what follows an end is its to do
        # The record and the task as the keeper found them when it started, before its agent ran: what is
        # run on the agent's behalf later (notify-on-complete, a retry) comes from these, never from files an
        # agent with write access to the project could have edited meanwhile.
        self.as_started: Job | None = None
        self.task: str | None = None

    def remember_start(self) -> None:
        from codex_agent.jobs import read_prompt

        self.as_started = self.store.get_job(self.job_id)
        self.task = read_prompt(self.job_dir, self.as_started)

    def trusted(self, job: Job) -> Job:
        """`job` as recorded now, with the settings and commands it had when its keeper started."""
        start = self.as_started
        if start is None:
            return job
        ended: tuple[str, ...] = ("retried_as", "retrying", "turn", "question")
        kept = {key: job.attrs[key] for key in ended if key in job.attrs}
        return dataclasses.replace(
            start,
            status=job.status, exit_code=job.exit_code, error=job.error, started_at=job.started_at,
            completed_at=job.completed_at, summary=job.summary, tokens=job.tokens,
            files_modified=job.files_modified, thread_id=job.thread_id, updated_at=job.updated_at,
            attrs={**start.attrs, **kept},
        )  # fmt: skip

    def update(self, change: Callable[[Job], None]) -> Job:
        """Apply `change` to the freshest record and save it (Store.update_job: again if another process
        saved meanwhile, a command that records a message it sent, say); then wake the waiters."""

        def apply(job: Job) -> bool:
            change(job)
            return True

        job = self._patiently(lambda: self.store.update_job(self.job_id, apply))
        self._stamp()
        return job

    def _patiently(self, write: Callable[[], Job]) -> Job:
        """On a full disk, try again as space comes back (for a while): the keeper is the only one who will
        ever write this job's state, so giving up would lose it."""
        pause = DISK_FULL_FIRST_PAUSE_S
        waited = 0.0
        while True:
            try:
                return write()
            except DiskFullError:
                if not self.patient or waited >= DISK_FULL_PATIENCE_S:
                    raise
                time.sleep(pause)  # a backoff on an error, not a wait for a state: nothing else tells us
                waited += pause
                pause = min(pause * 2, 2.0)

    def event(self, kind: str, data: dict[str, Any] | None = None) -> None:
        with contextlib.suppress(StateError):
            self.store.add_event(self.job_id, kind, data or {})

    def _stamp(self) -> None:
        tmp = self.job_dir / f".{STAMP_FILE}.tmp"
        with contextlib.suppress(OSError):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, str(now_ms()).encode())
            finally:
                os.close(fd)
            os.replace(tmp, self.job_dir / STAMP_FILE)

    # --- what the keeper records ------------------------------------------------------------------------

    def running(self, **attrs: Any) -> Job:
        def change(job: Job) -> None:
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or now_ms()
            job.attrs.update(status_basis=BASIS, **attrs)

        job = self.update(change)
        self.event("started", {"kind": job.kind.value})
        return job

    def started(self, thread_id: str, server_pid: int | None) -> None:
        def change(job: Job) -> None:
            job.thread_id = thread_id
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or now_ms()
            job.attrs.update(status_basis=BASIS, app_server_pid=server_pid)

        self.update(change)

    def observe(self, before: View, after: View, *, interactive: bool = True) -> Job:
        """Write the view the protocol gives, and an event for each transition an orchestrator acts on."""

        def change(job: Job) -> None:
            # A one-turn (exec) job whose turn is over is ending, not waiting: it keeps its slot until then.
            job.status = (
                after.status if interactive or after.status is not JobStatus.IDLE else JobStatus.RUNNING
            )
            job.attrs["status_basis"] = BASIS
            job.attrs["turns_completed"] = after.turns_completed
            job.attrs["doing"] = after.doing
            job.attrs["turn"] = after.turn.to_json() if after.turn else None
            job.attrs["question"] = after.question.to_json() if after.question else None
            job.tokens = after.tokens or job.tokens
            job.summary = after.summary if after.summary is not None else job.summary
            job.files_modified = _relative(after.files, job.cwd) if after.files else job.files_modified
            failed = after.turn is not None and after.turn.status in ("failed", "interrupted")
            job.error = (
                (after.turn.error or f"the turn was {after.turn.status}") if failed and after.turn else None
            )
            job.attrs["attention"] = _attention(job, after)

        job = self.update(change)
        for kind, data in _transitions(before, after):
            self.event(kind, data)
        return job

    def stalled(self, quiet_s: float) -> None:
        def change(job: Job) -> None:
            job.status = JobStatus.STALLED
            job.attrs["attention"] = f"no sign of progress for {int(quiet_s)}s"

        self.update(change)
        self.event("stalled", {"quiet_s": int(quiet_s)})

    @staticmethod
    def closing(job: Job, ending: Ending) -> Job:
        """`job` (a fresh read) as `ended(ending)` will write it, not saved: what is done before the end
        is recorded (agents.log, claims, the worktree commit) reads from this, so it is true when a waiter
        wakes."""
        _apply_ending(job, ending)
        return job

    def ended(self, ending: Ending, *, at: int | None = None) -> Job:
        """The end, once: a second call (the keeper's last step after its agent's own) keeps the first."""

        ending_here = False

        def change(job: Job) -> None:
            nonlocal ending_here
            ending_here = not job.status.is_terminal  # decided on the record this transaction saves
            if ending_here:
                _apply_ending(job, ending, at)

        job = self.update(change)
        if ending_here:
            self.ended_here = True
            said = None if job.error == "killed by request" else job.error  # the status says it all
            self.event("ended", {"status": job.status.value, "exit_code": job.exit_code, "error": said})
        return job


def _apply_ending(job: Job, ending: Ending, at: int | None = None) -> None:
    job.status = ending.status
    job.exit_code = ending.exit_code
    job.error = ending.error if ending.status is not JobStatus.COMPLETED else None
    job.completed_at = at or now_ms()
    job.attrs["status_basis"] = BASIS
    job.attrs.pop("attention", None)
    job.attrs.pop("question", None)
    job.attrs["doing"] = None
    job.attrs["retrying"] = will_retry(job)  # a job queued after this one waits for the retry


def _relative(paths: list[str], cwd: str) -> list[str]:
    base = Path(cwd)
    out = []
    for path in paths:
        candidate = Path(path)
        with contextlib.suppress(ValueError):
            candidate = candidate.relative_to(base) if candidate.is_absolute() else candidate
        out.append(str(candidate))
    return out


def _attention(job: Job, view: View) -> str | None:
    if view.question is not None:
        question = view.question
        hint = f"answer: codex-agent send {job.id} --key y (or n)"
        return f"{question.question}{f' ({question.reason})' if question.reason else ''}; {hint}"
    turn = view.turn
    if turn is not None and turn.status == "failed":
        return f"the last turn failed: {turn.error}; send a follow-up: codex-agent send {job.id} MESSAGE"
    return None


def _transitions(before: View, after: View) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if after.question is not None and (
        before.question is None or before.question.request_id != after.question.request_id
    ):
        question = after.question
        found.append(
            ("needs_input", {
                "question": question.question, "command": question.command, "cwd": question.cwd,
                "reason": question.reason, "answers": question.answers,
            })
        )  # fmt: skip
    turn = after.turn
    if turn is not None and turn.completed_at is not None and after.turns_completed != before.turns_completed:
        if turn.status == "completed":
            summary = (turn.last_message or "").strip().splitlines()
            found.append(
                (
                    "turn_completed",
                    {"turn_id": turn.id, "summary": summary[0][:SUMMARY_EVENT_CHARS] if summary else ""},
                )
            )
        else:
            found.append(
                ("turn_failed", {"turn_id": turn.id, "error": turn.error or f"the turn was {turn.status}"})
            )
    return found


def will_retry(job: Job) -> bool:
    """A run that failed (a non-zero exit, a failed turn, a failed launch) is tried again while tries last."""
    plan = job.attrs.get("retry")
    if not isinstance(plan, dict) or job.attrs.get("retried_as") or job.status is not JobStatus.FAILED:
        return False
    if str(job.error or "").startswith("never started:"):
        return False  # what it waited for failed: another attempt would wait for the same
    return int(plan.get("attempt", 1)) <= int(plan.get("max_retries", 0))
