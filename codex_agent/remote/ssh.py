"""The transport: the system `ssh` client, one shared connection per destination, and what its failures mean.

Every call is `ssh [options] DEST -- FIXED_COMMAND`, where FIXED_COMMAND is a constant of this package:
nothing the user typed is ever part of the remote command line. Data goes on ssh's standard input.

The user's ssh setup applies (~/.ssh/config, agent, jump hosts, known_hosts); on top of it codex-agent asks
for batch mode (never a password prompt), a connect timeout, keep-alives, and connection sharing: the first
call opens a master connection that later calls reuse for ControlPersist. A master whose network vanished
would keep its clients waiting forever, so the master sends keep-alives (it gives up after about
ServerAliveInterval x ServerAliveCountMax) and every ssh process here also has its own deadline.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_agent.errors import MissingDependencyError
from codex_agent.remote.machines import Machine
from codex_agent.remote.ssh_errors import RemoteTimeoutError, failure
from codex_agent.remote.ssh_options import (
    CONNECT_TIMEOUT_S,
    TIMEOUT_ENV,
    base_argv,
    command_argv,
    control_path,
)

SSH_INSTALL_HINT = "install the OpenSSH client (apt-get install openssh-client)"


# Lines the ssh client itself prints when a session breaks: kept for the diagnosis, never relayed as the
# remote command's own stderr.
_SSH_CLIENT_PREFIXES = (
    "mux_client_",
    "Control socket",
    "ControlSocket",
    "Timeout, server",
    "client_loop:",
    "Connection to ",
    "Shared connection to",
    "packet_write_wait",
    "ssh:",
    "ssh_",
)

# --- running -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    returncode: int
    stdout: bytes = b""
    stderr: str = ""  # what was not relayed (ssh's own messages, or all of it when capturing)
    trailer: str | None = None  # the line after the trailer marker, when the remote side wrote one
    elapsed_s: float = 0.0


def run(
    machine: Machine,
    remote_command: str,
    *,
    stdin: bytes = b"",
    timeout_s: float | None,
    stdout_sink: Callable[[bytes], None] | None = None,
    stderr_sink: Callable[[str], None] | None = None,
    start_marker: str | None = None,
    trailer_marker: str | None = None,
) -> Outcome:
    """Run the fixed `remote_command` on the machine, feeding `stdin`.

    Standard output goes to `stdout_sink` as it arrives (or is collected). Standard error is collected
    until `start_marker` shows up (everything before it comes from ssh or the login shell); after it,
    lines go to `stderr_sink`. A line holding `trailer_marker` is taken out and returned.
    """
    argv = command_argv(machine, remote_command)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise MissingDependencyError("ssh is not installed", SSH_INSTALL_HINT) from exc
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    outcome = Outcome(returncode=-1)
    collected: list[bytes] = []
    held: list[str] = []
    state = {"relaying": start_marker is None or stderr_sink is None}

    def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.write(stdin)
        with contextlib.suppress(OSError):
            proc.stdin.close()

    def read_stdout() -> None:
        assert proc.stdout is not None
        stream: Any = proc.stdout
        for chunk in iter(lambda: stream.read1(65536), b""):
            if stdout_sink is not None:
                stdout_sink(chunk)
            else:
                collected.append(chunk)

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", errors="replace")
            if trailer_marker and trailer_marker in line:
                before, _, after = line.partition(trailer_marker)
                outcome.trailer = after.strip()
                line = before
                if not line:
                    continue
            if start_marker and start_marker in line:
                state["relaying"] = True
                continue
            if state["relaying"] and stderr_sink is not None and not line.startswith(_SSH_CLIENT_PREFIXES):
                stderr_sink(line)
            else:
                held.append(line)

    threads = [threading.Thread(target=target, daemon=True) for target in (feed, read_stdout, read_stderr)]
    for thread in threads:
        thread.start()
    try:
        outcome.returncode = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        close_master(machine)  # it may be the part that hangs (network gone under it)
        raise RemoteTimeoutError(
            f"{machine.name}: no answer within {timeout_s:.0f}s",
            f"check the machine with `codex-agent machine check {machine.name}`; "
            f"jobs on it keep running (raise {TIMEOUT_ENV} for slow links)",
        ) from None
    except BaseException:
        _kill(proc)
        raise
    for thread in threads[1:]:
        thread.join(timeout=5)
    outcome.stdout = b"".join(collected)
    outcome.stderr = "".join(held)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def control(machine: Machine, operation: str, *, timeout_s: float = 5.0) -> subprocess.CompletedProcess[str]:
    """`ssh -O check|exit` against the machine's master connection."""
    argv = base_argv(machine)
    argv[-1:-1] = ["-O", operation]
    try:
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError as exc:
        raise MissingDependencyError("ssh is not installed", SSH_INSTALL_HINT) from exc
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 255, "", "timed out")


def _effective_config(machine: Machine) -> dict[str, list[str]]:
    """`ssh -G`: the settings ssh would use for the machine, after every config file."""
    argv = base_argv(machine)
    argv[-1:-1] = ["-G"]
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10, check=False
        )
    except FileNotFoundError as exc:
        raise MissingDependencyError("ssh is not installed", SSH_INSTALL_HINT) from exc
    except subprocess.TimeoutExpired:
        return {}
    settings: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key.lower(), []).append(value)
    return settings


def recorded_fingerprints(machine: Machine) -> list[str]:
    """The fingerprints (`SHA256:...`, with the key type) known_hosts holds for the machine."""
    config = _effective_config(machine)
    name = (config.get("hostkeyalias") or config.get("hostname") or [machine.host])[0]
    port = (config.get("port") or ["22"])[0]
    lookup = name if port == "22" else f"[{name}]:{port}"
    files = [item for value in config.get("userknownhostsfile", []) for item in value.split()]
    found: list[str] = []
    for file in files:
        path = Path(file).expanduser()
        if not path.is_file():
            continue
        result = subprocess.run(
            ["ssh-keygen", "-l", "-F", lookup, "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        for line in result.stdout.splitlines():
            parts = line.split()
            if not line.startswith("#") and len(parts) >= 3:
                found.append(f"{parts[2]} ({parts[1]})")
    return found


def trust_on_first_use(machine: Machine) -> list[str]:
    """Connect once, letting ssh record the host's key if none is known yet (a changed key is still refused),
    and return the fingerprints now recorded: what the user should compare with the host's own."""
    argv = base_argv(machine)
    argv[-1:-1] = ["-o", "StrictHostKeyChecking=accept-new", "-o", "ControlMaster=no"]
    try:
        result = subprocess.run(
            [*argv, "--", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CONNECT_TIMEOUT_S + 20,
            check=False,
        )
    except FileNotFoundError as exc:
        raise MissingDependencyError("ssh is not installed", SSH_INSTALL_HINT) from exc
    except subprocess.TimeoutExpired:
        raise RemoteTimeoutError(
            f"{machine.name}: no answer from {machine.host} to the first connection"
        ) from None
    if result.returncode != 0:
        raise failure(machine, result.returncode, result.stderr)
    return recorded_fingerprints(machine)


def close_master(machine: Machine) -> bool:
    """End the shared connection, if there is one. Jobs on the host are not affected."""
    if not control_path(machine).exists():
        return False
    return control(machine, "exit").returncode == 0
