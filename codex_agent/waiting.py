"""Waiting for jobs without polling loops: wake on file-system events (inotify through watchfiles).

Every change of a job's state is written by its keeper, which then replaces `state.stamp` in the job's
folder: that file is what waits watch. A tmux session that vanishes (its keeper gone with it) writes nothing,
so each wait also re-checks tmux at a slow safety interval.

One watcher is set up before the first read of the state and kept for the whole wait, so a change that
happens between two reads is never missed (the watcher queues it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from codex_agent import job_reads, jobs
from codex_agent.agents.launch import STAMP_FILE
from codex_agent.models import Job

SAFETY_RECHECK_S = 1.0
WATCHED_NAMES = frozenset({STAMP_FILE})
STEP_MS = 2  # how often the watcher's own thread looks at its event queue: the wake-up latency


class Watcher:
    """Reports changes to files with one of `names` in (or under) `directories`, from one inotify watcher.

    A name ending in `*` matches every file name that begins with the rest."""

    def __init__(self, directories: Iterable[Path], names: frozenset[str] | None) -> None:
        self.paths = sorted({str(path) for path in directories if path.is_dir()})
        self.names = names
        self._notify: Any = None
        if self.paths:
            from watchfiles._rust_notify import RustNotify

            try:
                self._notify = RustNotify(self.paths, False, False, 50, True, True)
            except FileNotFoundError:  # a folder vanished meanwhile (a job deleted): re-check by time
                self._notify = None

    def wait(self, timeout_s: float) -> bool:
        """Block until an interesting change (True) or the timeout (False)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        if self._notify is None:
            time.sleep(max(0.0, min(timeout_s, SAFETY_RECHECK_S)))
            return False
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return False
            result = self._notify.watch(0, STEP_MS, remaining_ms, None)
            if result == "signal":
                raise KeyboardInterrupt
            if isinstance(result, set) and any(self._interesting(path) for _change, path in result):
                return True

    def _interesting(self, path: str) -> bool:
        if self.names is None:
            return True
        name = Path(path).name
        return name in self.names or any(
            pattern.endswith("*") and name.startswith(pattern[:-1]) for pattern in self.names
        )

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def wait_for_change(
    directories: Iterable[Path], timeout_s: float, names: frozenset[str] = WATCHED_NAMES
) -> bool:
    """Block until a file named in `names` changes in one of `directories`, or the timeout passes."""
    with Watcher(directories, names) as watcher:
        return watcher.wait(timeout_s)


def wait_until(
    project: jobs.Project,
    job_ids: list[str],
    done: Callable[[list[Job]], bool],
    *,
    timeout_s: float | None,
    names: frozenset[str] = WATCHED_NAMES,
    extra_directories: Callable[[list[Job]], Iterable[Path]] | None = None,
    next_due_s: Callable[[list[Job]], float | None] | None = None,
) -> list[Job] | None:
    """Re-read the jobs each time something changes until `done(jobs)`; None when the time is up.

    `extra_directories` adds places to watch that depend on the jobs (a rollout file's folder, once known);
    `next_due_s` says in how many seconds a status may change with time alone (a stall threshold).
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    base = [project.store.job_dir(job_id) for job_id in job_ids]
    watched: list[Path] = list(base)
    watcher = Watcher(watched, names)
    try:
        while True:
            current = [job_reads.get_job(project, job_id) for job_id in job_ids]
            if done(current):
                return current
            wanted = base + list(extra_directories(current) if extra_directories else [])
            if sorted(map(str, wanted)) != sorted(map(str, watched)):
                # Watch the new places first, then read again: nothing can slip in between.
                watcher.close()
                watched = wanted
                watcher = Watcher(watched, names)
                continue
            pause = SAFETY_RECHECK_S
            due = next_due_s(current) if next_due_s else None
            if due is not None:
                pause = min(pause, max(0.01, due))
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                pause = min(pause, remaining)
            watcher.wait(pause)
    finally:
        watcher.close()


def wait_for_end(project: jobs.Project, job_id: str, *, timeout_s: float | None) -> Job | None:
    found = wait_until(project, [job_id], lambda current: current[0].status.is_terminal, timeout_s=timeout_s)
    return found[0] if found else None
