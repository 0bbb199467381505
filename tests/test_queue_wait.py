"""The queue: when a queued job may start (keeper/queue_wait.py) and the store's queue queries, in-process
on a real SQLite state database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codex_agent.keeper.queue_wait import satisfied, try_take_slot, verdict
from codex_agent.models import Job, JobKind, JobStatus
from codex_agent.store import Store

_clock = iter(range(1_700_000_000_000, 1_800_000_000_000, 1_000))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state", create=True)


def add_job(
    store: Store,
    status: JobStatus = JobStatus.RUNNING,
    *,
    kind: JobKind = JobKind.COMMAND,
    **attrs: Any,
) -> Job:
    """A job recorded now (each one later than the one before), with `attrs`."""
    job = Job(
        id=store.new_job_id(),
        kind=kind,
        status=status,
        prompt="true",
        cwd="/tmp",
        created_at=next(_clock),
        attrs=attrs,
    )
    store.insert_job(job)
    return job


def queued(store: Store, *, after: list[str] | None = None, max_parallel: int | None = None) -> Job:
    return add_job(store, JobStatus.PENDING, queued=True, after=after or [], max_parallel=max_parallel)


def set_status(store: Store, job: Job, status: JobStatus, **attrs: Any) -> None:
    current = store.get_job(job.id)
    current.status = status
    current.attrs.update(attrs)
    assert store.save_job(current)


# --- predecessors -------------------------------------------------------------------------------------------


def test_a_completed_job_is_a_done_predecessor(store: Store) -> None:
    assert satisfied(add_job(store, JobStatus.COMPLETED))
    assert not satisfied(add_job(store, JobStatus.RUNNING))
    assert not satisfied(add_job(store, JobStatus.FAILED))


def test_an_interactive_agent_is_done_when_idle_after_a_completed_turn(store: Store) -> None:
    assert satisfied(add_job(store, JobStatus.IDLE, kind=JobKind.CODEX, turn={"status": "completed"}))
    assert not satisfied(add_job(store, JobStatus.IDLE, kind=JobKind.CODEX, turn={"status": "failed"}))
    assert not satisfied(add_job(store, JobStatus.IDLE, kind=JobKind.CODEX))  # no turn yet
    exec_job = add_job(store, JobStatus.IDLE, kind=JobKind.CODEX_EXEC, turn={"status": "completed"})
    assert not satisfied(exec_job)  # only the interactive kind idles between turns


def test_a_job_without_predecessors_is_ready(store: Store) -> None:
    assert verdict(store, queued(store)) == ("ready", "")


def test_a_job_waits_for_a_running_predecessor_then_is_ready_once_it_completed(store: Store) -> None:
    first = add_job(store, JobStatus.RUNNING)
    job = queued(store, after=[first.id])
    assert verdict(store, job) == ("wait", "")
    set_status(store, first, JobStatus.COMPLETED)
    assert verdict(store, job) == ("ready", "")


def test_a_predecessor_that_failed_fails_the_job_and_says_which(store: Store) -> None:
    done = add_job(store, JobStatus.COMPLETED)
    failed = add_job(store, JobStatus.FAILED)
    state, why = verdict(store, queued(store, after=[done.id, failed.id]))
    assert state == "failed"
    assert why == f"job {failed.id}, which it waited for, ended failed"


def test_a_deleted_predecessor_fails_the_job(store: Store) -> None:
    state, why = verdict(store, queued(store, after=["deadbeef"]))
    assert (state, why) == ("failed", "job deadbeef, which it waited for, was deleted")


def test_a_failed_predecessor_that_is_being_retried_is_waited_for(store: Store) -> None:
    failed = add_job(store, JobStatus.FAILED, retrying=True)
    assert verdict(store, queued(store, after=[failed.id])) == ("wait", "")


def test_a_retried_predecessor_is_judged_by_its_latest_attempt(store: Store) -> None:
    second = add_job(store, JobStatus.RUNNING)
    first = add_job(store, JobStatus.FAILED, retried_as=second.id)
    job = queued(store, after=[first.id])
    assert verdict(store, job) == ("wait", "")
    third = add_job(store, JobStatus.COMPLETED)
    set_status(store, second, JobStatus.FAILED, retried_as=third.id)
    assert verdict(store, job) == ("ready", "")
    set_status(store, third, JobStatus.KILLED)
    assert verdict(store, job) == ("failed", f"job {third.id}, which it waited for, ended killed")


# --- slots --------------------------------------------------------------------------------------------------


def test_taking_a_slot_dequeues_the_job_and_it_stays_pending(store: Store) -> None:
    job = queued(store)
    assert store.queued_jobs() == [store.get_job(job.id)] and store.has_queued()
    assert store.count_starting() == 0  # waiting in the queue is not starting
    assert try_take_slot(store, job.id) == ("go", "")
    taken = store.get_job(job.id)
    assert taken.status is JobStatus.PENDING
    assert taken.attrs["queued"] is False and isinstance(taken.attrs["dequeued_at"], int)
    assert store.queued_jobs() == [] and not store.has_queued()
    assert store.count_starting() == 1  # now it is being launched: it holds a slot


def test_a_job_that_is_no_longer_pending_never_takes_a_slot(store: Store) -> None:
    job = queued(store)
    set_status(store, job, JobStatus.KILLED)
    assert try_take_slot(store, job.id) == ("failed", "it was killed before its turn came")


def test_a_job_whose_predecessor_failed_gets_the_reason(store: Store) -> None:
    failed = add_job(store, JobStatus.FAILED)
    job = queued(store, after=[failed.id])
    assert try_take_slot(store, job.id) == ("failed", f"job {failed.id}, which it waited for, ended failed")
    assert store.get_job(job.id).attrs["queued"] is True  # nothing taken


def test_running_stalled_and_asking_jobs_hold_slots_and_idle_ones_do_not(store: Store) -> None:
    add_job(store, JobStatus.RUNNING)
    asking = add_job(store, JobStatus.NEEDS_INPUT)
    add_job(store, JobStatus.IDLE, kind=JobKind.CODEX)
    add_job(store, JobStatus.COMPLETED)
    job = queued(store, max_parallel=2)
    assert store.count_jobs([JobStatus.RUNNING, JobStatus.NEEDS_INPUT, JobStatus.STALLED]) == 2
    assert try_take_slot(store, job.id) == ("wait", "")
    set_status(store, asking, JobStatus.STALLED)
    assert try_take_slot(store, job.id) == ("wait", "")
    set_status(store, asking, JobStatus.IDLE)
    assert try_take_slot(store, job.id) == ("go", "")


def test_a_job_being_launched_holds_a_slot(store: Store) -> None:
    add_job(store, JobStatus.PENDING)  # pending and not queued: a start in progress
    job = queued(store, max_parallel=1)
    assert try_take_slot(store, job.id) == ("wait", "")


def test_the_earliest_ready_job_goes_first(store: Store) -> None:
    first, second = queued(store, max_parallel=1), queued(store, max_parallel=1)
    assert store.queued_jobs() == [store.get_job(first.id), store.get_job(second.id)]
    assert try_take_slot(store, second.id) == ("wait", "")  # the earlier one is ready: it goes first
    assert try_take_slot(store, first.id) == ("go", "")
    assert try_take_slot(store, second.id) == ("wait", "")  # the first holds the only slot while it starts
    set_status(store, first, JobStatus.RUNNING)
    assert try_take_slot(store, second.id) == ("wait", "")
    set_status(store, first, JobStatus.COMPLETED)
    assert try_take_slot(store, second.id) == ("go", "")


def test_an_earlier_job_that_is_not_ready_does_not_hold_back_a_later_one(store: Store) -> None:
    blocker = add_job(store, JobStatus.RUNNING, kind=JobKind.CODEX)
    waiting = queued(store, after=[blocker.id], max_parallel=2)
    later = queued(store, max_parallel=2)
    assert try_take_slot(store, later.id) == ("go", "")
    assert try_take_slot(store, waiting.id) == ("wait", "")  # its predecessor still runs


def test_two_connections_never_take_the_same_last_slot(tmp_path: Path) -> None:
    one = Store.open(tmp_path / "state", create=True)
    other = Store.open(tmp_path / "state", create=False)
    first, second = queued(one, max_parallel=1), queued(one, max_parallel=1)
    assert try_take_slot(one, first.id) == ("go", "")
    assert try_take_slot(other, second.id) == ("wait", "")  # it sees the other connection's claim
    set_status(one, first, JobStatus.FAILED)
    assert try_take_slot(other, second.id) == ("go", "")
