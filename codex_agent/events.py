"""`events`: the project's job transitions, read from the store's `events` table, as they happen.

The table is append-only and its `seq` is the cursor: a reader that has printed up to seq N resumes with
`--since N` and neither loses nor repeats an event. Following waits on inotify for the state directory's
database files (a commit writes `state.db-wal`), not on a timer; a slow safety re-read covers the rare lost
notification. Only the public kinds below are shown, each with a fixed set of data fields; other rows
("created", "message_confirmed", ...) are bookkeeping.

Start-up matters (an orchestrator's monitor restarts this on every session): this module needs only the
store; watchfiles is imported when following starts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_agent.errors import StateError, UsageError
from codex_agent.models import JSON_VERSION, iso
from codex_agent.state_db import DB_NAME
from codex_agent.store import Store

# The public kinds, in the order a job usually goes through them.
PUBLIC_KINDS = ("started", "turn_completed", "needs_input", "turn_failed", "stalled", "ended")
# What an orchestrator must act on: the plugin's monitor follows these.
ACTIONABLE_KINDS = ("needs_input", "turn_failed", "turn_completed", "stalled", "ended")
# Internal kinds that are shown as a public one. `kill` records "killed" today; to a reader it is an end.
_ALIASES = {"killed": "ended"}
_STORED_KINDS = {
    kind: [kind, *(old for old, new in _ALIASES.items() if new == kind)] for kind in PUBLIC_KINDS
}
_END_KINDS = tuple(_STORED_KINDS["ended"])

BATCH = 500
SAFETY_RECHECK_S = 5.0  # a re-read in case an inotify event was lost (e.g. the queue overflowed)
_DB_FILES = frozenset({DB_NAME, f"{DB_NAME}-wal"})
# How often the watcher's loop looks at its queue: the wake-up latency. A monitor follows for a whole
# session, so this is well above waiting.py's 2 ms: idle, a follower then costs about 0.05% of a core.
STEP_MS = 100


@dataclass(frozen=True)
class Event:
    seq: int
    at: int
    job_id: str | None
    kind: str  # one of PUBLIC_KINDS
    data: dict[str, Any]
    job_kind: str | None = None  # the job's kind (codex, codex-exec, command), for the wording only

    def to_json(self) -> dict[str, Any]:
        return {
            "json_version": JSON_VERSION,
            "seq": self.seq,
            "at": iso(self.at),
            "job_id": self.job_id,
            "kind": self.kind,
            "data": self.data,
        }


def parse_kinds(names: Sequence[str]) -> list[str]:
    kinds = []
    for name in names:
        kind = name.strip().lower().replace("-", "_")
        if kind not in PUBLIC_KINDS:
            raise UsageError(f"not an event kind: {name!r}", f"use one of: {', '.join(PUBLIC_KINDS)}")
        kinds.append(kind)
    return kinds


def parse_since(text: str | None, store: Store) -> int:
    """A cursor: a seq printed earlier, `0` for the whole history, or `now` for new events only."""
    if text is None:
        return 0
    if text.strip().lower() in ("now", "end"):
        return last_seq(store)
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(
            f"not a cursor: {text!r}", "--since takes a seq printed earlier, 0, or now"
        ) from None
    if value < 0:
        raise UsageError(f"not a cursor: {text!r}", "--since takes a seq printed earlier, 0, or now")
    last = last_seq(store)
    if value > last:
        # Seqs only grow: a cursor past the end comes from another state database (this one was replaced).
        raise UsageError(
            f"cursor {value} is past the last event ({last}): the state database was replaced",
            "start again with --since 0",
        )
    return value


def last_seq(store: Store) -> int:
    return store.last_event_seq()


def batches(
    store: Store, after: int, job_ids: Sequence[str], kinds: Sequence[str]
) -> Iterator[tuple[list[Event], int]]:
    """The public events above the cursor `after`, oldest first, a batch at a time, each with the cursor
    to resume from (rows that are filtered out or not public still move it on)."""
    stored = [name for kind in (kinds or PUBLIC_KINDS) for name in _STORED_KINDS[kind]]
    while True:
        rows = store.events_after(after, job_ids, stored, BATCH)
        events = []
        for seq, at, job_id, kind, data, job_kind in rows:
            after = seq
            event = _public(store, seq, at, job_id, kind, data, job_kind)
            if event is not None:
                events.append(event)
        if rows:
            yield events, after
        if len(rows) < BATCH:
            return


def follow(
    state_dir: Path,
    project_dir: Path,
    after: int,
    job_ids: Sequence[str],
    kinds: Sequence[str],
    emit: Callable[[list[Event]], None],
) -> None:
    """Emit events above `after` as they are written, for as long as the project directory exists.

    A project with no state yet is waited for. If the database is replaced (the state directory was
    deleted and started again), the new one is read from its beginning: its seqs start again."""
    identity: tuple[int, int] | None = None
    store = Store(state_dir, None)
    target: tuple[Path, frozenset[str] | None] | None = None
    watch: _DirWatch | None = None
    try:
        while True:
            wanted = _watch_target(state_dir, project_dir)
            if watch is None or wanted != target:
                # Watch first, then read: a commit between the read and the wait still ends the wait.
                if watch is not None:
                    watch.close()
                    watch = None
                try:
                    watch = _DirWatch(*wanted)
                except FileNotFoundError:  # it went away just now: look again at what to watch
                    continue
                target = wanted
            current = _db_identity(state_dir)
            if current != identity:
                store.close()
                if identity is not None:  # the database read so far is gone or replaced: start afresh
                    after = 0
                store = Store.open(state_dir, create=False) if current else Store(state_dir, None)
                identity = current
            for found, cursor in batches(store, after, job_ids, kinds):
                after = cursor
                if found:
                    emit(found)
            watch.wait(SAFETY_RECHECK_S)
    finally:
        if watch is not None:
            watch.close()
        store.close()


def _watch_target(state_dir: Path, project_dir: Path) -> tuple[Path, frozenset[str] | None]:
    """The directory to watch and the names in it that matter (None: any)."""
    if state_dir.is_dir():
        return state_dir, _DB_FILES
    if not project_dir.is_dir():
        raise StateError(f"the project directory {project_dir} no longer exists", "nothing left to follow")
    if state_dir.parent.is_dir():
        return state_dir.parent, frozenset({state_dir.name})
    return project_dir, None  # CODEX_AGENT_STATE_DIR names a folder whose parent is not there yet


def _db_identity(state_dir: Path) -> tuple[int, int] | None:
    try:
        info = (state_dir / DB_NAME).stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if info.st_size > 0 else None


class _DirWatch:
    """inotify on one directory, not its subdirectories: the job folders' output would wake us for nothing."""

    def __init__(self, directory: Path, names: frozenset[str] | None) -> None:
        from watchfiles._rust_notify import RustNotify

        self.directory = str(directory)
        self.names = names
        self._notify: Any = RustNotify([self.directory], False, False, 50, False, True)

    def wait(self, timeout_s: float) -> None:
        """Until a file with one of `names` changes, or the timeout."""
        deadline = time.monotonic() + timeout_s
        while (remaining_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            result = self._notify.watch(0, STEP_MS, remaining_ms, None)
            if result == "signal":
                raise KeyboardInterrupt
            if isinstance(result, set) and any(self._interesting(path) for _change, path in result):
                return

    def _interesting(self, path: str) -> bool:
        # The watched directory itself going away matters too: what to watch has changed.
        return self.names is None or path == self.directory or os.path.basename(path) in self.names

    def close(self) -> None:
        self._notify.close()


# --- the public shape of each kind --------------------------------------------------------------------


def _public(
    store: Store, seq: int, at: int, job_id: str | None, kind: str, raw: str, job_kind: str | None
) -> Event | None:
    public = _ALIASES.get(kind, kind)
    try:
        loaded = json.loads(raw)
    except ValueError:
        loaded = {}
    data = loaded if isinstance(loaded, dict) else {}
    if public == "ended":
        if kind == "killed":
            data = {"status": "killed", **data}
        if job_id is not None and _ended_before(store, job_id, seq):
            return None  # a job ends once; a second writer's record of the same end is not news
    shaped = _SHAPERS[public](data, job_kind)
    return Event(seq=seq, at=at, job_id=job_id, kind=public, data=shaped, job_kind=job_kind)


def _ended_before(store: Store, job_id: str, seq: int) -> bool:
    return store.has_event_before(job_id, _END_KINDS, seq)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _answers(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("key") or item.get("label") or item.get("value")
        if isinstance(item, str) and item:
            out.append(item)
    return out


_SHAPERS: dict[str, Callable[[dict[str, Any], str | None], dict[str, Any]]] = {
    "started": lambda d, job_kind: {"kind": _str(d.get("kind")) or job_kind},
    "turn_completed": lambda d, _k: {"summary": _str(d.get("summary")), "turn_id": _str(d.get("turn_id"))},
    "needs_input": lambda d, _k: {
        "question": _str(d.get("question")),
        "command": _str(d.get("command")),
        "cwd": _str(d.get("cwd")),
        "reason": _str(d.get("reason")),
        "answers": _answers(d.get("answers")),
    },
    "turn_failed": lambda d, _k: {"error": _str(d.get("error")), "turn_id": _str(d.get("turn_id"))},
    "stalled": lambda d, _k: {"quiet_s": _number(d.get("quiet_s"))},
    "ended": lambda d, _k: {
        "status": _str(d.get("status")) or "failed",
        "exit_code": _int(d.get("exit_code")),
        # Older writers call it "reason" (a queued job that could not start).
        "error": _str(d.get("error")) or _str(d.get("reason")),
    },
}
