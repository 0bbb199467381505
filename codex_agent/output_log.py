"""A job's output log: tmux's pipe-pane appends everything the job's pane shows to `output.log`.

Its end is read in bounded pieces (a 1 GB log stays on disk), never through a link an agent put in its place
(safefs); escape sequences can be stripped for plain text."""

from __future__ import annotations

import re
from pathlib import Path

from codex_agent import safefs
from codex_agent.errors import StateError, UnsafePathError

OUTPUT_LOG = "output.log"
ANSI_SEQUENCE = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\r")
FIRST_READ_BYTES = 8192  # most tails asked for fit in this; a longer one grows it fourfold each time
MAX_BYTES_PER_LINE = 256 * 1024  # per line asked for, at most: a huge log is never read whole


def strip_ansi(data: bytes) -> bytes:
    return ANSI_SEQUENCE.sub(b"", data)


def read_end(path: Path, lines: int, *, under: Path, first_read: int = FIRST_READ_BYTES) -> bytes:
    """Enough of the end of the log for its last `lines` lines (bounded: a 1 GB log stays on disk).

    A link, FIFO or folder in the log's place is refused (safefs raises), never followed."""
    size = first_read
    limit = MAX_BYTES_PER_LINE * max(1, min(lines, 64))
    while True:
        data = safefs.read_tail(path, size, under=under) or b""
        if data.count(b"\n") > lines or len(data) < size or size >= limit:
            return data
        size *= 4


def last_lines(job_dir: Path, count: int, *, first_read: int = FIRST_READ_BYTES) -> list[str]:
    """The last `count` non-empty lines of the job's output, escape sequences removed, each stripped.

    For views of many jobs: a log that is missing, or something unsafe in its place, reads as no output."""
    try:
        state_dir = safefs.state_dir_of(job_dir)
        data = read_end(job_dir / OUTPUT_LOG, count, under=state_dir, first_read=first_read)
    except (UnsafePathError, StateError, OSError):
        return []
    tail = strip_ansi(data).decode("utf-8", errors="replace")
    return [line.strip() for line in tail.splitlines() if line.strip()][-count:]
