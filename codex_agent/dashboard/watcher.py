"""The dashboard's watcher thread: it owns a Fleet (and so its SQLite connection), waits on file-system events
in the state directory, re-reads what changed and posts the result to the app as a message."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.message import Message

from codex_agent.dashboard.fleet import Fleet, watch_changes
from codex_agent.dashboard.screens import Note, OutputMoved, SnapshotReady
from codex_agent.errors import CodexAgentError
from codex_agent.models import Job


def watch_fleet(
    fleet: Fleet,
    stop: threading.Event,
    post: Callable[[Message], object],
    *,
    quiet_s: float,
    full_refresh_s: float,
) -> None:
    """Post a SnapshotReady after any change to the records (or tmux), an OutputMoved when only output moved,
    a Note on an error; until `stop` is set."""
    known: dict[str, Job] = {}
    sessions: frozenset[tuple[str, bool]] = frozenset()
    last_full = 0.0
    need_full = True
    changes = watch_changes(fleet.state_dir, stop, quiet_s=quiet_s)
    while not stop.is_set():
        try:
            if need_full:
                snapshot = fleet.snapshot()
                known = {row.job.id: row.job for row in snapshot.rows}
                sessions = fleet.session_states()
                last_full = time.monotonic()
                post(SnapshotReady(snapshot))
            change = next(changes, None)
            if stop.is_set():
                return
            if change is None:
                # Quiet: only tmux can have changed unseen (a session gone). One tmux call to check.
                stale = time.monotonic() - last_full >= full_refresh_s
                need_full = stale or fleet.session_states() != sessions
            elif change.records or not change.output_of <= known.keys():
                need_full = True
            else:
                need_full = change.database and fleet.database_changed()
            if change is not None and change.output_of and not need_full:
                lines = {job_id: fleet.last_line(known[job_id]) for job_id in change.output_of}
                post(OutputMoved(lines))
        except CodexAgentError as exc:
            post(Note(exc.one_line(), error=True))
            need_full = False
            stop.wait(quiet_s)
