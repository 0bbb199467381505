"""What an ssh call's failure means: one error class per cause (unreachable, unauthorized, host key,
not installed, connection lost, timed out), told apart from ssh's exit status and its stderr."""

from __future__ import annotations

from codex_agent.errors import RemoteError
from codex_agent.remote.machines import Machine
from codex_agent.remote.ssh_options import CONTROL_DIR_ENV


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
