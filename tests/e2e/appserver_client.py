"""A small synchronous client of codex's app-server protocol, for tests.

:class:`AppServer` runs ``codex app-server --listen unix://SOCK`` (a WebSocket server on a Unix socket: one
JSON message per text frame) and :meth:`AppServer.connect` opens a :class:`AppServerClient` on it. A
reader thread files every message the server sends (responses, notifications and the server's own
requests, such as approvals) in arrival order; tests wait on them with a deadline
(:meth:`AppServerClient.wait_for`), never with fixed sleeps.

Messages are JSON-RPC shaped without the ``jsonrpc`` member: requests ``{"id", "method", "params"}``,
responses ``{"id", "result"}`` or ``{"id", "error"}``, notifications ``{"method", "params"}``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, unix_connect

Message = dict[str, Any]


class AppServerError(Exception):
    """The server answered a request with an error, or did not answer in time."""


class AppServerClient:
    """One connection to an app-server: send requests, answer server requests, wait for messages."""

    def __init__(self, socket_path: Path, *, timeout: float = 10) -> None:
        # legacy=True: a plain connection object, closed by close(), rather than a context manager.
        self._ws: ClientConnection = unix_connect(
            str(socket_path), uri="ws://localhost/", open_timeout=timeout, legacy=True
        )
        self._cond = threading.Condition()
        self._messages: list[Message] = []
        self._closed = False
        self._ids = itertools.count(1)
        self._reader = threading.Thread(target=self._read, name="appserver-reader", daemon=True)
        self._reader.start()

    # -- receiving --------------------------------------------------------------------------------

    def _read(self) -> None:
        try:
            while True:
                frame = self._ws.recv()
                try:
                    message = json.loads(frame)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    with self._cond:
                        self._messages.append(message)
                        self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    @property
    def messages(self) -> list[Message]:
        """Every message received so far, oldest first."""
        with self._cond:
            return list(self._messages)

    def mark(self) -> int:
        """The index the next message will have: pass it as ``start`` to wait only for later ones."""
        with self._cond:
            return len(self._messages)

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float, *, start: int = 0) -> Message:
        """The first message at index >= ``start`` that matches; TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self._messages[start:]:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    state = "connection closed" if self._closed else f"no match within {timeout:.1f}s"
                    raise TimeoutError(f"{state} ({len(self._messages)} messages received)")
                self._cond.wait(remaining)

    def notification(
        self,
        method: str,
        timeout: float,
        *,
        start: int = 0,
        where: Callable[[Mapping[str, Any]], bool] = lambda params: True,
    ) -> Mapping[str, Any]:
        """The params of the first notification ``method`` (at index >= ``start``) that ``where`` accepts."""
        message = self.wait_for(
            lambda m: "id" not in m and m.get("method") == method and where(m.get("params") or {}),
            timeout,
            start=start,
        )
        params: Mapping[str, Any] = message.get("params") or {}
        return params

    def server_request(self, method: str, timeout: float, *, start: int = 0) -> Message:
        """The first request the server sends us (e.g. an approval) named ``method``."""
        return self.wait_for(lambda m: "id" in m and m.get("method") == method, timeout, start=start)

    def methods(self, *, start: int = 0) -> list[str]:
        """Names of the notifications and server requests received, in order."""
        return [str(m["method"]) for m in self.messages[start:] if "method" in m]

    # -- sending ----------------------------------------------------------------------------------

    def _send(self, message: Mapping[str, Any]) -> None:
        self._ws.send(json.dumps(message))

    def request(self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 30) -> Any:
        """Send a request and return its result; AppServerError for an error answer or no answer."""
        request_id = next(self._ids)
        start = self.mark()
        self._send({"id": request_id, "method": method, "params": dict(params or {})})
        try:
            answer = self.wait_for(
                lambda m: m.get("id") == request_id and "method" not in m, timeout, start=start
            )
        except TimeoutError as exc:
            raise AppServerError(f"{method}: {exc}") from None
        if "error" in answer:
            raise AppServerError(f"{method}: {json.dumps(answer['error'])}")
        return answer.get("result")

    def notify(self, method: str, params: Mapping[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = dict(params)
        self._send(message)

    def respond(self, request: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Answer a request the server sent us."""
        self._send({"id": request["id"], "result": dict(result)})

    # -- the usual sequence -----------------------------------------------------------------------

    def initialize(self, name: str = "codex-agent-tests") -> Any:
        result = self.request("initialize", {"clientInfo": {"name": name, "version": "0"}})
        self.notify("initialized")
        return result

    def start_thread(self, **params: Any) -> Mapping[str, Any]:
        """``thread/start`` (cwd, model, sandbox, approvalPolicy, config, …); returns the thread record."""
        result = self.request("thread/start", params)
        thread: Mapping[str, Any] = result["thread"]
        return thread

    def start_turn(self, thread_id: str, text: str, **params: Any) -> Mapping[str, Any]:
        """``turn/start`` with one text input; returns the turn record (status inProgress)."""
        body = {"threadId": thread_id, "input": [{"type": "text", "text": text}], **params}
        result = self.request("turn/start", body)
        turn: Mapping[str, Any] = result["turn"]
        return turn

    def turn_completed(self, turn_id: str, timeout: float) -> Mapping[str, Any]:
        """The turn record of the ``turn/completed`` notification of ``turn_id``."""
        params = self.notification(
            "turn/completed", timeout, where=lambda p: (p.get("turn") or {}).get("id") == turn_id
        )
        turn: Mapping[str, Any] = params["turn"]
        return turn

    def items(self, method: str, turn_id: str, item_type: str) -> list[Mapping[str, Any]]:
        """Items of one type from ``item/started`` or ``item/completed`` notifications of a turn."""
        found = []
        for message in self.messages:
            params = message.get("params") or {}
            item = params.get("item") or {}
            same_turn = message.get("method") == method and params.get("turnId") == turn_id
            if same_turn and item.get("type") == item_type:
                found.append(item)
        return found

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        self._reader.join(timeout=5)

    def __enter__(self) -> AppServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AppServer:
    """``codex app-server --listen unix://SOCK`` as a child process; use as a context manager."""

    def __init__(
        self,
        codex: str,
        socket_path: Path,
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        startup_timeout: float = 30,
    ) -> None:
        self.socket_path = socket_path
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [codex, "app-server", "--listen", f"unix://{socket_path}"],
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_for_socket(startup_timeout)

    def _wait_for_socket(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.socket_path.exists():
            if self.process.poll() is not None:
                raise AppServerError(f"app-server exited {self.process.returncode}: {self.log()[-2000:]}")
            if time.monotonic() > deadline:
                self.close()
                raise AppServerError(f"app-server did not listen within {timeout:.0f}s: {self.log()[-2000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        """What the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @contextlib.contextmanager
    def connect(self) -> Iterator[AppServerClient]:
        """An initialized client, closed on exit."""
        client = AppServerClient(self.socket_path)
        try:
            client.initialize()
            yield client
        finally:
            client.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
