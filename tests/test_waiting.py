"""What waits wake on (codex_agent/waiting.py): real inotify events on real files, and re-reads of a real
state database, in-process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from codex_agent.jobs import Project
from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.store import Store
from codex_agent.tmux import Tmux
from codex_agent.waiting import Watcher, wait_for_change, wait_for_end, wait_until


def write_later(path: Path, delay_s: float = 0.1) -> threading.Thread:
    def write() -> None:
        time.sleep(delay_s)
        path.write_text("x")

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_change_to_a_watched_name_wakes_the_wait_at_once(tmp_path: Path) -> None:
    with Watcher([tmp_path], frozenset({"state.stamp"})) as watcher:
        writer = write_later(tmp_path / "state.stamp")
        begin = time.monotonic()
        assert watcher.wait(10.0)
        assert time.monotonic() - begin < 5.0  # woken by the event, not by the timeout
        writer.join()


def test_changes_to_other_files_do_not_wake_it(tmp_path: Path) -> None:
    with Watcher([tmp_path], frozenset({"state.stamp"})) as watcher:
        writer = write_later(tmp_path / "output.log", 0.05)
        assert not watcher.wait(0.5)
        writer.join()


def test_a_change_made_before_the_wait_is_not_missed(tmp_path: Path) -> None:
    with Watcher([tmp_path], frozenset({"state.stamp"})) as watcher:
        (tmp_path / "state.stamp").write_text("changed between two reads")
        assert watcher.wait(10.0)


def test_a_name_ending_in_a_star_matches_every_name_it_begins(tmp_path: Path) -> None:
    with Watcher([tmp_path], frozenset({"state.db*"})) as watcher:
        (tmp_path / "state.db-wal").write_text("x")
        assert watcher.wait(10.0)
    with Watcher([tmp_path], frozenset({"state.db*"})) as watcher:
        (tmp_path / "other.db").write_text("x")
        assert not watcher.wait(0.3)


def test_without_names_every_change_counts(tmp_path: Path) -> None:
    with Watcher([tmp_path], None) as watcher:
        (tmp_path / "anything").write_text("x")
        assert watcher.wait(10.0)


def test_files_in_folders_below_are_watched_too(tmp_path: Path) -> None:
    (tmp_path / "jobs" / "abc").mkdir(parents=True)
    with Watcher([tmp_path], frozenset({"state.stamp"})) as watcher:
        (tmp_path / "jobs" / "abc" / "state.stamp").write_text("x")
        assert watcher.wait(10.0)


def test_several_folders_are_watched_by_one_watcher(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    with Watcher([first, second], frozenset({"state.stamp"})) as watcher:
        assert watcher.paths == [str(first), str(second)]
        (second / "state.stamp").write_text("x")
        assert watcher.wait(10.0)


def test_a_missing_folder_is_waited_for_by_time_alone(tmp_path: Path) -> None:
    with Watcher([tmp_path / "gone"], frozenset({"state.stamp"})) as watcher:
        assert watcher.paths == []
        begin = time.monotonic()
        assert not watcher.wait(0.2)
        assert time.monotonic() - begin >= 0.2  # it slept: the caller re-checks instead of spinning


def test_a_timeout_of_zero_returns_at_once(tmp_path: Path) -> None:
    with Watcher([tmp_path], frozenset({"state.stamp"})) as watcher:
        begin = time.monotonic()
        assert not watcher.wait(0)
        assert time.monotonic() - begin < 1.0


def test_wait_for_change_watches_state_stamps_by_default(tmp_path: Path) -> None:
    writer = write_later(tmp_path / "state.stamp", 0.2)
    assert wait_for_change([tmp_path], 10.0)
    writer.join()
    assert not wait_for_change([tmp_path], 0.2)  # nothing changed since


# --- waiting for jobs ---------------------------------------------------------------------------------------


def finished_project(root: Path) -> tuple[Project, Job]:
    """A project with one completed job: reading it asks nothing of tmux."""
    store = Store.open(root / ".codex-agent", create=True)
    job = Job(store.new_job_id(), JobKind.COMMAND, JobStatus.COMPLETED, "true", str(root), now_ms())
    store.insert_job(job)
    store.make_job_dir(job.id)
    return Project(root, store, Tmux.from_env()), job


def test_wait_until_returns_the_jobs_once_a_keepers_write_makes_them_done(tmp_path: Path) -> None:
    project, job = finished_project(tmp_path)

    def keeper_writes() -> None:
        time.sleep(0.2)
        writer_store = Store.open(project.store.state_dir, create=False)  # the keeper's own connection
        record = writer_store.get_job(job.id)
        record.summary = "written by the keeper"
        writer_store.save_job(record)
        (writer_store.job_dir(job.id) / "state.stamp").write_text("x")

    writer = threading.Thread(target=keeper_writes)
    writer.start()
    found = wait_until(project, [job.id], lambda jobs: jobs[0].summary is not None, timeout_s=20)
    writer.join()
    assert found is not None and found[0].summary == "written by the keeper"


def test_wait_until_gives_none_when_the_time_is_up(tmp_path: Path) -> None:
    project, job = finished_project(tmp_path)
    begin = time.monotonic()
    assert wait_until(project, [job.id], lambda jobs: False, timeout_s=0.3) is None
    assert 0.3 <= time.monotonic() - begin < 5.0


def test_wait_for_end_of_a_job_that_already_ended_returns_it_at_once(tmp_path: Path) -> None:
    project, job = finished_project(tmp_path)
    ended = wait_for_end(project, job.id, timeout_s=0)
    assert ended is not None and ended.id == job.id and ended.status is JobStatus.COMPLETED
