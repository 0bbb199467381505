"""A small synchronous client of codex's app-server protocol, for tests (of the double or the real codex).

One background thread reads every message into a list; tests wait on that list with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, unix_connect

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]


def socket_accepts(path: str | Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def start_app_server(
    codex: str | Path, sock: str | Path, *extra: str, cwd: str | Path | None = None, timeout: float = 15
) -> subprocess.Popen[bytes]:
    """Run `codex app-server --listen unix://SOCK` and return once the socket accepts connections."""
    proc = subprocess.Popen([str(codex), "app-server", "--listen", f"unix://{sock}", *extra], cwd=cwd)
    deadline = time.monotonic() + timeout
    while not socket_accepts(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the app-server did not listen on {sock} (exit {proc.poll()})")
        time.sleep(0.02)
    return proc


class AppClient:
    def __init__(self, sock: str | Path, name: str = "test-client", *, initialize: bool = True) -> None:
        # Entered as a context manager (closed in close()): websockets 17 warns about any other use.
        self.ws: ClientConnection = unix_connect(str(sock), uri="ws://localhost/", max_size=None).__enter__()
        self.messages: list[JSON] = []
        self.closed = False
        self.next_id = 0
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if initialize:
            self.call("initialize", {"clientInfo": {"name": name, "version": "0"}})
            self.send({"method": "initialized"})

    def _read(self) -> None:
        try:
            while True:
                raw = self.ws.recv()
                with self.cond:
                    self.messages.append(json.loads(raw))
                    self.cond.notify_all()
        except ConnectionClosed:
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def send(self, message: JSON) -> None:
        self.ws.send(json.dumps(message))

    def request(self, method: str, params: JSON, timeout: float = 10) -> JSON:
        """Send a request; return its response message (with "result" or "error")."""
        self.next_id += 1
        request_id = self.next_id
        self.send({"id": request_id, "method": method, "params": params})
        return self.expect(lambda m: m.get("id") == request_id and "method" not in m, timeout=timeout)

    def call(self, method: str, params: JSON, timeout: float = 10) -> JSON:
        """A request that must succeed: its result."""
        answer = self.request(method, params, timeout)
        assert "result" in answer, f"{method} failed: {answer}"
        result: JSON = answer["result"]
        return result

    def respond(self, request_id: object, result: JSON) -> None:
        self.send({"id": request_id, "result": result})

    def mark(self) -> int:
        with self.cond:
            return len(self.messages)

    def expect(self, predicate: Predicate, *, after: int = 0, timeout: float = 10, what: str = "") -> JSON:
        """The first message from index `after` on that satisfies `predicate`; fail at the deadline."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for message in self.messages[after:]:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError(f"no message {what or predicate} (got {self.methods(after)})")
                self.cond.wait(left)

    def expect_method(self, method: str, *, after: int = 0, timeout: float = 10, **params: Any) -> JSON:
        def matches(message: JSON) -> bool:
            given = message.get("params") or {}
            return message.get("method") == method and all(given.get(k) == v for k, v in params.items())

        return self.expect(matches, after=after, timeout=timeout, what=f"{method} {params}")

    def since(self, after: int, methods: Sequence[str] = ()) -> list[JSON]:
        with self.cond:
            found = self.messages[after:]
        return [m for m in found if not methods or m.get("method") in methods]

    def methods(self, after: int = 0) -> list[str]:
        return [str(m.get("method", "<response>")) for m in self.since(after)]

    def wait_closed(self, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.closed and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            return self.closed

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> int:
    """Ask a server to stop (SIGTERM), kill it if it will not; its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode if proc.returncode is not None else -1


__all__ = ["AppClient", "socket_accepts", "start_app_server", "stop"]
