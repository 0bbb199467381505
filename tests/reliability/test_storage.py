"""The state database on a read-only mount, on a full disk, damaged, or from a newer codex-agent: one clear
line and a documented way out, never a traceback, and the previous state intact."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CLI
from tests.reliability.support import (
    Tally,
    assert_one_line_refusal,
    check_listing,
    integrity,
    record_ids,
    wait_keeper_gone,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _snapshot(state_dir: Path) -> dict[str, tuple[str, str]]:
    db = sqlite3.connect(f"file:{state_dir / 'state.db'}?mode=ro", uri=True)
    try:
        return {row[0]: (row[1], row[2]) for row in db.execute("SELECT id, status, prompt FROM jobs")}
    finally:
        db.close()


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """A read-only bind mount of `path` over itself (root ignores permission bits, not a read-only mount).
    Files opened before stay writable through the original mount, like a live job's output log."""
    result = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot bind-mount: {result.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@needs_root
def test_read_only_state_refuses_clearly_and_keeps_the_state(cli: CLI, project: Path) -> None:
    state_dir = project / ".codex-agent"
    first = cli.ok("exec", "start", "--cmd", "sleep 300").out.strip()
    cli.ok("jobs", "--json")
    before = _snapshot(state_dir)
    with read_only(state_dir):
        for args in (("exec", "start", "--cmd", "true"), ("start", "hello"), ("kill", first)):
            result = cli.run(*args)
            assert_one_line_refusal(
                result, 7, f"the state directory {state_dir} is read-only", "make it writable"
            )
        reading = cli.run("jobs", "--json")
        assert_one_line_refusal(reading, 7, "is read-only")
    assert _snapshot(state_dir) == before
    assert integrity(state_dir) == "ok"
    listing = check_listing(cli.ok("jobs", "--json", "--all").out)
    assert [(job["id"], job["status"]) for job in listing] == [(first, "running")]


@needs_root
def test_full_disk_refuses_clearly_with_no_partial_record(cli: CLI, tmp_path: Path) -> None:
    """Filled to a different level each time, so the disk runs out at a different step of `start`."""
    tally = Tally("disk-full")
    mount = tmp_path / "small"
    with tmpfs(mount, "512k"):
        state_dir = mount / "state"
        env = {"CODEX_AGENT_STATE_DIR": str(state_dir)}
        cli.ok("exec", "start", "--cmd", "true", env=env)
        cli.ok("jobs", "--json", env=env)
        filler = mount / "filler"
        for leave_kb in (0, 4, 8, 12, 16, 24, 32, 48, 64, 96):
            filler.unlink(missing_ok=True)
            before = _snapshot(state_dir)
            _fill(filler, leave_kb)
            result = cli.run("exec", "start", "--cmd", "true", "--json", env=env)
            if result.code == 0:
                tally.add("started")
                job_id = result.json()["exec_id"]
                filler.unlink()
                job = cli.ok("status", job_id, "--json", env=env).json()  # a job that started is whole
                assert job["status"] in ("running", "completed"), job
            else:
                tally.add("refused")
                assert_one_line_refusal(result, 7)
                assert "disk is full" in result.err or "No space left" in result.err, result.err
                filler.unlink()
                after = _snapshot(state_dir)
                assert after == before, f"a refused start left a record behind ({leave_kb}k: {result.err})"
                folders = {p.name for p in (state_dir / "jobs").iterdir()}
                assert folders == set(after), "a refused start left a folder behind"
            assert integrity(state_dir) == "ok"
            check_listing(cli.ok("jobs", "--json", "--all", env=env).out)
        tally.report()
        assert tally.counts.get("refused", 0) >= 1


def _fill(path: Path, leave_kb: int) -> None:
    with path.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    if leave_kb:
        os.truncate(path, max(0, path.stat().st_size - leave_kb * 1024))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed_header"])
def test_damaged_database_gives_a_clear_message(
    damage: str, cli: CLI, project: Path, tmux_socket: str
) -> None:
    job_id = cli.ok("exec", "start", "--cmd", "true").out.strip()
    cli.wait_status(job_id, ["completed"])
    # Its keeper's closing write would checkpoint the database and put a zeroed header back.
    wait_keeper_gone(tmux_socket, job_id)
    db = project / ".codex-agent" / "state.db"
    data = db.read_bytes()
    if damage == "garbage":
        db.write_bytes(b"this is not a database, it was overwritten" * 200)
    elif damage == "truncated":
        db.write_bytes(data[: len(data) // 3])
    else:
        db.write_bytes(b"\0" * 100 + data[100:])
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    for args in (("jobs", "--json"), ("status", job_id), ("exec", "start", "--cmd", "true"), ("clean",)):
        result = cli.run(*args)
        assert_one_line_refusal(result, 7, "move the state directory aside")
    # The documented way out: move it aside, and start afresh.
    (project / ".codex-agent").rename(project / ".codex-agent.damaged")
    assert cli.ok("jobs", "--json").json()["jobs"] == []
    cli.ok("exec", "start", "--cmd", "true")


def test_newer_schema_is_refused_with_a_way_out(cli: CLI, project: Path) -> None:
    cli.ok("exec", "start", "--cmd", "true")
    db = sqlite3.connect(project / ".codex-agent" / "state.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    for args in (("jobs",), ("exec", "start", "--cmd", "true")):
        result = cli.run(*args)
        assert_one_line_refusal(result, 7, "schema version 99", "upgrade codex-agent")
    assert len(record_ids(project / ".codex-agent")) == 1
