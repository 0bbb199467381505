"""The first process in a job's tmux pane: `python -m codex_agent.agents.launch JOB_DIR`.

It reads the launch spec that `start` wrote (`launch.json`: argument list, prompt delivery), receives the
caller's environment through a FIFO (so secrets such as API keys never touch the disk), and then replaces
itself with a tiny `sh` that runs the agent and records its exit status. Python does not stay resident:
a live job costs one small `sh` and tmux's `cat` for the output log.

Plain commands (launch spec `"streams": true`) are the exception: the launcher stays as a small relay
(`codex_agent.agents.streams`) so that stdout and stderr are each recorded on their own, line by line with
a timestamp, while both still show in the pane.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ENV_FIFO = "env.fifo"
LAUNCH_SPEC = "launch.json"
EXIT_FILE = "exit_code"
LAUNCH_ERROR = "launch_error"
ENV_TIMEOUT_S = 30
PANE_VARIABLES = ("TERM", "TMUX", "TMUX_PANE", "COLORTERM")

AFTER_EXIT_LOG = "after_exit.log"
# A fixed script: the agent's argument list arrives as positional parameters and is never parsed by a shell.
# The exit status is written to a temp file and renamed, so a reader sees all of it or nothing; the temp file
# is made new (noclobber), so a link the agent put there is not written through. Then, when a
# Python is named, `python -m codex_agent.agents.after_exit JOB_DIR` records the end, starts queued jobs that
# were waiting for it and runs the job's notify-on-complete command.
RUN_AND_RECORD = (
    'exit_file=$1; python=$2; shift 2; "$@"; code=$?; '
    'rm -f "$exit_file.tmp"; '
    '(umask 077; set -C; printf "%s\\n" "$code" > "$exit_file.tmp") && mv -f "$exit_file.tmp" "$exit_file"; '
    'if [ -n "$python" ]; then (umask 077; "$python" -m codex_agent.agents.after_exit "${exit_file%/*}" '
    "</dev/null); fi; "
    'exit "$code"'
)


def _run_after_exit(job_dir: Path, env: dict[str, str]) -> None:
    """What the shell script does after recording the exit, for the relay that records it itself. (It writes
    its own log, after_exit.log, opened safely.)"""
    subprocess.run(
        [sys.executable, "-m", "codex_agent.agents.after_exit", str(job_dir)],
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )


def _write_private(path: Path, text: str) -> None:
    # Private whatever the umask (the pane inherits the tmux server's).
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _fail(job_dir: Path, message: str) -> int:
    print(f"codex-agent: {message}", file=sys.stderr)
    _write_private(job_dir / LAUNCH_ERROR, message + "\n")
    tmp = job_dir / f"{EXIT_FILE}.tmp"
    _write_private(tmp, "125\n")
    tmp.replace(job_dir / EXIT_FILE)
    return 125


def _read_own(path: Path) -> bytes:
    """A file `start` wrote, never through a link put in its place (a queued job starts later)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _read_env(fifo: Path) -> dict[str, str]:
    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(ENV_TIMEOUT_S)
    try:
        with open(fifo, "rb") as handle:
            data = handle.read()
    finally:
        signal.alarm(0)
    env = json.loads(data)
    if not isinstance(env, dict):
        raise ValueError("environment is not an object")
    return {str(key): str(value) for key, value in env.items()}


def main(argv: list[str]) -> int:
    job_dir = Path(argv[1])
    try:
        spec: dict[str, Any] = json.loads(_read_own(job_dir / LAUNCH_SPEC))
        env = _read_env(job_dir / ENV_FIFO)
    except TimeoutError:
        return _fail(job_dir, "the starting codex-agent never handed over its environment")
    except (OSError, ValueError) as exc:
        return _fail(job_dir, f"cannot read the launch spec: {exc}")
    finally:
        (job_dir / ENV_FIFO).unlink(missing_ok=True)

    command = [str(arg) for arg in spec["argv"]]
    prompt_via = spec.get("prompt_via", "none")
    prompt_path = job_dir / "prompt.txt"
    if prompt_via == "argv":
        # After "--": a prompt that begins with "-" (say "--help") is the prompt, not an option.
        command += ["--", _read_own(prompt_path).decode("utf-8", errors="surrogateescape")]
    elif prompt_via == "stdin":
        fd = os.open(prompt_path, os.O_RDONLY | os.O_NOFOLLOW)
        os.dup2(fd, 0)
        os.close(fd)
    # The terminal is tmux's, not the caller's: keep what tmux set for this pane.
    for name in PANE_VARIABLES:
        if name in os.environ:
            env[name] = os.environ[name]
        else:
            env.pop(name, None)
    env.update({str(k): str(v) for k, v in spec.get("env", {}).items()})
    exit_file = str(job_dir / EXIT_FILE)
    after_exit = sys.executable if spec.get("after_exit", True) else ""
    if spec.get("streams"):
        from codex_agent.agents.streams import relay

        try:
            code = relay(job_dir, command, env, Path(exit_file))
        except OSError as exc:
            return _fail(job_dir, f"cannot start the command: {exc}")
        if after_exit:
            _run_after_exit(job_dir, env)
        return code
    try:
        os.execve("/bin/sh", ["sh", "-c", RUN_AND_RECORD, "sh", exit_file, after_exit, *command], env)
    except OSError as exc:
        return _fail(job_dir, f"cannot start the agent: {exc}")
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
