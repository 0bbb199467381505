"""A scripted stand-in for the OpenAI Responses API, served on loopback for end-to-end tests.

The real Codex CLI is pointed at this server through a custom model provider (see
:func:`write_codex_config`). Every ``POST /v1/responses`` is answered with a Server-Sent Events stream (or,
when told to, an HTTP error) whose content is decided by the request itself, so a test steers the "model"
with directives written into its prompt. Directives are lines of the last user message that start with the
keyword; the first of each kind counts, a malformed one is ignored.

Timing, like the real service: the TUI's thread-title side request (``text.format`` is a JSON schema with
a ``title`` property) is answered at once with ``{"title": "<first words of the prompt>"}``, while every
other answer waits ``turn_delay`` seconds (default :data:`DEFAULT_TURN_DELAY`, 0.3 s; a constructor
argument and an attribute that may be changed between requests) before its first output. So the title
finishes first whenever codex sends it within that delay of the turn's request (it does so about 50 ms
after). ``ModelServer(turn_delay=0)`` answers everything at once.

The directives, and what the real codex does with each. Checked with codex-cli 0.169.0 and 0.171.0 by the
real-codex tests at the end of tests/e2e/test_model_server.py; the two versions behave the same in every
point below.

``RUN: <shell command>``
    First answer: a function call ``exec_command`` with ``{"cmd": <shell command>}``. When the next
    request comes back ending with the ``function_call_output``, the answer is a message
    ``RAN: <command>`` followed by the tool output (see :func:`tool_result_reply`).
``WRITE: <path> <content>``
    Same, with a command that writes ``<content>`` (the rest of the line) plus a newline to ``<path>``
    (quote a path that contains spaces: ``WRITE: "a b.txt" text``); the final message is
    ``WROTE: <path>`` followed by the tool output.
``SLOW: <seconds>``
    The first answer of the turn is held open that long: the message is streamed in pieces spread over
    the delay (a function call, when combined with ``RUN:``/``WRITE:``, is sent after the delay).
``STEPS: <n> [<seconds>]``
    A turn of ``n`` (1..50) tool calls, ``exec_command`` ``echo step <i>``, each sent after ``<seconds>``
    (default 0.5; at least the turn delay), then the message ``STEPPED: <n>`` and the last tool output.
    Only the tool outputs after the last user message count, so each turn starts again at step 1.
    Codex: ``item/started`` + ``item/completed`` of type ``commandExecution`` per step (``command``
    ``/bin/bash -lc 'echo step 1'``, ``commandActions[0].command`` ``echo step 1``, ``aggregatedOutput``
    ``step 1\n``, ``exitCode`` 0), a ``thread/tokenUsage/updated`` after every model answer, one
    ``agentMessage``, then ``thread/status/changed`` idle and ``turn/completed`` status completed; the
    thread stays ``active`` throughout. The TUI shows ``• Ran echo step 1`` / ``└ step 1`` per step.
``FAIL: <status>``
    Every request of that turn (400..599) is answered with that HTTP status and a JSON error body; a 429
    also carries ``Retry-After: 1``. The title request is not affected; the next turn (a new user
    message) is answered normally again.
    Codex on a 500 (with ``stream_max_retries = 0``, as :func:`codex_config_toml` writes by default): one
    request; notifications ``thread/status/changed`` ``systemError``, ``error`` (``willRetry`` false) and
    ``turn/completed`` with ``turn.status`` "failed" and ``turn.error`` = ``{"message": "We're currently
    experiencing high demand, which may cause temporary errors.", "codexErrorInfo":
    "internalServerError", …}``; the rollout's ``task_complete`` has ``last_agent_message: null`` and
    ``error: {"message": …, "codex_error_info": "internal_server_error"}``. The thread stays usable: a
    next ``turn/start`` completes. ``codex exec --json`` exits 1 after ``{"type": "error", "message": …}``
    and ``{"type": "turn.failed", "error": {"message": …}}`` (no ``turn.completed``). The TUI shows
    ``■ We're currently experiencing high demand, …`` (codex writes a typographic apostrophe) and returns
    to its composer; its notify hook does **not** run for the failed turn (only for the title's thread).
    Codex on a 429: the retries are governed by the provider's ``stream_max_retries``, not by
    ``request_max_retries`` (3 of those still give one request). With ``stream_max_retries = 1``: two
    requests, the second sent after the Retry-After second; an ``error`` notification
    ``"Reconnecting... 1/1"`` with ``willRetry`` true (``codexErrorInfo``
    ``{"responseStreamDisconnected": {"httpStatusCode": 429}}``), then one with ``willRetry`` false and the
    turn failed with ``"exceeded retry limit, last status: 429 Too Many Requests"`` and ``codexErrorInfo``
    ``{"responseTooManyFailedAttempts": {"httpStatusCode": 429}}``; the rollout's ``task_complete``
    carries that message. With 0 retries the same final error comes after one request. The TUI shows
    ``■ exceeded retry limit, last status: 429 Too Many Requests``.
``HANG``
    The stream sends ``response.created``, then nothing, until codex closes the connection (the request is
    then recorded ``aborted``) or the server closes. The provider option is ``stream_idle_timeout_ms`` in
    ``[model_providers.mock]`` (checked by trying: codex's default is minutes). Without it: the turn stays
    ``inProgress``, no ``turn/completed`` comes; ``turn/interrupt`` ends it with ``turn.status``
    "interrupted" and codex drops the stream. With ``stream_idle_timeout_ms = 1500``: after 1.5 s the
    turn fails with ``"stream disconnected before completion: idle timeout waiting for SSE"``
    (``codexErrorInfo`` "other"), ``systemError`` status, the same message in the rollout's
    ``task_complete.error``; the TUI shows ``■ stream disconnected before completion: idle timeout
    waiting for SSE``.
``ESCALATE: <shell command>``
    An ``exec_command`` call whose arguments add ``"sandbox_permissions": "require_escalated"`` and
    ``"justification"`` (:data:`ESCALATE_JUSTIFICATION`); after the tool output, ``ESCALATED: <command>``
    and the output. Codex asks only when the sandbox is ``read-only`` (or ``workspace-write``) and the
    approval policy is ``on-request`` (config or ``thread/start`` params); with ``danger-full-access`` /
    ``never`` it just runs the command. Then: ``thread/status/changed`` ``active`` with ``activeFlags:
    ["waitingOnApproval"]``, ``item/started`` ``commandExecution`` (status inProgress), and the server
    request ``item/commandExecution/requestApproval`` (its ``id`` is the JSON-RPC id to answer) with
    ``command`` ``/bin/bash -lc '<command>'``, ``commandActions``, ``cwd``, ``reason`` = the
    justification, ``availableDecisions`` ``["accept", {"acceptWithExecpolicyAmendment": …}, "cancel"]``
    (no "decline"). Answering ``{"decision": "accept"}`` gives ``serverRequest/resolved`` with that
    ``requestId``, the command runs (outside the sandbox), the turn completes. ``"cancel"``: the
    ``commandExecution`` completes with status "declined" and the turn ends "interrupted" (no further
    model request). ``"decline"`` (accepted though not offered): "declined" too, but the model gets the
    output ``exec_command failed: … rejected by user …`` and the turn completes. The TUI shows an overlay:
    ``Would you like to run the following command?``, ``Reason: <justification>``, ``$ <command>``,
    ``1. Yes, proceed (y)``, ``2. Yes, and don't ask again for commands that start with `<command>` (p)``,
    ``3. No, and tell Codex what to do differently (esc)``; the key ``y`` approves.
``PATCH: <path> <content>``
    A ``custom_tool_call`` of codex's ``apply_patch`` tool whose input adds the file (see
    :func:`patch_text`; quote a path with spaces as for ``WRITE:``), then ``PATCHED: <path>`` and the tool
    output. Codex offers ``apply_patch`` (a ``{"type": "custom"}`` free-form tool with a lark grammar) only
    to some model slugs, e.g. :data:`PATCH_MODEL` ``gpt-5.5``, not to ``mock-model``; when the request's
    ``tools`` do not offer it, the answer is the message ``PATCH: apply_patch is not offered to <model>``.
    Codex: ``item/started`` + ``item/completed`` of type ``fileChange`` with ``changes: [{"path":
    <absolute path>, "kind": {"type": "add"}, "diff": "<content>\n"}]``, ``turn/diff/updated`` with a
    git diff, the next request ending with a ``custom_tool_call_output`` (``Success. Updated the following
    files:\nA <path>``); the rollout records a ``response_item`` ``custom_tool_call`` named
    ``apply_patch`` with the patch as ``input``. The TUI shows ``• Added <path> (+1 -0)``. For ``gpt-5.5``
    the TUI would first show a model-upgrade screen ("Try new model" / "Use existing model");
    :func:`codex_config_toml` pre-acknowledges it (``[notice.model_migrations]`` and
    ``[tui.model_availability_nux]``, the keys the TUI itself writes once it is answered).
otherwise
    A message quoting the prompt, built by :func:`echo_reply`:
    ``ECHO[<chars> chars sha256=<hex>]: <first 200 chars>``. The digest covers the whole prompt
    (UTF-8), so a test can prove that a large prompt arrived byte for byte.

The title side request (TUI only: the app-server and ``codex exec`` send none) comes from the TUI when a
first message is submitted in it; codex runs it as an ephemeral thread of its own, and the notify hook
fires for it too, first, with ``last-assistant-message`` ``{"title": "…"}`` and another ``thread-id``.

Every request is recorded (parsed body, headers without credentials, when it ended); see
:meth:`ModelServer.wait_for`, which blocks on a condition variable until a matching request arrives or the
deadline passes. Only the standard library is used, so the module can run anywhere the tests run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ECHO_HEAD_CHARS = 200
TOOL_OUTPUT_CHARS = 4000
DEFAULT_TURN_DELAY = 0.3  # seconds before any answer but the title's: the title always finishes first
DEFAULT_STEP_DELAY = 0.5  # seconds before each tool call of a STEPS: turn
MAX_STEPS = 50
RETRY_AFTER_SECONDS = 1
ESCALATE_JUSTIFICATION = "Do you allow this scripted command to run outside the sandbox?"

# Fixed usage reported for every model answer, so tests can reason about the totals codex prints.
USAGE_INPUT_TOKENS = 1000
USAGE_CACHED_TOKENS = 200
USAGE_OUTPUT_TOKENS = 50
USAGE_REASONING_TOKENS = 10

# Blocks codex adds to the conversation as user messages; they are not the user's prompt.
_CONTEXT_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "<user_shell_command>",
    "<turn_aborted>",
    "# AGENTS.md instructions",
)

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "openai-api-key"})


# --------------------------------------------------------------------------------------------- parsing


def message_text(item: Mapping[str, Any]) -> str:
    """Concatenate the text parts of one ``message`` input item."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
    return "".join(parts)


def user_texts(body: Mapping[str, Any]) -> list[str]:
    """Texts of the user's own messages in a request body, oldest first (codex's context blocks dropped)."""
    items = body.get("input")
    if not isinstance(items, list):
        return []
    texts: list[str] = []
    for item in items:
        if not isinstance(item, Mapping) or item.get("role") != "user":
            continue
        if item.get("type", "message") != "message":
            continue
        text = message_text(item)
        if text.lstrip().startswith(_CONTEXT_PREFIXES):
            continue
        texts.append(text)
    return texts


def last_user_text(body: Mapping[str, Any]) -> str | None:
    """The text of the last user message in a request body, or None if there is none."""
    texts = user_texts(body)
    return texts[-1] if texts else None


def last_input_item(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    items = body.get("input")
    if isinstance(items, list) and items and isinstance(items[-1], Mapping):
        return items[-1]
    return None


def is_title_request(body: Mapping[str, Any]) -> bool:
    """True for the TUI's side request asking for a thread title as structured output."""
    text = body.get("text")
    if not isinstance(text, Mapping):
        return False
    fmt = text.get("format")
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        return False
    schema = fmt.get("schema")
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    return isinstance(props, Mapping) and "title" in props


@dataclass(frozen=True)
class Directives:
    """What a prompt asks the scripted model to do."""

    run: str | None = None
    write: tuple[str, str] | None = None
    slow: float | None = None
    steps: int | None = None
    step_delay: float = 0.0
    fail: int | None = None
    hang: bool = False
    escalate: str | None = None
    patch: tuple[str, str] | None = None


def parse_directives(text: str) -> Directives:
    """Find the directive lines of a message (the first of each kind counts; malformed ones are ignored)."""
    found: dict[str, Any] = {}
    for raw in text.splitlines():
        line = raw.strip()
        keyword, colon, rest = line.partition(":")
        if line == "HANG":
            found.setdefault("hang", True)
        elif colon and keyword in _DIRECTIVE_PARSERS and keyword.lower() not in found:
            value = _DIRECTIVE_PARSERS[keyword](rest.strip())
            if value is not None:
                found[keyword.lower()] = value
    steps: tuple[int, float] | None = found.pop("steps", None)
    if steps is not None:
        found["steps"], found["step_delay"] = steps
    return Directives(**found)


def _parse_slow(rest: str) -> float | None:
    try:
        return max(0.0, float(rest))
    except ValueError:
        return None


def _parse_steps(rest: str) -> tuple[int, float] | None:
    """``<count> [<seconds before each call>]``; the count is 1..MAX_STEPS."""
    words = rest.split()
    try:
        count = int(words[0])
        delay = float(words[1]) if len(words) > 1 else DEFAULT_STEP_DELAY
    except (IndexError, ValueError):
        return None
    return (count, max(0.0, delay)) if 1 <= count <= MAX_STEPS else None


def _parse_fail(rest: str) -> int | None:
    return int(rest) if rest.isdigit() and 400 <= int(rest) <= 599 else None


def _parse_write(rest: str) -> tuple[str, str] | None:
    """``<path> <content>``; a path with spaces is written in single or double quotes."""
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        if end < 0:
            return None
        path, content = rest[1:end], rest[end + 1 :]
        content = content[1:] if content.startswith(" ") else content
    else:
        path, _, content = rest.partition(" ")
    return (path, content) if path else None


_DIRECTIVE_PARSERS: dict[str, Callable[[str], Any]] = {
    "RUN": lambda rest: rest or None,
    "WRITE": _parse_write,
    "SLOW": _parse_slow,
    "STEPS": _parse_steps,
    "FAIL": _parse_fail,
    "ESCALATE": lambda rest: rest or None,
    "PATCH": _parse_write,
}


def write_command(path: str, content: str) -> str:
    """The shell command the scripted model asks codex to run for ``WRITE: <path> <content>``."""
    return f"printf '%s\\n' {shlex.quote(content)} > {shlex.quote(path)}"


def step_command(step: int) -> str:
    """The shell command of step ``step`` (from 1) of a ``STEPS:`` turn."""
    return f"echo step {step}"


def patch_text(path: str, content: str) -> str:
    """The ``apply_patch`` input for ``PATCH: <path> <content>``: a new file holding one line."""
    return f"*** Begin Patch\n*** Add File: {path}\n+{content}\n*** End Patch\n"


def echo_reply(text: str) -> str:
    """The default answer to a prompt: its length, SHA-256 (UTF-8) and first characters."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"ECHO[{len(text)} chars sha256={digest}]: {text[:ECHO_HEAD_CHARS]}"


def tool_result_reply(directives: Directives, output: str) -> str:
    """The final answer once the tool output of the turn's last call has come back."""
    if len(output) > TOOL_OUTPUT_CHARS:
        output = output[:TOOL_OUTPUT_CHARS] + "…"
    if directives.steps is not None:
        return f"STEPPED: {directives.steps}\n{output}"
    if directives.escalate is not None:
        return f"ESCALATED: {directives.escalate}\n{output}"
    if directives.patch is not None:
        return f"PATCHED: {directives.patch[0]}\n{output}"
    if directives.write is not None and directives.run is None:
        return f"WROTE: {directives.write[0]}\n{output}"
    return f"RAN: {directives.run}\n{output}"


def title_for(body: Mapping[str, Any]) -> str:
    """A short deterministic title for the title side request: the first words of the user's prompt."""
    text = last_user_text(body) or ""
    # The request wraps the prompt in instructions ending with "User prompt:\n<prompt>".
    _, marker, prompt = text.rpartition("User prompt:")
    words = (prompt if marker else text).split()
    return " ".join(words[:5])[:60] or "untitled"


def offers_tool(body: Mapping[str, Any], name: str) -> bool:
    """True when the request's ``tools`` array offers a tool of that name (function or custom)."""
    tools = body.get("tools")
    return isinstance(tools, list) and any(isinstance(t, Mapping) and t.get("name") == name for t in tools)


def tool_outputs_of_turn(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The tool outputs that follow the last user message of a request body, oldest first."""
    items = body.get("input")
    outputs: list[Mapping[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        if item.get("type") in _TOOL_OUTPUT_TYPES:
            outputs.append(item)
        elif item.get("role") == "user" and user_texts({"input": [item]}):
            outputs = []
    return outputs


_TOOL_OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output"})


def _output_text(item: Mapping[str, Any]) -> str:
    output = item.get("output")
    return output if isinstance(output, str) else json.dumps(output)


# --------------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """What the server decided to send for one request.

    ``kind`` is "message", "title", "function_call" (``call_arguments`` is JSON text), "custom_tool_call"
    (``call_input`` is free text, e.g. a patch), "error" (HTTP ``status`` with a JSON error body and
    ``headers``) or "hang" (``response.created``, then nothing). ``delay`` is the wait before the first
    output (or, for an error, before the status line).
    """

    kind: str
    text: str = ""
    call_name: str = ""
    call_arguments: str = ""
    call_input: str = ""
    call_id: str = ""
    delay: float = 0.0
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


def plan_reply(body: Mapping[str, Any], call_id: str, *, turn_delay: float = 0.0) -> tuple[str, Reply]:
    """Decide the answer to a ``/responses`` request. Returns (request kind, reply).

    The kind is "title" for the title side request, "turn" for a turn's first request and "tool_result"
    for one that carries a tool output. ``turn_delay`` holds every answer but the title's that long.
    """
    if is_title_request(body):
        return "title", Reply(kind="title", text=json.dumps({"title": title_for(body)}))
    text = last_user_text(body) or ""
    directives = parse_directives(text)
    outputs = tool_outputs_of_turn(body)
    kind = "tool_result" if outputs else "turn"
    if directives.fail is not None:
        return kind, error_reply(directives.fail, turn_delay)
    if directives.hang:
        return kind, Reply(kind="hang")
    if directives.steps is not None and len(outputs) < directives.steps:
        delay = max(turn_delay, directives.step_delay)
        return kind, _exec_call(call_id, step_command(len(outputs) + 1), delay)
    if outputs:
        return kind, Reply(
            kind="message", text=tool_result_reply(directives, _output_text(outputs[-1])), delay=turn_delay
        )
    return kind, _first_reply(body, directives, text, call_id, max(turn_delay, directives.slow or 0.0))


def _first_reply(
    body: Mapping[str, Any], directives: Directives, text: str, call_id: str, delay: float
) -> Reply:
    """The answer to a turn's first request, when no tool output has come back yet."""
    if directives.escalate is not None:
        extra = {"sandbox_permissions": "require_escalated", "justification": ESCALATE_JUSTIFICATION}
        return _exec_call(call_id, directives.escalate, delay, extra)
    if directives.patch is not None and not offers_tool(body, "apply_patch"):
        return Reply(kind="message", text=f"PATCH: apply_patch is not offered to {body.get('model')}")
    if directives.patch is not None:
        return Reply(
            kind="custom_tool_call",
            call_name="apply_patch",
            call_input=patch_text(*directives.patch),
            call_id=call_id,
            delay=delay,
        )
    if directives.run is not None:
        return _exec_call(call_id, directives.run, delay)
    if directives.write is not None:
        return _exec_call(call_id, write_command(*directives.write), delay)
    return Reply(kind="message", text=echo_reply(text), delay=delay)


def _exec_call(call_id: str, cmd: str, delay: float, extra: Mapping[str, str] | None = None) -> Reply:
    args = json.dumps({"cmd": cmd, "yield_time_ms": 10000, **(extra or {})})
    return Reply(
        kind="function_call", call_name="exec_command", call_arguments=args, call_id=call_id, delay=delay
    )


def error_reply(status: int, delay: float = 0.0) -> Reply:
    """An HTTP error answer; a 429 carries ``Retry-After`` like the real service's."""
    headers = (("Retry-After", str(RETRY_AFTER_SECONDS)),) if status == 429 else ()
    body = {"error": {"message": f"scripted failure {status}", "type": _ERROR_TYPES.get(status, "error")}}
    return Reply(kind="error", text=json.dumps(body), delay=delay, status=status, headers=headers)


_ERROR_TYPES = {429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"}


def usage() -> dict[str, Any]:
    total = USAGE_INPUT_TOKENS + USAGE_OUTPUT_TOKENS
    return {
        "input_tokens": USAGE_INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": USAGE_CACHED_TOKENS},
        "output_tokens": USAGE_OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": USAGE_REASONING_TOKENS},
        "total_tokens": total,
    }


def sse_frame(event: Mapping[str, Any]) -> bytes:
    """One Server-Sent Event: ``event: TYPE`` and ``data: JSON`` lines and a blank line."""
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _split(text: str, pieces: int) -> list[str]:
    pieces = max(1, min(pieces, len(text) or 1))
    size = -(-len(text) // pieces) if text else 1
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# --------------------------------------------------------------------------------------------- server


@dataclass
class RecordedRequest:
    """One request seen by the server."""

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_size: int
    received_at: float
    kind: str  # "turn" | "tool_result" | "title" | "other"
    reply: Reply | None = None
    finished: bool = False
    aborted: bool = False
    user_text: str | None = field(default=None)
    authorization_present: bool = False
    finished_at: float | None = None  # time.time() when the answer ended (completed, or cut/abandoned)

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None


class ModelServer:
    """A scripted Responses API on ``127.0.0.1`` (ephemeral port); use as a context manager."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, turn_delay: float = DEFAULT_TURN_DELAY
    ) -> None:
        # Read by the handler threads at each request: a test may change it between turns.
        self.turn_delay = turn_delay
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._calls = 0
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    # -- public API -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The provider ``base_url`` for codex (it appends ``/responses``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request seen so far, oldest first."""
        with self._cond:
            return list(self._requests)

    def responses_requests(self, kind: str | None = None) -> list[RecordedRequest]:
        """Recorded ``POST /v1/responses`` requests, optionally only of one kind."""
        return [
            r
            for r in self.requests
            if r.method == "POST" and r.path.endswith("/responses") and (kind is None or r.kind == kind)
        ]

    def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float,
        *,
        start: int = 0,
        finished: bool = False,
    ) -> RecordedRequest:
        """Block until a request with index >= ``start`` matches ``predicate``; TimeoutError otherwise.

        With ``finished=True`` the match also has to have been answered completely.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for rec in self._requests[start:]:
                    if predicate(rec) and (not finished or rec.finished):
                        return rec
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no matching request within {timeout:.1f}s ({len(self._requests)} seen)"
                    )
                self._cond.wait(remaining)

    def close(self) -> None:
        """Stop serving, cut open streams and free the port."""
        self._closing.set()
        self._httpd.shutdown()
        with self._cond:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the handler ----------------------------------------------------------------------

    def _next_call_id(self) -> str:
        with self._cond:
            self._calls += 1
            return f"call_{self._calls}"

    def _record(self, rec_args: dict[str, Any]) -> RecordedRequest:
        with self._cond:
            rec = RecordedRequest(index=len(self._requests), **rec_args)
            self._requests.append(rec)
            self._cond.notify_all()
            return rec

    def _update(self, rec: RecordedRequest, **changes: Any) -> None:
        with self._cond:
            for key, value in changes.items():
                setattr(rec, key, value)
            if changes.get("finished"):
                rec.finished_at = time.time()
            self._cond.notify_all()

    def _hold(self, conn: socket.socket) -> bool:
        """Keep a hung stream open until the client leaves (True) or the server closes (False)."""
        while not self._closing.is_set():
            if _peer_closed(conn, 0.2):
                return True
        return False

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _pause(self, seconds: float) -> bool:
        """Hold a stream open; False when the server is closing."""
        return not self._closing.wait(seconds) if seconds > 0 else not self._closing.is_set()


def _peer_closed(conn: socket.socket, timeout: float) -> bool:
    """True once the peer has closed its side (or the socket failed) within ``timeout`` seconds."""
    try:
        readable, _, _ = select.select([conn], [], [], timeout)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _events(reply: Reply, response_id: str, item_id: str) -> Iterator[tuple[float, dict[str, Any]]]:
    """The SSE events for a reply, each with the delay to wait before sending it."""
    created = {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}}
    completed = {
        "type": "response.completed",
        "response": {"id": response_id, "status": "completed", "usage": usage()},
    }
    yield 0.0, created
    if reply.kind in ("function_call", "custom_tool_call"):
        item: dict[str, Any] = {"type": reply.kind, "id": item_id, "call_id": reply.call_id}
        if reply.kind == "function_call":
            item.update(name=reply.call_name, arguments=reply.call_arguments, status="completed")
        else:
            item.update(name=reply.call_name, input=reply.call_input, status="completed")
        yield reply.delay, {"type": "response.output_item.done", "output_index": 0, "item": item}
        yield 0.0, completed
        return
    yield (
        0.0,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {
                "type": "message",
                "id": item_id,
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        },
    )
    pieces = _split(reply.text, max(1, int(reply.delay / 0.25))) if reply.delay else [reply.text]
    step = reply.delay / len(pieces) if reply.delay else 0.0
    for piece in pieces:
        yield (
            step,
            {
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
            },
        )
    yield (
        0.0,
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "message",
                "id": item_id,
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            },
        },
    )
    yield 0.0, completed


def _make_handler(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mock-responses/1"
        timeout = 120  # idle keep-alive connections are dropped after this

        def setup(self) -> None:
            super().setup()
            server._track(self.connection, True)

        def finish(self) -> None:
            server._track(self.connection, False)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _has_auth(self) -> bool:
            return bool(self.headers.get("Authorization"))

        def _headers(self) -> dict[str, str]:
            return {k.lower(): v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS}

        def _send_json(self, status: int, payload: Mapping[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            server._record(
                {
                    "method": "GET",
                    "path": self.path,
                    "headers": self._headers(),
                    "body": None,
                    "raw_size": 0,
                    "received_at": time.time(),
                    "kind": "other",
                    "finished": True,
                }
            )
            if self.path.split("?")[0].rstrip("/").endswith("/models"):
                self._send_json(200, {"object": "list", "data": [], "models": []})
            else:
                self._send_json(404, {"error": {"message": f"no route for GET {self.path}"}})

        def do_POST(self) -> None:
            raw = self._read_body()
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            path = self.path.split("?")[0]
            if not path.endswith("/responses") or not isinstance(body, dict):
                server._record(
                    {
                        "method": "POST",
                        "path": self.path,
                        "headers": self._headers(),
                        "body": body,
                        "raw_size": len(raw),
                        "received_at": time.time(),
                        "kind": "other",
                        "finished": True,
                    }
                )
                self._send_json(404, {"error": {"message": f"no route for POST {self.path}"}})
                return
            call_id = server._next_call_id()
            kind, reply = plan_reply(body, call_id, turn_delay=server.turn_delay)
            rec = server._record(
                {
                    "method": "POST",
                    "path": self.path,
                    "headers": self._headers(),
                    "body": body,
                    "raw_size": len(raw),
                    "received_at": time.time(),
                    "kind": kind,
                    "reply": reply,
                    "user_text": last_user_text(body),
                    "authorization_present": self._has_auth(),
                }
            )
            try:
                if reply.kind == "error":
                    self._answer_error(reply)
                elif reply.kind == "hang":
                    self._answer_hang(rec)
                    return
                else:
                    self._answer_stream(reply, rec.index + 1)
            except OSError:
                server._update(rec, aborted=True, finished=True)
                self.close_connection = True
                return
            server._update(rec, finished=True)

        def _answer_error(self, reply: Reply) -> None:
            if not server._pause(reply.delay):
                raise ConnectionAbortedError("server closing")
            data = reply.text.encode()
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer_hang(self, rec: RecordedRequest) -> None:
            """``response.created``, then silence until the client gives up (recorded as aborted)."""
            self._start_stream()
            response = {"id": f"resp_{rec.index + 1}", "status": "in_progress"}
            created = {"type": "response.created", "response": response}
            try:
                self._chunk(sse_frame(created))
                server._hold(self.connection)
            except OSError:
                pass
            server._update(rec, aborted=True, finished=True)
            self.close_connection = True

        def _answer_stream(self, reply: Reply, n: int) -> None:
            self._start_stream()
            for delay, event in _events(reply, f"resp_{n}", f"item_{n}"):
                if not server._pause(delay):
                    raise ConnectionAbortedError("server closing")
                self._chunk(sse_frame(event))
            self._chunk(b"")

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


# --------------------------------------------------------------------------------------------- config


def _toml_str(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def _toml_array(values: Iterable[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


API_KEY_ENV = "MOCK_API_KEY"

# A model slug that codex offers its apply_patch tool to (a free-form "custom" tool), with the two notices
# the TUI shows for it on first use, as the TUI itself records them in config.toml once answered.
PATCH_MODEL = "gpt-5.5"
MODEL_MIGRATIONS_SEEN = {"gpt-5.5": "gpt-6-sol"}
MODEL_NUX_SEEN = ("gpt-6.1-sol",)


def codex_config_toml(
    base_url: str,
    *,
    model: str = "mock-model",
    trusted_projects: Iterable[str | Path] = (),
    notify: Iterable[str] | None = None,
    disable_paste_burst: bool = True,
    sandbox_mode: str = "danger-full-access",
    approval_policy: str = "never",
    request_max_retries: int = 0,
    stream_max_retries: int = 0,
    stream_idle_timeout_ms: int | None = None,
    extra: str = "",
) -> str:
    """The text of a CODEX_HOME ``config.toml`` that points codex at a :class:`ModelServer`.

    Variants for the directives: ``FAIL: 429`` needs ``request_max_retries`` >= 1 to show codex's retries;
    ``HANG`` ends in a failed turn only with ``stream_idle_timeout_ms`` set (codex's default is minutes);
    ``ESCALATE:`` asks only with ``sandbox_mode="read-only"`` (or workspace-write) and
    ``approval_policy="on-request"``. The model-upgrade notices of :data:`PATCH_MODEL` are always
    acknowledged, so the TUI starts straight into its composer with that model too.
    """
    lines = [
        f"model = {_toml_str(model)}",
        'model_provider = "mock"',
        f"approval_policy = {_toml_str(approval_policy)}",
        f"sandbox_mode = {_toml_str(sandbox_mode)}",
        "check_for_update_on_startup = false",
    ]
    if notify is not None:
        lines.append(f"notify = {_toml_array(notify)}")
    lines += [
        "",
        "[model_providers.mock]",
        'name = "mock"',
        f"base_url = {_toml_str(base_url)}",
        'wire_api = "responses"',
        f"env_key = {_toml_str(API_KEY_ENV)}",
        f"request_max_retries = {int(request_max_retries)}",
        f"stream_max_retries = {int(stream_max_retries)}",
        *([f"stream_idle_timeout_ms = {int(stream_idle_timeout_ms)}"] if stream_idle_timeout_ms else []),
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[features]",
        "daemon_auto_start = false",
        "plugins = false",
        "",
        "[tui]",
        f"disable_paste_burst = {'true' if disable_paste_burst else 'false'}",
        "",
        "[tui.model_availability_nux]",
        *(f"{_toml_str(slug)} = 1" for slug in MODEL_NUX_SEEN),
        "",
        "[notice.model_migrations]",
        *(f"{_toml_str(old)} = {_toml_str(new)}" for old, new in MODEL_MIGRATIONS_SEEN.items()),
    ]
    for project in trusted_projects:
        lines += ["", f"[projects.{_toml_str(str(Path(project)))}]", 'trust_level = "trusted"']
    text = "\n".join(lines) + "\n"
    if extra:
        text += "\n" + extra.strip("\n") + "\n"
    return text


def write_codex_config(codex_home: str | Path, base_url: str, **options: Any) -> Path:
    """Create ``codex_home`` if needed and write its ``config.toml`` (see :func:`codex_config_toml`)."""
    home = Path(codex_home)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(codex_config_toml(base_url, **options), encoding="utf-8")
    return path


def codex_env(
    home: str | Path, codex_home: str | Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment for running codex against the mock provider with an isolated HOME/CODEX_HOME."""
    env = dict(os.environ if base is None else base)
    env.update({"HOME": str(home), "CODEX_HOME": str(codex_home), API_KEY_ENV: "mock-key"})
    env.setdefault("TERM", "xterm-256color")
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY"):
        env.pop(key, None)
    return env
