"""`codex --remote unix://PATH [--no-alt-screen] resume THREAD_ID` of the codex double: a TUI that is a client
of an app-server (the real one or the double's), drawn as plain lines in a terminal.

It resumes the thread, draws the header `>_ OpenAI Codex (v0.169.0)`, the transcript (user text after the
prompt mark U+203A, agent text after a bullet, errors after a square), a working line while a turn runs and
the composer "Ask Codex to do anything" when idle. Typed or pasted (bracketed paste) text + Enter starts a
turn when idle and steers the running turn otherwise. An approval request shows the overlay
`Would you like to run the following command?` with `$ <command>` and its options: `y` accepts, `p` accepts
with the proposed rule, Esc cancels (the real TUI's Esc: the turn is interrupted), `n` declines (the turn
goes on; a key of the double's own). When another client answers first, serverRequest/resolved takes the
overlay away. Esc or Ctrl-C during a turn interrupts it; Ctrl-C twice when idle quits; so does the server
closing the connection. On the way out it prints the token usage and `codex resume <id>`.

Like the real TUI (checked against 0.169.0, see the brief's probe_tui and approve transcripts and our own):
clientInfo.name `codex-tui`; user messages carry a uuid4 clientUserMessageId; the first user message it sees
live on a thread without a name (typed here or started by another client) makes it ask for a title on an
ephemeral thread of its own (`thread/start {ephemeral: true, threadSource: "thread_title"}`, a turn with the
title prompt, `thread/unsubscribe`, then `thread/name/set`); it unsubscribes from its thread when it quits.
It works against the real app-server too (checked with 0.169.0). Not like it: no alternate screen, no tips,
slash commands, history search or key bindings beyond the ones above; the exit wording is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import termios
import time
import tty
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.fake_ids import CLI_VERSION, MARK, PLACEHOLDER
else:  # run as a script, next to fake_ids.py (the remote tier copies the double without the tests package)
    from fake_ids import CLI_VERSION, MARK, PLACEHOLDER
from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import ConnectionClosed

JSON = dict[str, Any]
PASTE_START, PASTE_END = b"\x1b[200~", b"\x1b[201~"
TITLE_PROMPT = (
    "Generate a concise, single-line task title of at most 36 characters and under five words where "
    "possible. Do not answer the request."
)
TITLE_SCHEMA = {  # a structured answer, which is how a model server can tell a title request from a turn
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}
VALUE_FLAGS = {
    "-c",
    "--config",
    "-m",
    "--model",
    "-s",
    "--sandbox",
    "-a",
    "--ask-for-approval",
    "-C",
    "--cd",
    "-p",
    "--profile",
    "--remote-auth-token-env",
}
PLAIN_FLAGS = {"--no-alt-screen", "--no-daemon", "--dangerously-bypass-approvals-and-sandbox"}


def shown_command(command: str) -> str:
    """`/bin/bash -lc 'touch x'` is shown as `touch x`, as the real overlay does."""
    prefix = "/bin/bash -lc '"
    return command[len(prefix) : -1] if command.startswith(prefix) and command.endswith("'") else command


def block(marker: str, text: str) -> list[str]:
    lines = text.split("\n") or [""]
    return [f"{marker} {lines[0]}", *(f"  {line}" for line in lines[1:])]


@dataclass
class Screen:
    """What the TUI shows; `lines()` lays it out for a terminal of `rows` lines."""

    cwd: str = ""
    transcript: list[str] = field(default_factory=list)
    composer: str = ""
    running_since: float | None = None
    queued: list[str] = field(default_factory=list)
    approval: JSON | None = None
    hint: str = ""

    def add(self, lines: list[str]) -> None:
        self.transcript += ["", *lines]

    def bottom(self) -> list[str]:
        lines: list[str] = [""]
        if self.approval is not None:
            params = self.approval["params"]
            command = shown_command(str(params.get("command", "")))
            return [
                *lines,
                "  Would you like to run the following command?",
                "",
                f"  Reason: {params.get('reason')}",
                "",
                f"  $ {command}",
                "",
                f"{MARK} 1. Yes, proceed (y)",
                f"  2. Yes, and don't ask again for commands that start with `{command}` (p)",
                "  3. No, and tell Codex what to do differently (esc)",
                "",
                "  Press enter to confirm or esc to cancel",
            ]
        if self.running_since is not None:
            elapsed = int(time.monotonic() - self.running_since)
            lines += [f"• Working ({elapsed}s • esc to interrupt)", ""]
        if self.queued:
            lines += [
                "• Messages to be submitted after next tool call",
                *(f"  ↳ {text}" for text in self.queued),
                "",
            ]
        if self.composer:
            lines += block(MARK, self.composer)
        else:
            lines.append(PLACEHOLDER if self.running_since is None else MARK)
        lines += ["", f"  mock-model · {self.cwd}" + (f" · {self.hint}" if self.hint else "")]
        return lines

    def lines(self, rows: int) -> list[str]:
        header = ["", f"  >_ OpenAI Codex (v{CLI_VERSION})", f"     {self.cwd}"]
        bottom = self.bottom()
        room = max(0, rows - len(header) - len(bottom))
        shown = self.transcript[-room:] if room else []
        return [*header, *shown, *bottom][-rows:]


class RemoteTui:
    def __init__(self, ws: ClientConnection, thread_id: str, fd: int) -> None:
        self.ws = ws
        self.thread_id = thread_id
        self.fd = fd
        self.screen = Screen()
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future[JSON]] = {}
        self.turn_id: str | None = None
        self.thread_name: str | None = None
        self.titling = False
        self.title_threads: dict[str, asyncio.Future[str]] = {}
        self.answers: dict[str, str] = {}
        self.total: JSON = {}
        self.keys = b""
        self.ctrl_c_armed = 0.0
        self.exit_code: int | None = None
        self.done = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ protocol

    async def call(self, method: str, params: JSON) -> JSON:
        """Send a request and wait for its response (result or error, as a message)."""
        self.next_id += 1
        request_id = self.next_id
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        await self.ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
        return await future

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if isinstance(message, dict):
                    self.on_message(message)
                    self.draw()
        except (ConnectionClosed, ValueError):
            pass
        if self.exit_code is None:
            self.exit_code = 1  # the server went away
        for future in self.waiting.values():  # requests that will never be answered now
            if not future.done():
                future.set_result({"error": {"message": "the app-server closed the connection"}})
        self.done.set()

    def on_message(self, message: JSON) -> None:
        method = message.get("method")
        if method is None:
            future = self.waiting.pop(message.get("id"), None)  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result(message)
        elif "id" in message:
            self.on_request(message)
        else:
            params = message.get("params")
            self.on_notification(str(method), params if isinstance(params, dict) else {})

    def on_request(self, message: JSON) -> None:
        if message.get("method") == "item/commandExecution/requestApproval":
            self.screen.approval = message
        else:  # nothing else is asked of the double's TUI; refuse rather than leave the server waiting
            self.spawn(self.ws.send(json.dumps({"id": message["id"], "result": {"decision": "cancel"}})))

    def on_notification(self, method: str, params: JSON) -> None:
        thread_id = params.get("threadId")
        if thread_id in self.title_threads:
            self.on_title_event(method, params)
            return
        if method == "thread/name/updated" and thread_id == self.thread_id:
            self.thread_name = params.get("threadName")
        if thread_id != self.thread_id:
            return
        if method == "turn/started":
            self.turn_id = params["turn"]["id"]
            self.screen.running_since = time.monotonic()
        elif method == "item/completed":
            self.on_item(params.get("item") or {})
        elif method == "serverRequest/resolved":
            approval = self.screen.approval
            if approval is not None and approval.get("id") == params.get("requestId"):
                self.screen.approval = None
        elif method == "thread/tokenUsage/updated":
            self.total = (params.get("tokenUsage") or {}).get("total") or {}
        elif method == "turn/completed":
            self.on_turn_completed(params.get("turn") or {})

    def on_item(self, item: JSON) -> None:
        kind = item.get("type")
        if kind == "userMessage":
            text = "".join(part.get("text", "") for part in item.get("content", []))
            if text in self.screen.queued:
                self.screen.queued.remove(text)
            self.screen.add(block(MARK, text))
            if self.thread_name is None and not self.titling:
                self.titling = True
                self.spawn(self.ask_title(text))
        elif kind == "agentMessage":
            self.screen.add(block("•", str(item.get("text", ""))))
        elif kind == "commandExecution":
            command = shown_command(str(item.get("command", "")))
            said = self.answers.pop(str(item.get("id")), None)
            if said:
                self.screen.add([said])
            if item.get("status") == "declined":
                self.screen.add([f"✗ The request to run {command} was declined"] if not said else [])
            else:
                self.screen.add([f"• Ran {command}", "  └ (no output)"])
        elif kind == "fileChange":
            for change in item.get("changes", []):
                verb = "Added" if (change.get("kind") or {}).get("type") == "add" else "Edited"
                self.screen.add([f"• {verb} {change.get('path')}"])

    def on_turn_completed(self, turn: JSON) -> None:
        started = self.screen.running_since
        self.turn_id = None
        self.screen.running_since = None
        self.screen.approval = None
        status = turn.get("status")
        if status == "failed":
            self.screen.add([f"■ {(turn.get('error') or {}).get('message', 'the turn failed')}"])
        elif status == "interrupted":
            self.screen.add(["■ Conversation interrupted - use /feedback if something went wrong"])
        elif started is not None:
            seconds = int(time.monotonic() - started)
            self.screen.add([f"  Worked for {seconds if seconds else '<1'}s"])

    def on_title_event(self, method: str, params: JSON) -> None:
        future = self.title_threads[str(params.get("threadId"))]
        item = params.get("item") or {}
        if method == "item/completed" and item.get("type") == "agentMessage" and not future.done():
            future.set_result(str(item.get("text", "")))
        elif method == "turn/completed" and not future.done():
            future.set_result("")

    async def ask_title(self, text: str) -> None:
        """Name the thread from its first message through an ephemeral thread, as the real TUI does."""
        started = await self.call(
            "thread/start", {"cwd": self.screen.cwd, "ephemeral": True, "threadSource": "thread_title"}
        )
        if "result" not in started:
            return
        title_thread = started["result"]["thread"]["id"]
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.title_threads[title_thread] = future
        prompt = f"{TITLE_PROMPT}\n\nUser prompt:\n{text}"
        await self.call(
            "turn/start",
            {
                "threadId": title_thread,
                "input": [{"type": "text", "text": prompt}],
                "outputSchema": TITLE_SCHEMA,
            },
        )
        answer = await future
        await self.call("thread/unsubscribe", {"threadId": title_thread})
        del self.title_threads[title_thread]
        with contextlib.suppress(ValueError, AttributeError):
            title = json.loads(answer).get("title")
            if isinstance(title, str) and title:
                await self.call("thread/name/set", {"threadId": self.thread_id, "name": title})

    async def submit(self, text: str) -> None:
        message = {"input": [{"type": "text", "text": text}], "clientUserMessageId": str(uuid.uuid4())}
        if self.turn_id is not None:
            self.screen.queued.append(text)
            answer = await self.call(
                "turn/steer", {"threadId": self.thread_id, "expectedTurnId": self.turn_id, **message}
            )
            if "result" in answer:
                return
            self.screen.queued.remove(text)  # the turn ended meanwhile: start a new one
        answer = await self.call("turn/start", {"threadId": self.thread_id, **message})
        if "error" in answer:
            self.screen.add([f"■ {answer['error'].get('message')}"])
        self.draw()

    async def answer(self, decision: object, said: str) -> None:
        request = self.screen.approval
        if request is None:
            return
        self.screen.approval = None
        params = request["params"]
        self.answers[str(params.get("itemId"))] = said.format(shown_command(str(params.get("command", ""))))
        await self.ws.send(json.dumps({"id": request["id"], "result": {"decision": decision}}))
        self.draw()

    async def interrupt(self) -> None:
        if self.turn_id is not None:
            await self.call("turn/interrupt", {"threadId": self.thread_id, "turnId": self.turn_id})

    # ------------------------------------------------------------------ keys

    def on_keys(self) -> None:
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.exit_code = 0
            self.done.set()
            return
        self.keys += chunk
        self.take_keys()
        self.draw()

    def take_keys(self) -> None:
        while self.keys:
            if self.keys.startswith(PASTE_START):
                end = self.keys.find(PASTE_END)
                if end < 0:
                    return  # the rest of the paste is on its way
                pasted = self.keys[len(PASTE_START) : end].decode("utf-8", "surrogateescape")
                self.screen.composer += pasted.replace("\r\n", "\n").replace("\r", "\n")
                self.keys = self.keys[end + len(PASTE_END) :]
            elif self.keys.startswith(b"\x1b["):
                if not self.skip_sequence():
                    return
            elif self.keys == b"\x1b" or self.keys.startswith(b"\x1b\x1b"):
                self.keys = self.keys[1:]
                self.on_escape()
            else:
                key, self.keys = self.keys[:1], self.keys[1:]
                self.on_key(key)

    def skip_sequence(self) -> bool:
        """Drop a CSI sequence (arrows, focus events…); False while it is still incomplete."""
        for index in range(2, len(self.keys)):
            if 0x40 <= self.keys[index] <= 0x7E:
                self.keys = self.keys[index + 1 :]
                return True
        return False

    def on_escape(self) -> None:
        if self.screen.approval is not None:
            self.spawn(self.answer("cancel", "✗ You canceled the request to run {}"))
        elif self.turn_id is not None:
            self.spawn(self.interrupt())

    def on_key(self, key: bytes) -> None:
        if self.screen.approval is not None:
            self.on_approval_key(key)
        elif key == b"\x03":
            self.on_ctrl_c()
        elif key in (b"\r", b"\n"):
            text, self.screen.composer = self.screen.composer, ""
            if text.strip():
                self.spawn(self.submit(text))
        elif key in (b"\x7f", b"\x08"):
            self.screen.composer = self.screen.composer[:-1]
        elif key >= b" " or key == b"\t":
            self.screen.composer += key.decode("utf-8", "surrogateescape")

    def on_approval_key(self, key: bytes) -> None:
        request = self.screen.approval or {}
        if key in (b"y", b"\r"):
            self.spawn(self.answer("accept", "✔ You approved codex to run {} this time"))
        elif key == b"p":
            amendment = next(
                (d for d in request["params"].get("availableDecisions", []) if isinstance(d, dict)),
                "acceptForSession",
            )
            self.spawn(
                self.answer(amendment, "✔ You approved codex to always run commands that start with {}")
            )
        elif key == b"n":
            self.spawn(self.answer("decline", "✗ You declined the request to run {}"))
        elif key == b"\x03":
            self.spawn(self.answer("cancel", "✗ You canceled the request to run {}"))

    def on_ctrl_c(self) -> None:
        if self.screen.composer:
            self.screen.composer = ""
        elif self.turn_id is not None:
            self.spawn(self.interrupt())
        elif time.monotonic() - self.ctrl_c_armed < 2:
            self.exit_code = 0
            self.done.set()
        else:
            self.ctrl_c_armed = time.monotonic()
            self.screen.hint = "ctrl + c again to quit"

    # ------------------------------------------------------------------ drawing

    def draw(self) -> None:
        if time.monotonic() - self.ctrl_c_armed >= 2:
            self.screen.hint = ""
        rows = os.get_terminal_size(self.fd).lines if os.isatty(self.fd) else 40
        text = "\r\n".join(self.screen.lines(rows))
        os.write(sys.stdout.fileno(), ("\x1b[H\x1b[2J" + text).encode("utf-8", "surrogateescape"))

    async def tick(self) -> None:
        """Keep the working line's seconds moving while a turn runs."""
        while not self.done.is_set():
            await asyncio.sleep(1)
            if self.screen.running_since is not None:
                self.draw()

    async def run(self) -> int:
        reader = asyncio.create_task(self.read())
        hello = await self.call("initialize", {"clientInfo": {"name": "codex-tui", "version": CLI_VERSION}})
        if "error" in hello:
            return self.fail(hello)
        await self.ws.send(json.dumps({"method": "initialized"}))
        resumed = await self.call("thread/resume", {"threadId": self.thread_id})
        if "error" in resumed:
            return self.fail(resumed)
        self.show_history(resumed["result"])
        loop = asyncio.get_running_loop()
        loop.add_reader(self.fd, self.on_keys)
        loop.add_signal_handler(signal.SIGWINCH, self.draw)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self.done.set)
        ticker = asyncio.create_task(self.tick())
        self.draw()
        await self.done.wait()
        loop.remove_reader(self.fd)
        ticker.cancel()
        if self.exit_code == 0:  # leaving on purpose: say so, as the real TUI does
            with contextlib.suppress(ConnectionClosed, asyncio.TimeoutError):
                await asyncio.wait_for(self.call("thread/unsubscribe", {"threadId": self.thread_id}), 5)
        reader.cancel()
        return self.exit_code or 0

    def fail(self, answer: JSON) -> int:
        os.write(sys.stderr.fileno(), f"Error: {answer['error'].get('message')}\r\n".encode())
        return 1

    def show_history(self, result: JSON) -> None:
        thread = result.get("thread") or {}
        self.screen.cwd = str(result.get("cwd") or thread.get("cwd") or os.getcwd())
        self.thread_name = thread.get("name")
        for turn in thread.get("turns") or []:
            for item in turn.get("items") or []:
                if item.get("type") == "userMessage":
                    text = "".join(part.get("text", "") for part in item.get("content", []))
                    self.screen.add(block(MARK, text))
                elif item.get("type") == "agentMessage":
                    self.screen.add(block("•", str(item.get("text", ""))))
        status = thread.get("status") or {}
        if status.get("type") == "active":
            self.screen.running_since = time.monotonic()
            turns = thread.get("turns") or []
            self.turn_id = turns[-1]["id"] if turns else None


def parse(argv: list[str]) -> tuple[str, str] | str:
    """(socket path, thread id), or the error to print."""
    remote = thread = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--remote" and args:
            remote = args.pop(0)
        elif arg in VALUE_FLAGS and args:
            args.pop(0)
        elif arg in PLAIN_FLAGS:
            continue
        elif arg == "resume" and args and thread is None:
            thread = args.pop(0)
        else:
            return f"error: unexpected argument '{arg}' found"
    if not remote or not remote.startswith("unix://"):
        return "error: the test double connects only to --remote unix://PATH"
    if not thread:
        return "error: the test double's --remote mode needs `resume THREAD_ID`"
    return remote[len("unix://") :], thread


async def connect_and_run(path: str, thread_id: str, fd: int) -> tuple[int, JSON]:
    try:
        ws = await unix_connect(path, uri="ws://localhost/", max_size=None)
    except OSError as exc:
        os.write(sys.stderr.fileno(), f"Error: cannot connect to unix://{path}: {exc}\r\n".encode())
        return 1, {}
    async with ws:
        tui = RemoteTui(ws, thread_id, fd)
        code = await tui.run()
        return code, tui.total


def main(argv: list[str]) -> int:
    parsed = parse(argv)
    if isinstance(parsed, str):
        print(parsed, file=sys.stderr)
        return 2
    path, thread_id = parsed
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    if saved is not None:
        tty.setraw(fd)
    os.write(sys.stdout.fileno(), b"\x1b[?2004h")  # bracketed paste, as the real TUI asks for
    try:
        code, total = asyncio.run(connect_and_run(path, thread_id, fd))
    finally:
        os.write(sys.stdout.fileno(), b"\x1b[?2004l")
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    usage = (
        f"Token usage: total={total.get('totalTokens', 0)} input={total.get('inputTokens', 0)} "
        f"output={total.get('outputTokens', 0)}"
    )
    print(f"\n{usage}\nTo continue this session, run codex resume {thread_id}")
    return code
