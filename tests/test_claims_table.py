"""Claims held in the state database (codex_agent/claims.py): acquire, conflicts, release and their end with
the job, in-process on a real SQLite store. The pattern overlap rule itself is tested in test_claims.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from codex_agent import claims
from codex_agent.errors import ConflictError
from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state", create=True)


def start(
    store: Store,
    *patterns: str,
    files: Sequence[str] = (),
    force: bool = False,
    status: JobStatus = JobStatus.RUNNING,
) -> Job:
    """Record a job with its claims the way a start does: the check and the insert in one transaction."""
    job = Job(store.new_job_id(), JobKind.CODEX, status, "work", "/tmp", now_ms())
    with store.transaction() as tx:
        claims.acquire(store, tx, job, patterns, files, force=force)
        store.insert_job(job, tx)
    return job


def set_status(store: Store, job: Job, status: JobStatus) -> None:
    current = store.get_job(job.id)
    current.status = status
    assert store.save_job(current)


def test_a_running_jobs_claims_are_live(store: Store) -> None:
    job = start(store, "src/auth/**", "docs/*.md")
    live = claims.live_claims(store)
    assert [(claim.job_id, claim.pattern, claim.job_status) for claim in live] == [
        (job.id, "src/auth/**", "running"),
        (job.id, "docs/*.md", "running"),
    ]
    assert live[0].to_json()["created_at"].endswith("Z")


def test_an_overlapping_claim_of_another_job_is_refused_and_nothing_is_recorded(store: Store) -> None:
    holder = start(store, "src/**")
    with pytest.raises(ConflictError) as refused:
        start(store, "docs/**", "src/*.py")
    message = str(refused.value)
    assert "'src/*.py' overlaps 'src/**'" in message and f"held by job {holder.id} (running)" in message
    assert "e.g. src/x.py" in message  # a path both match, though no such file exists
    assert [claim.job_id for claim in claims.live_claims(store)] == [holder.id]
    assert len(store.list_jobs()) == 1  # the refused start left no record either


def test_the_conflict_names_an_existing_file_when_there_is_one(store: Store) -> None:
    start(store, "src/**")
    with pytest.raises(ConflictError, match=r"e\.g\. src/app/main\.py"):
        start(store, "**/main.py", files=["README.md", "src/app/main.py"])


def test_claims_that_cannot_overlap_are_held_together(store: Store) -> None:
    first = start(store, "src/*.py")
    second = start(store, "src/*.ts", "docs/**")
    assert {claim.job_id for claim in claims.live_claims(store)} == {first.id, second.id}
    assert [claim.pattern for claim in claims.live_claims(store, second.id)] == ["src/*.ts", "docs/**"]


def test_force_records_an_overlapping_claim(store: Store) -> None:
    start(store, "src/**")
    forced = start(store, "src/main.py", force=True)
    assert [claim.pattern for claim in claims.live_claims(store, forced.id)] == ["src/main.py"]


def test_a_pattern_given_twice_is_claimed_once(store: Store) -> None:
    job = start(store, "a/**", "a/**", "b/**")
    assert claims.claims_of(store, job.id) == ["a/**", "b/**"]


def test_a_job_never_conflicts_with_its_own_claims(store: Store) -> None:
    job = start(store, "src/**")
    with store.transaction() as tx:  # a job claiming more later (e.g. its retry) is not blocked by itself
        claims.acquire(store, tx, job, ["src/app.py"], [], force=False)
    assert claims.claims_of(store, job.id) == ["src/**", "src/app.py"]


def test_no_patterns_claim_nothing(store: Store) -> None:
    start(store)
    assert claims.live_claims(store) == []


@pytest.mark.parametrize("ended", ["completed", "failed", "killed", "lost"])
def test_claims_end_with_their_job_but_stay_in_its_history(store: Store, ended: str) -> None:
    job = start(store, "src/**")
    set_status(store, job, JobStatus(ended))
    assert claims.live_claims(store) == []
    assert claims.claims_of(store, job.id) == ["src/**"]
    start(store, "src/main.py")  # the files are free again


def test_an_idle_or_waiting_job_still_holds_its_claims(store: Store) -> None:
    job = start(store, "src/**")
    for status in (JobStatus.IDLE, JobStatus.NEEDS_INPUT, JobStatus.STALLED, JobStatus.PENDING):
        set_status(store, job, status)
        with pytest.raises(ConflictError):
            start(store, "src/x.py")


def test_release_frees_the_files_once(store: Store) -> None:
    job = start(store, "src/**", "lib/**")
    other = start(store, "docs/**")
    assert claims.release(store, job.id) == 2
    assert claims.release(store, job.id) == 0  # nothing live is left to release
    assert [claim.job_id for claim in claims.live_claims(store)] == [other.id]
    start(store, "src/main.py", "lib/x.py")
    assert claims.claims_of(store, job.id) == ["src/**", "lib/**"]


def test_files_outside_every_claim_are_reported() -> None:
    changed = ["src/a.py", "src/deep/b.py", "docs/readme.md", ".env"]
    assert claims.outside_claims(changed, ["src/**"]) == ["docs/readme.md", ".env"]
    assert claims.outside_claims(changed, ["src/*.py", "*"]) == ["src/deep/b.py", "docs/readme.md"]
    assert claims.outside_claims(changed, []) == []  # a job that claimed nothing is not judged
