"""The codex double's app-server protocol (tests/fakes/fake_app_server.py) and its remote TUI
(tests/fakes/fake_remote_tui.py), driven the way codex-agent's keeper drives the real codex: a protocol
client on the Unix socket, and the TUI in a tmux pane as a second client."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAKE_CODEX
from tests.fakes.app_client import AppClient, socket_accepts, start_app_server, stop
from tests.fakes.fake_ids import MARK, PLACEHOLDER, echo_reply
from tests.helpers import wait_for

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
JSON = dict[str, Any]


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "app.sock"


@pytest.fixture
def server(sock: Path, project: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_app_server(FAKE_CODEX, sock, cwd=project)
    yield proc
    stop(proc)


@pytest.fixture
def keeper(server: subprocess.Popen[bytes], sock: Path) -> Iterator[AppClient]:
    client = AppClient(sock, "keeper")
    yield client
    client.close()


def start_thread(client: AppClient, cwd: Path, **params: Any) -> str:
    result = client.call("thread/start", {"cwd": str(cwd), **params})
    thread_id: str = result["thread"]["id"]
    return thread_id


def run_turn(
    client: AppClient, thread_id: str, text: str, client_id: str = "cm-1"
) -> tuple[JSON, list[JSON]]:
    """Start a turn and wait for its end: (turn/completed params, every message of the turn)."""
    mark = client.mark()
    client.call(
        "turn/start",
        {"threadId": thread_id, "input": [{"type": "text", "text": text}], "clientUserMessageId": client_id},
    )
    done = client.expect_method("turn/completed", after=mark, threadId=thread_id)
    return done["params"], client.since(mark)


def turn_methods(messages: list[JSON], thread_id: str) -> list[str]:
    return [
        m["method"]
        for m in messages
        if "method" in m and (m.get("params") or {}).get("threadId") == thread_id
    ]


def notifications(messages: list[JSON]) -> list[JSON]:
    """The notifications among `messages`, without their send times."""
    return [
        {k: v for k, v in m.items() if k != "emittedAtMs"}
        for m in messages
        if "method" in m and "id" not in m
    ]


def rollout_lines(path: str) -> list[JSON]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_a_turn_from_start_to_completion(keeper: AppClient, project: Path, sock: Path) -> None:
    assert sock.stat().st_mode & 0o777 == 0o600
    started = keeper.call("thread/start", {"cwd": str(project), "sandbox": "read-only"})
    thread = started["thread"]
    assert UUID7.match(thread["id"]) and thread["ephemeral"] is False and thread["status"] == {"type": "idle"}
    assert thread["path"].endswith(f"-{thread['id']}.jsonl") and "/sessions/" in thread["path"]
    assert started["sandbox"] == {"type": "readOnly", "networkAccess": False}
    keeper.expect_method("thread/started")

    done, messages = run_turn(keeper, thread["id"], "hello there")

    assert turn_methods(messages, thread["id"]) == [
        "thread/status/changed",
        "turn/started",
        "item/started",
        "item/completed",
        "item/started",
        "item/agentMessage/delta",
        "item/completed",
        "thread/tokenUsage/updated",
        "thread/status/changed",
        "turn/completed",
    ]
    assert all("emittedAtMs" in m for m in messages if "method" in m)
    user = next(m["params"]["item"] for m in messages if m.get("method") == "item/completed")
    assert user["type"] == "userMessage" and user["clientId"] == "cm-1" and UUID7.match(user["id"])
    assert done["turn"]["status"] == "completed" and done["turn"]["error"] is None
    assert UUID7.match(done["turn"]["id"])
    assert done["turn"]["items"][0]["text"] == echo_reply("hello there")
    usage = next(m for m in messages if m.get("method") == "thread/tokenUsage/updated")["params"][
        "tokenUsage"
    ]
    assert usage["total"]["totalTokens"] == usage["total"]["inputTokens"] + usage["total"]["outputTokens"] > 0
    assert usage["modelContextWindow"] > 0

    records = rollout_lines(thread["path"])
    assert records[0]["type"] == "session_meta" and records[0]["payload"]["id"] == thread["id"]
    events = [r["payload"]["type"] for r in records if r["type"] == "event_msg"]
    assert events[0] == "task_started" and events[-2:] == ["token_count", "task_complete"]
    assert records[-1]["payload"]["last_agent_message"] == echo_reply("hello there")


def test_errors_are_the_real_servers(keeper: AppClient, project: Path) -> None:
    unknown = keeper.request("thread/fork", {})
    assert (
        unknown["error"]["code"] == -32600 and "unknown variant `thread/fork`" in unknown["error"]["message"]
    )
    missing = keeper.request(
        "turn/start",
        {"threadId": "01a230df-0000-7000-8000-000000000000", "input": [{"type": "text", "text": "x"}]},
    )
    assert missing["error"]["message"] == "thread not found: 01a230df-0000-7000-8000-000000000000"
    thread_id = start_thread(keeper, project)
    early = keeper.request("thread/resume", {"threadId": thread_id})
    assert early["error"]["message"] == f"no rollout found for thread id {thread_id}"
    steer = keeper.request(
        "turn/steer", {"threadId": thread_id, "expectedTurnId": "x", "input": [{"type": "text", "text": "x"}]}
    )
    assert steer["error"]["message"] == "no active turn to steer"
    interrupt = keeper.request("turn/interrupt", {"threadId": thread_id, "turnId": "x"})
    assert interrupt["error"]["message"] == "no active turn to interrupt"


def test_steering_adds_the_message_to_the_running_turn(keeper: AppClient, project: Path) -> None:
    thread_id = start_thread(keeper, project)
    mark = keeper.mark()
    turn = keeper.call(
        "turn/start",
        {
            "threadId": thread_id,
            "input": [{"type": "text", "text": "SLEEP 1 first"}],
            "clientUserMessageId": "cm-1",
        },
    )["turn"]
    keeper.expect_method("item/started", after=mark, threadId=thread_id)  # the sleep command is running
    stale = keeper.request(
        "turn/steer",
        {
            "threadId": thread_id,
            "expectedTurnId": "01a230df-0000-7000-8000-0",
            "input": [{"type": "text", "text": "x"}],
        },
    )
    assert (
        stale["error"]["message"]
        == f"expected active turn id `01a230df-0000-7000-8000-0` but found `{turn['id']}`"
    )
    steered = keeper.call(
        "turn/steer",
        {
            "threadId": thread_id,
            "expectedTurnId": turn["id"],
            "input": [{"type": "text", "text": "and then this"}],
            "clientUserMessageId": "cm-2",
        },
    )
    assert steered == {"turnId": turn["id"]}
    # As the real server does, a turn/start while a turn runs joins that turn instead of failing.
    joined = keeper.call(
        "turn/start",
        {"threadId": thread_id, "input": [{"type": "text", "text": "third"}], "clientUserMessageId": "cm-3"},
    )
    assert joined["turn"]["id"] == turn["id"]

    done = keeper.expect_method("turn/completed", after=mark, timeout=15)["params"]["turn"]
    assert done["id"] == turn["id"] and done["status"] == "completed"
    reply = done["items"][0]["text"]
    assert reply.splitlines() == [
        echo_reply("SLEEP 1 first"),
        echo_reply("and then this"),
        echo_reply("third"),
    ]
    users = [
        m["params"]["item"]["clientId"]
        for m in keeper.since(mark, ["item/completed"])
        if m["params"]["item"]["type"] == "userMessage"
    ]
    assert users == ["cm-1", "cm-2", "cm-3"]
    assert len(keeper.since(mark, ["turn/started"])) == 1


def test_interrupt_ends_a_hanging_turn(keeper: AppClient, project: Path) -> None:
    thread_id = start_thread(keeper, project)
    mark = keeper.mark()
    turn = keeper.call("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "HANG"}]})[
        "turn"
    ]
    keeper.expect_method("item/completed", after=mark, threadId=thread_id)  # the user message, then nothing
    assert keeper.call("turn/interrupt", {"threadId": thread_id, "turnId": turn["id"]}) == {}
    done = keeper.expect_method("turn/completed", after=mark)["params"]["turn"]
    assert done["status"] == "interrupted" and done["items"] == []
    order = keeper.methods(mark)
    assert order.index("<response>", 1) < order.index("turn/completed")  # the result first, as the real one
    assert not keeper.since(mark, ["item/agentMessage/delta", "thread/tokenUsage/updated"])
    path = keeper.call("thread/resume", {"threadId": thread_id})["thread"]["path"]
    assert rollout_lines(path)[-1]["payload"]["type"] == "turn_aborted"


def test_ask_answered_by_a_client_reaches_every_client(keeper: AppClient, project: Path, sock: Path) -> None:
    thread_id = start_thread(keeper, project)
    run_turn(keeper, thread_id, "make the rollout")
    other = AppClient(sock, "other")
    other.call("thread/resume", {"threadId": thread_id})
    mark, other_mark = keeper.mark(), other.mark()
    keeper.call("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "ASK first"}]})
    asked = keeper.expect_method("item/commandExecution/requestApproval", after=mark)
    seen = other.expect_method("item/commandExecution/requestApproval", after=other_mark)
    assert asked["id"] == seen["id"] and "emittedAtMs" not in asked
    assert asked["params"]["command"] == "/bin/bash -lc 'touch approved.txt'"
    assert asked["params"]["availableDecisions"][0] == "accept"
    waiting = {"type": "active", "activeFlags": ["waitingOnApproval"]}
    keeper.expect_method("thread/status/changed", after=mark, status=waiting)

    keeper.respond(asked["id"], {"decision": "accept"})
    other.respond(seen["id"], {"decision": "decline"})  # too late: the first answer won
    for client, since in ((keeper, mark), (other, other_mark)):
        client.expect_method("serverRequest/resolved", after=since, requestId=asked["id"], threadId=thread_id)
        done = client.expect_method("turn/completed", after=since)["params"]["turn"]
        assert done["status"] == "completed" and "declined" not in done["items"][0]["text"]
    assert (project / "approved.txt").exists()
    command = [
        m["params"]["item"]
        for m in keeper.since(mark, ["item/completed"])
        if m["params"]["item"]["type"] == "commandExecution"
    ]
    assert command[0]["status"] == "completed" and command[0]["exitCode"] == 0
    other.close()


def test_ask_declined_goes_on_and_says_so(keeper: AppClient, project: Path) -> None:
    thread_id = start_thread(keeper, project)
    mark = keeper.mark()
    keeper.call("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "ASK please"}]})
    asked = keeper.expect_method("item/commandExecution/requestApproval", after=mark)
    keeper.respond(asked["id"], {"decision": "decline"})
    done = keeper.expect_method("turn/completed", after=mark)["params"]["turn"]
    assert done["status"] == "completed" and "declined" in done["items"][0]["text"]
    assert not (project / "approved.txt").exists()


def test_write_reports_a_file_change_inside_the_cwd_only(keeper: AppClient, project: Path) -> None:
    thread_id = start_thread(keeper, project)
    _, messages = run_turn(keeper, thread_id, "WRITE notes/new.txt WRITE ../outside.txt")
    changes = [
        m["params"]["item"]
        for m in messages
        if m.get("method") == "item/completed" and m["params"]["item"]["type"] == "fileChange"
    ]
    assert [c["status"] for c in changes] == ["completed", "failed"]
    assert changes[0]["changes"] == [
        {
            "path": str(project / "notes" / "new.txt"),
            "kind": {"type": "add"},
            "diff": "WRITE notes/new.txt WRITE ../outside.txt",
        }
    ]
    assert (project / "notes" / "new.txt").exists() and not (project.parent / "outside.txt").exists()
    assert any(m.get("method") == "turn/diff/updated" for m in messages)


def test_fail_ends_the_turn_like_a_model_error(keeper: AppClient, project: Path) -> None:
    thread_id = start_thread(keeper, project)
    done, messages = run_turn(keeper, thread_id, "FAIL the model is overloaded")
    assert done["turn"]["status"] == "failed"
    assert done["turn"]["error"]["message"] == "the model is overloaded"
    assert done["turn"]["error"]["codexErrorInfo"] == "internalServerError"
    error = next(m["params"] for m in messages if m.get("method") == "error")
    assert error["willRetry"] is False and error["turnId"] == done["turn"]["id"]
    statuses = [m["params"]["status"]["type"] for m in messages if m.get("method") == "thread/status/changed"]
    assert statuses == ["active", "systemError"]
    path = keeper.call("thread/resume", {"threadId": thread_id})["thread"]["path"]
    last = rollout_lines(path)[-1]["payload"]
    assert last["type"] == "task_complete" and last["last_agent_message"] is None
    assert last["error"]["message"] == "the model is overloaded"


def test_a_new_server_resumes_the_thread_from_its_rollout(
    server: subprocess.Popen[bytes], sock: Path, project: Path
) -> None:
    first = AppClient(sock, "keeper")
    thread_id = start_thread(first, project)
    before, _ = run_turn(first, thread_id, "remember this")
    first.close()
    assert stop(server) == 0
    assert not sock.exists()

    again = start_app_server(FAKE_CODEX, sock, cwd=project)
    try:
        client = AppClient(sock, "keeper")
        mark = client.mark()
        resumed = client.call("thread/resume", {"threadId": thread_id})
        assert resumed["thread"]["id"] == thread_id and resumed["cwd"] == str(project)
        items = resumed["thread"]["turns"][0]["items"]
        assert [i["type"] for i in items] == ["userMessage", "agentMessage"]
        assert items[0]["content"][0]["text"] == "remember this"
        idle = client.expect_method("thread/status/changed", after=mark, threadId=thread_id)
        assert idle["params"]["status"] == {"type": "idle"}
        first_total = client.expect_method("thread/tokenUsage/updated", after=mark)["params"]["tokenUsage"][
            "total"
        ]
        after, _ = run_turn(client, thread_id, "and now this")
        assert after["turn"]["status"] == "completed"
        total = client.since(mark, ["thread/tokenUsage/updated"])[-1]["params"]["tokenUsage"]["total"]
        assert total["totalTokens"] > first_total["totalTokens"] > 0
        assert before["turn"]["id"] != after["turn"]["id"]
        client.close()
    finally:
        stop(again)


def test_two_clients_see_the_same_turn(keeper: AppClient, project: Path, sock: Path) -> None:
    thread_id = start_thread(keeper, project)
    run_turn(keeper, thread_id, "first")
    watcher = AppClient(sock, "watcher")
    watcher.call("thread/resume", {"threadId": thread_id})
    watcher.expect_method("thread/tokenUsage/updated")  # sent to a resuming client after the result
    mark = watcher.mark()
    _, messages = run_turn(keeper, thread_id, "SLEEP 0.2 second")
    watcher.expect_method("turn/completed", after=mark)
    seen = [m for m in watcher.since(mark) if "method" in m]
    assert turn_methods(seen, thread_id) == turn_methods(messages, thread_id)
    assert notifications(seen) == notifications(messages)
    watcher.close()


def test_thread_events_go_to_every_client_turn_events_only_to_subscribers(
    keeper: AppClient, project: Path, sock: Path
) -> None:
    bystander = AppClient(sock, "bystander")
    thread_id = start_thread(keeper, project)
    run_turn(keeper, thread_id, "hello")
    bystander.expect_method("thread/started")
    assert bystander.expect_method("thread/status/changed", threadId=thread_id)
    assert not bystander.since(0, ["turn/started", "item/completed", "turn/completed"])
    bystander.close()


def test_exit_crashes_the_server_after_the_turn(
    keeper: AppClient, server: subprocess.Popen[bytes], project: Path, sock: Path
) -> None:
    thread_id = start_thread(keeper, project)
    done, _ = run_turn(keeper, thread_id, "EXIT 3")
    assert done["turn"]["status"] == "completed"
    assert server.wait(10) == 3
    assert keeper.wait_closed()
    assert sock.exists() and not socket_accepts(sock)  # what a crash leaves behind
    again = start_app_server(FAKE_CODEX, sock, cwd=project)  # takes over the stale socket
    stop(again)


def test_notify_runs_after_completed_turns(tmp_path: Path, project: Path, sock: Path) -> None:
    out = tmp_path / "notify.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(f"import sys\nwith open({str(out)!r}, 'a') as f:\n    f.write(sys.argv[1] + '\\n')\n")
    proc = start_app_server(FAKE_CODEX, sock, "-c", f'notify=["python3", "{hook}"]', cwd=project)
    try:
        client = AppClient(sock, "keeper")
        thread_id = start_thread(client, project)
        done, _ = run_turn(client, thread_id, "one")
        run_turn(client, thread_id, "FAIL nope")
        run_turn(client, thread_id, "two")
        # notify runs after turn/completed is sent: wait for its second line
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == 2, what="two notify calls")
        payloads = [json.loads(line) for line in out.read_text().splitlines()]
        assert [p["input-messages"] for p in payloads] == [["one"], ["one", "FAIL nope", "two"]]
        assert payloads[0]["turn-id"] == done["turn"]["id"] and payloads[0]["client"] == "keeper"
        assert payloads[0]["thread-id"] == thread_id and payloads[0]["last-assistant-message"] == echo_reply(
            "one"
        )
        client.close()
    finally:
        stop(proc)


# ---------------------------------------------------------------------------------------------- the TUI


class Pane:
    """The double's remote TUI in a pane of the test's own tmux server."""

    def __init__(self, tmux_socket: str, sock: Path, thread_id: str, cwd: Path) -> None:
        self.tmux = ["tmux", "-L", tmux_socket]
        self.target = "tui"
        command = [str(FAKE_CODEX), "--remote", f"unix://{sock}", "--no-alt-screen", "resume", thread_id]
        # remain-on-exit first, so that what the TUI prints on its way out stays readable
        subprocess.run(
            [
                *self.tmux,
                "-f",
                "/dev/null",
                "set-option",
                "-g",
                "remain-on-exit",
                "on",
                ";",
                "new-session",
                "-d",
                "-s",
                self.target,
                "-x",
                "120",
                "-y",
                "40",
                "-c",
                str(cwd),
                "--",
                *command,
            ],
            check=True,
        )

    def screen(self) -> str:
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.target], capture_output=True, text=True, check=False
        ).stdout

    def shows(self, text: str, timeout: float = 10) -> str:
        return wait_for(
            lambda: self.screen() if text in self.screen() else "",
            timeout=timeout,
            what=f"the pane to show {text!r}",
        )

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.target, *keys], check=True)

    def dead(self) -> bool:
        out = subprocess.run(
            [*self.tmux, "display-message", "-p", "-t", self.target, "#{pane_dead}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return out.strip() == "1"


@pytest.fixture
def tui_thread(keeper: AppClient, project: Path) -> str:
    """A thread with one finished turn: thread/resume needs its rollout."""
    thread_id = start_thread(keeper, project, sandbox="read-only", approvalPolicy="on-request")
    run_turn(keeper, thread_id, "the first task")
    return thread_id


def test_the_tui_shows_the_thread_and_what_the_keeper_starts(
    keeper: AppClient, tui_thread: str, sock: Path, project: Path, tmux_socket: str
) -> None:
    pane = Pane(tmux_socket, sock, tui_thread, project)
    screen = pane.shows(PLACEHOLDER)
    assert ">_ OpenAI Codex (v0.169.0)" in screen and f"{MARK} the first task" in screen
    assert echo_reply("the first task")[:60] in screen
    mark = keeper.mark()
    keeper.call(
        "turn/start", {"threadId": tui_thread, "input": [{"type": "text", "text": "SLEEP 2 from the keeper"}]}
    )
    pane.shows("• Working (")
    assert "Ask Codex to do anything" not in pane.screen()
    keeper.expect_method("turn/completed", after=mark, timeout=15)
    pane.shows(echo_reply("SLEEP 2 from the keeper")[:60])
    pane.shows(PLACEHOLDER)


def test_a_person_types_in_the_pane(
    keeper: AppClient, tui_thread: str, sock: Path, project: Path, tmux_socket: str
) -> None:
    pane = Pane(tmux_socket, sock, tui_thread, project)
    pane.shows(PLACEHOLDER)
    mark = keeper.mark()
    pane.keys("-l", "typed by a person")
    pane.keys("Enter")
    user = keeper.expect(
        lambda m: m.get("method") == "item/completed" and m["params"]["item"]["type"] == "userMessage",
        after=mark,
    )["params"]["item"]
    assert user["content"][0]["text"] == "typed by a person"
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4", user["clientId"])  # the TUI's own uuid4, as the real one
    keeper.expect_method("turn/completed", after=mark, threadId=tui_thread)
    # The first message the TUI sees live makes it ask for a title on an ephemeral thread of its own.
    side = keeper.expect(
        lambda m: m.get("method") == "thread/started" and m["params"]["thread"]["ephemeral"], after=mark
    )["params"]["thread"]
    assert side["threadSource"] == "thread_title" and side["path"] is None and side["id"] != tui_thread
    keeper.expect_method("thread/status/changed", after=mark, threadId=side["id"], status={"type": "idle"})
    named = keeper.expect_method("thread/name/updated", after=mark, threadId=tui_thread)
    assert named["params"]["threadName"] == "typed by a person"
    # ...whose turn the keeper does not see: it never subscribed to that thread
    assert all(m["params"].get("threadId") != side["id"] for m in keeper.since(mark, ["turn/started"]))
    pane.shows(echo_reply("typed by a person")[:60])

    # Pasted text while a turn runs steers it.
    mark = keeper.mark()
    keeper.call("turn/start", {"threadId": tui_thread, "input": [{"type": "text", "text": "SLEEP 1.5 busy"}]})
    pane.shows("• Working (")
    subprocess.run([*pane.tmux, "load-buffer", "-b", "msg", "-"], input=b"pasted\nin two lines", check=True)
    subprocess.run([*pane.tmux, "paste-buffer", "-p", "-d", "-b", "msg", "-t", pane.target], check=True)
    pane.keys("Enter")
    done = keeper.expect_method("turn/completed", after=mark, timeout=15)["params"]["turn"]
    assert done["items"][0]["text"].splitlines()[-1] == echo_reply("pasted\nin two lines")
    assert len(keeper.since(mark, ["turn/started"])) == 1


def test_ask_answered_in_the_pane(
    keeper: AppClient, tui_thread: str, sock: Path, project: Path, tmux_socket: str
) -> None:
    pane = Pane(tmux_socket, sock, tui_thread, project)
    pane.shows(PLACEHOLDER)
    mark = keeper.mark()
    keeper.call("turn/start", {"threadId": tui_thread, "input": [{"type": "text", "text": "ASK to touch"}]})
    asked = keeper.expect_method("item/commandExecution/requestApproval", after=mark)
    screen = pane.shows("Would you like to run the following command?")
    assert "$ touch approved.txt" in screen and "1. Yes, proceed (y)" in screen
    pane.keys("y")
    keeper.expect_method("serverRequest/resolved", after=mark, requestId=asked["id"])
    assert keeper.expect_method("turn/completed", after=mark)["params"]["turn"]["status"] == "completed"
    assert (project / "approved.txt").exists()
    screen = pane.shows("You approved codex to run touch approved.txt")
    assert "Would you like to run" not in screen

    # Esc in the overlay cancels, as in the real TUI: the turn is interrupted.
    mark = keeper.mark()
    keeper.call("turn/start", {"threadId": tui_thread, "input": [{"type": "text", "text": "ASK again"}]})
    pane.shows("Would you like to run the following command?")
    pane.keys("Escape")
    done = keeper.expect_method("turn/completed", after=mark)["params"]["turn"]
    assert done["status"] == "interrupted"
    pane.shows("■ Conversation interrupted")


def test_the_overlay_goes_away_when_the_keeper_answers(
    keeper: AppClient, tui_thread: str, sock: Path, project: Path, tmux_socket: str
) -> None:
    pane = Pane(tmux_socket, sock, tui_thread, project)
    pane.shows(PLACEHOLDER)
    mark = keeper.mark()
    keeper.call("turn/start", {"threadId": tui_thread, "input": [{"type": "text", "text": "ASK keeper"}]})
    asked = keeper.expect_method("item/commandExecution/requestApproval", after=mark)
    pane.shows("Would you like to run the following command?")
    keeper.respond(asked["id"], {"decision": "accept"})
    keeper.expect_method("turn/completed", after=mark)
    wait_for(lambda: "Would you like to run" not in pane.screen(), what="the overlay to go away")
    pane.shows("• Ran touch approved.txt")


def test_the_tui_shows_failures_and_exits_when_the_server_goes(
    keeper: AppClient,
    server: subprocess.Popen[bytes],
    tui_thread: str,
    sock: Path,
    project: Path,
    tmux_socket: str,
) -> None:
    pane = Pane(tmux_socket, sock, tui_thread, project)
    pane.shows(PLACEHOLDER)
    run_turn(keeper, tui_thread, "FAIL rate limited")
    pane.shows("■ rate limited")
    server.send_signal(signal.SIGTERM)
    wait_for(pane.dead, what="the TUI to exit")
    assert f"codex resume {tui_thread}" in pane.screen()


def test_ctrl_c_twice_quits_the_tui(
    keeper: AppClient, tui_thread: str, sock: Path, project: Path, tmux_socket: str
) -> None:
    pane = Pane(tmux_socket, sock, tui_thread, project)
    pane.shows(PLACEHOLDER)
    pane.keys("C-c")
    pane.shows("ctrl + c again to quit")
    pane.keys("C-c")
    wait_for(pane.dead, what="the TUI to exit")
    screen = pane.screen()
    assert "Token usage: total=" in screen and f"codex resume {tui_thread}" in screen


def test_an_unsubscribed_client_stops_getting_turn_events(
    keeper: AppClient, project: Path, sock: Path
) -> None:
    thread_id = start_thread(keeper, project)
    run_turn(keeper, thread_id, "first")
    watcher = AppClient(sock, "watcher")
    watcher.call("thread/resume", {"threadId": thread_id})
    assert watcher.call("thread/unsubscribe", {"threadId": thread_id}) == {"status": "unsubscribed"}
    mark = watcher.mark()
    run_turn(keeper, thread_id, "second")
    watcher.expect_method("thread/status/changed", after=mark, status={"type": "idle"})  # thread events still
    assert not watcher.since(mark, ["turn/started", "item/completed", "turn/completed"])
    watcher.close()


def test_garbage_from_a_client_is_answered_not_fatal(keeper: AppClient, project: Path) -> None:
    mark = keeper.mark()
    keeper.ws.send("not json at all")
    keeper.ws.send("[1, 2]")
    keeper.send({"id": [1], "result": {"decision": "accept"}})  # an answer to no request, with an odd id
    assert (
        keeper.expect(lambda m: m.get("id") is None and "error" in m, after=mark)["error"]["code"] == -32700
    )
    bad = keeper.request("turn/start", {"threadId": 7, "input": "text"})
    assert bad["error"]["code"] == -32600
    assert keeper.call("thread/start", {"cwd": str(project)})["thread"]["id"]  # still serving


def test_a_rollout_with_broken_lines_still_resumes(
    server: subprocess.Popen[bytes], sock: Path, project: Path
) -> None:
    first = AppClient(sock, "keeper")
    thread_id = start_thread(first, project)
    run_turn(first, thread_id, "kept")
    path = Path(first.call("thread/resume", {"threadId": thread_id})["thread"]["path"])
    first.close()
    stop(server)
    with path.open("a") as handle:
        handle.write(
            '{"ordinal": "x", "type": "event_msg", "payload": {"type": "task_started"}}\n[]\n{not json\n'
        )
    again = start_app_server(FAKE_CODEX, sock, cwd=project)
    try:
        client = AppClient(sock, "keeper")
        turns = client.call("thread/resume", {"threadId": thread_id})["thread"]["turns"]
        assert turns[0]["items"][0]["content"][0]["text"] == "kept"
        assert run_turn(client, thread_id, "more")[0]["turn"]["status"] == "completed"
        client.close()
    finally:
        stop(again)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["app-server"], 2, "--listen unix://PATH"),
        (["app-server", "--listen", "stdio://"], 2, "--listen unix://PATH"),
        (["app-server", "--listen", "unix://x.sock", "--bogus"], 2, "unexpected argument '--bogus'"),
        (["--remote", "unix://x.sock"], 2, "resume THREAD_ID"),
        (
            ["--remote", "unix://missing.sock", "resume", "01a230df-0000-7000-8000-000000000000"],
            1,
            "cannot connect",
        ),
    ],
)
def test_the_protocol_modes_refuse_in_one_line(tmp_path: Path, args: list[str], code: int, says: str) -> None:
    result = subprocess.run(
        [str(FAKE_CODEX), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == code
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
