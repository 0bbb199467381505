"""The one error hierarchy. Each error knows its exit code and a stable snake_case code.

The CLI maps any `CodexAgentError` to a single line on stderr and its exit code (see docs/exit-codes.md);
nothing else in the package prints or exits.
"""

from __future__ import annotations

from typing import ClassVar


class CodexAgentError(Exception):
    """Base of every error a user may see."""

    exit_code: ClassVar[int] = 1
    code: ClassVar[str] = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} — {self.hint}"
        return " ".join(text.split())


class UsageError(CodexAgentError):
    """An option or argument value is not acceptable."""

    exit_code = 2
    code = "usage"


class NotFoundError(CodexAgentError):
    """No job (or machine, or exec) has that id."""

    exit_code = 3
    code = "not_found"


class AmbiguousIdError(CodexAgentError):
    """An id prefix matches more than one job."""

    exit_code = 4
    code = "ambiguous_id"


class ConflictError(CodexAgentError):
    """The request conflicts with the current state: a live job, a held claim, a job of the wrong kind."""

    exit_code = 5
    code = "conflict"


class MissingDependencyError(CodexAgentError):
    """tmux, codex, git or ssh is not installed or not runnable."""

    exit_code = 6
    code = "missing_dependency"


class StateError(CodexAgentError):
    """The state directory or database cannot be read or written."""

    exit_code = 7
    code = "state_error"


class AgentError(CodexAgentError):
    """The agent did not start, or a message could not be delivered to it."""

    exit_code = 8
    code = "agent_error"


class RemoteError(CodexAgentError):
    """A remote machine could not be reached or answered with an error."""

    exit_code = 9
    code = "remote_error"


class DiskFullError(StateError):
    """A write failed because the disk holding the state or the project is full (a StateError, exit 7)."""


class UnsafePathError(CodexAgentError):
    """A file or folder codex-agent reads or writes is a symlink, not a regular file or folder, not the
    user's, or a FIFO: something an agent may have planted. Nothing was read or written through it."""

    exit_code = 12
    code = "unsafe_path"


class WaitTimeoutError(CodexAgentError):
    """A wait ended because its deadline passed."""

    exit_code = 124
    code = "timeout"


INTERNAL_ERROR_EXIT = 70
# Outcomes of `wait` and `watch` (not errors): a job ended failed, killed or lost; a job needs a person.
JOB_FAILED_EXIT = 10
NEEDS_ATTENTION_EXIT = 11
TURN_FAILED_EXIT = 13  # wait/watch: an agent's last turn failed; it is idle and takes a follow-up
INTERRUPTED_EXIT = 130

ALL_ERRORS: tuple[type[CodexAgentError], ...] = (
    CodexAgentError,
    UsageError,
    NotFoundError,
    AmbiguousIdError,
    ConflictError,
    MissingDependencyError,
    StateError,
    AgentError,
    RemoteError,
    UnsafePathError,
    WaitTimeoutError,
)
