"""How short-lived commands talk to a job's keeper: one JSON request and one JSON answer on a Unix socket.

The socket is `keeper.sock` in the job's folder (mode 0700, so only the user reaches it). Requests:
  {"op": "send", "text": ..., "client_id": ...}      start a turn, or steer the running one
  {"op": "answer", "decision": ..., "request_id": ...} answer the question codex is waiting on
  {"op": "interrupt"}                                 stop the running turn
  {"op": "kill"}                                      stop the turn, then end the job
Answers: {"ok": true, ...} or {"ok": false, "error": "...", "hint": "..."}.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from codex_agent.errors import AgentError, ConflictError

CONTROL_SOCKET = "keeper.sock"
MAX_REQUEST_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT_S = 5.0


def control_path(job_dir: Path) -> Path:
    from codex_agent.agents.launch import socket_path

    return socket_path(job_dir, CONTROL_SOCKET)


def ask(job_dir: Path, request: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
    """Send one request to the job's keeper and return its answer; a refusal raises ConflictError."""
    path = control_path(job_dir)
    connection = _connect(path)
    try:
        connection.settimeout(timeout_s)
        connection.sendall(json.dumps(request).encode("utf-8", "surrogateescape") + b"\n")
        answer = _read_line(connection)
    except TimeoutError:
        raise AgentError(
            f"the job's keeper did not answer within {timeout_s:.0f}s", "look at `codex-agent capture`"
        ) from None
    finally:
        connection.close()
    try:
        reply = json.loads(answer)
    except ValueError:
        raise AgentError("the job's keeper gave an answer that is not JSON") from None
    if not isinstance(reply, dict):
        raise AgentError("the job's keeper gave an answer that is not an object")
    if not reply.get("ok"):
        raise ConflictError(str(reply.get("error") or "refused"), reply.get("hint"))
    return reply


def _connect(path: Path) -> socket.socket:
    """Connect to the keeper's socket; a keeper that has just started may not listen yet, so its socket is
    waited for (inotify on its folder), for a few seconds at most."""
    from codex_agent.waiting import Watcher

    with Watcher([path.parent], frozenset({path.name})) as watcher:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(CONNECT_TIMEOUT_S)
            try:
                connection.connect(str(path))
                return connection
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                connection.close()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AgentError(
                        f"the job's keeper does not answer ({exc.strerror or exc})",
                        "the job may have just ended: look at `codex-agent status`",
                    ) from None
                watcher.wait(min(remaining, 0.5))
            except OSError as exc:
                connection.close()
                raise AgentError(f"the job's keeper does not answer ({exc.strerror or exc})") from None


def _read_line(connection: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


def serve_kill_requests(job_dir: Path, killed: Any) -> None:
    """For a plain command's keeper: answer `kill` (and refuse the rest) from a thread of its own.

    A kill sets `killed` and sends this process SIGTERM, which the stream relay forwards to the command."""
    import os
    import signal
    import threading

    path = control_path(job_dir)
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)

    def serve() -> None:
        while True:
            connection, _ = server.accept()
            with connection:
                try:
                    request = json.loads(_read_line(connection) or b"{}")
                except ValueError:
                    request = {}
                if isinstance(request, dict) and request.get("op") == "kill":
                    killed.set()
                    connection.sendall(b'{"ok": true}\n')
                    os.kill(os.getpid(), signal.SIGTERM)
                else:
                    connection.sendall(
                        b'{"ok": false, "error": "a plain command takes no messages", '
                        b'"hint": "keys go to its pane: codex-agent send ID --key KEY"}\n'
                    )

    threading.Thread(target=serve, daemon=True).start()
