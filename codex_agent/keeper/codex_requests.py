"""Requests from codex-agent commands to a codex job's keeper, on its control socket: send, answer,
interrupt, kill. One JSON line in, one JSON line out; one bad request never ends the keeper."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import TYPE_CHECKING, Any

from codex_agent.appclient import ProtocolError
from codex_agent.keeper.record import Ending
from codex_agent.models import JobStatus

if TYPE_CHECKING:
    from codex_agent.keeper.codex_run import CodexKeeper


async def serve_control(
    keeper: CodexKeeper, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        line = await reader.readline()
        request = json.loads(line)
        reply = await _handle(keeper, request if isinstance(request, dict) else {})
    except Exception as exc:  # one bad request must never end the keeper
        reply = {"ok": False, "error": str(exc) or type(exc).__name__}
    with contextlib.suppress(OSError):
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()


async def _handle(keeper: CodexKeeper, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    up = asyncio.ensure_future(keeper.ready.wait())
    await asyncio.wait([up, asyncio.ensure_future(keeper.done.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not keeper.ready.is_set():
        up.cancel()
        return {
            "ok": False,
            "error": "the job ended before codex was up",
            "hint": "see `codex-agent status`",
        }
    try:
        if op == "send":
            text = str(request.get("text") or "")
            return {"ok": True, **await keeper.send(text, str(request.get("client_id") or uuid.uuid4()))}
        if op == "answer":
            return {
                "ok": True,
                **await keeper.answer(str(request.get("decision")), request.get("request_id")),
            }
        if op == "interrupt":
            return {"ok": True, "interrupted": await keeper.interrupt()}
        if op == "kill":
            await keeper.interrupt()
            keeper.end(Ending(JobStatus.KILLED, None, "killed by request"))
            return {"ok": True}
    except TimeoutError:
        return {
            "ok": False,
            "error": "codex did not confirm in time",
            "hint": "look at `codex-agent capture`",
        }
    except (LookupError, ValueError, ProtocolError) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": False, "error": f"unknown request {op!r}"}
