"""Keeping a plain command's stdout and stderr apart.

A command job's keeper runs the command with its stdout and stderr on two pipes and stays as a relay:
every chunk is echoed to the pane (so `capture`, `output` and `attach` see what they always saw) and every
line is appended to `stdout.jsonl` or `stderr.jsonl` as `{"stream", "time", "text"}`. Standard input stays
the pane's terminal, so keys sent to the job still reach the command.

This module is also the reader of those files: `read_lines` (with a tail) and `follow`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from codex_agent import safefs
from codex_agent.models import iso, now_ms

STREAMS = ("stdout", "stderr")
MAX_LINE_BYTES = 64 * 1024  # a longer line is recorded in pieces of this size


def stream_file(job_dir: Path, stream: str) -> Path:
    return job_dir / f"{stream}.jsonl"


class _Recorder:
    def __init__(self, stream: str, path: Path, echo_fd: int) -> None:
        self.stream = stream
        self.echo_fd = echo_fd
        self.pending = b""
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def feed(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # the pane may be gone (killed session): keep recording
            os.write(self.echo_fd, data)
        self.pending += data
        lines = self.pending.split(b"\n")
        self.pending = lines.pop()
        while len(self.pending) >= MAX_LINE_BYTES:
            lines.append(self.pending[:MAX_LINE_BYTES])
            self.pending = self.pending[MAX_LINE_BYTES:]
        self._write(lines)

    def close(self) -> None:
        if self.pending:
            self._write([self.pending])
            self.pending = b""
        os.close(self.fd)

    def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        at = iso(now_ms())
        records = [
            json.dumps({"stream": self.stream, "time": at, "text": line.decode("utf-8", errors="replace")})
            for line in lines
        ]
        # One write per batch: a reader never sees half a record. A full disk loses the record, never the
        # command: it runs on, and its exit status is still its own.
        with contextlib.suppress(OSError):
            os.write(self.fd, ("\n".join(records) + "\n").encode())


class OutputWatch(Protocol):
    def __call__(self, data: bytes) -> None:
        """Sees every chunk, and an empty one when `next_check_in` comes due while the command is quiet."""

    def next_check_in(self) -> float | None:
        """Seconds until quiet output could mean something new; None: nothing until more output."""


def relay(
    job_dir: Path, command: list[str], env: dict[str, str], on_output: OutputWatch | None = None
) -> int:
    """Run `command`, relay and record its two output streams; return its exit status (128+N for signal N).

    Nothing ticks: the relay sleeps in one select on the two pipes and the command's pidfd, woken by
    output, by the command's exit, or when `on_output` asked to look again."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(command, env=env, stdout=out_w, stderr=err_w, close_fds=True)
    finally:
        os.close(out_w)
        os.close(err_w)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    # Ctrl-C in the pane reaches the command directly (same process group); we keep relaying until it ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    recorders = {
        out_r: _Recorder("stdout", stream_file(job_dir, "stdout"), 1),
        err_r: _Recorder("stderr", stream_file(job_dir, "stderr"), 2),
    }
    exit_fd = _pidfd(proc.pid)
    while recorders:
        exited = proc.poll() is not None
        watched = [*recorders, exit_fd] if exit_fd is not None and not exited else list(recorders)
        try:
            ready, _, _ = select.select(watched, [], [], 0 if exited else _timeout(on_output, exit_fd))
        except InterruptedError:
            continue
        ready = [fd for fd in ready if fd != exit_fd]  # the exit is read by `poll` on the next round
        if on_output is not None and not ready:
            on_output(b"")
        if exited and not ready:
            # The command is gone; a background process it left may hold the pipes open: stop here.
            for fd in list(recorders):
                recorders.pop(fd).close()
                os.close(fd)
            break
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                recorders[fd].feed(data)
                if on_output is not None:
                    on_output(data)
            else:
                recorders.pop(fd).close()
                os.close(fd)
    code = proc.wait()
    if exit_fd is not None:
        os.close(exit_fd)
    return 128 - code if code < 0 else code  # killed by a signal: the shell's convention


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when `pid` exits (Linux 5.3+); None where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


EXIT_POLL_S = 1.0  # without a pidfd, how often the relay looks whether the command has exited


def _timeout(watch: OutputWatch | None, exit_fd: int | None) -> float | None:
    due = watch.next_check_in() if watch is not None else None
    if exit_fd is None:
        due = EXIT_POLL_S if due is None else min(due, EXIT_POLL_S)
    return due


# --- reading -------------------------------------------------------------------------------------------


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def read_lines(job_dir: Path, stream: str, *, tail: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """The stream's records (the last `tail` of them) and the file offset just after the last one read."""
    path = stream_file(job_dir, stream)
    data = safefs.read_bytes(path, under=job_dir.parent)  # never through a link the command put there
    if data is None:
        return [], 0
    end = data.rfind(b"\n") + 1  # a record still being written is left for later
    records = [rec for rec in (_parse(line) for line in data[:end].splitlines()) if rec is not None]
    if tail is not None:
        records = records[-tail:] if tail > 0 else []
    return records, end


def follow(
    job_dir: Path, stream: str, offset: int, ended: Callable[[], bool], wait: Callable[[float], None]
) -> Iterator[dict[str, Any]]:
    """Records appended after `offset` until `ended()` is true and everything has been read."""
    path = stream_file(job_dir, stream)
    while True:
        finished = ended()  # asked before reading: nothing written after the end can be missed
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            record = _parse(line)
            if record is not None:
                yield record
        offset += end
        if finished:
            return
        if not end:
            wait(1.0)
