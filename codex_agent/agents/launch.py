"""The files a job's folder holds for its start, and the environment hand-over through a FIFO.

`start` writes the keeper's spec (`launch.json`) and makes the FIFO; the keeper, first process in the job's
pane, reads its submitter's environment from the FIFO (so secrets such as API keys never touch the disk) and
removes it.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

ENV_FIFO = "env.fifo"
LAUNCH_SPEC = "launch.json"
PROMPT_FILE = "prompt.txt"  # the task as given, whole (a record keeps only its beginning)
ENV_TIMEOUT_S = 30
PANE_VARIABLES = ("TERM", "TMUX", "TMUX_PANE", "COLORTERM")
# Replaced by the job's keeper after every write of the job's state: waiters watch it with inotify.
STAMP_FILE = "state.stamp"


SOCKET_PATH_MAX = 100  # a Unix socket's path must fit in 108 bytes (sun_path)


def socket_path(job_dir: Path, name: str) -> Path:
    """Where the job's socket `name` lives: in its folder, or when that path is too long for a Unix socket,
    in a private folder of the user's (0700, checked to be theirs), named after the job folder."""
    import contextlib
    import hashlib
    import os
    import stat

    inside = job_dir / name
    if len(os.fsencode(inside)) <= SOCKET_PATH_MAX:
        return inside
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / f"codex-agent-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        base.mkdir(mode=0o700)
    info = base.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{base} is not a private folder of this user: remove it")
    digest = hashlib.sha256(os.fsencode(job_dir.resolve())).hexdigest()[:24]
    return base / f"{digest}-{name}"


def read_env(fifo: Path) -> dict[str, str]:
    """The environment the starting codex-agent writes into the FIFO; TimeoutError if it never does."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(ENV_TIMEOUT_S)
    try:
        with open(fifo, "rb") as handle:
            data = handle.read()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    env = json.loads(data)
    if not isinstance(env, dict):
        raise ValueError("environment is not an object")
    return {str(key): str(value) for key, value in env.items()}
