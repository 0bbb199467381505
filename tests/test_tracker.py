"""The keeper's reading of codex's app-server protocol, in-process, on messages captured from the real codex
0.169.0 (tests/fixtures/protocol/*.jsonl: what one client saw, a message a line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codex_agent.appclient import Incoming
from codex_agent.keeper.tracker import Tracker, View
from codex_agent.models import JobStatus

FIXTURES = Path(__file__).parent / "fixtures" / "protocol"


def messages(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def thread_of(recorded: list[dict[str, Any]]) -> str:
    started = next(m for m in recorded if m.get("method") == "thread/started")
    return str(started["params"]["thread"]["id"])


def incoming(message: dict[str, Any]) -> Incoming | None:
    if "method" not in message:
        return None  # a response to the client's own request
    return Incoming(message["method"], message.get("params") or {}, message.get("id"))


def replay(name: str, *, until: int | None = None) -> tuple[Tracker, list[View]]:
    recorded = messages(name)
    tracker = Tracker(thread_of(recorded))
    views = []
    for number, message in enumerate(recorded[:until]):
        item = incoming(message)
        if item is not None and tracker.apply(item, now_ms=1_000 + number):
            views.append(tracker.view())
    return tracker, views


def test_a_turn_with_a_tool_call_runs_until_its_final_message() -> None:
    tracker, views = replay("turn_with_tool_call.jsonl")
    statuses = [view.status for view in views]
    assert statuses[-1] is JobStatus.IDLE
    assert JobStatus.IDLE not in statuses[:-1], "idle only once the turn completed"
    assert any(view.doing == "running /bin/bash -lc 'echo hello'" for view in views)
    final = tracker.view()
    assert final.summary is not None and final.summary.startswith("RAN: echo hello")
    assert final.turn is not None and final.turn.status == "completed"
    assert final.tokens is not None and final.tokens.input == 2000 and final.tokens.output == 100
    assert final.turns_completed == 1


def test_the_title_thread_and_a_persons_turn_in_the_pane() -> None:
    recorded = messages("tui_attached_person_types.jsonl")
    tracker, _views = replay("tui_attached_person_types.jsonl")
    title_threads = [
        m["params"]["thread"]["id"]
        for m in recorded
        if m.get("method") == "thread/started" and m["params"]["thread"]["ephemeral"]
    ]
    assert title_threads and title_threads[0] != tracker.thread_id
    final = tracker.view()
    assert final.status is JobStatus.IDLE
    assert final.turns_completed == 3  # the keeper's prompt, the person's message, the keeper's follow-up
    assert final.summary is not None and final.summary.endswith("from the keeper")
    assert "cm-2" in tracker.client_ids  # the keeper's follow-up was echoed with its client message id


def test_the_persons_turn_is_running_until_it_completes() -> None:
    recorded = messages("tui_attached_person_types.jsonl")
    second_start = [i for i, m in enumerate(recorded) if m.get("method") == "turn/started"][1]
    tracker, _ = replay("tui_attached_person_types.jsonl", until=second_start + 1)
    assert tracker.view().status is JobStatus.RUNNING


def test_an_approval_is_needs_input_with_the_command_until_resolved() -> None:
    recorded = messages("approval_answered_in_pane.jsonl")
    asked = next(i for i, m in enumerate(recorded) if m.get("method", "").endswith("requestApproval"))
    tracker, _ = replay("approval_answered_in_pane.jsonl", until=asked + 1)
    view = tracker.view()
    assert view.status is JobStatus.NEEDS_INPUT
    assert view.question is not None
    assert view.question.command == "/bin/bash -lc 'touch made.txt'"
    assert view.question.reason == "needs to write made.txt"
    assert "accept" in view.question.answers and "cancel" in view.question.answers
    tracker, _ = replay("approval_answered_in_pane.jsonl")
    assert tracker.view().status is JobStatus.IDLE
    assert tracker.view().question is None


def test_a_failed_turn_is_idle_with_codex_error_and_keeps_the_last_good_summary() -> None:
    thread = "01a230dd-0000-7000-8000-000000000001"
    tracker = Tracker(thread)
    tracker.summary = "an earlier reply"
    turn = {"id": "t1", "status": "inProgress", "error": None}
    tracker.apply(Incoming("turn/started", {"threadId": thread, "turn": turn}), 1)
    failed = {
        "id": "t1",
        "status": "failed",
        "error": {"message": "exceeded retry limit, last status: 429 Too Many Requests"},
    }
    tracker.apply(Incoming("turn/completed", {"threadId": thread, "turn": failed}), 2)
    view = tracker.view()
    assert view.status is JobStatus.IDLE
    assert view.turn is not None and view.turn.status == "failed"
    assert view.turn.error == "exceeded retry limit, last status: 429 Too Many Requests"
    assert view.summary == "an earlier reply"


def test_messages_of_other_threads_and_malformed_ones_change_nothing() -> None:
    tracker = Tracker("mine")
    other = {"threadId": "theirs", "turn": {"id": "x", "status": "inProgress"}}
    assert not tracker.apply(Incoming("turn/started", other), 1)
    assert not tracker.apply(Incoming("turn/started", {"threadId": "mine", "turn": {"id": 5}}), 2)
    assert tracker.skipped == 1
    assert tracker.view().status is JobStatus.IDLE and tracker.turn is None
