"""End-to-end scenarios: codex-agent driving the real Codex CLI, offline, against our model server.

Each scenario asserts on what the model server received and on what codex-agent reports.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import libtmux

from tests.e2e.model_server import PATCH_MODEL, ModelServer, RecordedRequest, echo_reply
from tests.helpers import CLI, wait_for


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def turn_with(server: ModelServer, needle: str, timeout: float = 60) -> RecordedRequest:
    return server.wait_for(
        lambda req: req.kind == "turn" and needle in (req.user_text or ""), timeout, finished=True
    )


def processes_of(job_id: str) -> list[int]:
    """Processes that carry the job's id in their environment (the launcher sets it for the agent)."""
    marker = f"CODEX_AGENT_JOB_ID={job_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_tui_start_reaches_idle_with_summary_tokens_and_thread(
    cli: CLI, codex_env: Path, model_server: ModelServer
) -> None:
    prompt = "e2e-scenario-1: say hello"
    job = cli.start(prompt)
    idle = cli.wait_status(job["id"], ["idle"], timeout=90)
    request = turn_with(model_server, "e2e-scenario-1")
    assert request.body["model"] == "gpt-5.3-codex"
    assert request.body["reasoning"]["effort"] == "xhigh"
    assert idle["summary"] == echo_reply(prompt)
    assert idle["tokens"]["input"] > 0 and idle["tokens"]["output"] > 0
    assert idle["thread_id"] and len(idle["thread_id"]) >= 32
    # The pane is the real TUI attached to the job's app-server: it shows the turn once it has drawn it.
    wait_for(lambda: "e2e-scenario-1" in cli.ok("capture", job["id"], "--strip-ansi").out, timeout=30)
    cli.ok("kill", job["id"])


def test_send_while_idle_delivers_3kb_whole_and_updates_the_summary(
    cli: CLI, codex_env: Path, model_server: ModelServer
) -> None:
    job = cli.start("e2e-scenario-2 first")
    cli.wait_status(job["id"], ["idle"], timeout=90)
    message = "e2e-scenario-2 follow-up: " + ("ünïcode `$(x)` ; 'q' \"d\" \\ \n" * 120)[:3000]
    receipt = cli.ok("send", job["id"], message, "--json").json()
    assert receipt["job_id"] == job["id"]
    request = turn_with(model_server, "e2e-scenario-2 follow-up")
    assert request.user_text == message.strip()  # codex trims a pasted message at both ends
    idle = cli.wait_status(job["id"], ["idle"], timeout=90)
    assert idle["summary"] == echo_reply(message.strip())
    cli.ok("kill", job["id"])


def test_send_during_a_slow_turn_is_delivered_once(
    cli: CLI, codex_env: Path, model_server: ModelServer
) -> None:
    job = cli.start("e2e-scenario-3 start\nSLOW: 6")
    model_server.wait_for(
        lambda req: req.kind == "turn" and "e2e-scenario-3 start" in (req.user_text or ""), 60
    )
    message = "e2e-scenario-3 mid-turn message"
    cli.ok("send", job["id"], message)
    idle = cli.wait_status(job["id"], ["idle"], timeout=90)
    carrying = [req for req in model_server.requests if req.kind == "turn" and req.user_text == message]
    assert len(carrying) == 1, [req.user_text for req in model_server.requests]
    assert idle["summary"] == echo_reply(message)
    cli.ok("kill", job["id"])


def test_exec_with_a_shell_command_completes_and_quotes_its_output(
    cli: CLI, codex_env: Path, model_server: ModelServer
) -> None:
    job = cli.start("--exec", "e2e-scenario-4\nRUN: echo tool-said-$((6*7))")
    done = cli.wait_status(job["id"], ["completed", "failed"], timeout=90)
    assert done["status"] == "completed", done
    assert done["exit_code"] == 0
    assert "tool-said-42" in done["summary"]
    tool_result = model_server.wait_for(
        lambda req: req.kind == "tool_result" and "tool-said-42" in str(req.body), 5
    )
    assert tool_result.body["input"][-1]["type"] == "function_call_output"


def test_exec_file_edit_is_named_in_files_modified(
    cli: CLI, codex_env: Path, model_server: ModelServer, project: Path
) -> None:
    # An edit through codex's apply_patch is a fileChange item of this job's own: that is files_modified.
    job = cli.start("--exec", "-m", PATCH_MODEL, "e2e-scenario-5\nPATCH: made.txt made by the agent")
    done = cli.wait_status(job["id"], ["completed", "failed"], timeout=90)
    assert done["status"] == "completed", done
    assert done["files_modified"] == ["made.txt"]
    assert (project / "made.txt").read_text().startswith("made by the agent")


def test_kill_leaves_no_codex_or_tmux_process_behind(
    cli: CLI, codex_env: Path, model_server: ModelServer, tmux_socket: str
) -> None:
    # A turn that is busy in a compound shell command: its child would outlive a plain kill-session.
    job = cli.start("e2e-scenario-6\nRUN: sleep 120; echo never")
    model_server.wait_for(lambda req: "e2e-scenario-6" in str(req.body) and req.kind == "turn", 60)
    wait_for(lambda: any(_cmdline(pid).startswith("sleep") for pid in processes_of(job["id"])), timeout=30)
    assert processes_of(job["id"])
    killed = cli.ok("kill", job["id"], "--json").json()
    assert killed["status"] == "killed"
    wait_for(lambda: not processes_of(job["id"]), timeout=10, what="every process of the job to end")
    assert not libtmux.Server(socket_name=tmux_socket).has_session(f"codex-agent-{job['id']}")
    assert cli.job(job["id"])["status"] == "killed"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_a_300_kb_prompt_reaches_the_model_whole(
    cli: CLI, codex_env: Path, model_server: ModelServer, tmp_path: Path
) -> None:
    body = ("all of it: `$(echo no)` ; 'quotes' \"too\" \\ ünïcode ✓\n" * 6000)[:300_000]
    for mode in ("exec", "tui"):
        prompt = f"e2e-scenario-7-{mode}\n{body}"
        prompt_file = tmp_path / f"{mode}.txt"
        prompt_file.write_text(prompt)
        job = cli.start(*(["--exec"] if mode == "exec" else []), f"@{prompt_file}")
        request = turn_with(model_server, f"e2e-scenario-7-{mode}", timeout=120)
        # The TUI trims a pasted message at both ends; exec reads stdin as it is.
        expected = prompt if mode == "exec" else prompt.strip()
        assert sha(request.user_text or "") == sha(expected), mode
        done = cli.wait_status(job["id"], ["completed", "idle"], timeout=90)
        assert done["summary"] == echo_reply(expected), mode
        if mode == "tui":
            cli.ok("kill", job["id"])


def test_an_untrusted_repository_does_not_hold_up_the_agent(
    codex_env: Path, model_server: ModelServer, tmp_path: Path
) -> None:
    """The keeper runs the turn through the protocol with the sandbox and approval policy it was given, so
    codex's trust question (a TUI screen for people) no longer stands between the agent and its work."""
    other = tmp_path / "untrusted"
    other.mkdir()
    subprocess.run(["git", "-C", str(other), "init", "-q"], check=True)
    cli = CLI(cwd=other)
    job = cli.start("e2e-untrusted hello")
    idle = cli.wait_status(job["id"], ["idle"], timeout=90)
    assert idle["summary"] == echo_reply("e2e-untrusted hello")
    turn_with(model_server, "e2e-untrusted hello")
    cli.ok("kill", job["id"])
