"""Runs on a host under its system python3, before codex-agent is there: look around, or install.

`machine up` sends this file's source through a fixed bootstrap command (see install.py), followed by one
JSON line and any wheel files. It answers with one JSON object on stdout. Standard library only.

    {"action": "probe"}
    {"action": "install", "version": V, "build": B, "wheel": NAME, "files": [{"name": N, "size": S}, ...]}
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

HOME_DIR = os.path.expanduser("~/.local/share/codex-agent")
VENV = os.path.join(HOME_DIR, "venv")
WHEELS = os.path.join(HOME_DIR, "wheels")
MARKER = os.path.join(HOME_DIR, "installed.json")
ENTRY = os.path.join(VENV, "bin", "codex-agent")
STEP_TIMEOUT_S = 600


def _version_of(argv: list[str]) -> str | None:
    try:
        result = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (result.stdout or result.stderr).decode(errors="replace").strip()
    return text.splitlines()[0] if result.returncode == 0 and text else None


def _marker() -> Any:
    try:
        with open(MARKER) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def probe() -> dict[str, Any]:
    return {
        "ok": True,
        "python": platform.python_version(),
        "python_path": sys.executable,
        "python_ok": sys.version_info >= (3, 10),
        "python_tag": f"{sys.version_info[0]}{sys.version_info[1]}",
        "implementation": sys.implementation.name,
        "system": platform.system(),
        "machine": platform.machine(),
        "libc": list(platform.libc_ver()),
        "installed": _marker(),
        "venv_ok": os.access(ENTRY, os.X_OK),
        "wheels": sorted(os.listdir(WHEELS)) if os.path.isdir(WHEELS) else [],
        "tmux": _version_of(["tmux", "-V"]),
        "git": _version_of(["git", "--version"]),
        "home": os.path.expanduser("~"),
    }


def _step(argv: list[str], what: str) -> None:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_CONFIG_FILE=os.devnull)
    result = subprocess.run(argv, capture_output=True, timeout=STEP_TIMEOUT_S, check=False, env=env)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{what} failed: {' / '.join(tail) or 'exit ' + str(result.returncode)}")


def install(header: dict[str, Any], stream: Any) -> dict[str, Any]:
    started = time.time()
    os.makedirs(WHEELS, mode=0o700, exist_ok=True)
    received = []
    for item in header["files"]:
        name = os.path.basename(str(item["name"]))
        data = stream.read(int(item["size"]))
        if len(data) != int(item["size"]) or not name.endswith(".whl"):
            raise RuntimeError(f"the upload of {name} was cut short")
        tmp = os.path.join(WHEELS, f".{name}.part")
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, os.path.join(WHEELS, name))
        received.append(name)
    created_venv = False
    if not os.access(os.path.join(VENV, "bin", "python"), os.X_OK):
        _step(
            [sys.executable, "-m", "venv", VENV], "creating the venv (python3 -m venv; install python3-venv?)"
        )
        created_venv = True
    wheel = os.path.join(WHEELS, os.path.basename(str(header["wheel"])))
    pip = [
        os.path.join(VENV, "bin", "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--find-links",
        WHEELS,
    ]
    _step([*pip, wheel], "installing codex-agent and its dependencies")
    # Same version, other build: pip would call it satisfied. Replace the package, not its dependencies.
    _step([*pip, "--no-deps", "--force-reinstall", wheel], "installing codex-agent")
    marker = {
        "version": header["version"],
        "build": header["build"],
        "wheel": os.path.basename(wheel),
        "python": platform.python_version(),
        "installed_at": int(time.time()),
    }
    tmp = MARKER + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(marker, handle)
    os.replace(tmp, MARKER)
    return {
        "ok": True,
        "received": received,
        "created_venv": created_venv,
        "installed": marker,
        "seconds": round(time.time() - started, 2),
    }


def main() -> int:
    stream = sys.stdin.buffer
    try:
        header = json.loads(stream.readline())
        if header.get("action") == "probe":
            answer = probe()
        elif header.get("action") == "install":
            answer = install(header, stream)
        else:
            answer = {"ok": False, "error": f"unknown action {header.get('action')!r}"}
    except Exception as exc:  # every failure becomes an answer: the caller turns it into one clear line
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
