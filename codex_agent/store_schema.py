"""The state database's tables: the migrations that make them, and how a Job maps to a row of `jobs`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from codex_agent.models import Job, JobKind, JobStatus, Tokens, prompt_preview


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

JOB_COLUMNS = (
    "id, kind, status, prompt, cwd, model, reasoning, sandbox, created_at, started_at, completed_at, "
    "exit_code, thread_id, error, parent_session, summary, tokens, files_modified, updated_at, attrs, queued"
)
COLUMN_COUNT = JOB_COLUMNS.count(",") + 1


def row_to_job(row: Sequence[Any]) -> Job:
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


def job_to_row(job: Job) -> tuple[Any, ...]:
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
