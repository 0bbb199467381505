"""The state database's connection: opening it (also on a full disk), write transactions, and SQLite's and
the OS's failures turned into one clear error each."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from codex_agent import safefs
from codex_agent.errors import DiskFullError, StateError

DB_NAME = "state.db"
BUSY_TIMEOUT_MS = 15_000


@contextlib.contextmanager
def state_errors(action: str, where: Path | None = None) -> Iterator[None]:
    """Turn SQLite and OS failures into one clear StateError; the transaction has been rolled back."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "full" in text or getattr(exc, "sqlite_errorcode", None) == 13:  # SQLITE_FULL
            raise DiskFullError(
                f"could not {action}: the disk is full (at {where or 'the state directory'})",
                "free some space there (e.g. `codex-agent delete ID` of a job with a large output); "
                "reads, kill, delete and clean still work",
            ) from exc
        if "not a database" in text or "malformed" in text:
            hint = "the state database is damaged: move the state directory aside and start again"
        elif "readonly" in text or "read-only" in text:
            hint = "the state database is read-only: fix the permissions of the state directory"
        elif "locked" in text:
            hint = "another codex-agent held the database too long: try again"
        else:
            hint = "check the state directory (CODEX_AGENT_STATE_DIR or .codex-agent/)"
        raise StateError(f"could not {action}: {text}", hint) from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise safefs.disk_full(
                Path(exc.filename) if exc.filename else where or Path("."), action
            ) from exc
        raise StateError(f"could not {action}: {exc.strerror or exc}", "check the state directory") from exc


class Database:
    """One SQLite connection to a state database, and its write transactions."""

    def __init__(self, state_dir: Path, db: sqlite3.Connection | None, *, read_only: bool = False) -> None:
        self.state_dir = state_dir
        self._db = db
        # Opened read-only because the disk was full (see _open_on_full_disk): writes reopen it first.
        self._read_only = read_only

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def exists(self) -> bool:
        return self._db is not None

    def _require_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError(f"no codex-agent state in {self.state_dir}", "start a job first")
        return self._db

    def _reopen_for_writing(self) -> None:
        """After a read-only open on a full disk: space may have been freed since (delete, clean free it
        before they write)."""
        with state_errors("write the state database", self.state_dir):
            db = connect(self.state_dir / DB_NAME)
            try:
                db.execute("PRAGMA journal_mode").fetchone()
            except BaseException:
                db.close()
                if low_on_space(self.state_dir):
                    raise DiskFullError(
                        f"could not write the state database: the disk is full (at {self.state_dir})",
                        "free some space there (`codex-agent delete ID` of a job with a large output)",
                    ) from None
                raise
        self.close()
        self._db, self._read_only = db, False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with the write lock up front (BEGIN IMMEDIATE)."""
        if self._read_only:
            self._reopen_for_writing()
        db = self._require_db()
        with state_errors("write the state database", self.state_dir):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


def connect(db_path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return db


LOW_SPACE_BYTES = 256 * 1024


def low_on_space(path: Path) -> bool:
    try:
        info = os.statvfs(path)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < LOW_SPACE_BYTES


def open_on_full_disk(db_path: Path) -> sqlite3.Connection:
    """The database read as it is on disk, for a disk too full for SQLite to make its -shm file: reads (and
    so kill, delete and clean) still work. Safe when no other connection is open, which is when the -shm file
    is missing; with one open, the -shm exists and the normal open above does not fail for lack of space."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True, isolation_level=None)
    db.execute("PRAGMA user_version").fetchone()
    return db


WAL_SWITCH_FIRST_PAUSE_S = 0.005


def use_wal(db: sqlite3.Connection) -> None:
    """Put the database in WAL mode, also while others create it at the same moment.

    Switching a new (rollback-journal) database to WAL needs it to itself, and SQLite answers "database is
    locked" at once, without its busy handler, while another process writes it (switching it too, first):
    back off as the busy handler would, up to the same limit, until the mode is WAL."""
    import time

    pause = WAL_SWITCH_FIRST_PAUSE_S
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            _back_off(pause)
            pause = min(pause * 2, 0.1)


def _back_off(seconds: float) -> None:
    import time

    time.sleep(seconds)  # a backoff on an error SQLite gives without waiting, not a wait for a state
