"""The per-user machine registry: `$XDG_CONFIG_HOME/codex-agent/machines.toml` (0600, written atomically).

[machines."build-box"]
host = "me@build-box"     # anything ssh accepts: an alias from ~/.ssh/config, HOST or USER@HOST
port = 2222               # optional
identity = "/home/me/.ssh/id_build"   # optional
ssh_config = "/home/me/.ssh/other_config"  # optional (ssh -F)
dir = "codex-agent"       # the work directory on the host, relative to its HOME
[machines."build-box".env]
CODEX_AGENT_CODEX_BIN = "/opt/codex/bin/codex"
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codex_agent.errors import NotFoundError, StateError, UsageError
from codex_agent.safefs import write_private_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MACHINES_FILE_ENV = "CODEX_AGENT_MACHINES_FILE"
DEFAULT_REMOTE_DIR = "codex-agent"
RESERVED_NAMES = frozenset({"all", "auto", "local"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(slots=True)
class Machine:
    name: str
    host: str
    port: int | None = None
    identity: str | None = None
    ssh_config: str | None = None
    dir: str = DEFAULT_REMOTE_DIR
    env: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "identity": self.identity,
            "ssh_config": self.ssh_config,
            "dir": self.dir,
            "env": dict(self.env),
        }


def machines_file() -> Path:
    override = os.environ.get(MACHINES_FILE_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "codex-agent" / "machines.toml"


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"not a machine name: {name!r}",
            "use letters, digits, '.', '_' and '-' (no slashes or spaces), at most 63 characters",
        )
    if name.lower() in RESERVED_NAMES:
        raise UsageError(f"{name!r} is reserved", "pick another machine name (all, auto, local are taken)")
    return name


def validate_host(host: str) -> str:
    if not host or host.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in host):
        raise UsageError(f"not a host: {host!r}", "give an ssh destination: ALIAS, HOST or USER@HOST")
    return host


def validate_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _ENV_KEY.match(key):
            raise UsageError(f"not KEY=VALUE: {pair!r}", "pass --env NAME=value")
        env[key] = value
    return env


def load() -> dict[str, Machine]:
    path = machines_file()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read {path}: {exc}", "fix or remove the file") from exc
    table = data.get("machines", {})
    if not isinstance(table, dict):
        raise StateError(f"{path}: [machines] is not a table", "fix or remove the file")
    found: dict[str, Machine] = {}
    for name, raw in table.items():
        if not isinstance(raw, dict) or not isinstance(raw.get("host"), str):
            raise StateError(f"{path}: machine {name!r} has no host", "fix the file or `machine remove` it")
        port = raw.get("port")
        env = raw.get("env") or {}
        found[name] = Machine(
            name=name,
            host=raw["host"],
            port=int(port) if port is not None else None,
            identity=raw.get("identity"),
            ssh_config=raw.get("ssh_config"),
            dir=str(raw.get("dir") or DEFAULT_REMOTE_DIR),
            env={str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
        )
    return found


def _toml(value: str | int) -> str:
    # A JSON string (ASCII-escaped) is a valid TOML basic string.
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=True)


def save(machines: dict[str, Machine]) -> None:
    lines = ["# codex-agent machines: edit with `codex-agent machine add/remove`", ""]
    for name in sorted(machines):
        machine = machines[name]
        lines.append(f"[machines.{_toml(name)}]")
        lines.append(f"host = {_toml(machine.host)}")
        for key in ("port", "identity", "ssh_config"):
            value = getattr(machine, key)
            if value is not None:
                lines.append(f"{key} = {_toml(value)}")
        lines.append(f"dir = {_toml(machine.dir)}")
        if machine.env:
            lines.append(f"[machines.{_toml(name)}.env]")
            lines.extend(f"{key} = {_toml(value)}" for key, value in sorted(machine.env.items()))
        lines.append("")
    path = machines_file()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_file(path, "\n".join(lines).encode())
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror or exc}", "check the directory") from exc


def get(name: str) -> Machine:
    machines = load()
    if name not in machines:
        known = ", ".join(sorted(machines)) or "none yet"
        raise NotFoundError(
            f"unknown machine {name!r} (known: {known})",
            f"add it with `codex-agent machine add {name} --host HOST`",
        )
    return machines[name]


def add(machine: Machine, *, replace: bool) -> Machine:
    machine = prepare(machine, replace=replace)
    machines = load()
    machines[machine.name] = machine
    save(machines)
    return machine


def prepare(machine: Machine, *, replace: bool) -> Machine:
    """The machine checked and with its paths made absolute, before anything is contacted or saved."""
    validate_name(machine.name)
    validate_host(machine.host)
    if machine.port is not None and not 0 < machine.port < 65536:
        raise UsageError(f"not a port: {machine.port}")
    for key in ("identity", "ssh_config"):
        value = getattr(machine, key)
        if value is not None:
            path = Path(value).expanduser().resolve()
            if not path.is_file():
                raise UsageError(f"--{key.replace('_', '-')}: no such file: {path}")
            setattr(machine, key, str(path))
    if not machine.dir or "\x00" in machine.dir:
        raise UsageError("--dir must be a directory path on the host")
    if machine.name in load() and not replace:
        raise UsageError(
            f"machine {machine.name!r} exists", "pass --replace to overwrite it, or `machine remove` it"
        )
    return machine


def remove(name: str) -> Machine:
    machines = load()
    if name not in machines:
        raise NotFoundError(f"unknown machine {name!r}", "see `codex-agent machine list`")
    removed = machines.pop(name)
    save(machines)
    return removed
