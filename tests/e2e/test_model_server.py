"""Tests of the scripted Responses API server, with a plain HTTP client (no codex involved)."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import netns
from .model_server import (
    API_KEY_ENV,
    ECHO_HEAD_CHARS,
    USAGE_INPUT_TOKENS,
    USAGE_OUTPUT_TOKENS,
    ModelServer,
    codex_config_toml,
    codex_env,
    echo_reply,
    parse_directives,
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
    with ModelServer() as srv:
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
    srv = ModelServer()
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
    assert cfg["notice"] == {"hide_full_access_warning": True}


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
