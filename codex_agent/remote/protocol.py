"""What both ends of a remote call agree on. Small and import-light: the host side loads it on every call.

A call is `ssh DEST -- REMOTE_CALL_COMMAND` with this on standard input:

    {"protocol": 1, "argv": [...], "stdin_bytes": N, "workdir": "...", "env": {...}, "machine": "..."}\\n
    <N bytes: the standard input of the command, e.g. a prompt or a git bundle>

The host side writes START_MARKER on stderr before anything else of its own (so whatever came before is
ssh's or the login shell's), relays the command's stdout and stderr as they come, and ends with
TRAILER_MARKER + {"exit": CODE, "version": ..., "build": ...} on stderr. A call without the trailer did not
complete, whatever ssh's exit status says.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PROTOCOL = 1
REMOTE_HOME_DIR = "~/.local/share/codex-agent"
REMOTE_VENV = f"{REMOTE_HOME_DIR}/venv"
# The whole remote command line, a constant: the login shell expands the leading ~ and nothing else varies.
REMOTE_CALL_COMMAND = f"{REMOTE_VENV}/bin/codex-agent remote-call"
REMOTE_CALL_SUBCOMMAND = "remote-call"
START_MARKER = "\x1ecodex-agent-remote-call start"
TRAILER_MARKER = "\x1ecodex-agent-remote-call end "
MACHINE_ENV = "CODEX_AGENT_MACHINE"
HOST_ENV_FILE = "env"  # in the host user's $XDG_CONFIG_HOME/codex-agent/: KEY=VALUE lines for remote calls


def build_id(package_dir: Path | None = None) -> str:
    """A digest of the package's Python sources: tells two installs of the same version apart."""
    root = package_dir or Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
