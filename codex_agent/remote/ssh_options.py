"""How codex-agent calls `ssh`: its options (batch mode, a connect timeout, keep-alives, one shared master
connection per destination) and where the master sockets live."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from codex_agent.errors import RemoteError
from codex_agent.remote.machines import Machine

CONTROL_DIR_ENV = "CODEX_AGENT_SSH_CONTROL_DIR"
TIMEOUT_ENV = "CODEX_AGENT_SSH_TIMEOUT"
CONNECT_TIMEOUT_S = 10
DEFAULT_TIMEOUT_S = 120.0
CONTROL_PERSIST = "10m"
SERVER_ALIVE_INTERVAL_S = 5
SERVER_ALIVE_COUNT = 3
# sun_path holds 108 bytes; ssh appends 17 characters to the path while it sets a master up.
_MAX_CONTROL_DIR = 108 - 1 - 16 - 17 - 1


def default_timeout() -> float:
    with contextlib.suppress(ValueError):
        return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
    return DEFAULT_TIMEOUT_S


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.geteuid():
        raise RemoteError(f"{path} belongs to another user", f"set {CONTROL_DIR_ENV} to a private directory")
    if info.st_mode & 0o777 != 0o700:
        path.chmod(0o700)
    return path


def control_dir() -> Path:
    """Where master sockets live: private (0700) and short enough for a Unix socket path."""
    override = os.environ.get(CONTROL_DIR_ENV)
    if override:
        return _private_dir(Path(override).expanduser())
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates = [Path(runtime) / "codex-agent" / "ssh"] if runtime and Path(runtime).is_dir() else []
    candidates.append(Path.home() / ".cache" / "codex-agent" / "ssh")
    candidates.append(Path(tempfile.gettempdir()) / f"codex-agent-ssh-{os.geteuid()}")
    for candidate in candidates:
        if len(str(candidate)) <= _MAX_CONTROL_DIR:
            return _private_dir(candidate)
    raise RemoteError("no short private directory for ssh control sockets", f"set {CONTROL_DIR_ENV}")


def control_path(machine: Machine) -> Path:
    key = "\0".join([machine.host, str(machine.port or ""), machine.identity or "", machine.ssh_config or ""])
    return control_dir() / hashlib.sha256(key.encode()).hexdigest()[:16]


def base_argv(machine: Machine) -> list[str]:
    """`ssh` with our options, up to and including the destination."""
    argv = ["ssh"]
    if machine.ssh_config:
        argv += ["-F", machine.ssh_config]
    argv += [
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={control_path(machine)}",
        "-o", f"ControlPersist={CONTROL_PERSIST}",
        "-o", f"ServerAliveInterval={SERVER_ALIVE_INTERVAL_S}",
        "-o", f"ServerAliveCountMax={SERVER_ALIVE_COUNT}",
        "-T",
    ]  # fmt: skip
    if machine.port:
        argv += ["-p", str(machine.port)]
    if machine.identity:
        argv += ["-i", machine.identity, "-o", "IdentitiesOnly=yes"]
    return [*argv, machine.host]


def command_argv(machine: Machine, remote_command: str) -> list[str]:
    # "--": ssh reads options after the destination too.
    return [*base_argv(machine), "--", remote_command]
