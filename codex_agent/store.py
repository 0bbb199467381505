"""The per-project state: where it lives, and its job records and folders. Nothing about tmux.

Layout of a state directory (mode 0700, files 0600):
    state.db            jobs, events (and later tables), WAL mode, schema version in PRAGMA user_version
    jobs/<id>/          one folder per job: prompt, launch spec, output log, exit status, turn records

The database's connection is `state_db`, its tables `store_schema`, its other tables `store_tables`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from codex_agent import safefs
from codex_agent.errors import AmbiguousIdError, NotFoundError, StateError, UsageError
from codex_agent.models import ID_LENGTH, SESSION_PREFIX, TERMINAL_STATUSES, Job, JobStatus, now_ms
from codex_agent.state_db import (
    DB_NAME,
    connect,
    low_on_space,
    open_on_full_disk,
    state_errors,
    use_wal,
)
from codex_agent.store_schema import (
    COLUMN_COUNT,
    JOB_COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    job_to_row,
    row_to_job,
)
from codex_agent.store_tables import OtherTables

STATE_DIR_NAME = ".codex-agent"
STAGING_DIR_NAME = ".staging"
SAVE_ATTEMPTS = 50  # of a read-change-save that another writer keeps getting in first (Store.update_job)
STATE_DIR_ENV = "CODEX_AGENT_STATE_DIR"
_HEX = frozenset("0123456789abcdef")


GITDIR_FILE_LIMIT = 4096  # a `.git` file is one `gitdir:` line; anything bigger is not one


def _is_git_dir(path: Path) -> bool:
    """Whether `path` has the shape git requires of a repository folder: a HEAD file, an objects and a refs
    folder (a linked worktree's folder has HEAD and a `commondir` file naming the shared ones instead)."""
    try:
        if not (path / "HEAD").is_file():
            return False
        if (path / "commondir").is_file():
            return True
        return (path / "objects").is_dir() and (path / "refs").is_dir()
    except OSError:
        return False


def _gitdir_of_file(dot_git: Path) -> Path | None:
    """The folder a `.git` file points to (`gitdir: PATH`, as in worktrees and submodules), if it is one."""
    try:
        with dot_git.open("rb") as handle:
            data = handle.read(GITDIR_FILE_LIMIT + 1)
    except OSError:
        return None
    if len(data) > GITDIR_FILE_LIMIT or not data.startswith(b"gitdir:"):
        return None
    target = data[len(b"gitdir:") :].strip().decode("utf-8", errors="surrogateescape")
    if not target or "\x00" in target:
        return None
    path = Path(target)
    return path if path.is_absolute() else dot_git.parent / path


def git_root(start: Path) -> Path | None:
    """The top folder of the git checkout containing `start`, or None outside any. Like git, a `.git` counts
    only when it is a repository folder or a `gitdir:` file pointing at one: an empty `.git` folder does not.
    No subprocess: this runs on every call."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        dot_git = candidate / ".git"
        try:
            if dot_git.is_dir():
                if _is_git_dir(dot_git):
                    return candidate
            elif dot_git.is_file():
                target = _gitdir_of_file(dot_git)
                if target is not None and _is_git_dir(target):
                    return candidate
        except OSError:
            continue
    return None


def find_project_root(start: Path) -> Path:
    """The git top-level containing `start`, else `start` itself."""
    return git_root(start) or start.resolve()


def owning_directory(directory: Path | None) -> Path | None:
    """Where a job that will work in `directory` is recorded (docs/coordination.md, "One project").

    A job belongs to the project it is started from, so that a write agent sent into a sibling checkout or a
    worktree with `--dir` shows in the caller's jobs, context, dashboard and agents.log: the git checkout of
    the current folder, else (with CODEX_AGENT_STATE_DIR) the current folder, else `directory` itself."""
    if directory is None:
        return None
    here = Path.cwd()
    root = git_root(here)
    if root is not None:
        return root
    if os.environ.get(STATE_DIR_ENV):
        return here.resolve()
    return directory


def state_dir_for(directory: Path) -> Path:
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return find_project_root(directory) / STATE_DIR_NAME


def validate_id_prefix(text: str) -> str:
    """Job ids are 8 lowercase hex characters; a unique prefix of one is accepted everywhere."""
    prefix = text.strip().lower()
    prefix = prefix.removeprefix(SESSION_PREFIX)
    if not prefix or len(prefix) > ID_LENGTH or not set(prefix) <= _HEX:
        raise UsageError(
            f"not a job id: {text!r}",
            "job ids are up to 8 hex characters, e.g. 3f9a1c2e (see `codex-agent jobs`)",
        )
    return prefix


class Store(OtherTables):
    """The state directory of one project. Safe to use from many processes at once."""

    # --- opening -----------------------------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path, *, create: bool) -> Store:
        """Open the state. Without `create`, a project that has no state yet reads as empty."""
        db_path = state_dir / DB_NAME
        # An agent may have replaced the state directory (or the database) with a link to somewhere else:
        # SQLite would follow it, and `create` would write a .gitignore and chmod whatever it points at.
        if safefs.check_dir(state_dir):
            safefs.check_file(db_path)
        if not db_path.exists():
            if not create:
                return cls(state_dir, None)
            with state_errors("create the state directory", state_dir):
                safefs.make_private_dir(state_dir)
                safefs.make_private_dir(state_dir / "jobs")
                # The state is never part of the project's history, nor of a job's changed files.
                safefs.write_private_file(state_dir / ".gitignore", b"*\n")
                fd = os.open(db_path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
        if not os.access(state_dir, os.W_OK):
            # SQLite (WAL mode) must write next to the database even to read it; say so plainly.
            raise StateError(
                f"the state directory {state_dir} is read-only",
                "make it writable, or point CODEX_AGENT_STATE_DIR at a writable copy",
            )
        with state_errors("open the state database", state_dir):
            try:
                store = cls(state_dir, connect(db_path))
            except sqlite3.OperationalError:
                if not low_on_space(state_dir):
                    raise
                return cls(state_dir, open_on_full_disk(db_path), read_only=True)
            try:
                store._migrate()
            except sqlite3.OperationalError:
                store.close()
                if not low_on_space(state_dir):
                    raise
                return cls(state_dir, open_on_full_disk(db_path), read_only=True)
        return store

    def _migrate(self) -> None:
        db = self._require_db()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"the state database has schema version {version}, newer than this codex-agent knows "
                f"({SCHEMA_VERSION})",
                "upgrade codex-agent, or point CODEX_AGENT_STATE_DIR at another directory",
            )
        use_wal(db)
        if version == SCHEMA_VERSION:
            return
        with self.transaction() as tx:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, SCHEMA_VERSION):
                MIGRATIONS[number](tx)
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # --- job folders -------------------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.state_dir / "jobs" / job_id

    def make_job_dir(self, job_id: str) -> Path:
        path = self.job_dir(job_id)
        with state_errors("create the job folder", path):
            safefs.make_private_dir(self.state_dir / "jobs")
            safefs.make_private_dir(path)
        return path

    def staging_dir(self, job_id: str) -> Path:
        """Where a starting job's folder is written before it moves into jobs/, in the same transaction as
        its record: outside that transaction, jobs/ holds no folder without a record."""
        path = self.state_dir / STAGING_DIR_NAME / job_id
        with state_errors("create the job folder", path):
            safefs.make_private_dir(self.state_dir / "jobs")
            safefs.make_private_dir(path.parent)
            safefs.make_private_dir(path)
        return path

    # --- jobs --------------------------------------------------------------------------------------------

    def new_job_id(self) -> str:
        import secrets  # imported here, as below: read commands never need it

        db = self._require_db()
        while True:
            candidate = secrets.token_hex(ID_LENGTH // 2)
            # A new id must not be a prefix of, nor prefixed by, an existing one only by accident of
            # equality; a full collision is what matters for the primary key.
            if db.execute("SELECT 1 FROM jobs WHERE id = ?", (candidate,)).fetchone() is None:
                return candidate

    def insert_job(self, job: Job, tx: sqlite3.Connection | None = None) -> None:
        job.updated_at = now_ms()
        placeholders = ", ".join("?" * COLUMN_COUNT)
        sql = f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({placeholders})"
        if tx is not None:
            tx.execute(sql, job_to_row(job))
            return
        with self.transaction() as db:
            db.execute(sql, job_to_row(job))

    def save_job(
        self, job: Job, *, expected_updated_at: int | None = None, tx: sqlite3.Connection | None = None
    ) -> bool:
        """Write the whole record. With `expected_updated_at`, only if nobody changed it meanwhile."""
        previous = job.updated_at if expected_updated_at is None else expected_updated_at
        job.updated_at = max(now_ms(), previous + 1)
        row = job_to_row(job)
        assignments = ", ".join(f"{name.strip()} = ?" for name in JOB_COLUMNS.split(",")[1:])
        sql = f"UPDATE jobs SET {assignments} WHERE id = ? AND updated_at = ?"
        if tx is not None:
            return tx.execute(sql, (*row[1:], job.id, previous)).rowcount == 1
        with self.transaction() as db:
            return db.execute(sql, (*row[1:], job.id, previous)).rowcount == 1

    def update_job(self, job_id: str, change: Callable[[Job], bool]) -> Job:
        """Apply `change` to the freshest record and save it; again if another process saved it meanwhile.

        `change` returns False to leave the record as it is (it is returned unsaved). Writers of one job are
        few (its keeper, a command acting on it), so SAVE_ATTEMPTS tries are plenty; past them, StateError."""
        for _ in range(SAVE_ATTEMPTS):
            job = self.get_job(job_id)
            before = job.updated_at
            if not change(job) or self.save_job(job, expected_updated_at=before):
                return job
        raise StateError(f"job {job_id}: the record kept changing while it was saved", "try again")

    def job_ids(self, tx: sqlite3.Connection) -> set[str]:
        """Every job's id, read in the caller's transaction."""
        return {str(row[0]) for row in tx.execute("SELECT id FROM jobs")}

    def get_job(self, job_id: str, tx: sqlite3.Connection | None = None) -> Job:
        db = tx or self._require_db()
        with state_errors("read the state database"):
            row = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no job {job_id}", "list jobs with `codex-agent jobs --all`")
        return row_to_job(row)

    def resolve_id(self, text: str) -> str:
        prefix = validate_id_prefix(text)
        if self._db is None:
            raise NotFoundError(f"no job {prefix}", "no job has been started in this project yet")
        with state_errors("read the state database"):
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
                (prefix, prefix + "g"),
            ).fetchall()
        if not rows:
            raise NotFoundError(f"no job matches {prefix!r}", "list jobs with `codex-agent jobs --all`")
        if len(rows) > 1:
            shown = ", ".join(row[0] for row in rows[:5])
            raise AmbiguousIdError(f"{prefix!r} matches several jobs ({shown})", "type more of the id")
        return str(rows[0][0])

    def find_job(self, text: str) -> Job:
        return self.get_job(self.resolve_id(text))

    def find_job_or_none(self, job_id: str) -> Job | None:
        try:
            return self.get_job(job_id)
        except NotFoundError:
            return None

    def count_jobs(self, statuses: Sequence[JobStatus], tx: sqlite3.Connection | None = None) -> int:
        db = tx or self._require_db()
        sql = f"SELECT count(*) FROM jobs WHERE status IN ({', '.join('?' * len(statuses))})"
        with state_errors("read the state database"):
            return int(db.execute(sql, [status.value for status in statuses]).fetchone()[0])

    def count_starting(self, tx: sqlite3.Connection | None = None) -> int:
        """Pending jobs that are not waiting in the queue: being launched, so they hold a slot already."""
        db = tx or self._require_db()
        with state_errors("read the state database"):
            row = db.execute("SELECT count(*) FROM jobs WHERE status = 'pending' AND queued = 0").fetchone()
        return int(row[0])

    def queued_jobs(self, tx: sqlite3.Connection | None = None) -> list[Job]:
        """Jobs waiting in the queue, earliest first."""
        if tx is None and self._db is None:
            return []
        db = tx or self._require_db()
        sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE queued = 1 ORDER BY created_at, id"
        with state_errors("read the state database"):
            return [row_to_job(row) for row in db.execute(sql)]

    def has_queued(self) -> bool:
        return bool(self._db is not None and self.queued_jobs())

    def list_jobs(
        self, *, limit: int | None = None, statuses: Sequence[JobStatus] | None = None
    ) -> list[Job]:
        if self._db is None:
            return []
        sql = f"SELECT {JOB_COLUMNS} FROM jobs"
        params: list[Any] = []
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            params.extend(status.value for status in statuses)
        sql += " ORDER BY created_at DESC, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with state_errors("read the state database"):
            return [row_to_job(row) for row in self._db.execute(sql, params)]

    def data_version(self) -> int | None:
        """A number that changes when another connection commits (PRAGMA data_version); None: no state."""
        if self._db is None:
            return None
        with state_errors("read the state database"):
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def unfinished_jobs(self) -> list[Job]:
        """Jobs whose recorded status is not terminal: the ones reconciliation must look at."""
        if self._db is None:
            return []
        # Named positively so that the status index answers it: NOT IN would read every job of a long history.
        unfinished = [status.value for status in JobStatus if status not in TERMINAL_STATUSES]
        sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ({', '.join('?' * len(unfinished))})"
        with state_errors("read the state database"):
            return [row_to_job(row) for row in self._db.execute(sql, unfinished)]

    def delete_job(self, job_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
