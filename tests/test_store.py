"""The state database: migrations, damage, permissions and many writers at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from codex_agent.errors import StateError
from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.store import Store
from codex_agent.store_schema import SCHEMA_VERSION
from tests.helpers import CLI, REPO_ROOT


def make_job(store: Store, **fields: object) -> Job:
    job = Job(
        id=store.new_job_id(),
        kind=JobKind.COMMAND,
        status=JobStatus.RUNNING,
        prompt="true",
        cwd="/tmp",
        created_at=now_ms(),
    )
    for key, value in fields.items():
        setattr(job, key, value)
    store.insert_job(job)
    return job


def test_reading_a_project_without_state_creates_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state", create=False)
    assert store.list_jobs() == []
    assert not (tmp_path / "state").exists()


def test_round_trip_and_compare_and_swap(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state", create=True)
    job = make_job(store, attrs={"k": [1, 2]})
    loaded = store.get_job(job.id)
    assert loaded == job
    stale = store.get_job(job.id)
    loaded.status = JobStatus.IDLE
    assert store.save_job(loaded)
    stale.status = JobStatus.LOST
    assert not store.save_job(stale)  # written meanwhile: the stale copy does not overwrite it
    assert store.get_job(job.id).status is JobStatus.IDLE


def test_a_newer_schema_is_refused_with_a_way_out(tmp_path: Path) -> None:
    Store.open(tmp_path / "state", create=True).close()
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match="newer than this codex-agent knows"):
        Store.open(tmp_path / "state", create=False)


def test_a_damaged_database_gives_one_clear_line(cli: CLI, project: Path) -> None:
    state = project / ".codex-agent"
    state.mkdir(mode=0o700)
    (state / "state.db").write_bytes(b"this is not sqlite" * 100)
    result = cli.run("jobs")
    assert result.code == 7
    assert "damaged" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_modes_stay_private_under_a_permissive_umask(tmp_path: Path) -> None:
    code = (
        "import os, sys; os.umask(0); sys.path.insert(0, sys.argv[2]);"
        "from pathlib import Path; from codex_agent.store import Store;"
        "Store.open(Path(sys.argv[1]), create=True).close()"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "state"), str(REPO_ROOT)], check=True)
    for path in [tmp_path / "state", *(tmp_path / "state").rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path


def test_many_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]);"
        "from pathlib import Path; from codex_agent.store import Store;"
        "from codex_agent.models import Job, JobKind, JobStatus, now_ms;"
        "s = Store.open(Path(sys.argv[1]), create=True)\n"
        "for i in range(25):\n"
        "    s.insert_job(Job(id=s.new_job_id(), kind=JobKind.COMMAND, status=JobStatus.RUNNING,"
        " prompt=str(i), cwd='/', created_at=now_ms()))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "state"), str(REPO_ROOT)])
        for _ in range(12)
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * 12
    store = Store.open(tmp_path / "state", create=False)
    jobs = store.list_jobs()
    assert len(jobs) == 300
    assert len({job.id for job in jobs}) == 300


def test_opening_a_database_another_process_is_creating_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another starter's connection writes the brand-new database in rollback mode (as the first switch to
    # WAL does): SQLite refuses the switch at once, without its busy handler. The open backs off instead.
    from codex_agent import state_db

    state = tmp_path / ".codex-agent"
    state.mkdir(mode=0o700)
    other = sqlite3.connect(state / "state.db", isolation_level=None)
    other.execute("CREATE TABLE scratch (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch VALUES (1)")
    pauses: list[float] = []

    def back_off(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            other.execute("COMMIT")  # the other process is done

    monkeypatch.setattr(state_db, "_back_off", back_off)
    store = Store.open(state, create=True)
    try:
        assert len(pauses) == 2
        assert store._require_db().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.list_jobs(limit=None) == []
    finally:
        store.close()
        other.close()
