"""The job status model and the JSON shape of a job record (codex_agent/models.py), in-process."""

from __future__ import annotations

import pytest

from codex_agent.models import (
    LIVE_STATUSES,
    PROMPT_PREVIEW_CHARS,
    SESSION_PREFIX,
    TERMINAL_STATUSES,
    Job,
    JobKind,
    JobStatus,
    Tokens,
    iso,
)


def make_job(**fields: object) -> Job:
    job = Job(
        id="0123abcd",
        kind=JobKind.CODEX,
        status=JobStatus.RUNNING,
        prompt="fix the build",
        cwd="/work/project",
        created_at=1_700_000_000_000,
    )
    for key, value in fields.items():
        setattr(job, key, value)
    return job


def test_every_status_is_terminal_live_or_pending_and_never_two_of_them() -> None:
    for status in JobStatus:
        kinds = [status.is_terminal, status.is_live, status is JobStatus.PENDING]
        assert kinds.count(True) == 1, status
    assert not TERMINAL_STATUSES & LIVE_STATUSES


@pytest.mark.parametrize("status", ["completed", "failed", "killed", "lost"])
def test_ended_statuses_are_terminal_and_not_live(status: str) -> None:
    assert JobStatus(status).is_terminal
    assert not JobStatus(status).is_live


@pytest.mark.parametrize("status", ["running", "idle", "needs_input", "stalled"])
def test_statuses_of_a_running_process_are_live_and_not_terminal(status: str) -> None:
    assert JobStatus(status).is_live
    assert not JobStatus(status).is_terminal


def test_a_pending_job_is_neither_live_nor_ended() -> None:
    assert not JobStatus.PENDING.is_live and not JobStatus.PENDING.is_terminal


def test_statuses_read_from_their_recorded_text_and_unknown_text_is_refused() -> None:
    assert JobStatus("needs_input") is JobStatus.NEEDS_INPUT
    assert JobStatus.NEEDS_INPUT.value == "needs_input"  # the text the database records
    with pytest.raises(ValueError):
        JobStatus("done")


def test_only_commands_are_not_codex_jobs() -> None:
    assert JobKind.CODEX.is_codex and JobKind.CODEX_EXEC.is_codex
    assert not JobKind.COMMAND.is_codex


def test_iso_is_utc_with_milliseconds_and_none_stays_none() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert iso(None) is None


def test_elapsed_runs_from_start_to_completion() -> None:
    job = make_job(started_at=1_000, completed_at=4_500)
    assert job.elapsed_ms(now=99_999) == 3_500  # a finished job's time no longer grows


def test_elapsed_of_an_unfinished_job_runs_to_now_from_its_creation_when_not_started() -> None:
    job = make_job(created_at=10_000)
    assert job.elapsed_ms(now=12_500) == 2_500
    assert job.elapsed_ms(now=5_000) == 0  # a clock that went back gives no negative time


def test_to_json_keeps_only_a_preview_of_the_prompt_but_its_whole_size() -> None:
    prompt = "é" * (PROMPT_PREVIEW_CHARS + 50)
    data = make_job(prompt=prompt).to_json(now=1_700_000_001_000)
    assert data["prompt"] == "é" * PROMPT_PREVIEW_CHARS
    assert data["prompt_bytes"] == len(prompt.encode())  # bytes, not characters


def test_to_json_takes_the_prompt_size_recorded_at_start_over_the_preview() -> None:
    job = make_job(prompt="x" * PROMPT_PREVIEW_CHARS, attrs={"prompt_bytes": 123_456})
    assert job.to_json()["prompt_bytes"] == 123_456


def test_to_json_of_a_finished_job() -> None:
    job = make_job(
        status=JobStatus.FAILED,
        kind=JobKind.COMMAND,
        started_at=1_700_000_000_500,
        completed_at=1_700_000_002_000,
        exit_code=3,
        error="exit status 3",
        tokens=Tokens(input=1_000, output=20, context_window=4_000),
        files_modified=["src/a.py"],
        attrs={"status_basis": "exit status", "attention": "failed", "other": "not shown"},
    )
    data = job.to_json()
    assert data["id"] == "0123abcd" and data["status"] == "failed" and data["kind"] == "command"
    assert data["tmux_session"] == f"{SESSION_PREFIX}0123abcd"
    assert data["created_at"] == "2023-11-14T22:13:20.000Z"
    assert data["started_at"] == "2023-11-14T22:13:20.500Z"
    assert data["completed_at"] == "2023-11-14T22:13:22.000Z"
    assert data["elapsed_ms"] == 1_500
    assert data["exit_code"] == 3 and data["error"] == "exit status 3"
    assert data["tokens"]["context_used_pct"] == 25.0
    assert data["files_modified"] == ["src/a.py"]
    assert data["status_basis"] == "exit status" and data["attention"] == "failed"
    assert "other" not in data and "attrs" not in data


def test_to_json_of_a_new_job_has_nulls_for_what_is_not_known_yet() -> None:
    data = make_job().to_json(now=1_700_000_000_000)
    for key in ("started_at", "completed_at", "exit_code", "tokens", "summary", "status_basis"):
        assert data[key] is None, key


def test_tokens_round_trip_through_json_and_a_missing_window_has_no_percentage() -> None:
    tokens = Tokens(input=10, output=2, cached_input=4, reasoning_output=1, context_window=None)
    assert tokens.to_json()["context_used_pct"] is None
    assert Tokens.from_json(tokens.to_json()) == tokens
    assert Tokens.from_json({}) == Tokens(input=0, output=0)
