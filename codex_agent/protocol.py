"""The messages of codex's app-server protocol that codex-agent acts on, validated where they enter.

Written from the JSON Schema that `codex app-server generate-json-schema` prints (0.169.0 and 0.171.0 print
the same set for everything here); tests/e2e/test_protocol_schema.py checks these fields against the schema
of each pinned version. Only the fields we read are declared: everything else a message carries is ignored,
so a newer codex that adds fields still validates. A message that does not validate is skipped by the keeper
(and counted), never trusted half-read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class TurnError(_Message):
    message: str
    codex_error_info: Any = Field(default=None, alias="codexErrorInfo")
    additional_details: str | None = Field(default=None, alias="additionalDetails")


class Turn(_Message):
    id: str
    status: Literal["completed", "interrupted", "failed", "inProgress"]
    error: TurnError | None = None


class Thread(_Message):
    id: str
    ephemeral: bool = False
    path: str | None = None  # the rollout file


class TextInput(_Message):
    type: str
    text: str = ""


class FileChange(_Message):
    path: str
    diff: str = ""


class Item(_Message):
    """One thread item. `type` tells which of the optional fields it has."""

    type: str
    id: str
    text: str | None = None  # agentMessage
    client_id: str | None = Field(default=None, alias="clientId")  # userMessage
    content: list[TextInput] | None = None  # userMessage
    command: str | None = None  # commandExecution
    cwd: str | None = None
    exit_code: int | None = Field(default=None, alias="exitCode")
    changes: list[FileChange] | None = None  # fileChange
    status: str | None = None

    def user_text(self) -> str:
        return "".join(part.text for part in self.content or [] if part.type == "text")


class ThreadStarted(_Message):
    thread: Thread


class ThreadStatus(_Message):
    type: str
    active_flags: list[str] = Field(default_factory=list, alias="activeFlags")


class ThreadStatusChanged(_Message):
    thread_id: str = Field(alias="threadId")
    status: ThreadStatus


class TurnEvent(_Message):
    """turn/started and turn/completed."""

    thread_id: str = Field(alias="threadId")
    turn: Turn


class ItemEvent(_Message):
    """item/started and item/completed."""

    thread_id: str = Field(alias="threadId")
    turn_id: str = Field(alias="turnId")
    item: Item


class TokenBreakdown(_Message):
    input_tokens: int = Field(alias="inputTokens")
    cached_input_tokens: int = Field(default=0, alias="cachedInputTokens")
    output_tokens: int = Field(alias="outputTokens")
    reasoning_output_tokens: int = Field(default=0, alias="reasoningOutputTokens")
    total_tokens: int = Field(default=0, alias="totalTokens")


class TokenUsage(_Message):
    total: TokenBreakdown
    last: TokenBreakdown | None = None
    model_context_window: int | None = Field(default=None, alias="modelContextWindow")


class TokenUsageUpdated(_Message):
    thread_id: str = Field(alias="threadId")
    token_usage: TokenUsage = Field(alias="tokenUsage")


class ErrorEvent(_Message):
    thread_id: str = Field(alias="threadId")
    turn_id: str | None = Field(default=None, alias="turnId")
    error: TurnError
    will_retry: bool = Field(default=False, alias="willRetry")


class ServerRequestResolved(_Message):
    thread_id: str = Field(alias="threadId")
    request_id: int | str = Field(alias="requestId")


class UserInputQuestion(_Message):
    id: str
    question: str
    header: str = ""


class ApprovalRequest(_Message):
    """The params of a server request that waits for an answer (approvals, questions for the user)."""

    thread_id: str = Field(alias="threadId")
    turn_id: str | None = Field(default=None, alias="turnId")
    item_id: str | None = Field(default=None, alias="itemId")
    command: str | None = None
    cwd: str | None = None
    reason: str | None = None
    available_decisions: list[Any] | None = Field(default=None, alias="availableDecisions")
    questions: list[UserInputQuestion] | None = None


class ThreadStartResult(_Message):
    thread: Thread


class TurnStartResult(_Message):
    turn: Turn


# Server requests that wait on a person, and the decisions each accepts by default.
APPROVAL_METHODS = {
    "item/commandExecution/requestApproval": ("accept", "acceptForSession", "decline", "cancel"),
    "item/fileChange/requestApproval": ("accept", "acceptForSession", "decline", "cancel"),
    "item/permissions/requestApproval": ("accept", "decline"),
    "item/tool/requestUserInput": (),
    # Older names some versions still send.
    "execCommandApproval": ("approved", "approved_for_session", "denied", "abort"),
    "applyPatchApproval": ("approved", "approved_for_session", "denied", "abort"),
}
