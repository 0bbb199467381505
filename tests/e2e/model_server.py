"""A scripted stand-in for the OpenAI Responses API, served on loopback for end-to-end tests.

The real Codex CLI is pointed at this server through a custom model provider (see
:func:`write_codex_config`). Every ``POST /v1/responses`` is answered with a Server-Sent Events stream
whose content is decided by the request itself, so a test steers the "model" with directives written
into its prompt:

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
otherwise
    A message quoting the prompt, built by :func:`echo_reply`:
    ``ECHO[<chars> chars sha256=<hex>]: <first 200 chars>``. The digest covers the whole prompt
    (UTF-8), so a test can prove that a large prompt arrived byte for byte.

Directives are lines of the last user message that start with the keyword. The thread-title side
request of the TUI (``text.format`` is a JSON schema with a ``title`` property) is answered with
``{"title": "..."}``.

Every request is recorded (parsed body, headers without credentials); :meth:`ModelServer.wait_for`
blocks on a condition variable until a matching request arrives or the deadline passes.

Only the standard library is used, so the module can run anywhere the tests run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
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


def parse_directives(text: str) -> Directives:
    """Find ``RUN:``, ``WRITE:`` and ``SLOW:`` lines (the first of each kind counts)."""
    run: str | None = None
    write: tuple[str, str] | None = None
    slow: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if run is None and line.startswith("RUN:"):
            run = line[len("RUN:") :].strip() or None
        elif write is None and line.startswith("WRITE:"):
            write = _parse_write(line[len("WRITE:") :].lstrip())
        elif slow is None and line.startswith("SLOW:"):
            try:
                slow = max(0.0, float(line[len("SLOW:") :].strip()))
            except ValueError:
                slow = None
    return Directives(run=run, write=write, slow=slow)


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


def write_command(path: str, content: str) -> str:
    """The shell command the scripted model asks codex to run for ``WRITE: <path> <content>``."""
    return f"printf '%s\\n' {shlex.quote(content)} > {shlex.quote(path)}"


def echo_reply(text: str) -> str:
    """The default answer to a prompt: its length, SHA-256 (UTF-8) and first characters."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"ECHO[{len(text)} chars sha256={digest}]: {text[:ECHO_HEAD_CHARS]}"


def tool_result_reply(directives: Directives, output: str) -> str:
    """The final answer once the tool output of a ``RUN:``/``WRITE:`` call has come back."""
    if len(output) > TOOL_OUTPUT_CHARS:
        output = output[:TOOL_OUTPUT_CHARS] + "…"
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


# --------------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    """What the server decided to send for one request: a message or a function call."""

    kind: str  # "message" | "function_call" | "title"
    text: str = ""
    call_name: str = ""
    call_arguments: str = ""
    call_id: str = ""
    delay: float = 0.0


def plan_reply(body: Mapping[str, Any], call_id: str) -> tuple[str, Reply]:
    """Decide the answer to a ``/responses`` request. Returns (request kind, reply)."""
    if is_title_request(body):
        return "title", Reply(kind="title", text=json.dumps({"title": title_for(body)}))
    text = last_user_text(body) or ""
    directives = parse_directives(text)
    last = last_input_item(body)
    if last is not None and last.get("type") == "function_call_output":
        output = last.get("output")
        if not isinstance(output, str):
            output = json.dumps(output)
        return "tool_result", Reply(kind="message", text=tool_result_reply(directives, output))
    delay = directives.slow or 0.0
    cmd: str | None = None
    if directives.run is not None:
        cmd = directives.run
    elif directives.write is not None:
        cmd = write_command(*directives.write)
    if cmd is not None:
        args = json.dumps({"cmd": cmd, "yield_time_ms": 10000})
        return "turn", Reply(
            kind="function_call", call_name="exec_command", call_arguments=args, call_id=call_id, delay=delay
        )
    return "turn", Reply(kind="message", text=echo_reply(text), delay=delay)


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

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None


class ModelServer:
    """A scripted Responses API on ``127.0.0.1`` (ephemeral port); use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
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
            self._cond.notify_all()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _pause(self, seconds: float) -> bool:
        """Hold a stream open; False when the server is closing."""
        return not self._closing.wait(seconds) if seconds > 0 else not self._closing.is_set()


def _events(reply: Reply, response_id: str, item_id: str) -> Iterator[tuple[float, dict[str, Any]]]:
    """The SSE events for a reply, each with the delay to wait before sending it."""
    created = {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}}
    completed = {
        "type": "response.completed",
        "response": {"id": response_id, "status": "completed", "usage": usage()},
    }
    yield 0.0, created
    if reply.kind == "function_call":
        yield (
            reply.delay,
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": {
                    "type": "function_call",
                    "id": item_id,
                    "call_id": reply.call_id,
                    "name": reply.call_name,
                    "arguments": reply.call_arguments,
                    "status": "completed",
                },
            },
        )
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
            kind, reply = plan_reply(body, call_id)
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
            n = rec.index + 1
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for delay, event in _events(reply, f"resp_{n}", f"item_{n}"):
                    if not server._pause(delay):
                        raise ConnectionAbortedError("server closing")
                    self._chunk(sse_frame(event))
                self._chunk(b"")
            except OSError:
                server._update(rec, aborted=True, finished=True)
                self.close_connection = True
                return
            server._update(rec, finished=True)

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


def codex_config_toml(
    base_url: str,
    *,
    model: str = "mock-model",
    trusted_projects: Iterable[str | Path] = (),
    notify: Iterable[str] | None = None,
    disable_paste_burst: bool = True,
    sandbox_mode: str = "danger-full-access",
    extra: str = "",
) -> str:
    """The text of a CODEX_HOME ``config.toml`` that points codex at a :class:`ModelServer`."""
    lines = [
        f"model = {_toml_str(model)}",
        'model_provider = "mock"',
        'approval_policy = "never"',
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
        "request_max_retries = 0",
        "stream_max_retries = 0",
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
