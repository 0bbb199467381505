"""`codex-agent remote-call`: the host end of a remote call (hidden; see codex_agent/remote/protocol.py).

It reads one request from standard input, sets up the host's environment for it (the host user's
`~/.config/codex-agent/env`, then the machine record's env), moves to the machine's work directory (whose
`.codex-agent/` holds every job started through this machine), runs the request through the normal CLI and
reports the exit status in the trailer. It never exits 255, the status ssh keeps for its own failures.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from codex_agent.remote.protocol import (
    HOST_ENV_FILE,
    MACHINE_ENV,
    PROTOCOL,
    REMOTE_CALL_SUBCOMMAND,
    START_MARKER,
    TRAILER_MARKER,
    build_id,
)

BAD_REQUEST_EXIT = 9


def _host_env_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "codex-agent" / HOST_ENV_FILE


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped; no quoting, no expansion."""
    env: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return env
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        env[key.strip().removeprefix("export ").strip()] = value.strip()
    return env


def _request(stdin: Any) -> tuple[dict[str, Any], bytes]:
    header = json.loads(stdin.readline() or b"null")
    if not isinstance(header, dict) or header.get("protocol") != PROTOCOL:
        raise ValueError(f"unsupported request (this host speaks protocol {PROTOCOL})")
    argv = header.get("argv")
    if not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv):
        raise ValueError("argv must be a list of strings")
    if argv[:1] == [REMOTE_CALL_SUBCOMMAND]:
        raise ValueError("a remote call cannot start another")
    size = int(header.get("stdin_bytes") or 0)
    payload = stdin.read(size) if size else b""
    if len(payload) != size:
        raise ValueError("the request's input was cut short")
    return header, payload


def _prepare(header: dict[str, Any]) -> None:
    os.environ.update(read_env_file(_host_env_file()))
    os.environ.update({str(k): str(v) for k, v in (header.get("env") or {}).items()})
    if header.get("machine"):
        os.environ[MACHINE_ENV] = str(header["machine"])
    workdir = Path(os.path.expanduser(str(header.get("workdir") or "codex-agent")))
    if not workdir.is_absolute():
        workdir = Path.home() / workdir
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chdir(workdir)
    os.environ.setdefault("CODEX_AGENT_STATE_DIR", str(workdir / ".codex-agent"))


def serve() -> int:
    from codex_agent import __version__
    from codex_agent.cli import run

    sys.stderr.write(START_MARKER + "\n")
    sys.stderr.flush()
    try:
        header, payload = _request(sys.stdin.buffer)
        _prepare(header)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"codex-agent: bad remote request: {exc} — update codex-agent on both ends\n")
        code = BAD_REQUEST_EXIT
    else:
        sys.stdin = io.TextIOWrapper(io.BytesIO(payload), encoding="utf-8", errors="surrogateescape")
        code = run(header["argv"])
    sys.stdout.flush()
    trailer = {"exit": code, "version": __version__, "build": build_id()}
    sys.stderr.write(f"{TRAILER_MARKER}{json.dumps(trailer)}\n")
    sys.stderr.flush()
    return 254 if code == 255 else code
