"""What a live job is doing, and what that answer is based on.

A live job is `running`, `idle` (a TUI agent that finished every turn it was given), `needs_input` (it shows a
question or an approval request: a person must answer) or `stalled` (no progress for its threshold). Each
answer names its evidence in `status_basis`, strongest first:

    exit record   the launcher's recorded exit status            (ended jobs)
    tmux          the pane: alive, dead, vanished, last output time
    notify hook   codex's own turn-complete hook (turns.jsonl)
    rollout file  codex's session record: turns started and finished, errors, token counts
    send          a message was just handed to the agent and no turn has been seen yet
    output log    the job's output log (last write time)
    screen        the captured pane text: a question or an approval prompt

The screen is the last resort. It can only ever add `needs_input` (with the question in `attention`); it never
ends or kills a job, and it is only looked at while a turn is in progress (or, for commands, after the output
has been quiet for a moment).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_agent.agents.notify import TURNS_FILE
from codex_agent.models import Job, JobKind, JobStatus, iso, now_ms
from codex_agent.tmux import PaneState, Tmux

OUTPUT_LOG = "output.log"
DEFAULT_STALL_AFTER_S = 300
COMMAND_QUIET_BEFORE_SCREEN_S = 2.0  # a plain command's screen is only read once it has been quiet this long
TUI_QUIET_BEFORE_SCREEN_S = 2.0  # likewise a TUI turn's, once codex's records have been quiet
SCREEN_LINES = 40  # rows of the pane looked at (the bottom of the screen, where prompts are)
QUESTION_TAIL_ROWS = 16
ATTENTION_MAX_CHARS = 500

BASIS_EXIT = "exit record"
BASIS_TMUX = "tmux"
BASIS_HOOK = "notify hook"
BASIS_ROLLOUT = "rollout file"
BASIS_SEND = "send"
BASIS_OUTPUT = "output log"
BASIS_SCREEN = "screen"
BASIS_START = "start"
BASIS_KILL = "kill request"

# Where a question begins: codex's approval and first-run screens. Other prompts are known by their ending.
_QUESTION_START = re.compile(
    r"Would you like to (?:run the following|make the following|apply the|grant|allow)|"
    r"Do you trust the contents|Sign in with ChatGPT"
)
_QUESTION_END = re.compile(
    r"Allow command\?|\[[yY]/[nN]\]|\([yY]/[nN]\)|\(yes/no\)|\[yes/no\]|Press enter to confirm|esc to cancel|"
    r"(?:^|\s)(?:[Pp]assword|[Pp]assphrase)[^:]*:\s*$"
)
_CONTEXT_ERROR = re.compile(r"context window|context_length_exceeded|ran out of room", re.IGNORECASE)


@dataclass(slots=True)
class Heartbeat:
    process_alive: bool
    pid: int | None
    last_output_at: int | None
    last_progress_at: int | None
    last_turn_at: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "process_alive": self.process_alive,
            "pid": self.pid,
            "last_output_at": iso(self.last_output_at),
            "last_progress_at": iso(self.last_progress_at),
            "last_turn_at": iso(self.last_turn_at),
        }


def _mtime_ms(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return int(path.stat().st_mtime * 1000)
    except OSError:
        return None


def _latest(*values: int | None) -> int | None:
    present = [value for value in values if value]
    return max(present) if present else None


def last_output_ms(job_dir: Path, pane: PaneState | None) -> int | None:
    """The last time the job wrote to its terminal: tmux's window activity, or the output log's mtime."""
    activity = pane.activity_s * 1000 if pane is not None and pane.activity_s else None
    return _latest(activity, _mtime_ms(job_dir / OUTPUT_LOG))


def rollout_of(job: Job) -> Path | None:
    recorded = job.attrs.get("rollout_path")
    return Path(recorded) if isinstance(recorded, str) and recorded else None


def last_progress_ms(job: Job, job_dir: Path, pane: PaneState | None) -> int | None:
    """When the job last showed progress.

    A codex TUI redraws its spinner every second while it works, so its terminal output says nothing: its
    progress is codex's own records (rollout file, turn hook) and the messages sent to it. For everything
    else, progress is output.
    """
    started = job.started_at or job.created_at
    if job.kind is JobKind.CODEX:
        sent = job.attrs.get("last_sent_at")
        return _latest(
            started,
            sent if isinstance(sent, int) else None,
            _mtime_ms(rollout_of(job)),
            _mtime_ms(job_dir / TURNS_FILE),
        )
    return _latest(started, last_output_ms(job_dir, pane))


def heartbeat(job: Job, job_dir: Path, pane: PaneState | None) -> Heartbeat:
    last_turn = job.attrs.get("last_turn_at")
    return Heartbeat(
        process_alive=pane is not None and not pane.dead,
        pid=pane.pid if pane is not None else None,
        last_output_at=last_output_ms(job_dir, pane),
        last_progress_at=last_progress_ms(job, job_dir, pane),
        last_turn_at=last_turn if isinstance(last_turn, int) else None,
    )


def find_question(screen: str) -> str | None:
    """A question or approval request at the bottom of the screen, as one line of text; else None."""
    rows = [row.rstrip() for row in screen.splitlines() if row.strip()][-QUESTION_TAIL_ROWS:]
    start = None
    for index, row in enumerate(rows):
        if _QUESTION_START.search(row):
            start = index
    if start is None:
        # A generic prompt counts only on the last rows, where a program waiting for an answer leaves it.
        for index in range(max(0, len(rows) - 3), len(rows)):
            if _QUESTION_END.search(rows[index]):
                start = max(0, index - 2)
                break
        if start is None:
            return None
    text = " ".join(" ".join(row.split()) for row in rows[start:])
    return text[:ATTENTION_MAX_CHARS]


def context_problem(rollout: Path | None) -> str | None:
    """Whether codex ran out of context window in its latest turn (an error event, or a full window)."""
    if rollout is None:
        return None
    problem: str | None = None
    try:
        handle = rollout.open("r", errors="replace")
    except OSError:
        return None
    with handle:
        for line in handle:
            if '"event_msg"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            payload = record.get("payload") if isinstance(record, dict) else None
            if not isinstance(payload, dict):
                continue
            kind = payload.get("type")
            if kind == "task_started":
                problem = None
            elif kind in ("error", "stream_error") and _CONTEXT_ERROR.search(str(payload.get("message"))):
                problem = " ".join(str(payload.get("message")).split())[:ATTENTION_MAX_CHARS]
            elif kind == "token_count" and isinstance(payload.get("info"), dict):
                problem = _window_full(payload["info"]) or problem
    return problem


def _window_full(info: dict[str, Any]) -> str | None:
    window = info.get("model_context_window")
    last = info.get("last_token_usage")
    if not isinstance(window, int) or window <= 0 or not isinstance(last, dict):
        return None
    used = int(last.get("input_tokens", 0)) + int(last.get("output_tokens", 0))
    if used < window:
        return None
    return f"{used} of {window} tokens used"


def _screen_question(job: Job, tmux: Tmux) -> str | None:
    with contextlib.suppress(Exception):  # the screen is a hint: never let reading it fail a status read
        return find_question(tmux.capture(job.tmux_session, lines=SCREEN_LINES, ansi=False))
    return None


def _cached_screen_question(job: Job, job_dir: Path, pane: PaneState, tmux: Tmux) -> str | None:
    """A quiet command's screen does not change: read it again only after new output, not on every read."""
    try:
        size = (job_dir / OUTPUT_LOG).stat().st_size
    except OSError:
        size = -1
    key = f"{pane.activity_s}:{size}"
    if job.attrs.get("screen_key") == key:
        cached = job.attrs.get("screen_question")
        return cached if isinstance(cached, str) else None
    question = _screen_question(job, tmux)
    job.attrs["screen_key"] = key
    job.attrs["screen_question"] = question
    return question


def assess(job: Job, job_dir: Path, pane: PaneState, tmux: Tmux, now: int | None = None) -> bool:
    """Refine a live job's status from its evidence, in place. Returns True when anything changed."""
    now = now_ms() if now is None else now
    before = (
        job.status,
        job.attrs.get("status_basis"),
        job.attrs.get("attention"),
        job.attrs.get("screen_key"),
    )
    status, basis, attention = _evaluate(job, job_dir, pane, tmux, now)
    job.status = status
    job.attrs["status_basis"] = basis
    if attention:
        job.attrs["attention"] = attention
    else:
        job.attrs.pop("attention", None)
    return (status, basis, attention, job.attrs.get("screen_key")) != before


def _evaluate(
    job: Job, job_dir: Path, pane: PaneState, tmux: Tmux, now: int
) -> tuple[JobStatus, str, str | None]:
    context = job.attrs.get("context_exhausted")
    context_note = f"context window exhausted: {context}" if context else None
    if job.kind is JobKind.CODEX:
        completed = int(job.attrs.get("turns_completed", 0))
        started = int(job.attrs.get("turns_started", 0)) - int(job.attrs.get("abandoned_turns", 0))
        if job.attrs.get("turn_idle"):  # decided from codex's records by jobs._refresh_turns
            basis = BASIS_HOOK if job.attrs.get("turns_basis") == BASIS_HOOK else BASIS_ROLLOUT
            if context_note:
                basis = BASIS_ROLLOUT  # what the person must act on comes from the rollout
            return JobStatus.IDLE, basis, context_note
        if context_note:
            return JobStatus.NEEDS_INPUT, BASIS_ROLLOUT, context_note
        progress = last_progress_ms(job, job_dir, pane)
        # A question stops codex's records from moving: only a quiet turn is worth reading the screen for,
        # which keeps a status read of busy agents at one tmux call.
        if progress is None or now - progress >= TUI_QUIET_BEFORE_SCREEN_S * 1000:
            question = _screen_question(job, tmux)
            if question:
                return JobStatus.NEEDS_INPUT, BASIS_SCREEN, question
        running_basis = BASIS_ROLLOUT if started > completed else BASIS_SEND
        stall_basis = BASIS_ROLLOUT
    else:
        output = last_output_ms(job_dir, pane)
        quiet_s = (now - output) / 1000 if output else float("inf")
        if quiet_s >= COMMAND_QUIET_BEFORE_SCREEN_S and job.kind is JobKind.COMMAND:
            question = _cached_screen_question(job, job_dir, pane, tmux)
            if question:
                return JobStatus.NEEDS_INPUT, BASIS_SCREEN, question
        running_basis = BASIS_TMUX
        progress = _latest(job.started_at or job.created_at, output)
        stall_basis = BASIS_OUTPUT
    if progress is not None and now - progress >= stall_after_s(job) * 1000:
        return JobStatus.STALLED, stall_basis, f"no progress since {iso(progress)}"
    return JobStatus.RUNNING, running_basis, None


def stall_after_s(job: Job) -> float:
    value = job.attrs.get("stall_after_s")
    return float(value) if isinstance(value, (int, float)) and value > 0 else DEFAULT_STALL_AFTER_S


def stall_due_in_s(job: Job, job_dir: Path, pane: PaneState | None, now: int | None = None) -> float | None:
    """Seconds until a running job would count as stalled (for waits that must wake then); None if n/a."""
    if job.status is not JobStatus.RUNNING:
        return None
    now = now_ms() if now is None else now
    progress = last_progress_ms(job, job_dir, pane)
    if progress is None:
        return None
    return max(0.0, (progress + stall_after_s(job) * 1000 - now) / 1000)
