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


# --- single messages, built by hand -------------------------------------------------------------------------

THREAD = "01a230dd-0000-7000-8000-00000000000a"


def started(tracker: Tracker, turn_id: str = "t1", now: int = 1) -> None:
    turn = {"id": turn_id, "status": "inProgress", "error": None}
    assert tracker.apply(Incoming("turn/started", {"threadId": THREAD, "turn": turn}), now)


def completed(tracker: Tracker, turn_id: str = "t1", now: int = 9, status: str = "completed") -> bool:
    turn = {"id": turn_id, "status": status, "error": None}
    return tracker.apply(Incoming("turn/completed", {"threadId": THREAD, "turn": turn}), now)


def item(tracker: Tracker, method: str, body: dict[str, Any], turn_id: str = "t1") -> bool:
    params = {"threadId": THREAD, "turnId": turn_id, "item": {"id": "i1", **body}}
    return tracker.apply(Incoming(method, params), 5)


def approval(tracker: Tracker, request_id: int, thread: str = THREAD, **fields: Any) -> bool:
    params = {"threadId": thread, "turnId": "t1", "itemId": "i1", **fields}
    return tracker.apply(Incoming("item/commandExecution/requestApproval", params, request_id), 3)


def test_a_started_turn_is_running_with_what_its_current_item_does() -> None:
    tracker = Tracker(THREAD)
    started(tracker)
    assert tracker.view().status is JobStatus.RUNNING
    item(tracker, "item/started", {"type": "commandExecution", "command": "make test"})
    assert tracker.view().doing == "running make test"
    item(tracker, "item/completed", {"type": "commandExecution", "command": "make test"})
    assert tracker.view().doing is None
    item(tracker, "item/started", {"type": "reasoning"})
    assert tracker.view().doing == "thinking"
    item(tracker, "item/started", {"type": "fileChange", "changes": [{"path": "a.py"}, {"path": "b.py"}]})
    assert tracker.view().doing == "editing a.py, b.py"
    item(tracker, "item/started", {"type": "mcpToolCall"})
    assert tracker.view().doing == "calling a tool (mcpToolCall)"
    item(tracker, "item/started", {"type": "commandExecution", "command": "x" * 500})
    doing = tracker.view().doing
    assert doing is not None and len(doing) == 200


def test_the_summary_is_the_last_agent_message_of_a_completed_turn_only() -> None:
    tracker = Tracker(THREAD)
    started(tracker)
    item(tracker, "item/completed", {"type": "agentMessage", "text": "first draft"})
    item(tracker, "item/completed", {"type": "agentMessage", "text": "final answer"})
    item(tracker, "item/completed", {"type": "agentMessage", "text": "of another turn"}, turn_id="t0")
    assert tracker.view().summary is None  # not before the turn completed
    assert completed(tracker)
    view = tracker.view()
    assert view.status is JobStatus.IDLE and view.summary == "final answer"
    assert view.turn is not None and view.turn.completed_at == 9 and view.turns_completed == 1
    started(tracker, "t2")
    item(tracker, "item/completed", {"type": "agentMessage", "text": "half done"}, turn_id="t2")
    completed(tracker, "t2", status="interrupted")
    assert tracker.view().summary == "final answer"  # an interrupted turn leaves the summary as it was
    assert tracker.view().turns_completed == 2


def test_changed_files_are_listed_once_in_order_and_declined_changes_are_not() -> None:
    tracker = Tracker(THREAD)
    started(tracker)
    item(tracker, "item/completed", {"type": "fileChange", "changes": [{"path": "b.py"}, {"path": "a.py"}]})
    item(tracker, "item/completed", {"type": "fileChange", "changes": [{"path": "a.py"}]})
    item(
        tracker, "item/completed", {"type": "fileChange", "status": "declined", "changes": [{"path": "c.py"}]}
    )
    item(tracker, "item/started", {"type": "fileChange", "changes": [{"path": "d.py"}]})  # not yet made
    assert tracker.view().files == ["b.py", "a.py"]
    tracker.view().files.append("e.py")
    assert tracker.view().files == ["b.py", "a.py"], "the view is a copy"


def test_token_usage_is_the_thread_total_with_the_context_window() -> None:
    tracker = Tracker(THREAD)
    usage = {
        "total": {
            "inputTokens": 3000,
            "cachedInputTokens": 1000,
            "outputTokens": 200,
            "reasoningOutputTokens": 50,
        },
        "last": {"inputTokens": 10, "outputTokens": 1},
        "modelContextWindow": 12000,
    }
    assert tracker.apply(Incoming("thread/tokenUsage/updated", {"threadId": THREAD, "tokenUsage": usage}), 1)
    tokens = tracker.view().tokens
    assert tokens is not None
    assert (tokens.input, tokens.output, tokens.cached_input, tokens.reasoning_output) == (
        3000,
        200,
        1000,
        50,
    )
    assert tokens.context_used_pct == 25.0


def test_an_approval_asks_until_resolved_and_its_answers_default_to_the_methods() -> None:
    tracker = Tracker(THREAD)
    started(tracker)
    assert approval(tracker, 7, command="rm -rf build")
    view = tracker.view()
    assert view.status is JobStatus.NEEDS_INPUT and view.question is not None
    assert view.question.request_id == 7 and view.question.asked_at == 3
    assert view.question.question == "Run `rm -rf build`?"
    assert view.question.answers == ["accept", "acceptForSession", "decline", "cancel"]
    assert not tracker.apply(Incoming("serverRequest/resolved", {"threadId": THREAD, "requestId": 8}), 4)
    assert tracker.view().status is JobStatus.NEEDS_INPUT  # another request's answer changes nothing
    assert tracker.apply(Incoming("serverRequest/resolved", {"threadId": THREAD, "requestId": 7}), 4)
    assert tracker.view().status is JobStatus.RUNNING  # back to the turn


def test_an_approval_offers_the_decisions_the_server_lists() -> None:
    tracker = Tracker(THREAD)
    approval(tracker, 1, availableDecisions=["accept", {"acceptWithExecpolicyAmendment": {}}, "decline"])
    question = tracker.view().question
    assert question is not None and question.answers == ["accept", "decline"]


def test_a_question_for_the_user_is_shown_as_its_questions() -> None:
    tracker = Tracker(THREAD)
    params = {
        "threadId": THREAD,
        "questions": [{"id": "q1", "question": "Which port?"}, {"id": "q2", "question": "Restart now?"}],
    }
    assert tracker.apply(Incoming("item/tool/requestUserInput", params, "r1"), 2)
    question = tracker.view().question
    assert question is not None and question.question == "Which port? / Restart now?"
    assert question.answers == []


def test_approvals_of_another_thread_and_unknown_requests_are_not_questions() -> None:
    tracker = Tracker(THREAD)
    assert not approval(tracker, 1, thread="someone-elses")
    assert not tracker.apply(Incoming("item/unknown/request", {"threadId": THREAD}, 2), 2)
    assert tracker.view().question is None and tracker.view().status is JobStatus.IDLE


def test_the_end_of_a_turn_drops_the_questions_it_left_open() -> None:
    tracker = Tracker(THREAD)
    started(tracker)
    approval(tracker, 1, command="ls")
    completed(tracker, status="interrupted")
    view = tracker.view()
    assert view.question is None and view.status is JobStatus.IDLE
    assert view.turn is not None and view.turn.status == "interrupted"


def test_a_turn_completed_without_its_start_is_recorded_as_its_own_turn() -> None:
    tracker = Tracker(THREAD)
    started(tracker, "t1")
    assert completed(tracker, "t2", now=20)
    turn = tracker.view().turn
    assert turn is not None and turn.id == "t2" and turn.started_at == 20 and turn.completed_at == 20


def test_an_error_that_will_be_retried_is_not_the_turns_error() -> None:
    tracker = Tracker(THREAD)
    started(tracker)
    retried = {"threadId": THREAD, "turnId": "t1", "error": {"message": "reconnecting"}, "willRetry": True}
    assert not tracker.apply(Incoming("error", retried), 2)
    assert tracker.turn is not None and tracker.turn.error is None
    final = {"threadId": THREAD, "turnId": "t1", "error": {"message": "stream disconnected"}}
    assert tracker.apply(Incoming("error", final), 3)
    assert tracker.turn.error == "stream disconnected"


def test_a_user_message_remembers_the_turn_its_client_id_joined() -> None:
    tracker = Tracker(THREAD)
    started(tracker, "t5")
    item(tracker, "item/started", {"type": "userMessage", "clientId": "cm-9", "content": []}, turn_id="t5")
    assert tracker.client_ids == {"cm-9": "t5"}
