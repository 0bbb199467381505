"""`codex app-server --listen unix://PATH` of the codex double: codex's app-server protocol on a Unix socket.

WebSocket on the socket, one JSON-RPC message a text frame, many clients at once. Requests: `initialize`,
`thread/start`, `thread/resume`, `thread/name/set`, `turn/start`, `turn/steer`, `turn/interrupt`; anything
else is answered with the error the real server gives an unknown method. Directives in a message (each
message of a turn, in the order they arrive):

  SLEEP <s>      a commandExecution item `sleep <s>` that takes that long
  ASK            the server request item/commandExecution/requestApproval (`touch approved.txt`) to every
                 client of the thread; the first answer wins: accept runs it (the file appears in the cwd),
                 decline goes on and says so, cancel interrupts the turn
  WRITE <path>   creates that file under the thread's cwd (the message is its content): a fileChange item
  HANG           the turn starts, then nothing at all happens until turn/interrupt
  FAIL <text>    the turn fails with error.message = text, like a model error
  EXIT <code>    the process exits with that code right after the turn (a crash: no close frames)

The reply quotes every message of the turn, one line each: `ECHO[<chars> chars sha256=<hex>]: <first 60>`.

Checked against the real codex 0.169.0 (probe transcripts in the brief and our own probes, all run on
loopback against tests/e2e/model_server.py):
  - the shapes of every message below: thread/start and thread/resume results, thread/started,
    thread/status/changed (idle, active + activeFlags, systemError after a failed turn), turn/started,
    item/started|completed for userMessage (clientId), commandExecution, fileChange (absolute path,
    kind {type:add}, diff = the new content), agentMessage (+ item/agentMessage/delta), turn/diff/updated,
    thread/tokenUsage/updated, error, turn/completed (error {message, codexErrorInfo, additionalDetails,
    misalignment}), item/commandExecution/requestApproval and serverRequest/resolved; `emittedAtMs` on
    notifications only; uuid7 thread, turn and user-message ids; server request ids counting from 0.
  - thread/started and thread/status/changed go to every connection; turn and item events only to the
    connections that started or resumed the thread (a thread/resume client gets the others' turns).
  - turn/start while a turn runs is NOT an error: the message joins the running turn and the result is
    that turn. turn/steer with a stale expectedTurnId, steer or interrupt with no turn, a thread/resume
    before the first turn ("no rollout found for thread id …"), an unknown thread or method: JSON-RPC
    error -32600 with the real messages.
  - the answering client gets serverRequest/resolved too; decline → item status "declined", the turn
    goes on; the TUI's Esc sends "cancel" → the turn ends "interrupted".
  - a failed turn: thread/status/changed systemError, an `error` notification (willRetry false), then
    turn/completed failed; the rollout's task_complete has last_agent_message null and an error.
  - an interrupted turn: turn/completed {status interrupted, items []}; the rollout gets turn_aborted.
  - notify runs after completed turns only (not failed or interrupted), with "client" = the clientInfo
    name of the connection that started the turn and "input-messages" = every user message of the thread.
  - thread/resume from a new process loads the thread from its rollout file and says thread/status/changed
    idle first, a deprecationNotice (turns are included), then the result and a tokenUsage update.
  - the title side thread is the TUI's doing (seen through a logging proxy between the real TUI and the
    real server): thread/start {ephemeral}, turn/start with the title prompt, thread/unsubscribe, then
    thread/name/set on the job's thread. It follows the first user message the TUI sees live on an unnamed
    thread, whoever sent it (the keeper's too). This server answers any turn that asks for a structured
    `title` (outputSchema) or runs on a `thread_title` thread with {"title": …}.
  - the double's TUI (fake_remote_tui.py) attaches to the real server as well: history, the keeper's turns,
    a typed turn, the title, approvals answered with y and Esc, Ctrl-C twice.
Known differences: no model, tools, sandbox or approval policy (ASK always asks); item ids other than
user messages are `call_N`/`item_N`; the rollout holds only the records codex-agent reads; requests the
real server knows but the double does not are refused as unknown; thread/name/updated is sent to every
connection (the real one was only seen by a subscribed one). The real TUI cannot attach to this server: before
thread/resume it asks for account/read, thread/read, model/list, configRequirements/read,
collaborationMode/list, hooks/list and more, and gives up on the first error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.fake_ids import CLI_VERSION, echo_reply, now_ms, uuid7
else:  # run as a script, next to fake_ids.py (the remote tier copies the double without the tests package)
    from fake_ids import CLI_VERSION, echo_reply, now_ms, uuid7
from websockets.asyncio.server import ServerConnection, unix_serve
from websockets.exceptions import ConnectionClosed

JSON = dict[str, Any]
Later = list[Awaitable[None]]  # what a request does once its result is sent
INVALID_REQUEST = -32600
PARSE_ERROR = -32700
INTERNAL_ERROR = -32603
CONTEXT_WINDOW = 258400
MODEL = "mock-model"
PROVIDER = "mock"
ASK_COMMAND = "touch approved.txt"
SANDBOXES: dict[str, JSON] = {
    "read-only": {"type": "readOnly", "networkAccess": False},
    "workspace-write": {"type": "workspaceWrite", "writableRoots": [], "networkAccess": False},
    "danger-full-access": {"type": "dangerFullAccess"},
}
METHODS = (
    "initialize",
    "thread/start",
    "thread/resume",
    "thread/name/set",
    "thread/unsubscribe",
    "turn/start",
    "turn/steer",
    "turn/interrupt",
)


class RpcError(Exception):
    """A request the server refuses: answered with a JSON-RPC error, as the real one does."""

    def __init__(self, message: str, code: int = INVALID_REQUEST) -> None:
        super().__init__(message)
        self.code = code


class TurnInterrupted(Exception):
    pass


class TurnFailed(Exception):
    pass


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds() -> int:
    return now_ms() // 1000


class Conn:
    """One client connection."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.name: str | None = None

    async def send(self, message: JSON) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(message))


@dataclass
class Pending:
    """A server request (an approval) waiting for its first answer."""

    id: int
    thread_id: str
    answer: asyncio.Future[JSON]


@dataclass
class Turn:
    id: str
    owner: str | None
    started: int = field(default_factory=seconds)
    messages: list[str] = field(default_factory=list)
    inbox: list[tuple[str, str | None]] = field(default_factory=list)
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    notes: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    finishing: bool = False  # its last events are going out: new messages wait for the next turn
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    reply: str | None = None  # set when it completed: what notify reports
    history: list[JSON] = field(default_factory=list)  # its items, as thread/resume returns them
    wants_title: bool = False  # the TUI's title request: answered with {"title": …}, no directives
    pending: Pending | None = None
    exit_code: int | None = None


@dataclass
class Thread:
    id: str
    cwd: str
    path: Path | None
    originator: str
    ephemeral: bool = False
    source: str | None = None
    model: str = MODEL
    approval_policy: str = "on-request"
    sandbox: JSON = field(default_factory=lambda: dict(SANDBOXES["workspace-write"]))
    notify: list[str] | None = None
    name: str | None = None
    preview: str = ""
    created: int = field(default_factory=seconds)
    updated: int = field(default_factory=seconds)
    status: JSON = field(default_factory=lambda: {"type": "idle"})
    subscribers: set[Conn] = field(default_factory=set)
    turns: list[JSON] = field(default_factory=list)
    user_texts: list[str] = field(default_factory=list)
    total: dict[str, int] = field(default_factory=dict)
    last_turn_id: str | None = None
    active: Turn | None = None
    ordinal: int = 0

    def record(self, kind: str, payload: JSON) -> None:
        """Append one rollout line. Ephemeral threads (the TUI's title requests) have no rollout."""
        if self.path is None:
            return
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"timestamp": iso_now(), "ordinal": self.ordinal, "type": kind, "payload": payload}
        self.ordinal += 1
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def as_json(self, turns: list[JSON] | None = None) -> JSON:
        environments = (
            []
            if self.ephemeral
            else [{"environmentId": "local", "cwd": self.cwd, "runtimeWorkspaceRoots": [self.cwd]}]
        )
        return {
            "id": self.id,
            "environments": environments,
            "extra": None,
            "sessionId": self.id,
            "forkedFromId": None,
            "attachedToThreadId": None,
            "parentThreadId": None,
            "preview": self.preview,
            "ephemeral": self.ephemeral,
            "section": None,
            "sectionEnteredAt": None,
            "projectId": None,
            "historyMode": "paginated",
            "modelProvider": PROVIDER,
            "model": self.model,
            "reasoningEffort": None,
            "createdAt": self.created,
            "updatedAt": self.updated,
            "recencyAt": self.updated,
            "status": self.status,
            "path": str(self.path) if self.path else None,
            "cwd": self.cwd,
            "cliVersion": CLI_VERSION,
            "originator": self.originator,
            "source": "vscode",
            "canAcceptDirectInput": True,
            "threadSource": self.source,
            "agentNickname": None,
            "agentRole": None,
            "gitInfo": None,
            "name": self.name,
            "daybreakEnabled": None,
            "turns": turns or [],
        }

    def settings(self) -> JSON:
        """The fields thread/start and thread/resume results carry beside the thread."""
        return {
            "model": self.model,
            "modelProvider": PROVIDER,
            "serviceTier": None,
            "disabledPluginIds": [],
            "cwd": self.cwd,
            "runtimeWorkspaceRoots": [self.cwd],
            "instructionSources": [],
            "approvalPolicy": self.approval_policy,
            "approvalsReviewer": "user",
            "sandbox": self.sandbox,
            "activePermissionProfile": None,
            "reasoningEffort": None,
            "multiAgentMode": "explicitRequestOnly",
        }


def turn_json(
    turn_id: str,
    status: str,
    *,
    started: int | None,
    completed: int | None = None,
    items: list[JSON] | None = None,
    error: JSON | None = None,
    duration_ms: int | None = None,
) -> JSON:
    return {
        "id": turn_id,
        "rootTurnId": turn_id,
        "items": items or [],
        "itemsView": "summary" if items else "notLoaded",
        "status": status,
        "error": error,
        "startedAt": started,
        "completedAt": completed,
        "durationMs": duration_ms,
    }


def user_item(item_id: str, text: str, client_id: str | None, started: int, completed: int | None) -> JSON:
    return {
        "type": "userMessage",
        "id": item_id,
        "clientId": client_id,
        "content": [{"type": "text", "text": text, "text_elements": []}],
        "startedAtMs": started,
        "completedAtMs": completed,
    }


def agent_item(item_id: str, text: str, started: int, completed: int | None) -> JSON:
    return {
        "type": "agentMessage",
        "moderation": None,
        "id": item_id,
        "text": text,
        "phase": None,
        "memoryCitation": None,
        "delivery": None,
        "questions": None,
        "startedAtMs": started,
        "completedAtMs": completed,
    }


def command_item(
    item_id: str,
    command: str,
    cwd: str,
    *,
    status: str,
    started: int,
    source: str,
    completed: int | None = None,
    exit_code: int | None = None,
    output: str | None = None,
) -> JSON:
    return {
        "type": "commandExecution",
        "id": item_id,
        "pluginId": None,
        "scriptPath": None,
        "command": f"/bin/bash -lc '{command}'",
        "cwd": cwd,
        "processId": str(os.getpid()) if status == "completed" else None,
        "source": source,
        "status": status,
        "commandActions": [{"type": "unknown", "command": command}],
        "aggregatedOutput": output,
        "exitCode": exit_code,
        "durationMs": None if completed is None else completed - started,
        "startedAtMs": started,
        "completedAtMs": completed,
    }


def input_text(params: JSON) -> str:
    items = params.get("input")
    if not isinstance(items, list):
        raise RpcError("Invalid request: missing field `input`")
    texts = [item["text"] for item in items if isinstance(item, dict) and isinstance(item.get("text"), str)]
    if not texts:
        raise RpcError("Invalid request: the test double takes only text input")
    return "\n".join(texts)


def required_str(params: JSON, key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        raise RpcError(f"Invalid request: missing field `{key}`")
    return value


def parse_notify(values: list[str]) -> list[str] | None:
    """`-c notify=[...]` (a TOML array of strings, which JSON can read) from the command line."""
    program = None
    for value in values:
        key, _, raw = value.partition("=")
        if key.strip() == "notify":
            try:
                parsed = json.loads(raw)
            except ValueError:
                print(f"warning: the codex double reads notify only as a JSON array: {raw}", file=sys.stderr)
                continue
            if isinstance(parsed, list) and all(isinstance(part, str) for part in parsed):
                program = parsed
    return program


class AppServer:
    def __init__(self, codex_home: Path, notify: list[str] | None) -> None:
        self.codex_home = codex_home
        self.notify = notify
        self.conns: set[Conn] = set()
        self.initialized: set[Conn] = set()
        self.threads: dict[str, Thread] = {}
        self.pending: dict[int, Pending] = {}
        self.next_request_id = 0
        self.next_item = 0
        self.exit_code: int | None = None
        self.done: asyncio.Event = asyncio.Event()
        self.background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ sending

    async def notify_conns(self, conns: set[Conn], method: str, params: JSON) -> None:
        message = {"method": method, "params": params, "emittedAtMs": now_ms()}
        for conn in list(conns):
            await conn.send(message)

    async def to_all(self, method: str, params: JSON) -> None:
        await self.notify_conns(self.initialized, method, params)

    async def to_thread(self, thread: Thread, method: str, params: JSON) -> None:
        await self.notify_conns(thread.subscribers, method, params)

    async def set_status(self, thread: Thread, status: JSON) -> None:
        if thread.status != status:
            thread.status = status
            await self.to_all("thread/status/changed", {"threadId": thread.id, "status": status})

    def item_id(self, prefix: str) -> str:
        self.next_item += 1
        return f"{prefix}_{self.next_item}"

    # ------------------------------------------------------------------ connections

    async def handle(self, ws: ServerConnection) -> None:
        conn = Conn(ws)
        self.conns.add(conn)
        try:
            async for raw in ws:
                await self.receive(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            self.conns.discard(conn)
            self.initialized.discard(conn)
            for thread in self.threads.values():
                thread.subscribers.discard(conn)

    async def receive(self, conn: Conn, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            await conn.send({"error": {"code": PARSE_ERROR, "message": "Parse error"}, "id": None})
            return
        if not isinstance(message, dict):
            await conn.send({"error": {"code": INVALID_REQUEST, "message": "Invalid request"}, "id": None})
            return
        method = message.get("method")
        if method is None:
            self.answer_server_request(message)
        elif "id" in message:
            # Each request runs on its own so that a slow one (turn/interrupt) does not hold the others.
            task = asyncio.create_task(self.request(conn, message))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        elif method == "initialized":
            self.initialized.add(conn)

    async def request(self, conn: Conn, message: JSON) -> None:
        request_id = message.get("id")
        params = mapping(message.get("params"))
        later: Later = []
        try:
            result = await self.dispatch(conn, str(message.get("method")), params, later)
        except RpcError as exc:
            await conn.send({"error": {"code": exc.code, "message": str(exc)}, "id": request_id})
            return
        except (TypeError, ValueError, KeyError, AttributeError, OSError) as exc:  # odd params: answer, go on
            await conn.send(
                {"error": {"code": INTERNAL_ERROR, "message": f"Internal error: {exc}"}, "id": request_id}
            )
            return
        await conn.send({"id": request_id, "result": result})
        for step in later:
            await step

    async def dispatch(self, conn: Conn, method: str, params: JSON, later: Later) -> JSON:
        if method == "initialize":
            return self.initialize(conn, params)
        if method not in METHODS:
            expected = ", ".join(f"`{name}`" for name in METHODS)
            raise RpcError(f"Invalid request: unknown variant `{method}`, expected one of {expected}")
        if conn.name is None:
            raise RpcError("Not initialized")
        if method == "thread/start":
            return self.thread_start(conn, params, later)
        if method == "thread/resume":
            return await self.thread_resume(conn, params, later)
        if method == "thread/unsubscribe":
            return self.thread_unsubscribe(conn, params)
        if method == "thread/name/set":
            return await self.thread_name_set(params)
        if method == "turn/start":
            return await self.turn_start(conn, params, later)
        if method == "turn/steer":
            return self.turn_steer(params)
        return self.turn_interrupt(params)

    def answer_server_request(self, message: JSON) -> None:
        request_id = message.get("id")
        pending = self.pending.get(request_id) if isinstance(request_id, int) else None
        if pending is None or pending.answer.done():
            return  # late answers to a request someone else already answered are dropped
        result = message.get("result")
        pending.answer.set_result(result if isinstance(result, dict) else {"decision": "cancel"})

    # ------------------------------------------------------------------ requests

    def initialize(self, conn: Conn, params: JSON) -> JSON:
        if conn.name is not None:
            raise RpcError("Already initialized")
        info = mapping(params.get("clientInfo"))
        conn.name = str(info.get("name") or "client")
        version = info.get("version", "0")
        return {
            "userAgent": f"{conn.name}/{CLI_VERSION} (test double; x86_64) ({conn.name}; {version})",
            "codexHome": str(self.codex_home),
            "platformFamily": "unix",
            "platformOs": "linux",
        }

    def thread_start(self, conn: Conn, params: JSON, later: Later) -> JSON:
        cwd = params.get("cwd") or os.getcwd()
        if not isinstance(cwd, str) or not os.path.isabs(cwd) or not os.path.isdir(cwd):
            raise RpcError(f"Invalid request: cwd is not an absolute directory: {cwd}")
        thread_id = uuid7()
        ephemeral = params.get("ephemeral") is True
        stamp = datetime.now(timezone.utc)
        path = (
            None
            if ephemeral
            else (
                self.codex_home
                / "sessions"
                / stamp.strftime("%Y/%m/%d")
                / f"rollout-{stamp.strftime('%Y-%m-%dT%H-%M-%S')}-{thread_id}.jsonl"
            )
        )
        thread = Thread(
            id=thread_id,
            cwd=cwd,
            path=path,
            originator=conn.name or "client",
            ephemeral=ephemeral,
            source=params.get("threadSource") if isinstance(params.get("threadSource"), str) else None,
        )
        if isinstance(params.get("model"), str):
            thread.model = params["model"]
        if isinstance(params.get("approvalPolicy"), str):
            thread.approval_policy = params["approvalPolicy"]
        if isinstance(params.get("sandbox"), str):
            thread.sandbox = dict(SANDBOXES.get(params["sandbox"], SANDBOXES["workspace-write"]))
        config = mapping(params.get("config"))
        notify = config.get("notify")
        thread.notify = (
            notify if isinstance(notify, list) and all(isinstance(p, str) for p in notify) else self.notify
        )
        thread.subscribers.add(conn)
        self.threads[thread_id] = thread
        later.append(self.to_all("thread/started", {"thread": thread.as_json()}))
        return {"thread": thread.as_json(), **thread.settings()}

    def find_rollout(self, thread_id: str) -> Path | None:
        if not re.fullmatch(r"[0-9a-fA-F-]{36}", thread_id):
            return None  # never let an id become a glob pattern
        found = sorted((self.codex_home / "sessions").glob(f"*/*/*/rollout-*-{thread_id}.jsonl"))
        return found[-1] if found else None

    async def thread_resume(self, conn: Conn, params: JSON, later: Later) -> JSON:
        thread_id = required_str(params, "threadId")
        thread = self.threads.get(thread_id)
        if thread is None or thread.path is None or not thread.path.exists():
            path = None if thread is not None and thread.ephemeral else self.find_rollout(thread_id)
            if path is None:
                raise RpcError(f"no rollout found for thread id {thread_id}")
            if thread is None:
                thread = self.load(thread_id, path)
                self.threads[thread_id] = thread
                await self.to_all("thread/status/changed", {"threadId": thread_id, "status": thread.status})
        thread.subscribers.add(conn)
        if params.get("excludeTurns") is not True:
            await conn.send(
                {
                    "method": "deprecationNotice",
                    "emittedAtMs": now_ms(),
                    "params": {
                        "summary": "Full-history hydration is deprecated for paginated threads; "
                        "use `excludeTurns: true`, then page with `thread/turns/list` and "
                        "`thread/items/list`.",
                        "details": None,
                    },
                }
            )
        turns = [] if params.get("excludeTurns") is True else thread.turns
        if thread.total and thread.last_turn_id:
            later.append(
                self.notify_conns({conn}, "thread/tokenUsage/updated", self.usage_params(thread, None))
            )
        return {"thread": thread.as_json(turns), **thread.settings()}

    def load(self, thread_id: str, path: Path) -> Thread:
        """Rebuild a thread from its rollout file (a new server process resuming an old thread)."""
        thread = Thread(id=thread_id, cwd=os.getcwd(), path=path, originator="client")
        current: JSON | None = None
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict) or not isinstance(line.get("payload"), dict):
                continue
            # A rollout is a file anyone could have written: a line the double cannot read is skipped.
            with contextlib.suppress(TypeError, ValueError, AttributeError, KeyError):
                thread.ordinal = max(thread.ordinal, int(line.get("ordinal", 0)) + 1)
                current = self.replay(thread, str(line.get("type")), line["payload"], current)
        thread.name = self.saved_name(thread_id)
        return thread

    def replay(self, thread: Thread, kind: str, payload: JSON, current: JSON | None) -> JSON | None:
        kind_of = payload.get("type")
        if kind == "session_meta":
            thread.cwd = str(payload.get("cwd") or thread.cwd)
            thread.originator = str(payload.get("originator") or thread.originator)
            thread.model = str(payload.get("model") or thread.model)
        elif kind == "turn_context":
            thread.approval_policy = str(payload.get("approval_policy") or thread.approval_policy)
        elif kind == "event_msg" and kind_of == "task_started":
            current = turn_json(str(payload.get("turn_id")), "inProgress", started=payload.get("started_at"))
            current["items"], current["itemsView"] = [], "full"
            thread.turns.append(current)
            thread.last_turn_id = current["id"]
        elif kind == "event_msg" and kind_of == "item_completed" and current is not None:
            item = payload.get("item") or {}
            if item.get("type") == "UserMessage":
                text = "".join(part.get("text", "") for part in item.get("content", []))
                thread.user_texts.append(text)
                thread.preview = thread.preview or text
                current["items"].append(
                    user_item(
                        str(item.get("id")),
                        text,
                        item.get("client_id"),
                        payload.get("started_at_ms", 0),
                        payload.get("completed_at_ms"),
                    )
                )
        elif kind == "event_msg" and kind_of == "token_count":
            usage = (payload.get("info") or {}).get("total_token_usage") or {}
            thread.total = {camel(key): int(value) for key, value in usage.items() if isinstance(value, int)}
        elif kind == "event_msg" and kind_of in ("task_complete", "turn_aborted") and current is not None:
            error = payload.get("error")
            status = "interrupted" if kind_of == "turn_aborted" else ("failed" if error else "completed")
            current.update(
                status=status, completedAt=payload.get("completed_at"), durationMs=payload.get("duration_ms")
            )
            if error:
                current["error"] = {
                    "message": error.get("message", ""),
                    "codexErrorInfo": "internalServerError",
                    "additionalDetails": None,
                    "misalignment": None,
                }
            if payload.get("last_agent_message"):
                stamp = now_ms()
                current["items"].append(
                    agent_item(
                        f"item_{len(current['items'])}", str(payload["last_agent_message"]), stamp, stamp
                    )
                )
            current = None
        return current

    def saved_name(self, thread_id: str) -> str | None:
        index = self.codex_home / "session_index.jsonl"
        name = None
        with contextlib.suppress(OSError):
            for raw in index.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError, AttributeError):
                    entry = json.loads(raw)
                    if entry.get("id") == thread_id:
                        name = entry.get("thread_name")
        return name if isinstance(name, str) else None

    async def thread_name_set(self, params: JSON) -> JSON:
        thread = self.loaded(params)
        thread.name = required_str(params, "name")
        index = self.codex_home / "session_index.jsonl"
        with index.open("a", encoding="utf-8") as handle:
            handle.write(
                json.dumps({"id": thread.id, "thread_name": thread.name, "updated_at": iso_now()}) + "\n"
            )
        await self.to_all("thread/name/updated", {"threadId": thread.id, "threadName": thread.name})
        return {}

    def thread_unsubscribe(self, conn: Conn, params: JSON) -> JSON:
        """The connection stops getting the thread's turn events (the real TUI does it on exit)."""
        self.loaded(params).subscribers.discard(conn)
        return {"status": "unsubscribed"}

    def loaded(self, params: JSON) -> Thread:
        thread_id = required_str(params, "threadId")
        thread = self.threads.get(thread_id)
        if thread is None:
            raise RpcError(f"thread not found: {thread_id}")
        return thread

    async def turn_start(self, conn: Conn, params: JSON, later: Later) -> JSON:
        thread = self.loaded(params)
        text = input_text(params)
        client_id = (
            params.get("clientUserMessageId") if isinstance(params.get("clientUserMessageId"), str) else None
        )
        if thread.active is not None and thread.active.finishing:
            await thread.active.ended.wait()
        if thread.active is not None:
            # The real server does not refuse this: the message joins the running turn.
            thread.active.inbox.append((text, client_id))
            return {"turn": turn_json(thread.active.id, "inProgress", started=None)}
        turn = Turn(id=uuid7(), owner=conn.name)
        schema = mapping(params.get("outputSchema"))
        turn.wants_title = thread.source == "thread_title" or "title" in mapping(schema.get("properties"))
        thread.active = turn
        later.append(self.launch(thread, turn, text, client_id))
        return {"turn": turn_json(turn.id, "inProgress", started=None)}

    async def launch(self, thread: Thread, turn: Turn, text: str, client_id: str | None) -> None:
        turn.task = asyncio.create_task(self.run_turn(thread, turn, text, client_id))

    def turn_steer(self, params: JSON) -> JSON:
        thread = self.loaded(params)
        text = input_text(params)
        turn = self.expect_turn(thread, params.get("expectedTurnId"), "steer")
        client_id = (
            params.get("clientUserMessageId") if isinstance(params.get("clientUserMessageId"), str) else None
        )
        turn.inbox.append((text, client_id))
        return {"turnId": turn.id}

    def turn_interrupt(self, params: JSON) -> JSON:
        thread = self.loaded(params)
        turn = self.expect_turn(thread, params.get("turnId"), "interrupt")
        turn.interrupted.set()  # the result goes out first, then the turn's end, as the real server does
        return {}

    @staticmethod
    def expect_turn(thread: Thread, turn_id: object, what: str) -> Turn:
        turn = thread.active
        if turn is None or (turn.finishing and what == "steer"):
            raise RpcError(f"no active turn to {what}")
        if turn_id != turn.id:
            raise RpcError(f"expected active turn id `{turn_id}` but found `{turn.id}`")
        return turn

    # ------------------------------------------------------------------ turns

    async def run_turn(self, thread: Thread, turn: Turn, text: str, client_id: str | None) -> None:
        self.begin_rollout(thread, turn)
        await self.set_status(thread, {"type": "active", "activeFlags": []})
        await self.to_thread(
            thread,
            "turn/started",
            {"threadId": thread.id, "turn": turn_json(turn.id, "inProgress", started=turn.started)},
        )
        turn.inbox.insert(0, (text, client_id))
        try:
            if turn.interrupted.is_set():
                raise TurnInterrupted
            await self.take_inbox(thread, turn)
            done = 0
            while done < len(turn.messages):
                if not turn.wants_title:
                    await self.steps(thread, turn, turn.messages[done])
                done += 1
                await self.take_inbox(thread, turn)
            turn.finishing = True  # no await since the inbox was found empty: no message is lost
            await self.complete(thread, turn)
        except TurnInterrupted:
            turn.finishing = True
            await self.abort(thread, turn)
        except TurnFailed as exc:
            turn.finishing = True
            await self.fail(thread, turn, str(exc))
        except (OSError, ValueError) as exc:  # a bug or a full disk in the double: the turn fails, loudly
            turn.finishing = True
            await self.fail(thread, turn, f"the codex double failed: {exc!r}")
        finally:
            thread.active = None
            thread.updated = seconds()
            turn.ended.set()
        if turn.reply is not None:
            await self.run_notify(thread, turn, turn.reply)
        if turn.exit_code is not None:
            self.exit_code = turn.exit_code
            self.done.set()

    def begin_rollout(self, thread: Thread, turn: Turn) -> None:
        if thread.path is not None and not thread.path.exists():
            thread.record(
                "session_meta",
                {
                    "session_id": thread.id,
                    "id": thread.id,
                    "timestamp": iso_now(),
                    "cwd": thread.cwd,
                    "originator": thread.originator,
                    "cli_version": CLI_VERSION,
                    "source": "vscode",
                    "model_provider": PROVIDER,
                    "model": thread.model,
                },
            )
        thread.record(
            "event_msg",
            {
                "type": "task_started",
                "turn_id": turn.id,
                "root_turn_id": turn.id,
                "started_at": turn.started,
                "model_context_window": CONTEXT_WINDOW,
            },
        )
        thread.record(
            "turn_context",
            {
                "turn_id": turn.id,
                "cwd": thread.cwd,
                "model": thread.model,
                "approval_policy": thread.approval_policy,
                "sandbox_policy": thread.sandbox,
            },
        )
        thread.turns.append(turn_json(turn.id, "inProgress", started=turn.started))
        thread.last_turn_id = turn.id

    async def take_inbox(self, thread: Thread, turn: Turn) -> None:
        """Bring the messages that arrived (turn/start's, then steered ones) into the turn."""
        while turn.inbox:
            text, client_id = turn.inbox.pop(0)
            turn.messages.append(text)
            thread.user_texts.append(text)
            thread.preview = thread.preview or text
            item_id, stamp = uuid7(), now_ms()
            thread.record(
                "response_item",
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
            )
            thread.record(
                "event_msg",
                {
                    "type": "item_completed",
                    "thread_id": thread.id,
                    "turn_id": turn.id,
                    "item": {
                        "type": "UserMessage",
                        "id": item_id,
                        "client_id": client_id,
                        "content": [{"type": "text", "text": text}],
                    },
                    "started_at_ms": stamp,
                    "completed_at_ms": stamp,
                },
            )
            base = {"threadId": thread.id, "turnId": turn.id}
            await self.to_thread(
                thread,
                "item/started",
                {"item": user_item(item_id, text, client_id, stamp, None), **base, "startedAtMs": stamp},
            )
            await self.to_thread(
                thread,
                "item/completed",
                {
                    "item": self.keep(turn, user_item(item_id, text, client_id, stamp, stamp)),
                    **base,
                    "contentTokenCount": None,
                    "completedAtMs": stamp,
                },
            )

    async def pause(self, turn: Turn, delay: float | None) -> None:
        """Wait `delay` seconds (None: for ever), unless the turn is interrupted first."""
        try:
            await asyncio.wait_for(turn.interrupted.wait(), delay)
        except asyncio.TimeoutError:
            return
        raise TurnInterrupted

    async def steps(self, thread: Thread, turn: Turn, message: str) -> None:
        for match in re.finditer(r"\bSLEEP (\d+(?:\.\d+)?)", message):
            await self.sleep_step(thread, turn, float(match.group(1)))
        if re.search(r"\bASK\b", message):
            await self.ask_step(thread, turn)
        for match in re.finditer(r"\bWRITE (\S+)", message):
            await self.write_step(thread, turn, match.group(1), message)
        if re.search(r"\bHANG\b", message):
            await self.pause(turn, None)
        failure = re.search(r"\bFAIL (.+)", message)
        if failure:
            raise TurnFailed(failure.group(1).strip())
        code = re.search(r"\bEXIT (\d+)", message)
        if code:
            turn.exit_code = int(code.group(1))

    async def sleep_step(self, thread: Thread, turn: Turn, delay: float) -> None:
        item_id, started = self.item_id("call"), now_ms()
        command = f"sleep {match_number(delay)}"
        base = {"threadId": thread.id, "turnId": turn.id}
        await self.to_thread(
            thread,
            "item/started",
            {
                "item": command_item(
                    item_id,
                    command,
                    thread.cwd,
                    status="inProgress",
                    started=started,
                    source="unifiedExecStartup",
                ),
                **base,
                "startedAtMs": started,
            },
        )
        await self.pause(turn, delay)
        done = now_ms()
        await self.to_thread(
            thread,
            "item/completed",
            {
                "item": command_item(
                    item_id,
                    command,
                    thread.cwd,
                    status="completed",
                    started=started,
                    source="unifiedExecStartup",
                    completed=done,
                    exit_code=0,
                    output="",
                ),
                **base,
                "contentTokenCount": None,
                "completedAtMs": done,
            },
        )

    async def ask_step(self, thread: Thread, turn: Turn) -> None:
        item_id, started = self.item_id("call"), now_ms()
        base = {"threadId": thread.id, "turnId": turn.id}
        await self.set_status(thread, {"type": "active", "activeFlags": ["waitingOnApproval"]})
        await self.to_thread(
            thread,
            "item/started",
            {
                "item": command_item(
                    item_id, ASK_COMMAND, thread.cwd, status="inProgress", started=started, source="agent"
                ),
                **base,
                "startedAtMs": started,
            },
        )
        decision = await self.ask(
            thread,
            turn,
            {
                "kind": "command",
                **base,
                "itemId": item_id,
                "startedAtMs": started,
                "environmentId": "local",
                "reason": "the test double asks before it writes approved.txt",
                "command": f"/bin/bash -lc '{ASK_COMMAND}'",
                "cwd": thread.cwd,
                "commandActions": [{"type": "unknown", "command": ASK_COMMAND}],
                "proposedExecpolicyAmendment": ASK_COMMAND.split(),
                "availableDecisions": [
                    "accept",
                    {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ASK_COMMAND.split()}},
                    "cancel",
                ],
            },
        )
        done = now_ms()
        accepted = decision in ("accept", "acceptForSession") or (
            isinstance(decision, dict) and "acceptWithExecpolicyAmendment" in decision
        )
        if accepted:
            await self.set_status(thread, {"type": "active", "activeFlags": []})
            Path(thread.cwd, "approved.txt").touch()
            item = command_item(
                item_id,
                ASK_COMMAND,
                thread.cwd,
                status="completed",
                started=started,
                source="unifiedExecStartup",
                completed=done,
                exit_code=0,
            )
        else:
            item = command_item(
                item_id,
                ASK_COMMAND,
                thread.cwd,
                status="declined",
                started=started,
                source="agent",
                completed=done,
            )
        await self.to_thread(
            thread, "item/completed", {"item": item, **base, "contentTokenCount": None, "completedAtMs": done}
        )
        if not accepted:
            await self.set_status(thread, {"type": "active", "activeFlags": []})
            if decision == "cancel":
                raise TurnInterrupted
            turn.notes.append(f"The command was declined: {ASK_COMMAND}")

    async def ask(self, thread: Thread, turn: Turn, params: JSON) -> object:
        """Send the approval request to every client of the thread; the first answer wins."""
        request_id = self.next_request_id
        self.next_request_id += 1
        pending = Pending(request_id, thread.id, asyncio.get_running_loop().create_future())
        self.pending[request_id] = pending
        turn.pending = pending
        message = {"method": "item/commandExecution/requestApproval", "id": request_id, "params": params}
        for conn in list(thread.subscribers):
            await conn.send(message)
        interrupted: asyncio.Task[bool] = asyncio.create_task(turn.interrupted.wait())
        try:
            waits: set[asyncio.Future[Any]] = {pending.answer, interrupted}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
            turn.pending = None
            del self.pending[request_id]
        await self.to_thread(
            thread, "serverRequest/resolved", {"threadId": thread.id, "requestId": request_id}
        )
        if not pending.answer.done():
            pending.answer.cancel()
            return "cancel"
        return pending.answer.result().get("decision")

    async def write_step(self, thread: Thread, turn: Turn, relative: str, content: str) -> None:
        root = Path(thread.cwd).resolve()
        target = (root / relative).resolve()
        item_id, started = self.item_id("call"), now_ms()
        inside = target != root and root in target.parents
        kind = {"type": "update", "move_path": None} if target.exists() else {"type": "add"}
        change = {"path": str(target), "kind": kind, "diff": content}
        base = {"threadId": thread.id, "turnId": turn.id}
        item = {
            "type": "fileChange",
            "id": item_id,
            "changes": [change],
            "status": "inProgress",
            "startedAtMs": started,
            "completedAtMs": None,
        }
        await self.to_thread(thread, "item/started", {"item": item, **base, "startedAtMs": started})
        status = "failed"
        if inside:  # an agent's message must not make the double write outside the thread's folder
            with contextlib.suppress(OSError):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content, encoding="utf-8", errors="surrogateescape")
                status = "completed"
        done = now_ms()
        await self.to_thread(
            thread,
            "item/completed",
            {
                "item": {**item, "status": status, "completedAtMs": done},
                **base,
                "contentTokenCount": None,
                "completedAtMs": done,
            },
        )
        if status == "completed":
            name = target.relative_to(root).as_posix()
            patch = "".join(f"+{line}\n" for line in content.splitlines())
            thread.record(
                "response_item",
                {
                    "type": "custom_tool_call",
                    "name": "apply_patch",
                    "call_id": item_id,
                    "input": f"*** Begin Patch\n*** Add File: {name}\n{patch}*** End Patch\n",
                },
            )
            diff = f"diff --git a/{name} b/{name}\nnew file mode 100644\n--- /dev/null\n+++ b/{name}\n{patch}"
            await self.to_thread(thread, "turn/diff/updated", {**base, "diff": diff})

    def reply_for(self, thread: Thread, turn: Turn) -> str:
        if turn.wants_title:
            prompt = turn.messages[0].rsplit("User prompt:\n", 1)[-1]
            return json.dumps({"title": " ".join(prompt.split())[:36]})
        return "\n".join([*(echo_reply(message) for message in turn.messages), *turn.notes])

    def usage_params(self, thread: Thread, last: dict[str, int] | None) -> JSON:
        return {
            "threadId": thread.id,
            "turnId": thread.last_turn_id,
            "tokenUsage": {
                "total": thread.total,
                "last": last or thread.total,
                "modelContextWindow": CONTEXT_WINDOW,
            },
        }

    def count_tokens(self, thread: Thread, turn: Turn) -> dict[str, int]:
        chars = sum(len(message) for message in turn.messages)
        last = {
            "totalTokens": 0,
            "inputTokens": 1000 + chars // 4,
            "cachedInputTokens": 200,
            "cacheWriteInputTokens": 0,
            "outputTokens": 50,
            "reasoningOutputTokens": 10,
        }
        last["totalTokens"] = last["inputTokens"] + last["outputTokens"]
        thread.total = {key: thread.total.get(key, 0) + value for key, value in last.items()}
        return last

    async def complete(self, thread: Thread, turn: Turn) -> None:
        reply = self.reply_for(thread, turn)
        item_id, started = self.item_id("item"), now_ms()
        base = {"threadId": thread.id, "turnId": turn.id}
        await self.to_thread(
            thread,
            "item/started",
            {"item": agent_item(item_id, "", started, None), **base, "startedAtMs": started},
        )
        await self.to_thread(thread, "item/agentMessage/delta", {**base, "itemId": item_id, "delta": reply})
        done = now_ms()
        final = agent_item(item_id, reply, started, done)
        await self.to_thread(
            thread,
            "item/completed",
            {"item": final, **base, "contentTokenCount": None, "completedAtMs": done},
        )
        last = self.count_tokens(thread, turn)
        await self.to_thread(thread, "thread/tokenUsage/updated", self.usage_params(thread, last))
        thread.record(
            "response_item",
            {
                "type": "message",
                "role": "assistant",
                "id": item_id,
                "content": [{"type": "output_text", "text": reply}],
            },
        )
        thread.record(
            "event_msg",
            {
                "type": "token_count",
                "info": {
                    "total_token_usage": snake(thread.total),
                    "last_token_usage": snake(last),
                    "model_context_window": CONTEXT_WINDOW,
                },
            },
        )
        ended = seconds()
        duration = done - turn.started * 1000
        thread.record(
            "event_msg",
            {
                "type": "task_complete",
                "turn_id": turn.id,
                "root_turn_id": turn.id,
                "last_agent_message": reply,
                "started_at": turn.started,
                "completed_at": ended,
                "duration_ms": duration,
            },
        )
        summary = turn_json(
            turn.id, "completed", started=turn.started, completed=ended, items=[final], duration_ms=duration
        )
        self.remember(thread, turn, summary)
        await self.set_status(thread, {"type": "idle"})
        await self.to_thread(thread, "turn/completed", {"threadId": thread.id, "turn": summary})
        turn.reply = reply

    async def abort(self, thread: Thread, turn: Turn) -> None:
        ended = seconds()
        duration = now_ms() - turn.started * 1000
        thread.record(
            "event_msg",
            {
                "type": "turn_aborted",
                "turn_id": turn.id,
                "root_turn_id": turn.id,
                "reason": "interrupted",
                "started_at": turn.started,
                "completed_at": ended,
                "duration_ms": duration,
            },
        )
        summary = turn_json(
            turn.id, "interrupted", started=turn.started, completed=ended, duration_ms=duration
        )
        self.remember(thread, turn, summary)
        await self.set_status(thread, {"type": "idle"})
        await self.to_thread(thread, "turn/completed", {"threadId": thread.id, "turn": summary})

    async def fail(self, thread: Thread, turn: Turn, message: str) -> None:
        error = {
            "message": message,
            "codexErrorInfo": "internalServerError",
            "additionalDetails": None,
            "misalignment": None,
        }
        ended = seconds()
        duration = now_ms() - turn.started * 1000
        thread.record(
            "event_msg",
            {
                "type": "task_complete",
                "turn_id": turn.id,
                "root_turn_id": turn.id,
                "last_agent_message": None,
                "error": {"message": message, "codex_error_info": "internal_server_error"},
                "started_at": turn.started,
                "completed_at": ended,
                "duration_ms": duration,
            },
        )
        await self.set_status(thread, {"type": "systemError"})
        await self.to_thread(
            thread, "error", {"error": error, "willRetry": False, "threadId": thread.id, "turnId": turn.id}
        )
        summary = turn_json(
            turn.id, "failed", started=turn.started, completed=ended, error=error, duration_ms=duration
        )
        self.remember(thread, turn, summary)
        await self.to_thread(thread, "turn/completed", {"threadId": thread.id, "turn": summary})

    @staticmethod
    def keep(turn: Turn, item: JSON) -> JSON:
        turn.history.append(item)
        return item

    @staticmethod
    def remember(thread: Thread, turn: Turn, summary: JSON) -> None:
        """The ended turn as thread/resume shows it: every item, user messages included."""
        items = [*turn.history, *summary["items"]]
        for index, known in enumerate(thread.turns):
            if known["id"] == summary["id"]:
                thread.turns[index] = {**summary, "items": items, "itemsView": "full"}

    async def run_notify(self, thread: Thread, turn: Turn, reply: str) -> None:
        if not thread.notify:
            return
        payload = {
            "type": "agent-turn-complete",
            "thread-id": thread.id,
            "turn-id": turn.id,
            "cwd": thread.cwd,
            "client": turn.owner,
            "input-messages": thread.user_texts,
            "last-assistant-message": reply,
        }
        try:
            proc = await asyncio.create_subprocess_exec(*thread.notify, json.dumps(payload))
            await proc.wait()
        except OSError as exc:  # e.g. E2BIG for a huge message: codex logs it and goes on
            print(f"notify failed: {exc}", file=sys.stderr)


def mapping(value: object) -> JSON:
    """A JSON object from a message, or an empty one: nothing a client sends may crash the server."""
    return value if isinstance(value, dict) else {}


def match_number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def snake(usage: dict[str, int]) -> dict[str, int]:
    return {
        re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key): value for key, value in usage.items()
    }


def claim_socket(path: str) -> None:
    """Remove a socket left by a crashed server; refuse one that still has a server behind it."""
    if not os.path.lexists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise SystemExit(f"error: {path} is in use by another app-server")


async def serve(path: str, server: AppServer) -> int:
    claim_socket(path)
    old_umask = os.umask(0o177)  # the socket file is created 0600, like the real one
    try:
        listener = await unix_serve(server.handle, path, max_size=None)
    finally:
        os.umask(old_umask)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.done.set)
    await server.done.wait()
    if server.exit_code is not None:
        os._exit(server.exit_code)  # a crash: no goodbye to the clients, the socket file stays
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(path)
    return 0


def main(argv: list[str]) -> int:
    """argv: what follows `codex` on the command line, `app-server` included, flags in any order."""
    config: list[str] = []
    listen = None
    args = [arg for arg in argv if arg != "app-server"]
    while args:
        arg = args.pop(0)
        if arg in ("-c", "--config") and args:
            config.append(args.pop(0))
        elif arg == "--listen" and args:
            listen = args.pop(0)
        elif arg.startswith("--listen="):
            listen = arg.split("=", 1)[1]
        elif arg in ("--enable", "--disable") and args:
            args.pop(0)  # features: the double has none
        elif arg in ("--strict-config", "--analytics-default-enabled"):
            continue
        else:
            print(f"error: unexpected argument '{arg}' found", file=sys.stderr)
            return 2
    if not listen or not listen.startswith("unix://"):
        print("error: the test double serves only --listen unix://PATH", file=sys.stderr)
        return 2
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    return asyncio.run(serve(listen[len("unix://") :], AppServer(home, parse_notify(config))))
