"""Working with live agents: send a message (through the job's keeper, confirmed by codex), answer a question,
wait for a state, follow the output, resume an ended codex thread. Returns records and prints nothing."""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from codex_agent import job_reads, jobs, output_log, safefs, waiting
from codex_agent.agents import codex
from codex_agent.agents.launch import ENV_FIFO, LAUNCH_SPEC, STAMP_FILE
from codex_agent.errors import (
    JOB_FAILED_EXIT,
    NEEDS_ATTENTION_EXIT,
    TURN_FAILED_EXIT,
    ConflictError,
    UsageError,
    WaitTimeoutError,
)
from codex_agent.keeper import control
from codex_agent.models import Job, JobKind, JobStatus
from codex_agent.safefs import write_private_file

# Keys `send --key` may press: answers to prompts and moving through a menu. Nothing else, so no text can be
# taken by tmux for a key name or a command.
ALLOWED_KEYS = (
    "y", "n", "a", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    "Enter", "Escape", "Tab", "BTab", "Space", "BSpace", "Up", "Down", "Left", "Right", "C-c", "C-d",
)  # fmt: skip
# While codex waits for an approval, these keys answer it through the protocol (as the TUI's overlay would).
KEY_DECISIONS = {"y": "accept", "a": "acceptForSession", "n": "decline", "Escape": "cancel"}
SEND_TIMEOUT_S = 45.0  # the keeper's own wait for codex's receipt is 30 s


# --- send ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Delivery:
    job_id: str
    chars: int
    bytes: int
    sha256: str
    confirmed_by: str  # "protocol": codex echoed the message back with our client message id
    busy: bool  # a turn was running: the message was added to it (steered) instead of starting a new one
    turn_id: str
    waited_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "delivered": True,
            "chars": self.chars,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "confirmed_by": self.confirmed_by,
            "busy": self.busy,
            "turn_id": self.turn_id,
            "waited_ms": self.waited_ms,
        }


def _require_messageable(job: Job) -> None:
    if job.kind is not JobKind.CODEX:
        what = "a `codex exec` job" if job.kind is JobKind.CODEX_EXEC else "a plain command"
        raise ConflictError(
            f"job {job.id} is {what}: it takes no messages",
            "messages go to TUI agents (`codex-agent start` without --exec); keys: `send --key`",
        )
    if job.status.is_terminal:
        raise ConflictError(
            f"job {job.id} has ended ({job.status.value}): no agent is there to read a message",
            f"continue its thread with `codex-agent resume {job.id} MESSAGE`",
        )
    if not job.status.is_live:
        raise ConflictError(f"job {job.id} is still starting", f"wait for it: codex-agent wait {job.id}")


def send_message(
    project: jobs.Project, job_id: str, text: str, *, when_idle: bool = False, timeout_s: float | None = None
) -> Delivery:
    """Hand `text` to the job's keeper, which starts a turn (idle) or steers the running one; returns once
    codex has echoed the message back."""
    if not text.strip():
        raise UsageError("the message is empty", "say what the agent should do")
    jobs.check_prompt(text, "message")
    job = job_reads.get_job(project, job_id)
    _require_messageable(job)
    if when_idle and job.status is not JobStatus.IDLE:
        reached = wait_for(project, [job.id], Until.IDLE, timeout_s=timeout_s)
        if reached is None:
            raise WaitTimeoutError(
                f"job {job.id} did not become idle in time",
                "send without --when-idle to steer the running turn",
            )
        job = reached.jobs[0]
        _require_messageable(job)
    if job.status is JobStatus.NEEDS_INPUT:
        raise ConflictError(
            f"job {job.id} is waiting for an answer: {job.attrs.get('attention')}",
            f"answer it first: codex-agent send {job.id} --key y (or n)",
        )
    data = text.encode("utf-8", errors="surrogateescape")
    digest = hashlib.sha256(data).hexdigest()
    client_id = f"codex-agent-{uuid.uuid4()}"
    project.store.add_event(
        job.id, "message_sent", {"chars": len(text), "bytes": len(data), "sha256": digest}
    )
    reply = control.ask(
        project.job_dir(job), {"op": "send", "text": text, "client_id": client_id}, timeout_s=SEND_TIMEOUT_S
    )
    return Delivery(
        job.id, len(text), len(data), digest, "protocol", bool(reply.get("steered")),
        str(reply.get("turn_id") or ""), int(reply.get("waited_ms") or 0),
    )  # fmt: skip


def send_key(project: jobs.Project, job_id: str, key: str) -> Job:
    """Answer codex's question with a key (through the protocol), or press an allowed key in the pane."""
    if key not in ALLOWED_KEYS:
        raise UsageError(f"--key {key!r} is not allowed", f"use one of: {', '.join(ALLOWED_KEYS)}")
    job = job_reads.get_job(project, job_id)
    if not job.status.is_live:
        raise ConflictError(f"job {job.id} is {job.status.value}: there is no live pane to press keys in")
    question = job.attrs.get("question")
    if question and key in KEY_DECISIONS and job.kind.is_codex:
        answer(project, job, KEY_DECISIONS[key])
        return job_reads.get_job(project, job.id)
    project.tmux.send_keys(job.tmux_session, key)
    project.store.add_event(job.id, "key_sent", {"key": key, "attention": job.attrs.get("attention")})
    return job


def answer(project: jobs.Project, job: Job, decision: str) -> dict[str, Any]:
    """Answer the question codex waits on; whoever answers first (this or a person in the pane) wins."""
    question = job.attrs.get("question") or {}
    return control.ask(
        project.job_dir(job),
        {"op": "answer", "decision": decision, "request_id": question.get("request_id")},
        timeout_s=SEND_TIMEOUT_S,
    )


# --- waiting for a state ------------------------------------------------------------------------------------


class Until(str, Enum):
    DONE = "done"  # the job ended
    IDLE = "idle"  # a TUI agent finished its turns (or the job ended)
    ATTENTION = "attention"  # needs_input or stalled (or the job ended)
    PERSON = "person"  # the default: ended, or waiting for a person (idle, needs_input, stalled)


def reached(job: Job, until: Until) -> bool:
    if job.status.is_terminal:
        return True
    if until is Until.IDLE:
        return job.status is JobStatus.IDLE
    if until is Until.ATTENTION:
        return needs_attention(job)
    if until is Until.PERSON:
        return job.status in (JobStatus.IDLE, JobStatus.NEEDS_INPUT, JobStatus.STALLED)
    return False


def needs_attention(job: Job) -> bool:
    return job.status in (JobStatus.NEEDS_INPUT, JobStatus.STALLED) or bool(
        job.status is JobStatus.IDLE and job.attrs.get("attention")
    )


def turn_failed(job: Job) -> bool:
    """An idle agent whose last turn did not complete (a model error, a 429, a stream that timed out)."""
    turn = job.attrs.get("turn") or {}
    return job.status is JobStatus.IDLE and turn.get("status") in ("failed", "interrupted")


def outcome_exit_code(found: list[Job]) -> int:
    """0: ended well or idle after a completed turn; JOB_FAILED_EXIT: one ended badly; TURN_FAILED_EXIT: one's
    last turn failed (it takes a follow-up); NEEDS_ATTENTION_EXIT: one needs a person."""
    bad = (JobStatus.FAILED, JobStatus.KILLED, JobStatus.LOST)
    if any(job.status in bad for job in found):
        return JOB_FAILED_EXIT
    if any(turn_failed(job) for job in found):
        return TURN_FAILED_EXIT
    if any(needs_attention(job) for job in found if not job.status.is_terminal):
        return NEEDS_ATTENTION_EXIT
    return 0


@dataclass(slots=True)
class WaitResult:
    jobs: list[Job]
    reached_ids: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        chosen = [job for job in self.jobs if job.id in self.reached_ids] or self.jobs
        return outcome_exit_code(chosen)


# What changes when a job's state may have: its keeper replaces this file after every write.
_WAKE_NAMES = frozenset({STAMP_FILE})


def wait_for(
    project: jobs.Project,
    job_ids: list[str],
    until: Until,
    *,
    timeout_s: float | None,
    any_job: bool = False,
) -> WaitResult | None:
    """Block until every job (or, with `any_job`, one) reaches `until`. None when the time is up."""
    ids = list(dict.fromkeys(project.store.resolve_id(job_id) for job_id in job_ids))

    def done(current: list[Job]) -> bool:
        hits = [reached(job, until) for job in current]
        return any(hits) if any_job else all(hits)

    found = waiting.wait_until(project, ids, done, timeout_s=timeout_s, names=_WAKE_NAMES)
    if found is None:
        return None
    return WaitResult(found, [job.id for job in found if reached(job, until)])


# --- watching the output ------------------------------------------------------------------------------------


@dataclass(slots=True)
class WatchEvent:
    kind: str  # "output" or "status"
    data: str = ""
    job: Job | None = None

    def to_json(self) -> dict[str, Any]:
        if self.kind == "output":
            return {"type": "output", "data": self.data}
        assert self.job is not None
        return {
            "type": "status",
            "id": self.job.id,
            "status": self.job.status.value,
            "status_basis": self.job.attrs.get("status_basis"),
            "attention": self.job.attrs.get("attention"),
            "exit_code": self.job.exit_code,
        }


DRAIN_QUIET_S = 0.15  # after the end, output still in flight through tmux is read until quiet this long


def watch(
    project: jobs.Project,
    job_id: str,
    *,
    until: Until = Until.DONE,
    ansi: bool = True,
    from_start: bool = True,
) -> Iterator[WatchEvent]:
    """Yield the job's output as it is written and its status changes, until it reaches `until`."""
    job = job_reads.get_job(project, job_id)
    log = project.job_dir(job) / output_log.OUTPUT_LOG
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = 0 if from_start else _size(log)
    held = b""
    last_state: tuple[Any, ...] | None = None

    def read_new() -> str:
        nonlocal offset, held
        try:  # never through a link an agent put in the log's place (safefs refuses it: one line, exit 12)
            handle = os.fdopen(safefs.open_file(log, os.O_RDONLY, under=project.store.state_dir), "rb")
        except FileNotFoundError:
            return ""
        with handle:
            handle.seek(offset)
            data = handle.read()
        offset += len(data)
        data = held + data
        held = b""
        if not ansi:
            cut = data.rfind(b"\x1b")
            if cut >= 0 and len(data) - cut < 64 and not output_log.ANSI_SEQUENCE.match(data, cut):
                data, held = data[:cut], data[cut:]  # an escape sequence cut in two: wait for the rest
            data = output_log.strip_ansi(data)
        return decoder.decode(data)

    with waiting.Watcher([project.job_dir(job)], _WAKE_NAMES | {output_log.OUTPUT_LOG}) as watcher:
        while True:
            text = read_new()
            if text:
                yield WatchEvent("output", text)
            job = job_reads.get_job(project, job.id)
            state = (job.status, job.attrs.get("status_basis"), job.attrs.get("attention"))
            if state != last_state:
                last_state = state
                yield WatchEvent("status", job=job)
            if reached(job, until):
                break
            watcher.wait(waiting.SAFETY_RECHECK_S)
        # Output written just before the end may still be on its way through tmux into the log.
        while watcher.wait(DRAIN_QUIET_S):
            text = read_new()
            if text:
                yield WatchEvent("output", text)
        text = read_new() + decoder.decode(b"", final=True)
        if text:
            yield WatchEvent("output", text)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- resume -------------------------------------------------------------------------------------------------


def resume(project: jobs.Project, job_id: str, message: str | None = None) -> tuple[Job, Delivery | None]:
    """Put a keeper back on an ended codex TUI job's thread, in a new tmux session: same job id, one more
    attempt (the one that ended is kept in attrs["attempts"]). With a message, it is sent once codex is up."""
    job = job_reads.get_job(project, job_id)
    if job.kind is not JobKind.CODEX:
        raise ConflictError(
            f"job {job.id} is a {job.kind.value} job: only codex TUI jobs can be resumed",
            "start a new job for it",
        )
    if not job.status.is_terminal:
        raise ConflictError(
            f"job {job.id} is {job.status.value}: its agent is still there",
            f"send it a message instead: codex-agent send {job.id} MESSAGE",
        )
    if not job.thread_id:
        raise ConflictError(
            f"job {job.id} has no codex thread to resume", "it ended before codex started its thread"
        )
    job_dir = project.job_dir(job)
    spec = json.loads((job_dir / LAUNCH_SPEC).read_text())
    spec.update(codex=codex.codex_binary(), resume_thread=job.thread_id, prompt_via="none")
    attempt = {
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "status": job.status.value,
        "exit_code": job.exit_code,
        "error": job.error,
    }
    project.tmux.kill_session(job.tmux_session)  # a dead pane left for reading
    (job_dir / ENV_FIFO).unlink(missing_ok=True)
    write_private_file(job_dir / LAUNCH_SPEC, json.dumps(spec).encode())
    os.mkfifo(job_dir / ENV_FIFO, 0o600)

    def reopen(record: Job) -> None:
        record.attrs["attempts"] = [*(record.attrs.get("attempts") or []), attempt]
        record.attrs.update(creator_pid=os.getpid(), status_basis="resume", queued=False)
        for key in ("attention", "question", "turn", "doing"):
            record.attrs.pop(key, None)
        record.status = JobStatus.PENDING
        record.completed_at = None
        record.exit_code = None
        record.error = None

    from codex_agent.keeper.record import Recorder

    job = Recorder(project.store, job.id).update(reopen)
    project.store.add_event(job.id, "resumed", {"attempt": len(job.attrs["attempts"]) + 1})
    jobs.launch(project, job)
    if message is None:
        return job_reads.get_job(project, job.id), None
    found = wait_for(project, [job.id], Until.PERSON, timeout_s=60)
    if found is None or found.jobs[0].status.is_terminal:
        raise ConflictError(f"job {job.id} did not come back up", f"look at it: codex-agent capture {job.id}")
    delivery = send_message(project, job.id, message)
    return job_reads.get_job(project, job.id), delivery
