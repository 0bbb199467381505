"""Timing whole processes, and reading what processes cost from /proc."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

CLK_TCK = os.sysconf("SC_CLK_TCK")


GNU_TIME = "/usr/bin/time"


@dataclass(slots=True)
class Run:
    """One finished process: wall time, CPU time (from wait4) and, when asked for, its peak memory."""

    wall_s: float
    cpu_s: float
    code: int
    stdout: bytes
    stderr: bytes
    maxrss_kib: int | None = None


def run_process(
    argv: Sequence[str], *, env: dict[str, str], cwd: Path, stdin: bytes | None = None, peak: bool = False
) -> Run:
    """Start, read stdout to the end (as an orchestrator would), reap with wait4 for the child's own rusage.

    Peak memory needs `peak=True`, which runs the command under GNU time: a child forked from this (large)
    Python process would report this process's memory as its own high-water mark, since Linux carries it
    across exec. Timed runs therefore never use the wrapper.
    """
    scratch = Path(tempfile.mkdtemp(prefix="bench-run-"))
    peak_file = scratch / "maxrss"
    peak = peak and os.access(GNU_TIME, os.X_OK)  # without GNU time, peak memory is reported as unknown
    if peak:
        argv = [GNU_TIME, "-f", "%M", "-o", str(peak_file), *argv]
    with open(scratch / "stderr", "w+b") as err:
        begin = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - begin
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        err_text = err.read()
    maxrss = None
    if peak:
        # GNU time reports a failing command on its first line; the figure is on the last.
        lines = peak_file.read_text().split()
        maxrss = int(lines[-1]) if lines and lines[-1].isdigit() else None
    shutil.rmtree(scratch, ignore_errors=True)
    return Run(wall, usage.ru_utime + usage.ru_stime, proc.returncode, out, err_text, maxrss)


@dataclass(slots=True)
class Stats:
    """Median, min and max of repeated samples (seconds, or whatever unit the caller used)."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


@dataclass(slots=True)
class Series:
    """Repeated runs of one command: wall and CPU time of each, and the peak memory of one more run."""

    wall: Stats = field(default_factory=Stats)
    cpu: Stats = field(default_factory=Stats)
    maxrss_kib: int | None = None
    last: Run | None = None

    def add(self, result: Run) -> None:
        if result.code != 0:
            message = result.stderr.decode(errors="replace")
            raise RuntimeError(f"a measured command failed with exit code {result.code}: {message}")
        self.wall.samples.append(result.wall_s)
        self.cpu.samples.append(result.cpu_s)
        self.last = result


class RunOnce(Protocol):
    def __call__(self, *, peak: bool = False) -> Run: ...


def repeat(run_once: RunOnce, times: int) -> Series:
    """A warm-up run (page cache, .pyc files) that also gives the peak memory, then `times` measured runs."""
    series = Series()
    warmup = run_once(peak=True)
    if warmup.code != 0:
        raise RuntimeError(
            f"the command failed with exit code {warmup.code}: {warmup.stderr.decode(errors='replace')}"
        )
    series.maxrss_kib = warmup.maxrss_kib
    for _ in range(times):
        series.add(run_once())
    return series


# --- /proc ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Memory:
    """From /proc/PID/smaps_rollup, in KiB. USS is what the process alone holds (its private pages)."""

    rss: int = 0
    pss: int = 0
    uss: int = 0

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.rss + other.rss, self.pss + other.pss, self.uss + other.uss)


def memory_of(pid: int) -> Memory:
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1])
    return Memory(
        rss=fields.get("Rss", 0),
        pss=fields.get("Pss", 0),
        uss=fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
    )


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process so far, in clock ticks (CLK_TCK per second)."""
    with open(f"/proc/{pid}/stat") as handle:
        text = handle.read()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5), counted after the name


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) for every process now."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        table[int(entry)] = (parent, name)
    return table


def descendants(pid: int, table: dict[int, tuple[int, str]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for child, (parent, _name) in table.items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def has_inotify(pid: int) -> bool:
    """True once the process holds an inotify descriptor: it is watching for file changes."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") == "anon_inode:inotify":
                return True
        except OSError:
            continue
    return False


def fd_target(pid: int, fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None


def wait_until(
    condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.002
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def total(items: Iterable[Memory]) -> Memory:
    result = Memory()
    for item in items:
        result = result + item
    return result
