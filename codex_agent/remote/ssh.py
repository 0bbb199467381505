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
import hashlib
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_agent.errors import MissingDependencyError, RemoteError
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
SSH_INSTALL_HINT = "install the OpenSSH client (apt-get install openssh-client)"


class RemoteUnreachableError(RemoteError):
    """The host did not accept a connection: refused, reset, timed out, no route, unknown name."""

    code = "remote_unreachable"


class RemoteAuthError(RemoteError):
    """The host refused our key (or user)."""

    code = "remote_unauthorized"


class RemoteHostKeyError(RemoteError):
    """The host's key is not known, or has changed."""

    code = "remote_host_key"


class RemoteNotReadyError(RemoteError):
    """codex-agent (or python3) is missing or outdated on the host."""

    code = "remote_not_ready"


class RemoteConnectionLostError(RemoteError):
    """The connection broke during a call (the host's jobs keep running)."""

    code = "remote_connection_lost"


class RemoteTimeoutError(RemoteError):
    """A call got no complete answer before its deadline."""

    code = "remote_timeout"


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


# --- what went wrong -------------------------------------------------------------------------------------

_UNREACHABLE = (
    "Connection refused",
    "Connection timed out",
    "timed out during banner exchange",
    "No route to host",
    "Network is unreachable",
    "Could not resolve hostname",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Connection reset",
    "kex_exchange_identification",
    "Connection closed by remote host",
)
_LOST = (
    "Timeout, server",
    "read from master failed",
    "Broken pipe",
    "client_loop: send disconnect",
    "Connection closed by",
    "packet_write_wait",
)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def failure(machine: Machine, returncode: int, stderr: str) -> RemoteError:
    """The error for a call that ended without an answer from codex-agent on the host."""
    name = machine.name
    check = f"`codex-agent machine check {name}`"
    where = machine.host + (f" port {machine.port}" if machine.port else "")
    if returncode == 255 or "ssh:" in stderr:
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
            return RemoteHostKeyError(
                f"{name}: the host key of {where} has CHANGED since it was recorded in known_hosts",
                "make sure the host is the one you expect, then `ssh-keygen -R HOST` and connect once "
                "with `ssh` to record the new key",
            )
        if "Host key verification failed" in stderr or "host key is known" in stderr:
            return RemoteHostKeyError(
                f"{name}: the host key of {where} is not in known_hosts (batch mode cannot ask)",
                f"check the host, then `codex-agent machine add {name} --host {machine.host} --replace "
                "--accept-new-host-key` (with its other options), or connect once with `ssh` to accept it",
            )
        if "Permission denied" in stderr:
            return RemoteAuthError(
                f"{name}: unauthorized: {where} rejected the key or the user",
                f"add your public key to the host's authorized_keys (ssh-copy-id), or set the key with "
                f"`codex-agent machine add {name} --identity FILE --replace`",
            )
        if "too long for Unix domain socket" in stderr:
            return RemoteError(
                f"{name}: the ssh control socket path is too long", f"set {CONTROL_DIR_ENV} to a short path"
            )
        if "Could not resolve hostname" in stderr:
            return RemoteUnreachableError(
                f"{name}: cannot connect: {_last_line(stderr)}",
                "check the host name, or the Host alias in your ssh config "
                f"(`codex-agent machine add {name} --host ... --replace`)",
            )
        for marker in _UNREACHABLE:
            if marker in stderr:
                detail = _last_line(stderr)
                if "Connection reset" in stderr or "kex_exchange_identification" in stderr:
                    detail = "connection reset by peer"
                return RemoteUnreachableError(
                    f"{name}: cannot connect to {where}: {detail}",
                    f"is the host up and its sshd running? Check with {check}",
                )
        for marker in _LOST:
            if marker in stderr:
                return RemoteConnectionLostError(
                    f"{name}: the connection to {where} was lost: {_last_line(stderr)}",
                    "jobs on the host keep running; run the command again",
                )
        if returncode == 255:
            return RemoteError(
                f"{name}: ssh to {where} failed: {_last_line(stderr) or 'exit status 255'}",
                f"run {check}",
            )
    if returncode == 127 or "No such file or directory" in stderr or "not found" in stderr:
        return RemoteNotReadyError(
            f"{name}: codex-agent is not installed on {where}",
            f"install it with `codex-agent machine up {name}`",
        )
    return RemoteError(
        f"{name}: the remote codex-agent ended without an answer (exit {returncode}): "
        f"{_last_line(stderr) or 'no message'}",
        f"reinstall it with `codex-agent machine up {name}`, then run {check}",
    )
