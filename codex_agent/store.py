"""The per-project state: where it lives, the SQLite database, and each job's folder. Nothing about tmux.

Layout of a state directory (mode 0700, files 0600):
    state.db            jobs, events (and later tables), WAL mode, schema version in PRAGMA user_version
    jobs/<id>/          one folder per job: prompt, launch spec, output log, exit status, turn records
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from codex_agent import safefs
from codex_agent.errors import AmbiguousIdError, DiskFullError, NotFoundError, StateError, UsageError
from codex_agent.models import (
    ID_LENGTH,
    TERMINAL_STATUSES,
    Job,
    JobKind,
    JobStatus,
    Tokens,
    now_ms,
    prompt_preview,
)

STATE_DIR_NAME = ".codex-agent"
DB_NAME = "state.db"
STAGING_DIR_NAME = ".staging"
STATE_DIR_ENV = "CODEX_AGENT_STATE_DIR"
BUSY_TIMEOUT_MS = 15_000
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
    if prefix.startswith("codex-agent-"):
        prefix = prefix[len("codex-agent-") :]
    if not prefix or len(prefix) > ID_LENGTH or not set(prefix) <= _HEX:
        raise UsageError(
            f"not a job id: {text!r}",
            "job ids are up to 8 hex characters, e.g. 3f9a1c2e (see `codex-agent jobs`)",
        )
    return prefix


# --- schema and migrations ------------------------------------------------------------------------------


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, and a migration must stay inside the caller's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _migration_1(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            prompt TEXT NOT NULL,
            cwd TEXT NOT NULL,
            model TEXT,
            reasoning TEXT,
            sandbox TEXT,
            created_at INTEGER NOT NULL,
            started_at INTEGER,
            completed_at INTEGER,
            exit_code INTEGER,
            thread_id TEXT,
            error TEXT,
            parent_session TEXT,
            summary TEXT,
            tokens TEXT,
            files_modified TEXT,
            updated_at INTEGER NOT NULL,
            attrs TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX jobs_by_created ON jobs (created_at DESC);
        CREATE INDEX jobs_by_status ON jobs (status);
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT,
            at INTEGER NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_by_job ON events (job_id, seq);
        """,
    )


def _migration_2(db: sqlite3.Connection) -> None:
    """File claims, and the once-only side effects of a job (agents.log entries, retries)."""
    _run_script(
        db,
        """
        CREATE TABLE claims (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            pattern TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            released_at INTEGER
        );
        CREATE INDEX claims_by_job ON claims (job_id);
        CREATE TABLE marks (
            job_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (job_id, kind)
        );
        """,
    )


def _migration_3(db: sqlite3.Connection) -> None:
    """Whether a pending job waits in the queue: a column of its own, kept from the record's attrs."""
    _run_script(
        db,
        """
        ALTER TABLE jobs ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
        UPDATE jobs SET queued = 1 WHERE status = 'pending' AND json_extract(attrs, '$.queued') = 1;
        CREATE INDEX jobs_queued ON jobs (queued) WHERE queued = 1
        """,
    )


# Applied in order; the database's PRAGMA user_version is the number applied so far. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1, _migration_2, _migration_3]
SCHEMA_VERSION = len(MIGRATIONS)

_JOB_COLUMNS = (
    "id, kind, status, prompt, cwd, model, reasoning, sandbox, created_at, started_at, completed_at, "
    "exit_code, thread_id, error, parent_session, summary, tokens, files_modified, updated_at, attrs, queued"
)
_COLUMN_COUNT = _JOB_COLUMNS.count(",") + 1


def _row_to_job(row: Sequence[Any]) -> Job:
    tokens = row[16]
    files = row[17]
    return Job(
        id=row[0],
        kind=JobKind(row[1]),
        status=JobStatus(row[2]),
        prompt=row[3],
        cwd=row[4],
        model=row[5],
        reasoning=row[6],
        sandbox=row[7],
        created_at=row[8],
        started_at=row[9],
        completed_at=row[10],
        exit_code=row[11],
        thread_id=row[12],
        error=row[13],
        parent_session=row[14],
        summary=row[15],
        tokens=Tokens.from_json(json.loads(tokens)) if tokens else None,
        files_modified=json.loads(files) if files else None,
        updated_at=row[18],
        attrs=json.loads(row[19]) if row[19] and row[19] != "{}" else {},
    )


def _text(value: Any) -> Any:
    """SQLite takes UTF-8 only: a lone surrogate (undecodable bytes, or a "\\udcxx" escape in an agent's JSON)
    would make every later write of the record fail. Such characters are stored as visible escapes."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _job_to_row(job: Job) -> tuple[Any, ...]:
    return tuple(_text(value) for value in _job_row_values(job))


def _job_row_values(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.kind.value,
        job.status.value,
        prompt_preview(job.prompt),  # the whole prompt lives in the job's folder (prompt.txt), once
        job.cwd,
        job.model,
        job.reasoning,
        job.sandbox,
        job.created_at,
        job.started_at,
        job.completed_at,
        job.exit_code,
        job.thread_id,
        job.error,
        job.parent_session,
        job.summary,
        json.dumps(job.tokens.to_json()) if job.tokens else None,
        json.dumps(job.files_modified) if job.files_modified is not None else None,
        job.updated_at,
        json.dumps(job.attrs, sort_keys=True),
        int(job.status is JobStatus.PENDING and bool(job.attrs.get("queued"))),
    )


@contextlib.contextmanager
def _state_errors(action: str, where: Path | None = None) -> Iterator[None]:
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


class Store:
    """The state directory of one project. Safe to use from many processes at once."""

    def __init__(self, state_dir: Path, db: sqlite3.Connection | None, *, read_only: bool = False) -> None:
        self.state_dir = state_dir
        self._db = db
        # Opened read-only because the disk was full (see _open_on_full_disk): writes reopen it first.
        self._read_only = read_only

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
            with _state_errors("create the state directory", state_dir):
                _make_private_dir(state_dir)
                _make_private_dir(state_dir / "jobs")
                # The state is never part of the project's history, nor of a job's changed files.
                write_private_file(state_dir / ".gitignore", b"*\n")
                fd = os.open(db_path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
        if not os.access(state_dir, os.W_OK):
            # SQLite (WAL mode) must write next to the database even to read it; say so plainly.
            raise StateError(
                f"the state directory {state_dir} is read-only",
                "make it writable, or point CODEX_AGENT_STATE_DIR at a writable copy",
            )
        with _state_errors("open the state database", state_dir):
            try:
                store = cls(state_dir, _connect(db_path))
            except sqlite3.OperationalError:
                if not low_on_space(state_dir):
                    raise
                return cls(state_dir, _open_on_full_disk(db_path), read_only=True)
            try:
                store._migrate()
            except sqlite3.OperationalError:
                store.close()
                if not low_on_space(state_dir):
                    raise
                return cls(state_dir, _open_on_full_disk(db_path), read_only=True)
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
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        if version == SCHEMA_VERSION:
            return
        with self.transaction() as tx:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, SCHEMA_VERSION):
                MIGRATIONS[number](tx)
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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
        with _state_errors("write the state database", self.state_dir):
            db = _connect(self.state_dir / DB_NAME)
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
        with _state_errors("write the state database", self.state_dir):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- job folders -------------------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.state_dir / "jobs" / job_id

    def make_job_dir(self, job_id: str) -> Path:
        path = self.job_dir(job_id)
        with _state_errors("create the job folder", path):
            _make_private_dir(self.state_dir / "jobs")
            _make_private_dir(path)
        return path

    def staging_dir(self, job_id: str) -> Path:
        """Where a starting job's folder is written before it moves into jobs/, in the same transaction as
        its record: outside that transaction, jobs/ holds no folder without a record."""
        path = self.state_dir / STAGING_DIR_NAME / job_id
        with _state_errors("create the job folder", path):
            _make_private_dir(self.state_dir / "jobs")
            _make_private_dir(path.parent)
            _make_private_dir(path)
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
        placeholders = ", ".join("?" * _COLUMN_COUNT)
        sql = f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES ({placeholders})"
        if tx is not None:
            tx.execute(sql, _job_to_row(job))
            return
        with self.transaction() as db:
            db.execute(sql, _job_to_row(job))

    def save_job(
        self, job: Job, *, expected_updated_at: int | None = None, tx: sqlite3.Connection | None = None
    ) -> bool:
        """Write the whole record. With `expected_updated_at`, only if nobody changed it meanwhile."""
        previous = job.updated_at if expected_updated_at is None else expected_updated_at
        job.updated_at = max(now_ms(), previous + 1)
        row = _job_to_row(job)
        assignments = ", ".join(f"{name.strip()} = ?" for name in _JOB_COLUMNS.split(",")[1:])
        sql = f"UPDATE jobs SET {assignments} WHERE id = ? AND updated_at = ?"
        if tx is not None:
            return tx.execute(sql, (*row[1:], job.id, previous)).rowcount == 1
        with self.transaction() as db:
            return db.execute(sql, (*row[1:], job.id, previous)).rowcount == 1

    def get_job(self, job_id: str, tx: sqlite3.Connection | None = None) -> Job:
        db = tx or self._require_db()
        with _state_errors("read the state database"):
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no job {job_id}", "list jobs with `codex-agent jobs --all`")
        return _row_to_job(row)

    def resolve_id(self, text: str) -> str:
        prefix = validate_id_prefix(text)
        if self._db is None:
            raise NotFoundError(f"no job {prefix}", "no job has been started in this project yet")
        with _state_errors("read the state database"):
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
        with _state_errors("read the state database"):
            return int(db.execute(sql, [status.value for status in statuses]).fetchone()[0])

    def count_starting(self, tx: sqlite3.Connection | None = None) -> int:
        """Pending jobs that are not waiting in the queue: being launched, so they hold a slot already."""
        db = tx or self._require_db()
        with _state_errors("read the state database"):
            row = db.execute("SELECT count(*) FROM jobs WHERE status = 'pending' AND queued = 0").fetchone()
        return int(row[0])

    def queued_jobs(self, tx: sqlite3.Connection | None = None) -> list[Job]:
        """Jobs waiting in the queue, earliest first."""
        if tx is None and self._db is None:
            return []
        db = tx or self._require_db()
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE queued = 1 ORDER BY created_at, id"
        with _state_errors("read the state database"):
            return [_row_to_job(row) for row in db.execute(sql)]

    def has_queued(self) -> bool:
        return bool(self._db is not None and self.queued_jobs())

    def list_jobs(
        self, *, limit: int | None = None, statuses: Sequence[JobStatus] | None = None
    ) -> list[Job]:
        if self._db is None:
            return []
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs"
        params: list[Any] = []
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            params.extend(status.value for status in statuses)
        sql += " ORDER BY created_at DESC, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with _state_errors("read the state database"):
            return [_row_to_job(row) for row in self._db.execute(sql, params)]

    def data_version(self) -> int | None:
        """A number that changes when another connection commits (PRAGMA data_version); None: no state."""
        if self._db is None:
            return None
        with _state_errors("read the state database"):
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def unfinished_jobs(self) -> list[Job]:
        """Jobs whose recorded status is not terminal: the ones reconciliation must look at."""
        if self._db is None:
            return []
        # Named positively so that the status index answers it: NOT IN would read every job of a long history.
        unfinished = [status.value for status in JobStatus if status not in TERMINAL_STATUSES]
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status IN ({', '.join('?' * len(unfinished))})"
        with _state_errors("read the state database"):
            return [_row_to_job(row) for row in self._db.execute(sql, unfinished)]

    def delete_job(self, job_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))

    # --- other tables (claims, marks): plain queries for the modules that own them ------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query; no rows when the project has no state yet."""
        if self._db is None:
            return []
        with _state_errors("read the state database"):
            return [tuple(row) for row in self._db.execute(sql, params)]

    def mark_once(self, job_id: str, kind: str) -> bool:
        """Record that `kind` was done for a job. True for the one caller that records it first."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO marks (job_id, kind, at) VALUES (?, ?, ?)", (job_id, kind, now_ms())
            )
            return cursor.rowcount == 1

    def unmark(self, job_id: str, kind: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM marks WHERE job_id = ? AND kind = ?", (job_id, kind))

    # --- events ------------------------------------------------------------------------------------------

    def add_event(
        self,
        job_id: str | None,
        kind: str,
        data: dict[str, Any] | None = None,
        tx: sqlite3.Connection | None = None,
    ) -> None:
        sql = "INSERT INTO events (job_id, at, kind, data) VALUES (?, ?, ?, ?)"
        values = (job_id, now_ms(), kind, json.dumps(data or {}, sort_keys=True))
        if tx is not None:
            tx.execute(sql, values)
            return
        with self.transaction() as db:
            db.execute(sql, values)

    def events(self, job_id: str) -> list[dict[str, Any]]:
        if self._db is None:
            return []
        with _state_errors("read the state database"):
            rows = self._db.execute(
                "SELECT seq, at, kind, data FROM events WHERE job_id = ? ORDER BY seq", (job_id,)
            ).fetchall()
        return [
            {"seq": seq, "at": at, "kind": kind, "data": json.loads(data)} for seq, at, kind, data in rows
        ]

    def events_after(
        self,
        seq: int,
        job_ids: Sequence[str] = (),
        kinds: Sequence[str] = (),
        limit: int = 500,
    ) -> list[tuple[int, int, str | None, str, str, str | None]]:
        """Events with a seq above `seq`, oldest first: (seq, at, job_id, kind, data JSON, the job's kind).

        Writers hold the write lock from insert to commit, so seqs become visible in order: a reader that
        has seen seq N has seen every event below it, and `seq` is a cursor that loses nothing."""
        if self._db is None:
            return []
        sql = (
            "SELECT e.seq, e.at, e.job_id, e.kind, e.data, j.kind FROM events e"
            " LEFT JOIN jobs j ON j.id = e.job_id WHERE e.seq > ?"
        )
        params: list[Any] = [seq]
        if job_ids:
            sql += f" AND e.job_id IN ({', '.join('?' * len(job_ids))})"
            params.extend(job_ids)
        if kinds:
            sql += f" AND e.kind IN ({', '.join('?' * len(kinds))})"
            params.extend(kinds)
        sql += " ORDER BY e.seq LIMIT ?"
        params.append(limit)
        with _state_errors("read the state database"):
            return [tuple(row) for row in self._db.execute(sql, params)]


def _connect(db_path: Path) -> sqlite3.Connection:
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


def _open_on_full_disk(db_path: Path) -> sqlite3.Connection:
    """The database read as it is on disk, for a disk too full for SQLite to make its -shm file: reads (and
    so kill, delete and clean) still work. Safe when no other connection is open, which is when the -shm file
    is missing; with one open, the -shm exists and the normal open above does not fail for lack of space."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True, isolation_level=None)
    db.execute("PRAGMA user_version").fetchone()
    return db


def _make_private_dir(path: Path) -> None:
    # 0700 even under umask 000; an existing symlink or foreign folder is refused, never chmod-ed.
    safefs.make_private_dir(path)


def write_private_file(path: Path, data: bytes) -> None:
    """Write a file atomically (temp file in the same folder, then rename), mode 0600."""
    import secrets

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
