"""The only module that talks to tmux.

Plain `tmux` commands with argument lists (never a shell string of user text). The python bindings are not
used at run time: importing them costs about as much as a whole `jobs --json` call may take, and every
operation here is a single tmux command anyway.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codex_agent.errors import AgentError, MissingDependencyError
from codex_agent.models import SESSION_PREFIX

SOCKET_ENV = "CODEX_AGENT_TMUX_SOCKET"
TMUX_TIMEOUT_S = 15
INSTALL_HINT = "install tmux (apt-get install tmux, brew install tmux, dnf install tmux)"
_FIELD_SEP = "\x1f"
_DEAD_PANE_NOTE = re.compile(r"^(\x1b\[[0-9;]*m)*Pane is dead \(")
# A session option naming the state directory that owns the session: several projects (each with its own
# state) share the user's tmux server, and `clean` must only touch its own sessions.
STATE_OPTION = "@codex_agent_state"


@dataclass(frozen=True, slots=True)
class PaneState:
    session: str
    dead: bool
    dead_status: int | None
    pid: int | None
    activity_s: int | None  # last output, seconds since the epoch (tmux window_activity)
    state_dir: str  # the state directory that created the session ("" when not made by codex-agent)


def _exit_status(status: str, dead_signal: str) -> int | None:
    """The pane process's exit status as a shell gives it: 128 + N for a death by signal N."""
    if dead_signal.isdigit():
        return 128 + int(dead_signal)
    return int(status) if status.lstrip("-").isdigit() else None


def _escape_arg(arg: str) -> str:
    # On the command line tmux splits commands at an argument that ends in ';'. "\;" keeps it literal.
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


_HASH_RUN = re.compile(r"#+(?![#\[])")


def _format_literal(text: str, *, strftime: bool = False) -> str:
    """`text` escaped for an argument that tmux expands as a format (new-session -c; the pipe-pane command,
    which also goes through strftime). Unescaped, "#{...}" would be replaced and "#(...)" run by a shell.

    tmux turns "##" into "#", except in a run of "#" before "[" (a style), which it keeps as is: so each run
    of "#" is doubled unless a "[" follows it.
    """
    escaped = _HASH_RUN.sub(lambda match: match.group(0) * 2, text)
    return escaped.replace("%", "%%") if strftime else escaped


def _encode_state(state_dir: Path) -> str:
    # As a JSON string: a path may hold line breaks or our field separator, which would split the
    # `list-panes` output; JSON escapes every control character.
    return json.dumps(str(state_dir))


def _decode_state(value: str) -> str:
    if value.startswith('"'):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value  # a session made before the value was encoded


class Tmux:
    def __init__(self, socket_name: str | None = None, binary: str = "tmux") -> None:
        self.socket_name = socket_name or None
        self.binary = binary

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Tmux:
        return cls((os.environ if env is None else env).get(SOCKET_ENV) or None)

    @property
    def base_argv(self) -> list[str]:
        return [self.binary, "-L", self.socket_name] if self.socket_name else [self.binary]

    def attach_argv(self, session: str) -> list[str]:
        return [*self.base_argv, "attach", "-t", session]

    def attach_command(self, session: str) -> str:
        """For people to copy: shown, never executed through a shell."""
        return shlex.join(self.attach_argv(session))

    def _run(
        self, args: Sequence[str], *, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        try:
            result = subprocess.run(
                [*self.base_argv, *args],
                input=stdin,
                capture_output=True,
                timeout=TMUX_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError as exc:
            raise MissingDependencyError("tmux is not installed", INSTALL_HINT) from exc
        except subprocess.TimeoutExpired as exc:
            raise AgentError(
                f"tmux did not answer within {TMUX_TIMEOUT_S}s", "check the tmux server"
            ) from exc
        if check and result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip() or f"tmux exited {result.returncode}"
            raise AgentError(f"tmux {args[0]} failed: {message}")
        return result

    @staticmethod
    def _no_server(stderr: bytes) -> bool:
        text = stderr.decode(errors="replace")
        # "server exited unexpectedly": the server was exiting (its last session had just ended) as we asked.
        return any(
            sign in text
            for sign in (
                "no server running",
                "error connecting",
                "No such file",
                "server exited unexpectedly",
            )
        )

    def available(self) -> bool:
        import shutil  # imported where used, as below: reads never need it

        return shutil.which(self.binary) is not None

    def version(self) -> str | None:
        try:
            result = subprocess.run([self.binary, "-V"], capture_output=True, timeout=TMUX_TIMEOUT_S)
        except (FileNotFoundError, subprocess.TimeoutExpired):
            return None
        return result.stdout.decode().strip() or None

    def panes(self) -> dict[str, PaneState]:
        """Every codex-agent session's pane state, from one tmux call. No server: no sessions."""
        fmt = _FIELD_SEP.join(
            [
                "#{session_name}",
                "#{pane_dead}",
                "#{pane_dead_status}",
                "#{pane_dead_signal}",  # set instead of the status when a signal ended the pane's process
                "#{pane_pid}",
                "#{window_activity}",
                f"#{{{STATE_OPTION}}}",
            ]
        )
        result = self._run(["list-panes", "-a", "-F", fmt], check=False)
        if result.returncode != 0:
            if self._no_server(result.stderr):
                return {}
            raise AgentError(f"tmux list-panes failed: {result.stderr.decode(errors='replace').strip()}")
        panes: dict[str, PaneState] = {}
        for line in result.stdout.decode(errors="replace").split("\n"):
            fields = line.split(_FIELD_SEP)
            if len(fields) != 7 or not fields[0].startswith(SESSION_PREFIX) or fields[0] in panes:
                continue
            name, dead, status, dead_signal, pid, activity, state_dir = fields
            panes[name] = PaneState(
                session=name,
                dead=dead == "1",
                dead_status=_exit_status(status, dead_signal),
                pid=int(pid) if pid.isdigit() else None,
                activity_s=int(activity) if activity.isdigit() else None,
                state_dir=_decode_state(state_dir),
            )
        return panes

    def new_session(
        self,
        name: str,
        *,
        cwd: Path,
        command: Sequence[str],
        log_path: Path,
        state_dir: Path,
        width: int = 220,
        height: int = 50,
    ) -> None:
        """Start `command` (an argument list, run without a shell) in a new detached session.

        In the same tmux command sequence the pane is told to stay after its process ends (so it stays
        readable) and its output is appended to `log_path`; both happen before tmux reads any output.
        """
        # pipe-pane only takes a shell command. Its one variable part is our own log path, quoted. dd, not
        # `cat >>`: with nofollow it never appends through a link an agent put in the log's place.
        pipe = _format_literal(
            f"exec dd bs=64K oflag=append,nofollow conv=notrunc status=none of={shlex.quote(str(log_path))}",
            strftime=True,
        )
        args = [
            "new-session", "-d", "-s", name, "-c", _escape_arg(_format_literal(str(cwd))),
            "-x", str(width), "-y", str(height),
            *(_escape_arg(arg) for arg in command),
            ";", "set-option", "-t", name, "remain-on-exit", "on",
            ";", "set-option", "-t", name, STATE_OPTION, _escape_arg(_encode_state(state_dir)),
            ";", "pipe-pane", "-o", "-t", name, _escape_arg(pipe),
        ]  # fmt: skip
        try:
            self._run(args)
        except AgentError as exc:
            # When the last session of a server has just ended, the server may still be exiting and refuse
            # the new session; a second try starts a fresh server.
            if "server exited unexpectedly" not in exc.message:
                raise
            self._run(args)

    def capture(self, session: str, *, lines: int, ansi: bool) -> str:
        args = ["capture-pane", "-p", "-J", "-t", session, "-S", f"-{max(lines, 1)}"]
        if ansi:
            args.append("-e")
        text = self._run(args).stdout.decode(errors="replace")
        rows = text.rstrip("\n").split("\n")
        while rows and (not rows[-1].strip() or _DEAD_PANE_NOTE.match(rows[-1])):
            rows.pop()  # blank rows below the output, and tmux's own "Pane is dead" note

        return "\n".join(rows[-lines:]) + ("\n" if rows else "")

    def paste(self, session: str, data: bytes) -> None:
        """Put `data` into the pane as one bracketed paste, byte for byte (no key-name interpretation).

        -p brackets the paste when the application asked for bracketed paste; -r keeps line feeds as they are
        (tmux would turn them into carriage returns, which some programs take as Enter).
        """
        import secrets

        buffer = f"codex-agent-{secrets.token_hex(6)}"
        self._run(["load-buffer", "-b", buffer, "-"], stdin=data)
        self._run(["paste-buffer", "-p", "-r", "-d", "-b", buffer, "-t", session])

    def send_keys(self, session: str, *keys: str) -> None:
        self._run(["send-keys", "-t", session, *keys])

    def kill_session(self, session: str) -> bool:
        result = self._run(["kill-session", "-t", f"={session}"], check=False)
        return result.returncode == 0

    def list_sessions(self) -> list[str]:
        return sorted(self.panes())
