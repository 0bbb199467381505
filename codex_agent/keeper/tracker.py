"""What a codex thread is doing, from the app-server's messages: no screen, no heuristics, no I/O.

The keeper feeds every message it receives to `Tracker.apply`, which answers whether the job's view changed;
`Tracker.view()` is that view. Only the job's own thread counts: the TUI's thread-title side request runs in
an ephemeral thread of its own, and its messages are ignored here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from codex_agent import protocol
from codex_agent.appclient import Incoming
from codex_agent.models import JobStatus, Tokens

ACTIVITY_CHARS = 200


@dataclass(slots=True)
class Question:
    """A server request that waits for an answer: an approval, or a question for the user."""

    request_id: int | str
    method: str
    question: str
    command: str | None
    cwd: str | None
    reason: str | None
    answers: list[str]
    asked_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "method": self.method,
            "question": self.question,
            "command": self.command,
            "cwd": self.cwd,
            "reason": self.reason,
            "answers": self.answers,
            "asked_at": self.asked_at,
        }


@dataclass(slots=True)
class TurnRecord:
    id: str
    started_at: int
    completed_at: int | None = None
    status: str = "inProgress"  # completed | failed | interrupted | inProgress (codex's words)
    error: str | None = None
    last_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "status": self.status,
            "error": self.error,
            "last_message": self.last_message,
        }


@dataclass(slots=True)
class View:
    """The job's state as the protocol shows it."""

    status: JobStatus
    turn: TurnRecord | None
    question: Question | None
    doing: str | None
    summary: str | None
    tokens: Tokens | None
    files: list[str]
    turns_completed: int


@dataclass(slots=True)
class Tracker:
    thread_id: str
    turn: TurnRecord | None = None
    summary: str | None = None
    tokens: Tokens | None = None
    doing: str | None = None
    turns_completed: int = 0
    questions: dict[str, Question] = field(default_factory=dict)  # by request id, as text
    files: list[str] = field(default_factory=list)
    client_ids: dict[str, str] = field(default_factory=dict)  # clientId -> turn id it joined
    skipped: int = 0  # messages that did not validate

    def view(self) -> View:
        question = next(iter(self.questions.values()), None)
        if question is not None:
            status = JobStatus.NEEDS_INPUT
        elif self.turn is not None and self.turn.status == "inProgress":
            status = JobStatus.RUNNING
        else:
            status = JobStatus.IDLE
        return View(
            status, self.turn, question, self.doing, self.summary, self.tokens, list(self.files),
            self.turns_completed,
        )  # fmt: skip

    def apply(self, message: Incoming, now_ms: int) -> bool:
        """Take one message into account; True when the view may have changed."""
        try:
            return self._apply(message, now_ms)
        except ValidationError:
            self.skipped += 1
            return False

    def _apply(self, message: Incoming, now: int) -> bool:
        method, params = message.method, message.params
        if message.id is not None:
            return self._asked(message, now)
        if params.get("threadId") not in (None, self.thread_id):
            return False  # another thread: the TUI's title request, say
        if method == "turn/started":
            event = protocol.TurnEvent.model_validate(params)
            self.turn = TurnRecord(event.turn.id, now)
            self.doing = None
            return True
        if method == "turn/completed":
            return self._turn_completed(protocol.TurnEvent.model_validate(params), now)
        if method in ("item/started", "item/completed"):
            return self._item(protocol.ItemEvent.model_validate(params), method == "item/completed")
        if method == "thread/tokenUsage/updated":
            usage = protocol.TokenUsageUpdated.model_validate(params).token_usage
            self.tokens = Tokens(
                input=usage.total.input_tokens,
                output=usage.total.output_tokens,
                cached_input=usage.total.cached_input_tokens,
                reasoning_output=usage.total.reasoning_output_tokens,
                context_window=usage.model_context_window,
            )
            return True
        if method == "serverRequest/resolved":
            resolved = protocol.ServerRequestResolved.model_validate(params)
            return self.questions.pop(str(resolved.request_id), None) is not None
        if method == "error":
            error = protocol.ErrorEvent.model_validate(params)
            if not error.will_retry and self.turn is not None:
                self.turn.error = error.error.message
            return not error.will_retry
        return False

    def _asked(self, message: Incoming, now: int) -> bool:
        if message.method not in protocol.APPROVAL_METHODS:
            return False
        request = protocol.ApprovalRequest.model_validate(message.params)
        if request.thread_id != self.thread_id:
            return False
        answers = [item for item in request.available_decisions or [] if isinstance(item, str)]
        if not answers:
            answers = list(protocol.APPROVAL_METHODS[message.method])
        self.questions[str(message.id)] = Question(
            request_id=message.id,  # type: ignore[arg-type]
            method=message.method,
            question=_question_text(message.method, request),
            command=request.command,
            cwd=request.cwd,
            reason=request.reason,
            answers=answers,
            asked_at=now,
        )
        return True

    def _turn_completed(self, event: protocol.TurnEvent, now: int) -> bool:
        turn = self.turn if self.turn is not None and self.turn.id == event.turn.id else None
        if turn is None:
            turn = TurnRecord(event.turn.id, now)
        turn.completed_at = now
        turn.status = event.turn.status
        if event.turn.error is not None:
            turn.error = event.turn.error.message
        if turn.status == "completed" and turn.last_message is not None:
            self.summary = turn.last_message
        self.turn = turn
        self.turns_completed += 1
        self.doing = None
        self.questions.clear()  # nothing waits once the turn is over
        return True

    def _item(self, event: protocol.ItemEvent, completed: bool) -> bool:
        item = event.item
        if item.type == "userMessage" and item.client_id:
            self.client_ids[item.client_id] = event.turn_id
        ours = self.turn is not None and self.turn.id == event.turn_id
        if item.type == "agentMessage" and completed and item.text is not None and ours:
            assert self.turn is not None
            self.turn.last_message = item.text
        if item.type == "fileChange" and completed and item.status != "declined":
            for change in item.changes or []:
                if change.path not in self.files:
                    self.files.append(change.path)
        self.doing = None if completed else _activity(item)
        return True


def _question_text(method: str, request: protocol.ApprovalRequest) -> str:
    if request.questions:
        return " / ".join(question.question for question in request.questions)
    if method in ("item/fileChange/requestApproval", "applyPatchApproval"):
        return "Allow these file changes?"
    if method == "item/permissions/requestApproval":
        return "Grant the permissions asked for?"
    return f"Run `{request.command}`?" if request.command else "Allow the command?"


def _activity(item: protocol.Item) -> str | None:
    if item.type == "commandExecution" and item.command:
        return f"running {item.command}"[:ACTIVITY_CHARS]
    if item.type == "fileChange":
        paths = ", ".join(change.path for change in item.changes or [])
        return f"editing {paths}"[:ACTIVITY_CHARS] if paths else "editing files"
    if item.type == "agentMessage":
        return "writing a reply"
    if item.type == "reasoning":
        return "thinking"
    if item.type in ("mcpToolCall", "dynamicToolCall", "webSearch"):
        return f"calling a tool ({item.type})"
    return None
