"""Waiting for jobs without polling loops: wake on file-system events (inotify through watchfiles).

A job's end shows up as its exit record being written; a TUI turn's end as a line in `turns.jsonl`. A tmux
session that vanishes writes nothing, so each wait also re-checks tmux at a slow safety interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from codex_agent import jobs
from codex_agent.agents.launch import EXIT_FILE
from codex_agent.agents.notify import TURNS_FILE
from codex_agent.models import Job

SAFETY_RECHECK_S = 1.0
WATCHED_NAMES = frozenset({EXIT_FILE, TURNS_FILE})


def wait_for_change(
    directories: Iterable[Path], timeout_s: float, names: frozenset[str] = WATCHED_NAMES
) -> bool:
    """Block until a file named in `names` changes in one of `directories`, or the timeout passes."""
    from watchfiles import watch

    paths = [path for path in directories if path.is_dir()]
    if not paths or timeout_s <= 0:
        time.sleep(max(0.0, min(timeout_s, SAFETY_RECHECK_S)))
        return False

    def interesting(change: object, path: str) -> bool:
        return Path(path).name in names

    for _changes in watch(
        *paths,
        watch_filter=interesting,
        debounce=0,
        step=1,
        rust_timeout=max(1, int(timeout_s * 1000)),
        yield_on_timeout=True,
        raise_interrupt=True,
    ):
        return bool(_changes)
    return False


def wait_until(
    project: jobs.Project,
    job_ids: list[str],
    done: Callable[[list[Job]], bool],
    *,
    timeout_s: float | None,
) -> list[Job] | None:
    """Re-read the jobs each time something changes until `done(jobs)`; None when the time is up."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    directories = [project.store.job_dir(job_id) for job_id in job_ids]
    while True:
        current = [jobs.get_job(project, job_id) for job_id in job_ids]
        if done(current):
            return current
        remaining = SAFETY_RECHECK_S if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            return None
        wait_for_change(directories, min(remaining, SAFETY_RECHECK_S))


def wait_for_end(project: jobs.Project, job_id: str, *, timeout_s: float | None) -> Job | None:
    found = wait_until(project, [job_id], lambda current: current[0].status.is_terminal, timeout_s=timeout_s)
    return found[0] if found else None
