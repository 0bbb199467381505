"""A client of codex's app-server protocol: JSON-RPC messages, one per WebSocket text frame, on a Unix socket.

Only the keeper (a long-lived process) uses it, so importing `websockets` costs no short command anything.
Three kinds of message arrive: responses to our requests, notifications, and requests from the server (an
approval question waits for our response). Notifications and server requests are queued in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import ConnectionClosed

from codex_agent.errors import AgentError

CLIENT_NAME = "codex-agent"
REQUEST_TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a turn's items can carry whole command outputs


@dataclass(slots=True)
class Incoming:
    """A notification (`id` None) or a request from the server (`id` set: it waits for `respond`)."""

    method: str
    params: dict[str, Any]
    id: int | str | None = None


class ProtocolError(AgentError):
    """The server answered a request with an error, or the connection broke."""


class AppClient:
    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.incoming: asyncio.Queue[Incoming | None] = asyncio.Queue()  # None: the connection closed
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, socket_path: Path, version: str) -> AppClient:
        connection = await unix_connect(
            str(socket_path), uri="ws://localhost/", max_size=MAX_MESSAGE_BYTES, ping_interval=None
        )
        client = cls(connection)
        await client.request("initialize", {"clientInfo": {"name": CLIENT_NAME, "version": version}})
        await client.notify("initialized")
        return client

    async def request(self, method: str, params: dict[str, Any], timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        self._next_id += 1
        request_id = self._next_id
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        await self._send({"id": request_id, "method": method, "params": params})
        try:
            message = await asyncio.wait_for(answer, timeout_s)
        except asyncio.TimeoutError:
            raise ProtocolError(f"codex did not answer {method} within {timeout_s:.0f}s") from None
        finally:
            self._pending.pop(request_id, None)
        if "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            raise ProtocolError(f"codex refused {method}: {error.get('message') or message['error']}")
        return message.get("result")

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self._send({"method": method, **({"params": params} if params is not None else {})})

    async def respond(self, request_id: int | str, result: dict[str, Any]) -> None:
        await self._send({"id": request_id, "result": result})

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(Exception):
            await self._connection.close()

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self._connection.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise ProtocolError("the connection to codex's app-server closed") from exc

    async def _read(self) -> None:
        try:
            async for frame in self._connection:
                self._dispatch(frame)
        except ConnectionClosed:
            pass
        finally:
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(ProtocolError("the connection to codex's app-server closed"))
            self.incoming.put_nowait(None)

    def _dispatch(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            return  # not JSON: nothing we can act on
        if not isinstance(message, dict):
            return
        method = message.get("method")
        if isinstance(method, str):
            params = message.get("params")
            self.incoming.put_nowait(
                Incoming(method, params if isinstance(params, dict) else {}, message.get("id"))
            )
            return
        answer = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if answer is not None and not answer.done():
            answer.set_result(message)
