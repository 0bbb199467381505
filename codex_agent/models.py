"""Plain records shared by every layer.

These are stdlib dataclasses, not pydantic models, because `jobs --json` and `status` sit on the hot path of
every orchestrator and importing pydantic alone costs about as much as the whole command may take.
The public JSON shapes are also declared as pydantic models in `schema.py` (for JSON Schema export and
validation); a test keeps the two in step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

JSON_VERSION = 1
ID_LENGTH = 8
SESSION_PREFIX = "codex-agent-"
PROMPT_PREVIEW_CHARS = 100

REASONING_LEVELS = ("low", "medium", "high", "xhigh")
SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")


class JobStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    IDLE = "idle"
    NEEDS_INPUT = "needs_input"
    STALLED = "stalled"
    COMPLETED = "completed"
    FAILED = "failed"
    KILLED = "killed"
    LOST = "lost"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_live(self) -> bool:
        """The job's process is (believed to be) alive in its tmux session."""
        return self in LIVE_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.KILLED, JobStatus.LOST})
LIVE_STATUSES = frozenset({JobStatus.RUNNING, JobStatus.IDLE, JobStatus.NEEDS_INPUT, JobStatus.STALLED})


class JobKind(str, Enum):
    CODEX = "codex"  # the interactive TUI: accepts follow-up messages
    CODEX_EXEC = "codex-exec"  # `codex exec --json`: one task, ends by itself
    COMMAND = "command"  # any command line, e.g. a build or a test run

    @property
    def is_codex(self) -> bool:
        return self is not JobKind.COMMAND


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def prompt_preview(text: str) -> str:
    """What records and lists keep of a prompt (or command line): its first PROMPT_PREVIEW_CHARS chars."""
    return text[:PROMPT_PREVIEW_CHARS]


def session_name(job_id: str) -> str:
    return f"{SESSION_PREFIX}{job_id}"


@dataclass(slots=True)
class Tokens:
    input: int
    output: int
    cached_input: int = 0
    reasoning_output: int = 0
    context_window: int | None = None

    @property
    def context_used_pct(self) -> float | None:
        if not self.context_window:
            return None
        return round(100.0 * self.input / self.context_window, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "cached_input": self.cached_input,
            "reasoning_output": self.reasoning_output,
            "context_window": self.context_window,
            "context_used_pct": self.context_used_pct,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tokens:
        return cls(
            input=int(data.get("input", 0)),
            output=int(data.get("output", 0)),
            cached_input=int(data.get("cached_input", 0)),
            reasoning_output=int(data.get("reasoning_output", 0)),
            context_window=data.get("context_window"),
        )


@dataclass(slots=True)
class Job:
    """One supervised job, as recorded in the state database."""

    id: str
    kind: JobKind
    status: JobStatus
    prompt: str
    cwd: str
    created_at: int  # epoch milliseconds, like every timestamp here
    model: str | None = None
    reasoning: str | None = None
    sandbox: str | None = None
    started_at: int | None = None
    completed_at: int | None = None
    exit_code: int | None = None
    thread_id: str | None = None
    error: str | None = None
    parent_session: str | None = None
    summary: str | None = None
    tokens: Tokens | None = None
    files_modified: list[str] | None = None
    updated_at: int = 0
    # Facts that only some kinds of job have (turn bookkeeping, codex home, base commit, ...).
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def tmux_session(self) -> str:
        return session_name(self.id)

    def elapsed_ms(self, now: int | None = None) -> int:
        begin = self.started_at or self.created_at
        end = self.completed_at or (now if now is not None else now_ms())
        return max(0, end - begin)

    @property
    def prompt_bytes(self) -> int:
        """The whole prompt's size; the record keeps only its first PROMPT_PREVIEW_CHARS characters."""
        recorded = self.attrs.get("prompt_bytes")
        if isinstance(recorded, int):
            return recorded
        return len(self.prompt.encode("utf-8", errors="surrogateescape"))

    def to_json(self, *, brief: bool = False, now: int | None = None) -> dict[str, Any]:
        # The whole prompt is in the job's folder (prompt.txt): a record of any size stays small.
        return {
            "id": self.id,
            "status": self.status.value,
            "kind": self.kind.value,
            "prompt": prompt_preview(self.prompt),
            "prompt_bytes": self.prompt_bytes,
            "model": self.model,
            "reasoning": self.reasoning,
            "sandbox": self.sandbox,
            "cwd": self.cwd,
            "elapsed_ms": self.elapsed_ms(now),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "exit_code": self.exit_code,
            "tmux_session": self.tmux_session,
            "thread_id": self.thread_id,
            "error": self.error,
            "parent_session": self.parent_session,
            "tokens": self.tokens.to_json() if self.tokens else None,
            "files_modified": self.files_modified,
            "summary": self.summary,
            "status_basis": self.attrs.get("status_basis"),
            "attention": self.attrs.get("attention"),
        }
