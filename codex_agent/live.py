"""Working with live agents: send a message (and confirm it arrived), send a key, wait for a state, follow the
output, resume an ended codex thread. Returns records and prints nothing."""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from codex_agent import activity, jobs, safefs, waiting
from codex_agent.agents import codex
from codex_agent.agents.launch import ENV_FIFO, EXIT_FILE, LAUNCH_ERROR, LAUNCH_SPEC
from codex_agent.agents.notify import TURNS_FILE
from codex_agent.errors import (
    JOB_FAILED_EXIT,
    NEEDS_ATTENTION_EXIT,
    AgentError,
    ConflictError,
    StateError,
    UsageError,
    WaitTimeoutError,
)
from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.store import write_private_file

# Keys `send --key` may press: answers to prompts and moving through a menu. Nothing else, so no text can be
# taken by tmux for a key name or a command.
ALLOWED_KEYS = (
    "y", "n", "a", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    "Enter", "Escape", "Tab", "BTab", "Space", "BSpace", "Up", "Down", "Left", "Right", "C-c", "C-d",
)  # fmt: skip
CONFIRM_TIMEOUT_S = 10.0  # how long `send` waits for the agent to show it took the message
RETRY_ENTER_AFTER_S = 2.0  # without any sign by then, Enter is pressed once more
CONFIRM_POLL_S = 0.05
READY_TIMEOUT_S = 60.0
# Shown by the TUI when a message sent during a running turn is queued for later.
QUEUED_MARKERS = ("Messages to be submitted after next tool call", "queued message", "Queued")


# --- send ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Delivery:
    job_id: str
    chars: int
    bytes: int
    sha256: str
    confirmed_by: str  # "rollout file" (a turn or user message appeared) or "screen" (shown as queued)
    enter_retried: bool
    busy: bool  # a turn was running when the message was sent: codex runs it after (or within) that turn
    waited_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "delivered": True,
            "chars": self.chars,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "confirmed_by": self.confirmed_by,
            "enter_retried": self.enter_retried,
            "busy": self.busy,
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


def _update(project: jobs.Project, job_id: str, change: Callable[[Job], None]) -> Job:
    """Apply `change` to the freshest record and save it; again if someone else saved meanwhile."""
    for _ in range(100):
        job = project.store.get_job(job_id)
        before = job.updated_at
        change(job)
        if project.store.save_job(job, expected_updated_at=before):
            return job
    raise StateError(f"job {job_id}: the record kept changing under us", "try again")


def _user_turns(rollout: Path | None) -> int:
    """Turns started and user messages recorded in a rollout: grows when codex takes a message."""
    if rollout is None:
        return 0
    count = 0
    try:
        with rollout.open("r", errors="replace") as handle:
            for line in handle:
                if '"task_started"' in line or '"user_message"' in line:
                    count += 1
    except OSError:
        return 0
    return count


def send_message(
    project: jobs.Project,
    job_id: str,
    text: str,
    *,
    when_idle: bool = False,
    timeout_s: float | None = None,
    confirm_timeout_s: float = CONFIRM_TIMEOUT_S,
) -> Delivery:
    """Paste `text` into a live TUI agent, submit it, and confirm from the agent's side that it took it."""
    if not text.strip():
        raise UsageError("the message is empty", "say what the agent should do")
    if "\x00" in text:
        raise UsageError("the message contains a NUL character", "remove it: no agent can receive it")
    job = jobs.get_job(project, job_id)
    _require_messageable(job)
    if when_idle and job.status is not JobStatus.IDLE:
        reached = wait_for(project, [job.id], Until.IDLE, timeout_s=timeout_s)
        if reached is None:
            raise WaitTimeoutError(
                f"job {job.id} did not become idle in time", "send without --when-idle to queue the message"
            )
        job = reached.jobs[0]
        _require_messageable(job)
    if job.status is JobStatus.NEEDS_INPUT and job.attrs.get("status_basis") == activity.BASIS_SCREEN:
        raise ConflictError(
            f"job {job.id} is waiting for an answer: {job.attrs.get('attention')}",
            f"answer it first, e.g. codex-agent send {job.id} --key y (or n, Escape)",
        )
    jobs.wait_until_ready(project, job, timeout_s=READY_TIMEOUT_S)

    data = text.encode("utf-8", errors="surrogateescape")
    digest = hashlib.sha256(data).hexdigest()
    busy = job.status is not JobStatus.IDLE
    rollout = jobs._rollout_path(project, job)
    seen_before = _user_turns(rollout)
    screen_before = _screen(project, job)
    queued_before = sum(screen_before.count(marker) for marker in QUEUED_MARKERS)

    # Count the message before it is pasted: a status read in between must never see a stale "idle".
    def count_it(record: Job) -> None:
        record.attrs["messages_sent"] = int(record.attrs.get("messages_sent", 0)) + 1
        record.attrs["last_sent_at"] = now_ms()
        record.attrs["status_basis"] = activity.BASIS_SEND
        record.attrs.pop("attention", None)
        if record.status is JobStatus.IDLE:
            record.status = JobStatus.RUNNING

    _update(project, job.id, count_it)
    project.store.add_event(
        job.id, "message_sent", {"chars": len(text), "bytes": len(data), "sha256": digest, "busy": busy}
    )
    began = time.monotonic()
    project.tmux.paste(job.tmux_session, data)
    project.tmux.send_keys(job.tmux_session, "Enter")

    retried = False
    deadline = began + confirm_timeout_s
    while True:
        rollout = rollout or jobs._rollout_path(project, job)
        if _user_turns(rollout) > seen_before:
            confirmed = activity.BASIS_ROLLOUT
            break
        screen = _screen(project, job)
        if busy and sum(screen.count(marker) for marker in QUEUED_MARKERS) > queued_before:
            confirmed = activity.BASIS_SCREEN
            break
        now = time.monotonic()
        if not retried and now - began >= RETRY_ENTER_AFTER_S and not activity.find_question(screen):
            # Enter may have been taken as part of the paste. A second Enter on an empty input box does
            # nothing, so it is safe; never while a question is shown (Enter would answer it).
            project.tmux.send_keys(job.tmux_session, "Enter")
            project.store.add_event(job.id, "submit_retried", {})
            retried = True
        if now >= deadline:
            _update(project, job.id, _uncount)
            project.store.add_event(job.id, "message_unconfirmed", {"sha256": digest})
            raise AgentError(
                f"job {job.id}: the agent did not show that it took the message within "
                f"{confirm_timeout_s:.0f}s (no new turn in its rollout file"
                f"{', nothing shown as queued' if busy else ''})",
                f"it may still sit in the input box: codex-agent capture {job.id}",
            )
        time.sleep(CONFIRM_POLL_S)
    waited = int((time.monotonic() - began) * 1000)
    project.store.add_event(job.id, "message_confirmed", {"by": confirmed, "waited_ms": waited})
    return Delivery(job.id, len(text), len(data), digest, confirmed, retried, busy, waited)


def _uncount(record: Job) -> None:
    record.attrs["messages_sent"] = max(0, int(record.attrs.get("messages_sent", 0)) - 1)
    # Idleness is judged against the last message sent: one that never arrived must not count.
    record.attrs.pop("last_sent_at", None)


def _screen(project: jobs.Project, job: Job) -> str:
    try:
        return project.tmux.capture(job.tmux_session, lines=activity.SCREEN_LINES, ansi=False)
    except AgentError:
        return ""


def send_key(project: jobs.Project, job_id: str, key: str) -> Job:
    """Press one allowed key in a live job's pane (to answer a prompt)."""
    if key not in ALLOWED_KEYS:
        raise UsageError(f"--key {key!r} is not allowed", f"use one of: {', '.join(ALLOWED_KEYS)}")
    job = jobs.get_job(project, job_id)
    if not job.status.is_live:
        raise ConflictError(f"job {job.id} is {job.status.value}: there is no live pane to press keys in")
    project.tmux.send_keys(job.tmux_session, key)
    project.store.add_event(job.id, "key_sent", {"key": key, "attention": job.attrs.get("attention")})
    return job


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


def outcome_exit_code(found: list[Job]) -> int:
    """0: ended well or idle; JOB_FAILED_EXIT: one ended badly; NEEDS_ATTENTION_EXIT: one needs a person."""
    bad = (JobStatus.FAILED, JobStatus.KILLED, JobStatus.LOST)
    if any(job.status in bad for job in found):
        return JOB_FAILED_EXIT
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


# Files whose change can move a job to another state: the end, a turn, new output, codex's own record.
_WAKE_NAMES = frozenset({EXIT_FILE, TURNS_FILE, jobs.OUTPUT_LOG})


def wait_for(
    project: jobs.Project,
    job_ids: list[str],
    until: Until,
    *,
    timeout_s: float | None,
    any_job: bool = False,
) -> WaitResult | None:
    """Block until every job (or, with `any_job`, one) reaches `until`. None when the time is up."""
    ids = [project.store.resolve_id(job_id) for job_id in job_ids]
    ids = list(dict.fromkeys(ids))
    names = frozenset({EXIT_FILE}) if until is Until.DONE else _WAKE_NAMES

    def done(current: list[Job]) -> bool:
        hits = [reached(job, until) for job in current]
        return any(hits) if any_job else all(hits)

    def rollout_dirs(current: list[Job]) -> list[Path]:
        if until is Until.DONE:
            return []
        found = {path.parent for job in current if (path := activity.rollout_of(job)) is not None}
        return sorted(found)

    def next_due(current: list[Job]) -> float | None:
        if until in (Until.DONE, Until.IDLE):
            return None
        panes = project.tmux.panes()
        dues = [
            due
            for job in current
            if (due := activity.stall_due_in_s(job, project.job_dir(job), panes.get(job.tmux_session)))
            is not None
        ]
        return min(dues) + 0.05 if dues else None

    found = waiting.wait_until(
        project,
        ids,
        done,
        timeout_s=timeout_s,
        names=names if until is Until.DONE else names | {"rollout-*"},
        extra_directories=rollout_dirs,
        next_due_s=next_due,
    )
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
    job = jobs.get_job(project, job_id)
    log = project.job_dir(job) / jobs.OUTPUT_LOG
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
            if cut >= 0 and len(data) - cut < 64 and not jobs._ANSI.match(data, cut):
                data, held = data[:cut], data[cut:]  # an escape sequence cut in two: wait for the rest
            data = jobs.strip_ansi(data)
        return decoder.decode(data)

    with waiting.Watcher([project.job_dir(job)], _WAKE_NAMES) as watcher:
        while True:
            text = read_new()
            if text:
                yield WatchEvent("output", text)
            job = jobs.get_job(project, job.id)
            state = (job.status, job.attrs.get("status_basis"), job.attrs.get("attention"))
            if state != last_state:
                last_state = state
                yield WatchEvent("status", job=job)
            if reached(job, until):
                break
            pause = waiting.SAFETY_RECHECK_S
            due = activity.stall_due_in_s(
                job, project.job_dir(job), project.tmux.panes().get(job.tmux_session)
            )
            if due is not None:
                pause = min(pause, due + 0.05)
            watcher.wait(pause)
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
    """Continue an ended codex TUI job's thread in a new tmux session: same job id, one more attempt.

    The job keeps its id, folder, output log (appended to), events and turn counts; the attempt that ended
    is recorded in attrs["attempts"]. With a message, it is sent (and confirmed) once the TUI is up.
    """
    job = jobs.get_job(project, job_id)
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
        jobs._rollout_path(project, job)  # discovers the thread from codex's records, when it can
    if not job.thread_id:
        raise ConflictError(
            f"job {job.id} has no known codex thread to resume", "it may have ended before codex started"
        )
    settings = project.settings()
    binary = codex.codex_binary()
    job_dir = project.job_dir(job)
    codex_settings = codex.CodexSettings(
        job.model or settings.model, job.reasoning or settings.reasoning, job.sandbox or settings.sandbox,
        settings.approval,
    )  # fmt: skip
    tui = codex.tui_argv(binary, codex_settings, job_dir, Path(job.cwd))
    argv = [tui[0], "resume", *tui[1:], job.thread_id]

    attempt = {
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "status": job.status.value,
        "exit_code": job.exit_code,
        "error": job.error,
    }
    project.tmux.kill_session(job.tmux_session)  # a dead pane left for reading
    for name in (EXIT_FILE, LAUNCH_ERROR, ENV_FIFO):
        (job_dir / name).unlink(missing_ok=True)
    spec = {
        "argv": argv,
        "prompt_via": "none",
        "env": {"CODEX_AGENT_JOB_ID": job.id},
        "notify_on_complete": bool(job.attrs.get("notify_on_complete")),
    }
    write_private_file(job_dir / LAUNCH_SPEC, json.dumps(spec).encode())
    if not (job_dir / jobs.OUTPUT_LOG).exists():
        write_private_file(job_dir / jobs.OUTPUT_LOG, b"")
    os.mkfifo(job_dir / ENV_FIFO, 0o600)

    def reopen(record: Job) -> None:
        record.attrs["attempts"] = [*(record.attrs.get("attempts") or []), attempt]
        record.attrs["creator_pid"] = os.getpid()
        record.attrs.pop("notified", None)
        record.attrs.pop("attention", None)
        record.attrs["status_basis"] = activity.BASIS_START
        # Whatever was sent and never answered died with the old process.
        record.attrs["messages_sent"] = int(record.attrs.get("turns_completed", 0))
        started = int(record.attrs.get("turns_started", 0))
        record.attrs["abandoned_turns"] = max(0, started - int(record.attrs.get("turns_completed", 0)))
        record.status = JobStatus.PENDING
        record.completed_at = None
        record.exit_code = None
        record.error = None

    job = _update(project, job.id, reopen)
    project.store.add_event(job.id, "resumed", {"attempt": len(job.attrs["attempts"]) + 1})
    try:
        project.tmux.new_session(
            job.tmux_session,
            cwd=Path(job.cwd),
            command=[sys.executable, "-m", "codex_agent.agents.launch", str(job_dir)],
            log_path=job_dir / jobs.OUTPUT_LOG,
            state_dir=project.store.state_dir,
        )
        jobs._hand_over_environment(job_dir / ENV_FIFO)
    except BaseException as exc:
        jobs._record_failed_start(project, job, exc)
        raise

    def running(record: Job) -> None:
        record.status = JobStatus.RUNNING
        record.started_at = now_ms()

    job = _update(project, job.id, running)
    delivery = send_message(project, job.id, message) if message else None
    return jobs.get_job(project, job.id), delivery
