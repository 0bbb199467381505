"""`machine up`: make a host ready, without the host needing any network of its own.

1. Look at the host (python3 version and platform, tmux, git, what is installed) with host_agent.py, sent
   through a fixed bootstrap command.
2. If the host already runs this version and build of codex-agent: nothing to do.
3. Otherwise take a wheel of the running codex-agent (cached by build): CODEX_AGENT_WHEEL if set; built with
   `pip wheel --no-deps` from a source checkout; else, for any installed copy (pipx, `uv tool`, a venv, a
   wheel installed with pip), packed again from the installed files and their dist-info. Then download its
   dependencies locally as wheels for the host's python and platform (`pip download`, cached), send the
   wheels the host does not have yet, and install them in a per-user venv on the host
   (`~/.local/share/codex-agent/venv`, `pip install --no-index --find-links`).
4. Call the installed codex-agent once to prove it answers with the expected version and build.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codex_agent import __version__
from codex_agent.errors import RemoteError
from codex_agent.remote import forward, ssh, ssh_errors, ssh_options, wheels
from codex_agent.remote.machines import Machine
from codex_agent.remote.protocol import build_id

# The one command line used before codex-agent exists on the host: read a length, then that much Python.
BOOTSTRAP_COMMAND = "python3 -c 'import sys;exec(sys.stdin.buffer.read(int(sys.stdin.buffer.readline())))'"


def host_agent(
    machine: Machine, header: dict[str, Any], files: Sequence[Path] = (), timeout_s: float = 60
) -> Any:
    """Run host_agent.py on the machine with `header` (and the files after it); return its JSON answer."""
    source = (Path(__file__).parent / "host_agent.py").read_bytes()
    parts = [str(len(source)).encode() + b"\n", source, json.dumps(header).encode() + b"\n"]
    parts += [path.read_bytes() for path in files]
    outcome = ssh.run(machine, BOOTSTRAP_COMMAND, stdin=b"".join(parts), timeout_s=timeout_s)
    if outcome.returncode != 0:
        if outcome.returncode == 127 and "python3" in outcome.stderr:
            raise ssh_errors.RemoteNotReadyError(
                f"{machine.name}: python3 is not installed on the host",
                "install python3 (3.10 or newer) there",
            )
        raise ssh_errors.failure(machine, outcome.returncode, outcome.stderr)
    try:
        answer = json.loads(outcome.stdout.decode(errors="replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RemoteError(
            f"{machine.name}: the host's python3 gave no usable answer",
            (outcome.stderr.strip().splitlines() or ["is python3 there 3.10 or newer?"])[-1],
        ) from None
    if not answer.get("ok"):
        raise ssh_errors.RemoteNotReadyError(
            f"{machine.name}: {answer.get('error')}", "see docs/remote.md, `machine up`"
        )
    return answer


def probe(machine: Machine) -> dict[str, Any]:
    answer: dict[str, Any] = host_agent(machine, {"action": "probe"})
    return answer


# --- up ----------------------------------------------------------------------------------------------------


def up(machine: Machine, *, force: bool = False) -> dict[str, Any]:
    started = time.monotonic()
    info = probe(machine)
    if not info.get("python_ok"):
        raise ssh_errors.RemoteNotReadyError(
            f"{machine.name}: python3 on the host is {info.get('python')}; codex-agent needs 3.10 or newer",
            "install a newer python3 there",
        )
    build = build_id()
    installed = info.get("installed") or {}
    current = installed.get("version") == __version__ and installed.get("build") == build
    report: dict[str, Any] = {
        "machine": machine.name,
        "version": __version__,
        "build": build,
        "python": info.get("python"),
        "tmux": info.get("tmux"),
        "git": info.get("git"),
        "previous": installed or None,
    }
    if current and info.get("venv_ok") and not force:
        report.update(action="none", sent=[], elapsed_ms=int((time.monotonic() - started) * 1000))
        return report
    wheel = wheels.build_wheel()
    deps = wheels.dependency_wheels(wheel, info)
    have = set(info.get("wheels") or [])
    files = [wheel] + [
        path for path in deps if path.name not in have and not path.name.startswith("codex_agent-")
    ]
    header = {
        "action": "install",
        "version": __version__,
        "build": build,
        "wheel": wheel.name,
        "files": [{"name": path.name, "size": path.stat().st_size} for path in files],
    }
    answer = host_agent(machine, header, files, timeout_s=900)
    result = forward.call(machine, ["--version"], capture=True)
    if result.exit_code != 0 or result.version != __version__ or result.build != build:
        raise RemoteError(
            f"{machine.name}: after installing, the host's codex-agent reports {result.version} "
            f"build {result.build}",
            "run `codex-agent machine up --force` and look at the host's ~/.local/share/codex-agent",
        )
    report.update(
        action="updated" if installed else "installed",
        sent=[path.name for path in files],
        sent_bytes=sum(path.stat().st_size for path in files),
        created_venv=answer.get("created_venv"),
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )
    return report


# --- check -------------------------------------------------------------------------------------------------

RTT_SAMPLES = 5


def round_trip_ms(machine: Machine, samples: int = RTT_SAMPLES) -> float:
    """Median wall time of `ssh DEST -- true` over the shared connection (opened first if needed)."""
    ssh.run(machine, "true", timeout_s=ssh_options.default_timeout())
    times = []
    for _ in range(samples):
        outcome = ssh.run(machine, "true", timeout_s=ssh_options.default_timeout())
        if outcome.returncode != 0:
            raise ssh_errors.failure(machine, outcome.returncode, outcome.stderr)
        times.append(outcome.elapsed_s * 1000)
    times.sort()
    return round(times[len(times) // 2], 1)


def check(machine: Machine) -> dict[str, Any]:
    """Is the machine reachable, is codex-agent there (same version and build), are tmux and codex there."""
    report: dict[str, Any] = {
        "machine": machine.name,
        "host": machine.host,
        "ready": False,
        "ssh_ok": False,
        "daemon_ok": False,
        "tmux_ok": False,
        "codex_ok": False,
        "git_ok": False,
        "python": None,
        "local_version": __version__,
        "remote_version": None,
        "same_build": False,
        "tmux_version": None,
        "codex_version": None,
        "git_version": None,
        "rtt_ms": None,
        "call_ms": None,
        "live_jobs": None,
        "error": None,
        "error_code": None,
        "next_action": "fix-config",
    }
    try:
        info = probe(machine)
        report.update(ssh_ok=True, python=info.get("python"), git_ok=bool(info.get("git")))
        report.update(
            git_version=info.get("git"), tmux_version=info.get("tmux"), tmux_ok=bool(info.get("tmux"))
        )
        report["rtt_ms"] = round_trip_ms(machine)
    except RemoteError as exc:
        report.update(error=exc.one_line(), error_code=exc.code)
        if isinstance(exc, ssh_errors.RemoteNotReadyError):
            report.update(ssh_ok=True, next_action="machine-up")
        return report
    try:
        result = forward.call(machine, ["health", "--json"], capture=True)
        health = result.json()
    except RemoteError as exc:
        report.update(error=exc.one_line(), error_code=exc.code, next_action="machine-up")
        return report
    report.update(
        remote_version=result.version,
        same_build=result.build == build_id(),
        call_ms=round(result.elapsed_s * 1000, 1),
        daemon_ok=result.version == __version__,
        tmux_ok=bool(health.get("tmux", {}).get("ok")),
        tmux_version=health.get("tmux", {}).get("version") or report["tmux_version"],
        codex_ok=bool(health.get("codex", {}).get("ok")),
        codex_version=health.get("codex", {}).get("version"),
        live_jobs=len(health.get("live_jobs") or []),
    )
    if not report["daemon_ok"]:
        report.update(
            error=f"the host runs codex-agent {result.version}, this is {__version__}",
            next_action="machine-up",
        )
    elif not report["tmux_ok"]:
        report.update(error="tmux is not installed on the host", next_action="fix-config")
    else:
        report.update(ready=True, next_action="done")
        if not report["codex_ok"]:
            report["error"] = "codex is not installed on the host: exec works, agents do not"
    return report
