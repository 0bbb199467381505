"""The Codex CLI as codex-agent runs it: which binary, which version, the two command lines of a job (its
private app-server, and the TUI as a client of it), and codex's own config (trusted folders).

What codex does is read from its app-server protocol by the job's keeper (keeper/codex_run.py), never from
the screen. See docs/codex.md.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from codex_agent.agents.launch import socket_path
from codex_agent.errors import MissingDependencyError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CODEX_BIN_ENV = "CODEX_AGENT_CODEX_BIN"
CODEX_INSTALL_HINT = "install the Codex CLI (npm install -g @openai/codex) or set CODEX_AGENT_CODEX_BIN"


def codex_binary() -> str:
    """The codex to run: CODEX_AGENT_CODEX_BIN, else `codex` on PATH."""
    import shutil  # imported here: reading jobs never needs it

    configured = os.environ.get(CODEX_BIN_ENV)
    if configured:
        path = shutil.which(configured) or (configured if os.access(configured, os.X_OK) else None)
        if path is None:
            raise MissingDependencyError(
                f"{CODEX_BIN_ENV}={configured} is not an executable", CODEX_INSTALL_HINT
            )
        return os.path.abspath(path)
    found = shutil.which("codex")
    if found is None:
        raise MissingDependencyError("codex is not installed (not on PATH)", CODEX_INSTALL_HINT)
    return found


def codex_home(env: dict[str, str] | None = None) -> Path:
    source = os.environ if env is None else env
    return Path(source.get("CODEX_HOME") or Path.home() / ".codex").expanduser()


def _toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string for everything json.dumps emits with ensure_ascii.
    return json.dumps(text, ensure_ascii=True)


APP_SOCKET = "app.sock"  # the job's own app-server listens there (agents/launch.socket_path)
MIN_VERSION = (0, 169, 0)  # the oldest codex whose app-server and `--remote` TUI codex-agent was checked with


def app_server_argv(codex: str, job_dir: Path) -> list[str]:
    """The job's private app-server. Thread settings (model, sandbox, approvals) go through the protocol."""
    return [codex, "app-server", "--listen", f"unix://{socket_path(job_dir, APP_SOCKET)}"]


def tui_argv(codex: str, job_dir: Path, thread_id: str) -> list[str]:
    """The real TUI as a client of the job's app-server, on the job's thread."""
    return [
        codex,
        "--remote",
        f"unix://{socket_path(job_dir, APP_SOCKET)}",
        "--no-alt-screen",
        "resume",
        thread_id,
    ]


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(0, 171, 0) from `codex --version` output such as "codex-cli 0.171.0"."""
    import re

    found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def version_of(binary: str) -> str:
    """What `codex --version` prints; MissingDependencyError when it cannot be run."""
    import subprocess

    try:
        result = subprocess.run([binary, "--version"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingDependencyError(f"{binary} --version failed: {exc}", CODEX_INSTALL_HINT) from None
    text = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0 or not text:
        raise MissingDependencyError(
            f"{binary} --version failed (exit {result.returncode})", CODEX_INSTALL_HINT
        )
    return text


def require_version(binary: str) -> str:
    """The version text of a codex new enough for codex-agent; MissingDependencyError otherwise.

    Running `codex --version` costs about 80 ms (node starts, then codex), on every `start`: a binary that
    passed once is remembered by its file's identity (path, inode, size, mtime), which any upgrade changes."""
    identity = _identity(binary)
    known = _known_versions()
    if identity is not None and isinstance(known.get(identity), str):
        return str(known[identity])
    text = version_of(binary)
    problem = check_version(text)
    if problem is not None:
        raise MissingDependencyError(problem, "upgrade it: npm install -g @openai/codex@latest")
    if identity is not None:
        _remember_version(known, identity, text)
    return text


VERSIONS_FILE = "codex-versions.json"
KNOWN_VERSIONS_KEPT = 20


def _versions_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "codex-agent" / VERSIONS_FILE


def _identity(binary: str) -> str | None:
    try:
        info = os.stat(binary)
    except OSError:
        return None
    return f"{os.path.realpath(binary)}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def _known_versions() -> dict[str, object]:
    try:
        with open(_versions_path(), "rb") as handle:
            known = json.loads(handle.read(64 * 1024))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _remember_version(known: dict[str, object], identity: str, text: str) -> None:
    from codex_agent.safefs import write_private_file

    kept = dict(list(known.items())[-(KNOWN_VERSIONS_KEPT - 1) :])
    kept[identity] = text
    path = _versions_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private_file(path, json.dumps(kept).encode())
    except OSError:
        pass  # a cache: without it, the next start asks codex again


def check_version(text: str) -> str | None:
    """Why this codex cannot be used (one line), or None when it is new enough."""
    version = parse_version(text)
    if version is None:
        return f"cannot tell the version of codex from {text.strip()[:80]!r}"
    if version < MIN_VERSION:
        shown = ".".join(map(str, version))
        need = ".".join(map(str, MIN_VERSION))
        return f"codex {shown} is too old: codex-agent needs {need} or newer (its app-server protocol)"
    return None


def is_trusted(home: Path, directory: Path) -> bool:
    try:
        config = tomllib.loads((home / "config.toml").read_text())
    except (OSError, ValueError):  # unreadable, not UTF-8, not TOML
        return False
    projects = config.get("projects")
    entry = projects.get(str(directory)) if isinstance(projects, dict) else None
    return isinstance(entry, dict) and entry.get("trust_level") == "trusted"


def trust_directory(home: Path, directory: Path) -> bool:
    """Mark `directory` as trusted in codex's config.toml, so its TUI does not stop at "Trust this folder?".

    Returns False when it was trusted already. Appends a table with one write (codex itself rewrites the file
    in place and keeps what is there).
    """
    directory = directory.resolve()
    if is_trusted(home, directory):
        return False
    path = home / "config.toml"
    try:
        existing = tomllib.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not TOML
        raise UsageError(f"cannot read {path}: {exc}", "fix codex's config.toml first") from exc
    projects = existing.get("projects", {})
    if not isinstance(projects, dict):
        raise UsageError(f"{path}: `projects` is not a table", "fix codex's config.toml first")
    if str(directory) in projects:
        raise UsageError(
            f"{path} already has an entry for {directory} that is not trusted",
            'set trust_level = "trusted" in it by hand',
        )
    home.mkdir(parents=True, exist_ok=True)
    table = f'\n[projects.{_toml_string(str(directory))}]\ntrust_level = "trusted"\n'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, table.encode())
    finally:
        os.close(fd)
    if not is_trusted(home, directory):  # never say "trusted" when codex would not read it so
        raise UsageError(f"{path} does not read as trusting {directory} after the edit", "fix it by hand")
    return True
