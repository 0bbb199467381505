"""The state database's tables besides `jobs`: events, file claims and marks (once-only side effects).

The SQL lives here, behind named methods; `events`, `claims` and `agentslog` own what the rows mean."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from codex_agent.models import TERMINAL_STATUSES, now_ms
from codex_agent.state_db import Database, state_errors

ClaimRow = tuple[int, str, str, int, str]  # id, job id, pattern, created_at, the job's status
_TERMINAL = tuple(sorted(status.value for status in TERMINAL_STATUSES))
_LIVE_CLAIMS_SQL = (
    "SELECT c.id, c.job_id, c.pattern, c.created_at, j.status FROM claims c JOIN jobs j ON j.id = c.job_id "
    f"WHERE c.released_at IS NULL AND j.status NOT IN ({', '.join('?' * len(_TERMINAL))})"
)
SQLITE_MAX_PARAMETERS = 500  # kept well under SQLite's limit on parameters of one statement


def _claim_row(row: Sequence[Any]) -> ClaimRow:
    return int(row[0]), str(row[1]), str(row[2]), int(row[3]), str(row[4])


class OtherTables(Database):
    """Events, claims and marks, on the connection Database holds."""

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query; no rows when the project has no state yet."""
        if self._db is None:
            return []
        with state_errors("read the state database"):
            return [tuple(row) for row in self._db.execute(sql, params)]

    # --- claims ------------------------------------------------------------------------------------------

    def live_claims(self, job_id: str | None = None, tx: sqlite3.Connection | None = None) -> list[ClaimRow]:
        """Claims not released, of jobs that have not ended, oldest first (in `tx`: under its write lock)."""
        sql, params = _LIVE_CLAIMS_SQL, list(_TERMINAL)
        if job_id is not None:
            sql += " AND c.job_id = ?"
            params.append(job_id)
        sql += " ORDER BY c.id"
        rows = tx.execute(sql, params).fetchall() if tx is not None else self._rows(sql, params)
        return [_claim_row(row) for row in rows]

    def claim_patterns(self, job_id: str) -> list[str]:
        """Every pattern a job claimed, live or not, in the order claimed."""
        rows = self._rows("SELECT pattern FROM claims WHERE job_id = ? ORDER BY id", (job_id,))
        return [str(row[0]) for row in rows]

    def insert_claims(self, tx: sqlite3.Connection, job_id: str, patterns: Sequence[str]) -> None:
        at = now_ms()
        tx.executemany(
            "INSERT INTO claims (job_id, pattern, created_at) VALUES (?, ?, ?)",
            [(job_id, pattern, at) for pattern in dict.fromkeys(patterns)],
        )

    def release_claims(self, job_id: str) -> int:
        """End a job's live claims; returns how many were released."""
        with self.transaction() as tx:
            cursor = tx.execute(
                "UPDATE claims SET released_at = ? WHERE job_id = ? AND released_at IS NULL",
                (now_ms(), job_id),
            )
            return cursor.rowcount

    # --- marks -------------------------------------------------------------------------------------------

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

    def marks_of(self, job_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(job id, kind) of every mark the given jobs have."""
        found: set[tuple[str, str]] = set()
        for start in range(0, len(job_ids), SQLITE_MAX_PARAMETERS):
            part = list(job_ids[start : start + SQLITE_MAX_PARAMETERS])
            sql = f"SELECT job_id, kind FROM marks WHERE job_id IN ({', '.join('?' * len(part))})"
            found.update((str(job_id), str(kind)) for job_id, kind in self._rows(sql, part))
        return found

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
        rows = self._rows("SELECT seq, at, kind, data FROM events WHERE job_id = ? ORDER BY seq", (job_id,))
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
        with state_errors("read the state database"):
            return [tuple(row) for row in self._db.execute(sql, params)]

    def last_event_seq(self) -> int:
        rows = self._rows("SELECT COALESCE(MAX(seq), 0) FROM events")
        return int(rows[0][0]) if rows else 0

    def has_event_before(self, job_id: str, kinds: Sequence[str], seq: int) -> bool:
        """Whether the job has an event of one of these kinds below `seq`."""
        marks = ", ".join("?" * len(kinds))
        sql = f"SELECT 1 FROM events WHERE job_id = ? AND kind IN ({marks}) AND seq < ? LIMIT 1"
        return bool(self._rows(sql, (job_id, *kinds, seq)))
