"""Tests of the scripted Responses API server.

The first part talks to it with a plain HTTP client (no codex involved). The last part runs the real codex
(every version pinned in scripts/codex-versions) against it, through the app-server protocol, ``codex exec
--json`` and the TUI in tmux, and asserts what codex makes of each directive: the facts the module docstring
of model_server.py states.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CODEX_VERSIONS, PINNED_VERSION, VERSIONS_ENV, codex_binaries, parse_versions
from tests.helpers import wait_for

from . import netns
from .appserver_client import AppServer
from .model_server import (
    API_KEY_ENV,
    DEFAULT_STEP_DELAY,
    DEFAULT_TURN_DELAY,
    ECHO_HEAD_CHARS,
    ESCALATE_JUSTIFICATION,
    MODEL_MIGRATIONS_SEEN,
    MODEL_NUX_SEEN,
    PATCH_MODEL,
    RETRY_AFTER_SECONDS,
    USAGE_INPUT_TOKENS,
    USAGE_OUTPUT_TOKENS,
    Directives,
    ModelServer,
    codex_config_toml,
    codex_env,
    echo_reply,
    parse_directives,
    patch_text,
    step_command,
    user_texts,
    write_codex_config,
    write_command,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    tomllib = None


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def server() -> Iterator[ModelServer]:
    # No turn delay here, so these tests run fast; test_turn_delay_* check the default.
    with ModelServer(turn_delay=0) as srv:
        yield srv


def user_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def request_body(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A body shaped like the ones codex sends: developer text, context block, then the conversation."""
    return {
        "model": "mock-model",
        "stream": True,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be nice"}]},
            user_message("<environment_context>\n  <cwd>/tmp</cwd>\n</environment_context>"),
            *items,
        ],
        **extra,
    }


class Stream:
    """The raw bytes and parsed events of one SSE answer, with arrival times."""

    def __init__(self, status: int, headers: dict[str, str], raw: bytes, times: list[float]) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw
        self.times = times
        self.events: list[dict[str, Any]] = []
        is_sse = headers.get("content-type") == "text/event-stream"
        self.frames = [f for f in raw.decode().split("\n\n") if f] if is_sse else []
        for frame in self.frames:
            event_line, data_line = frame.split("\n")
            assert event_line.startswith("event: ")
            assert data_line.startswith("data: ")
            event = json.loads(data_line[len("data: ") :])
            assert event["type"] == event_line[len("event: ") :]
            self.events.append(event)

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def done_item(self) -> dict[str, Any]:
        items: list[dict[str, Any]] = [
            e["item"] for e in self.events if e["type"] == "response.output_item.done"
        ]
        assert len(items) == 1
        return items[0]

    def text(self) -> str:
        item = self.done_item()
        assert item["type"] == "message"
        return str(item["content"][0]["text"])


def post(server: ModelServer, body: Any, path: str = "/v1/responses", timeout: float = 30) -> Stream:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        data = json.dumps(body).encode()
        conn.request(
            "POST",
            path,
            body=data,
            headers={"Content-Type": "application/json", "Authorization": "Bearer secret-token"},
        )
        resp = conn.getresponse()
        raw = b""
        times: list[float] = []
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            raw += chunk
            times.append(time.monotonic())
        return Stream(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw, times)
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------- replies


def test_default_reply_quotes_prompt_with_length_and_digest(server: ModelServer) -> None:
    stream = post(server, request_body(user_message("hello there")))

    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.types[0] == "response.created"
    assert stream.types[-1] == "response.completed"
    digest = hashlib.sha256(b"hello there").hexdigest()
    assert stream.text() == f"ECHO[11 chars sha256={digest}]: hello there"
    deltas = "".join(e["delta"] for e in stream.events if e["type"] == "response.output_text.delta")
    assert deltas == stream.text()


def test_sse_frames_are_event_and_data_lines(server: ModelServer) -> None:
    stream = post(server, request_body(user_message("framing")))

    assert stream.raw.endswith(b"\n\n")
    for frame in stream.frames:
        lines = frame.split("\n")
        assert len(lines) == 2
        assert lines[0].startswith("event: response.")
        assert lines[1].startswith("data: {")


def test_completed_event_carries_usage(server: ModelServer) -> None:
    stream = post(server, request_body(user_message("usage please")))

    usage = stream.events[-1]["response"]["usage"]
    assert stream.events[-1]["response"]["status"] == "completed"
    assert usage["input_tokens"] == USAGE_INPUT_TOKENS
    assert usage["output_tokens"] == USAGE_OUTPUT_TOKENS
    assert usage["total_tokens"] == USAGE_INPUT_TOKENS + USAGE_OUTPUT_TOKENS
    assert set(usage["input_tokens_details"]) == {"cached_tokens"}
    assert set(usage["output_tokens_details"]) == {"reasoning_tokens"}


def test_large_prompt_digest_proves_every_byte_arrived(server: ModelServer) -> None:
    prompt = "".join(f"row {i:06d} ✓ αβγ\n" for i in range(20000))
    assert len(prompt.encode()) > 300_000

    stream = post(server, request_body(user_message(prompt)))

    reply = stream.text()
    assert reply == echo_reply(prompt)
    assert f"ECHO[{len(prompt)} chars sha256={hashlib.sha256(prompt.encode()).hexdigest()}]" in reply
    assert reply.endswith(prompt[:ECHO_HEAD_CHARS])
    assert echo_reply(prompt[:-1]) != reply
    assert server.requests[-1].user_text == prompt


def test_reply_uses_last_user_message_and_skips_context_blocks(server: ModelServer) -> None:
    body = request_body(
        user_message("first turn"),
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        user_message("second turn"),
    )

    stream = post(server, body)

    assert stream.text() == echo_reply("second turn")
    assert user_texts(body) == ["first turn", "second turn"]


def test_run_directive_asks_for_exec_command_then_quotes_output(server: ModelServer) -> None:
    prompt = "please do this\nRUN: echo hi && pwd\nthanks"
    first = post(server, request_body(user_message(prompt)))

    call = first.done_item()
    assert call["type"] == "function_call"
    assert call["name"] == "exec_command"
    assert json.loads(call["arguments"])["cmd"] == "echo hi && pwd"
    assert first.types[-1] == "response.completed"

    output = "Process exited with code 0\nOutput:\nhi\n/tmp\n"
    second = post(
        server,
        request_body(
            user_message(prompt),
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": output},
        ),
    )

    assert second.text() == f"RAN: echo hi && pwd\n{output}"
    kinds = [r.kind for r in server.requests]
    assert kinds == ["turn", "tool_result"]


def test_write_directive_command_writes_the_file(server: ModelServer, tmp_path: Path) -> None:
    target = tmp_path / "dir with space" / "out's.txt"
    target.parent.mkdir()
    content = 'it\'s $HOME `x` "quoted" ✓'
    prompt = f'WRITE: "{target}" {content}'

    call = post(server, request_body(user_message(prompt))).done_item()
    cmd = json.loads(call["arguments"])["cmd"]
    assert cmd == write_command(str(target), content)
    subprocess.run(["sh", "-c", cmd], check=True, timeout=10)
    assert target.read_text() == content + "\n"

    final = post(
        server,
        request_body(
            user_message(prompt),
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Output:\n"},
        ),
    )
    assert final.text() == f"WROTE: {target}\nOutput:\n"


def test_call_ids_are_unique_per_request(server: ModelServer) -> None:
    a = post(server, request_body(user_message("RUN: true"))).done_item()
    b = post(server, request_body(user_message("RUN: true"))).done_item()

    assert a["call_id"] != b["call_id"]


def test_slow_directive_holds_stream_open_and_streams_in_pieces(server: ModelServer) -> None:
    start = time.monotonic()
    stream = post(server, request_body(user_message("SLOW: 0.8\nstream me")))
    elapsed = time.monotonic() - start

    assert elapsed >= 0.8
    assert stream.text() == echo_reply("SLOW: 0.8\nstream me")
    deltas = [e for e in stream.events if e["type"] == "response.output_text.delta"]
    assert len(deltas) >= 3
    # Bytes arrived over the delay, not all at the end.
    assert stream.times[-1] - stream.times[0] >= 0.5


def test_request_is_visible_while_slow_stream_is_open(server: ModelServer) -> None:
    result: list[Stream] = []
    client = threading.Thread(
        target=lambda: result.append(post(server, request_body(user_message("SLOW: 1.0\nwait")))),
    )
    client.start()
    try:
        rec = server.wait_for(lambda r: r.kind == "turn", timeout=5)
        assert not rec.finished
        done = server.wait_for(lambda r: r.kind == "turn", timeout=10, finished=True)
        assert done is rec
        assert rec.finished and not rec.aborted
    finally:
        client.join(timeout=10)
    assert result and result[0].types[-1] == "response.completed"


def test_slow_with_run_delays_the_function_call(server: ModelServer) -> None:
    start = time.monotonic()
    stream = post(server, request_body(user_message("SLOW: 0.5\nRUN: echo late")))

    assert time.monotonic() - start >= 0.5
    assert json.loads(stream.done_item()["arguments"])["cmd"] == "echo late"


def test_title_request_gets_json_title(server: ModelServer) -> None:
    prompt = (
        "Generate a concise, single-line task title of at most 36 characters.\n\n"
        "User prompt:\nfix the flaky login test please now"
    )
    body = request_body(
        user_message(prompt),
        text={
            "format": {
                "type": "json_schema",
                "name": "thread_title",
                "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
            }
        },
    )

    stream = post(server, body)

    assert json.loads(stream.text()) == {"title": "fix the flaky login test"}
    assert server.requests[-1].kind == "title"


def tool_output(call: dict[str, Any], output: str) -> dict[str, Any]:
    """The input item codex sends back after running a call from the scripted model."""
    kind = "custom_tool_call_output" if call["type"] == "custom_tool_call" else "function_call_output"
    return {"type": kind, "call_id": call["call_id"], "output": output}


TITLE_FORMAT = {
    "format": {
        "type": "json_schema",
        "name": "thread_title",
        "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
    }
}


def test_turn_delay_holds_turns_but_not_the_title() -> None:
    with ModelServer() as srv:
        assert srv.turn_delay == DEFAULT_TURN_DELAY
        start = time.monotonic()
        post(srv, request_body(user_message("User prompt:\nname this"), text=TITLE_FORMAT))
        title_took = time.monotonic() - start
        start = time.monotonic()
        post(srv, request_body(user_message("a turn")))
        turn_took = time.monotonic() - start

    assert turn_took >= DEFAULT_TURN_DELAY
    assert title_took < DEFAULT_TURN_DELAY
    title, turn = srv.requests
    assert (title.kind, turn.kind) == ("title", "turn")
    assert title.finished_at is not None and turn.finished_at is not None


def test_turn_delay_can_be_changed_between_requests(server: ModelServer) -> None:
    server.turn_delay = 0.4
    start = time.monotonic()
    stream = post(server, request_body(user_message("later")))

    assert time.monotonic() - start >= 0.4
    assert stream.text() == echo_reply("later")


def test_steps_directive_runs_n_calls_then_a_final_message(server: ModelServer) -> None:
    prompt = "STEPS: 3 0.1"
    items: list[dict[str, Any]] = [user_message(prompt)]
    commands = []
    start = time.monotonic()
    for step in range(1, 4):
        call = post(server, request_body(*items)).done_item()
        assert call["type"] == "function_call" and call["name"] == "exec_command"
        commands.append(json.loads(call["arguments"])["cmd"])
        items += [call, tool_output(call, f"Output:\nstep {step}\n")]
    final = post(server, request_body(*items))

    assert time.monotonic() - start >= 0.3
    assert commands == [step_command(i) for i in (1, 2, 3)] == ["echo step 1", "echo step 2", "echo step 3"]
    assert final.text() == "STEPPED: 3\nOutput:\nstep 3\n"
    assert [r.kind for r in server.requests] == ["turn", "tool_result", "tool_result", "tool_result"]


def test_steps_count_only_the_outputs_of_the_current_turn(server: ModelServer) -> None:
    earlier_call = {"type": "function_call", "call_id": "old", "name": "exec_command", "arguments": "{}"}
    body = request_body(
        user_message("STEPS: 1 0"),
        earlier_call,
        tool_output(earlier_call, "old output"),
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
        user_message("STEPS: 2 0"),
    )

    call = post(server, body).done_item()

    assert json.loads(call["arguments"])["cmd"] == "echo step 1"


@pytest.mark.parametrize("status", [500, 503, 400])
def test_fail_directive_answers_an_http_error_for_every_request_of_the_turn(
    server: ModelServer, status: int
) -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"}
    first = post(server, request_body(user_message(f"FAIL: {status}")))
    later = post(server, request_body(user_message(f"FAIL: {status}"), call, tool_output(call, "x")))

    for stream in (first, later):
        assert stream.status == status
        assert stream.headers["content-type"] == "application/json"
        assert json.loads(stream.raw)["error"]["message"] == f"scripted failure {status}"
        assert "retry-after" not in stream.headers
    assert [(r.kind, r.reply and r.reply.status) for r in server.requests] == [
        ("turn", status),
        ("tool_result", status),
    ]
    assert post(server, request_body(user_message("fine again"))).status == 200


def test_fail_429_carries_retry_after(server: ModelServer) -> None:
    stream = post(server, request_body(user_message("FAIL: 429")))

    assert stream.status == 429
    assert stream.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert json.loads(stream.raw)["error"]["type"] == "rate_limit_exceeded"


def test_fail_does_not_touch_the_title_request(server: ModelServer) -> None:
    stream = post(server, request_body(user_message("User prompt:\nFAIL: 500"), text=TITLE_FORMAT))

    assert stream.status == 200
    assert json.loads(stream.text())["title"] == "FAIL: 500"


def test_hang_sends_created_then_nothing_until_the_client_leaves(server: ModelServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/v1/responses", body=json.dumps(request_body(user_message("HANG"))))
    resp = conn.getresponse()
    first = resp.read1(65536)
    rec = server.wait_for(lambda r: r.kind == "turn", timeout=5)

    assert resp.status == 200
    assert first.startswith(b"event: response.created\n")
    with pytest.raises(TimeoutError):
        server.wait_for(lambda r: r is rec, timeout=1.0, finished=True)
    conn.close()
    done = server.wait_for(lambda r: r is rec, timeout=5, finished=True)
    assert done.aborted
    assert done.reply is not None and done.reply.kind == "hang"


def test_escalate_directive_asks_for_an_escalated_exec_command(server: ModelServer) -> None:
    prompt = "ESCALATE: touch /etc/x"
    call = post(server, request_body(user_message(prompt))).done_item()
    args = json.loads(call["arguments"])

    assert call["name"] == "exec_command"
    assert args["cmd"] == "touch /etc/x"
    assert args["sandbox_permissions"] == "require_escalated"
    assert args["justification"] == ESCALATE_JUSTIFICATION
    final = post(server, request_body(user_message(prompt), call, tool_output(call, "Output:\n")))
    assert final.text() == "ESCALATED: touch /etc/x\nOutput:\n"


def test_patch_directive_calls_apply_patch_when_it_is_offered(server: ModelServer) -> None:
    prompt = 'PATCH: "docs/a b.md" new text ✓'
    tools = [{"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}}]
    call = post(server, request_body(user_message(prompt), tools=tools)).done_item()

    assert call["type"] == "custom_tool_call"
    assert call["name"] == "apply_patch"
    assert call["input"] == patch_text("docs/a b.md", "new text ✓")
    assert call["input"] == "*** Begin Patch\n*** Add File: docs/a b.md\n+new text ✓\n*** End Patch\n"
    final = post(server, request_body(user_message(prompt), call, tool_output(call, "Success."), tools=tools))
    assert final.text() == "PATCHED: docs/a b.md\nSuccess."


def test_patch_directive_says_so_when_apply_patch_is_not_offered(server: ModelServer) -> None:
    stream = post(
        server, request_body(user_message("PATCH: a.txt x"), tools=[{"type": "function", "name": "x"}])
    )

    assert stream.text() == "PATCH: apply_patch is not offered to mock-model"


# --------------------------------------------------------------------------------------------- recording


def test_requests_are_recorded_without_credentials(server: ModelServer) -> None:
    post(server, request_body(user_message("record me")))

    rec = server.wait_for(lambda r: True, timeout=5, finished=True)
    assert server.requests == [rec]
    assert rec.method == "POST"
    assert rec.path == "/v1/responses"
    assert rec.body["model"] == "mock-model"
    assert rec.model == "mock-model"
    assert rec.user_text == "record me"
    assert rec.kind == "turn"
    assert rec.finished and not rec.aborted
    assert rec.authorization_present
    assert "authorization" not in rec.headers
    assert rec.headers["content-type"] == "application/json"
    assert rec.raw_size == len(json.dumps(request_body(user_message("record me"))).encode())


def test_wait_for_times_out_without_match(server: ModelServer) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        server.wait_for(lambda r: True, timeout=0.3)
    assert time.monotonic() - start >= 0.25


def test_wait_for_wakes_on_new_request_and_honours_start(server: ModelServer) -> None:
    post(server, request_body(user_message("one")))
    start = len(server.requests)
    client = threading.Thread(target=post, args=(server, request_body(user_message("two"))))
    client.start()

    rec = server.wait_for(lambda r: r.user_text is not None, timeout=10, start=start)
    client.join(timeout=10)

    assert rec.user_text == "two"
    assert rec.index == start


def test_unknown_routes_answer_404_and_are_recorded(server: ModelServer) -> None:
    stream = post(server, {"x": 1}, path="/v1/chat/completions")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/v1/models")
    models = conn.getresponse()
    models_status = models.status
    models.read()
    conn.close()

    assert stream.status == 404
    assert models_status == 200
    assert [(r.method, r.path, r.kind) for r in server.requests] == [
        ("POST", "/v1/chat/completions", "other"),
        ("GET", "/v1/models", "other"),
    ]
    assert server.responses_requests() == []


def test_close_cuts_open_streams_and_frees_port() -> None:
    srv = ModelServer(turn_delay=0)
    port = srv.port
    outcome: list[BaseException | Stream] = []

    def client() -> None:
        try:
            outcome.append(post(srv, request_body(user_message("SLOW: 60\nnever finishes"))))
        except (OSError, http.client.HTTPException) as exc:
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    rec = srv.wait_for(lambda r: r.kind == "turn", timeout=5)
    srv.close()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert outcome
    if isinstance(outcome[0], Stream):
        assert "response.completed" not in outcome[0].types
    srv.wait_for(lambda r: r is rec and r.aborted, timeout=5)
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()


# --------------------------------------------------------------------------------------------- parsing


def test_parse_directives_of_the_real_service_kind() -> None:
    d = parse_directives("STEPS: 4\nFAIL: 429\nHANG\nESCALATE: rm -rf build\nPATCH: 'a b.txt' hi there")

    assert (d.steps, d.step_delay) == (4, DEFAULT_STEP_DELAY)
    assert d.fail == 429
    assert d.hang
    assert d.escalate == "rm -rf build"
    assert d.patch == ("a b.txt", "hi there")
    assert parse_directives("STEPS: 2 0.25") == Directives(steps=2, step_delay=0.25)
    for bad in ("STEPS: 0", "STEPS: many", "STEPS: 999", "FAIL: 200", "FAIL: x", "FAIL: 600", "HANG now"):
        assert parse_directives(bad) == Directives(), bad
    assert parse_directives("please HANG:") == Directives()
    assert parse_directives("FAIL: 500\nFAIL: 429").fail == 500


def test_parse_directives() -> None:
    d = parse_directives("intro\n  RUN: ls -la  \nWRITE: a/b.txt hello world\nSLOW: 2.5\nRUN: second")

    assert d.run == "ls -la"
    assert d.write == ("a/b.txt", "hello world")
    assert d.slow == 2.5
    assert parse_directives("no directives here") == parse_directives("")
    assert parse_directives("SLOW: soon").slow is None
    assert parse_directives("say RUN: inline is not a directive").run is None
    assert parse_directives("WRITE: 'a b.txt' x y").write == ("a b.txt", "x y")
    assert parse_directives('WRITE: "unterminated x').write is None
    assert parse_directives("WRITE: empty.txt").write == ("empty.txt", "")


# --------------------------------------------------------------------------------------------- config


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_config_toml_points_codex_at_the_server(tmp_path: Path) -> None:
    project = tmp_path / 'we"ird dir'
    path = write_codex_config(
        tmp_path / "codex-home",
        "http://127.0.0.1:4321/v1",
        trusted_projects=[project],
        notify=["/bin/notify", "arg with space"],
        extra="[notice]\nhide_full_access_warning = true\n",
    )

    assert tomllib is not None
    cfg = tomllib.loads(path.read_text())
    assert cfg["model"] == "mock-model"
    assert cfg["model_provider"] == "mock"
    assert cfg["approval_policy"] == "never"
    assert cfg["check_for_update_on_startup"] is False
    assert cfg["notify"] == ["/bin/notify", "arg with space"]
    provider = cfg["model_providers"]["mock"]
    assert provider["base_url"] == "http://127.0.0.1:4321/v1"
    assert provider["wire_api"] == "responses"
    assert provider["env_key"] == API_KEY_ENV
    assert provider["request_max_retries"] == 0
    assert cfg["features"] == {"daemon_auto_start": False, "plugins": False}
    assert cfg["analytics"] == {"enabled": False}
    assert cfg["tui"]["disable_paste_burst"] is True
    assert cfg["projects"] == {str(project): {"trust_level": "trusted"}}
    assert cfg["notice"]["hide_full_access_warning"] is True
    assert cfg["notice"]["model_migrations"] == MODEL_MIGRATIONS_SEEN
    assert cfg["tui"]["model_availability_nux"] == dict.fromkeys(MODEL_NUX_SEEN, 1)
    assert "stream_idle_timeout_ms" not in provider


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_config_toml_variants_for_the_failure_directives() -> None:
    assert tomllib is not None
    text = codex_config_toml(
        "http://127.0.0.1:1/v1",
        model=PATCH_MODEL,
        sandbox_mode="read-only",
        approval_policy="on-request",
        request_max_retries=3,
        stream_max_retries=1,
        stream_idle_timeout_ms=1500,
    )
    cfg = tomllib.loads(text)

    assert cfg["model"] == "gpt-5.5"
    assert (cfg["sandbox_mode"], cfg["approval_policy"]) == ("read-only", "on-request")
    provider = cfg["model_providers"]["mock"]
    assert provider["request_max_retries"] == 3
    assert provider["stream_max_retries"] == 1
    assert provider["stream_idle_timeout_ms"] == 1500


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_config_toml_without_optional_parts() -> None:
    assert tomllib is not None
    cfg = tomllib.loads(codex_config_toml("http://127.0.0.1:1/v1", disable_paste_burst=False))

    assert "notify" not in cfg
    assert "projects" not in cfg
    assert cfg["tui"]["disable_paste_burst"] is False


def test_codex_env_isolates_home_and_sets_key(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin", "OPENAI_API_KEY": "sk-real", "HOME": "/root"}

    env = codex_env(tmp_path, tmp_path / ".codex", base=base)

    assert env["HOME"] == str(tmp_path)
    assert env["CODEX_HOME"] == str(tmp_path / ".codex")
    assert env[API_KEY_ENV]
    assert env["PATH"] == "/usr/bin"
    assert "OPENAI_API_KEY" not in env
    assert base["HOME"] == "/root"


# --------------------------------------------------------------------------------------------- netns helpers


def test_network_interfaces_lists_loopback() -> None:
    assert "lo" in netns.network_interfaces()
    assert netns.in_isolated_netns() == (netns.network_interfaces() == ["lo"])


def test_loopback_netns_argv_wraps_command() -> None:
    argv = netns.loopback_netns_argv(["codex", "exec", "a b"])

    assert argv[:2] == ["unshare", "-n"]
    assert argv[-3:] == ["codex", "exec", "a b"]


def test_find_codex_prefers_environment_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv(netns.REAL_CODEX_ENV, str(fake))
    assert netns.find_codex() == str(fake)

    monkeypatch.setenv(netns.REAL_CODEX_ENV, str(tmp_path / "missing"))
    assert netns.find_codex() is None


def test_pinned_versions_include_the_primary_and_the_newest() -> None:
    assert PINNED_VERSION in CODEX_VERSIONS
    assert "0.171.0" in CODEX_VERSIONS
    assert len(set(CODEX_VERSIONS)) == len(CODEX_VERSIONS)


def test_versions_variable_maps_each_version_to_its_binary() -> None:
    value = "0.169.0=/c/a/codex:0.171.0=/odd:path/codex:0.172.0-alpha.1="

    assert parse_versions(value) == {"0.169.0": "/c/a/codex", "0.171.0": "/odd:path/codex"}
    assert parse_versions("") == {}


def test_codex_binaries_take_the_variable_and_report_missing_ones(tmp_path: Path) -> None:
    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    first, *others = CODEX_VERSIONS
    env = {VERSIONS_ENV: f"{first}={fake}:" + ":".join(f"{v}={tmp_path / 'missing'}" for v in others)}

    found = codex_binaries(env)

    assert found[first] == str(fake)
    assert all(found[v] is None for v in others if v != PINNED_VERSION)


def test_enter_loopback_netns_in_a_child_process() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    script = (
        "import sys, socket; sys.path.insert(0, sys.argv[1]); import netns\n"
        "reason = netns.enter_loopback_netns()\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "c = socket.create_connection(s.getsockname())\n"
        "print(reason, netns.network_interfaces(), netns.loopback_is_up())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if "unshare(CLONE_NEWNET) failed" in proc.stdout:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None ['lo'] True"


# --------------------------------------------------------------------------------------------- real codex
#
# Each test below runs once per pinned codex version (the ``real_codex`` fixture is parametrized over
# scripts/codex-versions) with a model server of its own.


@dataclass
class RealCodex:
    """One real codex version, a model server, an isolated CODEX_HOME and a trusted git project."""

    binary: str
    version: str
    server: ModelServer
    project: Path
    home: Path
    codex_home: Path
    short_dir: Path  # for Unix sockets (their path is limited to 107 bytes)
    tmux_socket: str

    def configure(self, **options: Any) -> None:
        notify = [sys.executable, str(NOTIFY_SCRIPT), str(self.turns_file)]
        write_codex_config(
            self.codex_home, self.server.base_url, trusted_projects=[self.project], notify=notify, **options
        )

    @property
    def turns_file(self) -> Path:
        return self.home / "turns.jsonl"

    def env(self) -> dict[str, str]:
        return codex_env(self.home, self.codex_home)

    def app_server(self) -> AppServer:
        return AppServer(
            self.binary,
            self.short_dir / "app.sock",
            env=self.env(),
            cwd=self.project,
            log_path=self.home / "app-server.log",
        )

    def exec_json(self, prompt: str) -> tuple[int, list[dict[str, Any]]]:
        proc = subprocess.run(
            [self.binary, "exec", "--json", prompt],
            cwd=self.project,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    def rollout(self, thread_id: str) -> list[dict[str, Any]]:
        """The records of the thread's rollout file."""
        paths = list((self.codex_home / "sessions").rglob(f"rollout-*-{thread_id}.jsonl"))
        assert len(paths) == 1, paths
        return [json.loads(line) for line in paths[0].read_text().splitlines() if line.strip()]

    def notified_turns(self) -> list[dict[str, Any]]:
        """The notify hook's payloads, in the order codex ran it."""
        if not self.turns_file.exists():
            return []
        return [json.loads(line) for line in self.turns_file.read_text().splitlines()]

    # -- the TUI in tmux --------------------------------------------------------------------------

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.tmux_socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return proc.stdout

    def start_tui(self, prompt: str) -> None:
        """The TUI in a 120x40 tmux pane, with the prompt on its command line (a first message, as typed)."""
        env_args = [f"{k}={v}" for k, v in self.env().items()]
        argv = ["env", *env_args, self.binary, "--no-alt-screen", prompt]
        self.tmux(
            "new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", "-c", str(self.project), "--", *argv
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "tui")


# A notify program: appends its JSON argument to the file named by its first argument.
NOTIFY_SCRIPT = Path(__file__).with_name("notify_recorder.py")


@pytest.fixture
def codex(
    real_codex: str,
    codex_version: str,
    project: Path,
    isolated_env: dict[str, str],
) -> Iterator[RealCodex]:
    short_dir = Path(tempfile.mkdtemp(prefix="ca-e2e-"))
    with ModelServer() as srv:
        live = RealCodex(
            binary=real_codex,
            version=codex_version,
            server=srv,
            project=project,
            home=Path(isolated_env["HOME"]),
            codex_home=Path(isolated_env["CODEX_HOME"]),
            short_dir=short_dir,
            tmux_socket=isolated_env["CODEX_AGENT_TMUX_SOCKET"],
        )
        live.configure()
        try:
            yield live
        finally:
            subprocess.run(["tmux", "-L", live.tmux_socket, "kill-server"], capture_output=True, check=False)
            shutil.rmtree(short_dir, ignore_errors=True)


def last_task_complete(records: list[dict[str, Any]]) -> dict[str, Any]:
    ends: list[dict[str, Any]] = [
        r["payload"] for r in records if r["type"] == "event_msg" and r["payload"]["type"] == "task_complete"
    ]
    assert ends, [r["type"] for r in records]
    return ends[-1]


def test_codex_the_title_request_finishes_before_the_turn(codex: RealCodex) -> None:
    prompt = "title-order\nSTEPS: 2 0.3"
    codex.start_tui(prompt)

    first = codex.server.wait_for(lambda r: r.kind == "turn", timeout=60, finished=True)
    title = codex.server.wait_for(lambda r: r.kind == "title", timeout=30, finished=True)
    assert title.finished_at is not None and first.finished_at is not None
    assert title.finished_at < first.finished_at
    assert first.finished_at - first.received_at >= DEFAULT_TURN_DELAY
    wait_for(lambda: len(codex.notified_turns()) >= 2, timeout=30, what="two notify runs")
    turns = codex.notified_turns()
    # The notify hook fires for the title's own ephemeral thread first, then for the real turn.
    assert json.loads(turns[0]["last-assistant-message"]) == {"title": "title-order STEPS: 2 0.3"}
    assert turns[1]["last-assistant-message"].startswith("STEPPED: 2\n")
    assert turns[1]["input-messages"] == [prompt]
    assert turns[0]["thread-id"] != turns[1]["thread-id"]
    wait_for(lambda: "STEPPED: 2" in codex.screen(), timeout=30, what="the final message on the TUI screen")
    screen = codex.screen()
    assert "• Ran echo step 1" in screen and "• Ran echo step 2" in screen


def test_codex_steps_run_each_command_then_the_final_message(codex: RealCodex) -> None:
    with codex.app_server() as app, app.connect() as client:
        thread = client.start_thread(cwd=str(codex.project))
        started = time.monotonic()
        turn = client.start_turn(thread["id"], "STEPS: 3 0.4", clientUserMessageId="cm-steps")
        done = client.turn_completed(turn["id"], timeout=60)
        took = time.monotonic() - started
        commands = client.items("item/completed", turn["id"], "commandExecution")
        messages = client.items("item/completed", turn["id"], "agentMessage")
        users = client.items("item/completed", turn["id"], "userMessage")

    assert done["status"] == "completed"
    assert [c["commandActions"][0]["command"] for c in commands] == [
        "echo step 1",
        "echo step 2",
        "echo step 3",
    ]
    assert [c["aggregatedOutput"] for c in commands] == ["step 1\n", "step 2\n", "step 3\n"]
    assert all(c["exitCode"] == 0 for c in commands)
    assert [m["text"].split("\n")[0] for m in messages] == ["STEPPED: 3"]
    assert [u["clientId"] for u in users] == ["cm-steps"]
    assert took >= 3 * 0.4
    assert [r.kind for r in codex.server.responses_requests()] == ["turn", *["tool_result"] * 3]
    assert last_task_complete(codex.rollout(thread["id"]))["last_agent_message"].startswith("STEPPED: 3")


def test_codex_fail_500_fails_the_turn_and_the_thread_stays_usable(codex: RealCodex) -> None:
    with codex.app_server() as app, app.connect() as client:
        thread = client.start_thread(cwd=str(codex.project))
        turn = client.start_turn(thread["id"], "FAIL: 500")
        failed = client.turn_completed(turn["id"], timeout=60)
        error = client.notification("error", timeout=5)
        status = client.notification(
            "thread/status/changed", timeout=5, where=lambda p: p["status"]["type"] == "systemError"
        )
        after = client.start_turn(thread["id"], "after the failure")
        recovered = client.turn_completed(after["id"], timeout=60)

    assert failed["status"] == "failed"
    assert failed["error"]["codexErrorInfo"] == "internalServerError"
    assert failed["error"]["message"]
    assert error["willRetry"] is False and error["error"] == failed["error"]
    assert status["threadId"] == thread["id"]
    assert recovered["status"] == "completed"
    assert recovered["items"][-1]["text"] == echo_reply("after the failure")
    assert [(r.kind, r.reply and r.reply.status) for r in codex.server.responses_requests()] == [
        ("turn", 500),
        ("turn", 200),
    ]
    ends = [r["payload"] for r in codex.rollout(thread["id"]) if r["payload"].get("type") == "task_complete"]
    assert ends[0]["last_agent_message"] is None
    assert ends[0]["error"] == {
        "message": failed["error"]["message"],
        "codex_error_info": "internal_server_error",
    }
    assert "error" not in ends[1]


def test_codex_exec_json_reports_a_failed_turn(codex: RealCodex) -> None:
    code, events = codex.exec_json("FAIL: 500")

    assert code == 1
    types = [e["type"] for e in events]
    assert types[0] == "thread.started"
    assert types[-2:] == ["error", "turn.failed"]
    assert events[-1]["error"]["message"] == events[-2]["message"]
    assert "turn.completed" not in types


def test_codex_fail_429_is_retried_until_the_stream_retries_run_out(codex: RealCodex) -> None:
    # request_max_retries does not retry a 429 of the responses stream; stream_max_retries does.
    codex.configure(request_max_retries=3, stream_max_retries=1)
    with codex.app_server() as app, app.connect() as client:
        thread = client.start_thread(cwd=str(codex.project))
        turn = client.start_turn(thread["id"], "FAIL: 429")
        failed = client.turn_completed(turn["id"], timeout=60)
        errors = [m["params"] for m in client.messages if m.get("method") == "error"]

    requests = codex.server.responses_requests()
    assert [(r.kind, r.reply and r.reply.status) for r in requests] == [("turn", 429), ("turn", 429)]
    # codex waits at least the Retry-After before it tries again.
    assert requests[1].received_at - requests[0].finished_at >= RETRY_AFTER_SECONDS * 0.9  # type: ignore[operator]
    assert [(e["willRetry"], e["error"]["message"]) for e in errors] == [
        (True, "Reconnecting... 1/1"),
        (False, "exceeded retry limit, last status: 429 Too Many Requests"),
    ]
    assert failed["status"] == "failed"
    assert failed["error"]["codexErrorInfo"] == {"responseTooManyFailedAttempts": {"httpStatusCode": 429}}
    end = last_task_complete(codex.rollout(thread["id"]))
    assert end["last_agent_message"] is None
    assert end["error"]["message"] == "exceeded retry limit, last status: 429 Too Many Requests"


def test_codex_hang_never_completes_without_an_idle_timeout(codex: RealCodex) -> None:
    with codex.app_server() as app, app.connect() as client:
        thread = client.start_thread(cwd=str(codex.project))
        turn = client.start_turn(thread["id"], "HANG")
        hung = codex.server.wait_for(lambda r: r.kind == "turn", timeout=30)
        with pytest.raises(TimeoutError):
            client.turn_completed(turn["id"], timeout=4)
        assert not hung.finished
        client.request("turn/interrupt", {"threadId": thread["id"], "turnId": turn["id"]})
        interrupted = client.turn_completed(turn["id"], timeout=30)

    assert interrupted["status"] == "interrupted"
    # Interrupting drops the hung stream.
    assert codex.server.wait_for(lambda r: r is hung and r.aborted, timeout=10, finished=True)


def test_codex_hang_fails_the_turn_after_the_stream_idle_timeout(codex: RealCodex) -> None:
    codex.configure(stream_idle_timeout_ms=1500)
    with codex.app_server() as app, app.connect() as client:
        thread = client.start_thread(cwd=str(codex.project))
        started = time.monotonic()
        turn = client.start_turn(thread["id"], "HANG")
        failed = client.turn_completed(turn["id"], timeout=60)
        took = time.monotonic() - started

    assert failed["status"] == "failed"
    assert failed["error"]["message"] == "stream disconnected before completion: idle timeout waiting for SSE"
    assert failed["error"]["codexErrorInfo"] == "other"
    assert 1.5 <= took < 30
    requests = codex.server.responses_requests()
    assert len(requests) == 1 and requests[0].aborted
    end = last_task_complete(codex.rollout(thread["id"]))
    assert end["last_agent_message"] is None
    assert end["error"]["message"] == failed["error"]["message"]


def test_codex_escalate_asks_for_approval_and_runs_once_accepted(codex: RealCodex) -> None:
    codex.configure(sandbox_mode="read-only", approval_policy="on-request")
    command = "echo approved > escalated.txt"
    with codex.app_server() as app, app.connect() as client:
        thread = client.start_thread(cwd=str(codex.project))
        turn = client.start_turn(thread["id"], f"ESCALATE: {command}")
        ask = client.server_request("item/commandExecution/requestApproval", timeout=60)
        waiting = client.notification(
            "thread/status/changed",
            timeout=5,
            where=lambda p: p["status"].get("activeFlags") == ["waitingOnApproval"],
        )
        assert not (codex.project / "escalated.txt").exists()
        client.respond(ask, {"decision": "accept"})
        resolved = client.notification("serverRequest/resolved", timeout=30)
        done = client.turn_completed(turn["id"], timeout=60)
        ran = client.items("item/completed", turn["id"], "commandExecution")

    params = ask["params"]
    assert params["threadId"] == thread["id"] and params["turnId"] == turn["id"]
    assert params["command"] == f"/bin/bash -lc '{command}'"
    assert params["commandActions"] == [{"type": "unknown", "command": command}]
    assert params["reason"] == ESCALATE_JUSTIFICATION
    assert params["cwd"] == str(codex.project)
    assert "accept" in params["availableDecisions"] and "cancel" in params["availableDecisions"]
    assert waiting["threadId"] == thread["id"]
    assert resolved["requestId"] == ask["id"]
    assert done["status"] == "completed"
    assert done["items"][-1]["text"].startswith(f"ESCALATED: {command}\n")
    assert [c["exitCode"] for c in ran] == [0]
    assert (codex.project / "escalated.txt").read_text() == "approved\n"


@pytest.mark.parametrize("decision", ["cancel", "decline"])
def test_codex_escalate_refused_runs_nothing(codex: RealCodex, decision: str) -> None:
    codex.configure(sandbox_mode="read-only", approval_policy="on-request")
    with codex.app_server() as app, app.connect() as client:
        thread = client.start_thread(cwd=str(codex.project))
        turn = client.start_turn(thread["id"], "ESCALATE: echo no > refused.txt")
        ask = client.server_request("item/commandExecution/requestApproval", timeout=60)
        client.respond(ask, {"decision": decision})
        done = client.turn_completed(turn["id"], timeout=60)
        commands = client.items("item/completed", turn["id"], "commandExecution")

    assert [c["status"] for c in commands] == ["declined"]
    assert not (codex.project / "refused.txt").exists()
    kinds = [r.kind for r in codex.server.responses_requests()]
    if decision == "cancel":
        # "cancel" (offered) interrupts the turn; the model is not asked again.
        assert done["status"] == "interrupted"
        assert kinds == ["turn"]
    else:
        # "decline" (accepted, though not offered) reports the refusal to the model and the turn goes on.
        assert done["status"] == "completed"
        assert kinds == ["turn", "tool_result"]
        assert "rejected by user" in done["items"][-1]["text"]


def test_codex_escalate_in_the_tui_shows_the_approval_overlay(codex: RealCodex) -> None:
    codex.configure(sandbox_mode="read-only", approval_policy="on-request")
    command = "echo approved-in-tui > tui.txt"
    codex.start_tui(f"ESCALATE: {command}")

    wait_for(
        lambda: "Would you like to run the following command?" in codex.screen(),
        timeout=60,
        what="the approval overlay",
    )
    screen = codex.screen()
    assert f"Reason: {ESCALATE_JUSTIFICATION}" in screen
    assert f"$ {command}" in screen
    assert "Yes, proceed (y)" in screen
    assert not (codex.project / "tui.txt").exists()

    def approved() -> bool:
        # A key pressed while the overlay is still being drawn can be lost: press again while it is shown.
        if (codex.project / "tui.txt").exists():
            return True
        if "Would you like to run the following command?" in codex.screen():
            codex.tmux("send-keys", "-t", "tui", "y")
        return False

    wait_for(approved, timeout=30, interval=0.5, what="the approved command to run")
    wait_for(lambda: "ESCALATED:" in codex.screen(), timeout=30, what="the final message")


@pytest.mark.parametrize(
    ("prompt", "options", "line"),
    [
        ("FAIL: 500", {}, "■ We\u2019re currently experiencing high demand"),
        ("FAIL: 429", {}, "■ exceeded retry limit, last status: 429 Too Many Requests"),
        (
            "HANG",
            {"stream_idle_timeout_ms": 1500},
            "■ stream disconnected before completion: idle timeout waiting for SSE",
        ),
    ],
    ids=["500", "429", "hang"],
)
def test_codex_tui_shows_a_failed_turn_and_notifies_only_the_title(
    codex: RealCodex, prompt: str, options: dict[str, Any], line: str
) -> None:
    codex.configure(**options)
    codex.start_tui(prompt)

    wait_for(lambda: line in codex.screen(), timeout=60, what=f"the line {line!r}")
    wait_for(lambda: "Ask Codex to do anything" in codex.screen(), timeout=30, what="the idle composer")
    # A next message works, and its notify comes after any the failed turn could have caused.
    codex.tmux("send-keys", "-t", "tui", "-l", "after the failure")
    codex.tmux("send-keys", "-t", "tui", "Enter")
    wait_for(lambda: len(codex.notified_turns()) >= 2, timeout=60, what="the next turn's notify")
    turns = codex.notified_turns()
    # The failed turn ran no notify hook: only the title side request's and the next turn's.
    assert json.loads(turns[0]["last-assistant-message"]) == {"title": prompt}
    assert [t["last-assistant-message"] for t in turns[1:]] == [echo_reply("after the failure")]


def test_codex_patch_edits_a_file_through_apply_patch(codex: RealCodex) -> None:
    codex.configure(model=PATCH_MODEL)
    with codex.app_server() as app, app.connect() as client:
        thread = client.start_thread(cwd=str(codex.project))
        turn = client.start_turn(thread["id"], "PATCH: notes/added.txt written by apply_patch")
        done = client.turn_completed(turn["id"], timeout=60)
        changes = client.items("item/completed", turn["id"], "fileChange")

    assert done["status"] == "completed"
    assert done["items"][-1]["text"].startswith("PATCHED: notes/added.txt\n")
    assert (codex.project / "notes" / "added.txt").read_text() == "written by apply_patch\n"
    assert [c["changes"] for c in changes] == [
        [
            {
                "path": str(codex.project / "notes" / "added.txt"),
                "kind": {"type": "add"},
                "diff": "written by apply_patch\n",
            }
        ]
    ]
    first, result = codex.server.responses_requests()
    offered = [t for t in first.body["tools"] if t.get("name") == "apply_patch"]
    assert [t["type"] for t in offered] == ["custom"]
    assert result.body["input"][-1]["type"] == "custom_tool_call_output"
    calls = [
        r["payload"] for r in codex.rollout(thread["id"]) if r["payload"].get("type") == "custom_tool_call"
    ]
    assert [(c["name"], c["input"]) for c in calls] == [
        ("apply_patch", patch_text("notes/added.txt", "written by apply_patch"))
    ]
