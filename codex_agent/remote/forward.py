"""Running a codex-agent command on a machine, and the few things that need more than one call.

`call` sends one argv (plus standard input) to the machine's codex-agent and relays or collects what comes
back. `call_many` asks several machines at once (an unreachable one is reported, not fatal), `pick_machine`
chooses the reachable machine with the fewest live jobs, `push_project` makes a local git project present on
a host at a given commit, and `pull_job` brings a remote job's changes back as a local branch.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_agent import __version__
from codex_agent.errors import CodexAgentError, RemoteError, UsageError
from codex_agent.remote import machines, ssh, ssh_errors, ssh_options
from codex_agent.remote.machines import Machine
from codex_agent.remote.protocol import (
    PROTOCOL,
    REMOTE_CALL_COMMAND,
    START_MARKER,
    TRAILER_MARKER,
)

LIVE_STATUSES = ("running", "idle", "needs_input", "stalled")
GIT_TIMEOUT_S = 120
_warned: set[str] = set()


@dataclass(slots=True)
class CallResult:
    machine: str
    exit_code: int
    stdout: bytes
    stderr: str
    version: str | None
    build: str | None
    elapsed_s: float

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise RemoteError(
                f"{self.machine}: the remote codex-agent did not answer with JSON", self.stderr.strip()[-300:]
            ) from exc


def _write_stdout(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def _write_stderr(line: str) -> None:
    sys.stderr.write(line)
    sys.stderr.flush()


def call(
    machine: Machine | str,
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    capture: bool = False,
    timeout_s: float | None = -1.0,
) -> CallResult:
    """Run `codex-agent ARGV` on the machine. With `capture`, output is collected, else relayed as it comes.

    `timeout_s` -1 means the default deadline (CODEX_AGENT_SSH_TIMEOUT); None means none (long waits: the
    connection's keep-alives still end the call if the network goes).
    """
    target = machines.get(machine) if isinstance(machine, str) else machine
    header = {
        "protocol": PROTOCOL,
        "argv": list(argv),
        "stdin_bytes": len(stdin),
        "workdir": target.dir,
        "env": target.env,
        "machine": target.name,
        "client_version": __version__,
    }
    request = json.dumps(header).encode() + b"\n" + stdin
    captured: list[str] = []
    outcome = ssh.run(
        target,
        REMOTE_CALL_COMMAND,
        stdin=request,
        timeout_s=ssh_options.default_timeout() if timeout_s == -1.0 else timeout_s,
        stdout_sink=None if capture else _write_stdout,
        stderr_sink=captured.append if capture else _write_stderr,
        start_marker=START_MARKER,
        trailer_marker=TRAILER_MARKER,
    )
    if outcome.trailer is None:
        raise ssh_errors.failure(target, outcome.returncode, outcome.stderr)
    try:
        trailer = json.loads(outcome.trailer)
        code = int(trailer["exit"])
    except (ValueError, KeyError, TypeError):
        raise ssh_errors.failure(target, outcome.returncode, outcome.stderr) from None
    version = trailer.get("version")
    if not capture and version != __version__ and target.name not in _warned:
        _warned.add(target.name)
        _write_stderr(
            f"codex-agent: {target.name} runs codex-agent {version}, this is {__version__} — "
            f"update it with `codex-agent machine up {target.name}`\n"
        )
    return CallResult(
        machine=target.name,
        exit_code=code,
        stdout=outcome.stdout,
        stderr="".join(captured),
        version=version,
        build=trailer.get("build"),
        elapsed_s=outcome.elapsed_s,
    )


def call_json(machine: Machine | str, argv: Sequence[str], *, stdin: bytes = b"") -> Any:
    """A call whose answer is JSON; a non-zero exit becomes a RemoteError carrying the host's message."""
    result = call(machine, argv, stdin=stdin, capture=True)
    if result.exit_code != 0:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no message"
        raise _remote_refusal(result.machine, result.exit_code, message.removeprefix("codex-agent: "))
    return result.json()


class _RelayedError(CodexAgentError):
    """A refusal by the remote codex-agent, passed on with its own exit status."""


def _remote_refusal(machine: str, code: int, message: str) -> CodexAgentError:
    error = _RelayedError(f"{machine}: {message}")
    error.exit_code = code  # type: ignore[misc]
    return error


# --- several machines ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    machine: Machine
    result: CallResult | None = None
    error: CodexAgentError | None = None


def call_many(
    targets: Sequence[Machine], argv: Sequence[str], *, timeout_s: float | None = -1.0
) -> list[Answer]:
    """The same call on every machine at once; each answer holds a result or the error it met."""
    answers = [Answer(machine) for machine in targets]

    def one(answer: Answer) -> None:
        try:
            answer.result = call(answer.machine, argv, capture=True, timeout_s=timeout_s)
        except CodexAgentError as exc:
            answer.error = exc

    threads = [threading.Thread(target=one, args=(answer,), daemon=True) for answer in answers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def live_job_count(answer: Answer) -> int | None:
    if answer.result is None or answer.result.exit_code != 0:
        return None
    with contextlib.suppress(RemoteError, KeyError, TypeError):
        return sum(1 for job in answer.result.json()["jobs"] if job.get("status") in LIVE_STATUSES)
    return None


def pick_machine() -> tuple[Machine, list[Answer]]:
    """The reachable machine with the fewest live jobs (ties: by name)."""
    known = sorted(machines.load().values(), key=lambda machine: machine.name)
    if not known:
        raise UsageError(
            "--machine auto: no machines are registered", "add one with `codex-agent machine add`"
        )
    argv = ["jobs", "--json", "--all", *(arg for status in LIVE_STATUSES for arg in ("--status", status))]
    answers = call_many(known, argv, timeout_s=min(ssh_options.default_timeout(), 30.0))
    counted = [(count, answer) for answer in answers if (count := live_job_count(answer)) is not None]
    if not counted:
        reasons = "; ".join(
            f"{answer.machine.name}: {answer.error.one_line() if answer.error else 'bad answer'}"
            for answer in answers
        )
        raise RemoteError(
            f"--machine auto: no machine is reachable ({reasons})", "see `codex-agent machine check`"
        )
    counted.sort(key=lambda item: (item[0], item[1].machine.name))
    return counted[0][1].machine, answers


# --- projects and results -----------------------------------------------------------------------------------


def _git(cwd: Path, *args: str, what: str) -> bytes:
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except FileNotFoundError as exc:
        raise UsageError("git is not installed", "install git") from exc
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"git took too long to {what}") from exc
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"cannot {what}: {message[-1] if message else 'git failed'}")
    return result.stdout


def push_project(machine: Machine, project: Path, ref: str) -> dict[str, Any]:
    """Send the project's history (a git bundle) and check out `ref` on the host; returns where it is."""
    project = project.expanduser().resolve()
    if not project.is_dir():
        raise UsageError(f"--project: not a directory: {project}")
    root = Path(
        _git(project, "rev-parse", "--show-toplevel", what="find the project's git top level")
        .decode()
        .strip()
    )
    commit = _git(
        root, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}", what=f"resolve {ref!r}"
    )
    commit_id = commit.decode().strip()
    with tempfile.TemporaryDirectory(prefix="codex-agent-bundle-") as tmp:
        bundle = Path(tmp) / "project.bundle"
        _git(root, "bundle", "create", "-q", str(bundle), "--all", what="bundle the project")
        data = bundle.read_bytes()
    name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in root.name).lstrip(".-") or "project"
    answer = call_json(
        machine, ["machine", "receive-project", name, "--commit", commit_id, "--json"], stdin=data
    )
    return {"name": name, "commit": commit_id, "path": answer["path"], "bundle_bytes": len(data)}


def pull_job(machine: Machine, job_id: str, local_repo: Path) -> dict[str, Any]:
    """Fetch a remote job's changes (commits and uncommitted work) into `codex-agent/<machine>/<id>`."""
    root = Path(
        _git(local_repo, "rev-parse", "--show-toplevel", what="find the local git repository")
        .decode()
        .strip()
    )
    result = call(machine, ["machine", "export-job", job_id], capture=True)
    if result.exit_code != 0:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no message"
        raise _remote_refusal(machine.name, result.exit_code, message.removeprefix("codex-agent: "))
    with tempfile.TemporaryDirectory(prefix="codex-agent-pull-") as tmp:
        bundle = Path(tmp) / "job.bundle"
        bundle.write_bytes(result.stdout)
        heads = _git(root, "bundle", "list-heads", str(bundle), what="read the job's bundle").decode().split()
        if len(heads) < 2:
            raise RemoteError(f"{machine.name}: the job's bundle names no commit")
        commit, remote_ref = heads[0], heads[1]
        full_id = remote_ref.rsplit("/", 1)[-1]
        branch = f"codex-agent/{machine.name}/{full_id}"
        _git(
            root,
            "fetch",
            "-q",
            str(bundle),
            f"+{remote_ref}:refs/heads/{branch}",
            what="fetch the job's changes",
        )
    return {"machine": machine.name, "job_id": full_id, "branch": branch, "commit": commit}
