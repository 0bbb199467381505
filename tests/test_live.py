"""Live agents: send with a receipt, keys for questions, activity with evidence, wait, watch, resume, notify.

Against a real tmux server and the codex test double."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from codex_agent import errors
from codex_agent.keeper.command_watch import find_question
from tests.helpers import CLI, REPO_ROOT, wait_for


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()


def hostile_text(size: int) -> str:
    lines = [
        "Enter",
        "C-c",
        "Escape",
        "send-keys -t x Enter ; kill-server",
        'it\'s "quoted" and `backticked` $(rm -rf /) ${HOME} $PATH ; && || | > < & *',
        "back\\slashes \\\\ \\n \\t \\x1b \\u00e9 trailing\\",
        "ünïcödé — “curly” 日本語 emoji 🚀 \u200b zero-width",
        "\ttabbed\tline\t",
        ";",
        "",
    ]
    text = "\n".join(lines) + "\n"
    return (text * (size // len(text) + 1))[:size]


def popen_cli(cli: CLI, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "codex_agent", *args],
        cwd=cli.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


SLEEP_SYSCALLS = {"35", "230"}  # nanosleep, clock_nanosleep (x86_64): the watcher's wait between its checks


def blocked_on_file_events(pid: int) -> bool:
    """The process has an inotify watch open and its main thread sleeps in the watcher's wait (its first
    read of the state is over): from now on only a file event can wake it up."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        syscall = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        return False
    watching = False
    for fd in fds:
        try:
            watching = watching or os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
        except OSError:
            continue
    return watching and syscall in SLEEP_SYSCALLS


def read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 20) -> bytes:
    """Read the process's stdout until `needle` shows up (without waiting for the process to end)."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {needle!r}; saw {seen[-500:]!r}"
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"stdout closed before {needle!r}; saw {seen[-500:]!r}"
            seen += chunk
    return seen


# --- send ---------------------------------------------------------------------------------------------------


def test_hostile_100kb_message_arrives_byte_exact_and_is_submitted(cli: CLI, tmp_path: Path) -> None:
    job = cli.start("hello")
    cli.wait_status(job["id"], ["idle"])
    text = hostile_text(100_000)
    message_file = tmp_path / "message.txt"
    message_file.write_bytes(text.encode())

    receipt = cli.ok("send", job["id"], f"@{message_file}", "--json").json()
    assert receipt["delivered"] is True
    assert receipt["sha256"] == sha(text) and receipt["chars"] == len(text)
    assert receipt["confirmed_by"] == "protocol"

    idle = cli.wait_status(job["id"], ["idle"], timeout=60)
    assert idle["summary"].startswith(f"ECHO[{len(text)} chars sha256={sha(text)}]")

    # Text equal to a key name is text, not a key; standard input works too.
    for word in ("C-c", "Enter"):
        cli.ok("send", job["id"], "-", input=word.encode())

        def replied(word: str = word) -> dict[str, Any] | None:
            current = cli.job(job["id"])
            return (
                current
                if current["summary"].startswith(f"ECHO[{len(word)} chars sha256={sha(word)}]")
                else None
            )

        arrived = wait_for(replied, what=f"the reply to {word!r}")
        assert arrived["status"] in ("running", "idle")
    assert cli.wait_status(job["id"], ["idle"])["status"] == "idle"  # still alive: C-c was not pressed


def test_a_message_sent_during_a_turn_is_counted_and_runs_after_it(cli: CLI) -> None:
    job = cli.start("SLEEP 2")
    receipt = cli.ok("send", job["id"], "next one", "--json").json()
    assert receipt["busy"] is True
    # It joined the running turn (turn/steer): that turn's reply answers it too, and only then is it idle.
    done = cli.wait_status(job["id"], ["idle"], timeout=30)
    assert f"ECHO[8 chars sha256={sha('next one')}]" in done["summary"]


def test_send_when_idle_waits_for_the_turn_to_finish(cli: CLI) -> None:
    job = cli.start("SLEEP 1")
    receipt = cli.ok("send", job["id"], "after", "--when-idle", "--json").json()
    assert receipt["busy"] is False
    assert cli.wait_status(job["id"], ["idle"])["summary"].startswith("ECHO[5 chars")


def test_messages_to_jobs_that_cannot_take_them_are_refused(cli: CLI) -> None:
    command_id = cli.ok("exec", "start", "--cmd", "sleep 60").out.strip()
    refused = cli.run("send", command_id, "hello")
    assert refused.code == 5 and "plain command" in refused.err and len(refused.err.splitlines()) == 1

    job = cli.start("first")
    cli.wait_status(job["id"], ["idle"])
    cli.ok("kill", job["id"])
    ended = cli.run("send", job["id"], "hello")
    assert ended.code == 5 and f"codex-agent resume {job['id']}" in ended.err

    assert cli.run("send", command_id, "--key", "F12").code == 2
    assert cli.run("send", command_id).code == 2  # neither a message nor a key
    assert cli.run("send", command_id, "x", "--key", "y").code == 2  # both


# --- activity -----------------------------------------------------------------------------------------------


def test_an_approval_question_needs_input_and_a_key_answers_it(cli: CLI) -> None:
    job = cli.start("ASK before touching")
    asking = cli.wait_status(job["id"], ["needs_input"])
    assert asking["status_basis"] == "protocol"
    assert "touch approved.txt" in asking["attention"]

    waited = cli.run("wait", job["id"], "--json")
    assert waited.code == errors.NEEDS_ATTENTION_EXIT
    assert waited.json()["jobs"][0]["attention"] == asking["attention"]

    # A message would press Enter into the question: refused until it is answered.
    assert cli.run("send", job["id"], "carry on").code == 5

    cli.ok("send", job["id"], "--key", "y")  # answers codex's request through the protocol
    idle = cli.wait_status(job["id"], ["idle"])
    assert idle["attention"] is None
    assert (cli.cwd / "approved.txt").exists()


def test_a_stalled_agent_is_reported_after_its_threshold(cli: CLI) -> None:
    job = cli.start("SLEEP 60", "--stall-after", "1s")
    assert job["status"] == "running"
    started = time.monotonic()
    result = cli.run("wait", job["id"], "--until", "attention", "--json", timeout=30)
    assert result.code == errors.NEEDS_ATTENTION_EXIT, result
    stalled = result.json()["jobs"][0]
    assert stalled["status"] == "stalled"
    assert stalled["status_basis"] == "protocol"
    assert stalled["attention"].startswith("no sign of progress for")
    assert time.monotonic() - started < 10


def test_a_quiet_command_stalls_by_project_config(cli: CLI, project: Path) -> None:
    (project / ".codex-agent.toml").write_text("stall_after_s = 1\n")
    job_id = cli.ok("exec", "start", "--cmd", "echo started; sleep 60").out.strip()
    stalled = cli.wait_status(job_id, ["stalled"], timeout=15)
    assert stalled["status_basis"] == "output"


def test_find_question_reads_a_commands_prompt_only_on_its_last_line() -> None:
    assert find_question("Overwrite config? [y/N]\n") == "Overwrite config? [y/N]"
    assert find_question("Enter passphrase for key: ") == "Enter passphrase for key:"
    assert find_question("building...\nstep 3 of 9\n") is None
    # A prompt that has scrolled up past later output is no longer a question.
    assert find_question("Continue? [y/n]\n" + "line\n" * 5) is None


def test_health_reports_each_live_jobs_heartbeat(cli: CLI) -> None:
    job = cli.start("hello")
    cli.wait_status(job["id"], ["idle"])
    report = cli.ok("health", "--json").json()
    (row,) = report["live_jobs"]
    assert row["id"] == job["id"] and row["process_alive"] is True and row["pid"]
    assert row["last_output_at"] and row["last_turn_at"] and row["status_basis"] == "protocol"


# --- wait ---------------------------------------------------------------------------------------------------


def test_wait_wakes_within_100ms_of_a_job_ending(cli: CLI, tmp_path: Path) -> None:
    latencies = []
    for round_number in range(7):
        gate = tmp_path / f"gate-{round_number}"
        os.mkfifo(gate)
        job_id = cli.ok("exec", "start", "--cmd", f"read line < {gate}; exit 3").out.strip()
        waiter = popen_cli(cli, "wait", job_id, "--until", "done")
        pid = waiter.pid
        wait_for(functools.partial(blocked_on_file_events, pid), what="wait to block on file events")
        with open(gate, "w") as handle:
            handle.write("go\n")
        code = waiter.wait(timeout=20)
        woke = time.time()
        assert code == errors.JOB_FAILED_EXIT, waiter.stderr.read() if waiter.stderr else ""
        stamp = cli.cwd / ".codex-agent" / "jobs" / job_id / "state.stamp"
        latencies.append(woke - stamp.stat().st_ctime)  # the keeper replaces it after recording the end
    median_ms = statistics.median(latencies) * 1000
    print(f"\nwait wake-up after a job's end: median {median_ms:.1f} ms over {len(latencies)} runs")
    assert median_ms < 100, latencies


def test_wait_exit_codes_any_and_timeout(cli: CLI) -> None:
    ok_id = cli.ok("exec", "start", "--cmd", "true").out.strip()
    bad_id = cli.ok("exec", "start", "--cmd", "exit 2").out.strip()
    slow_id = cli.ok("exec", "start", "--cmd", "sleep 60").out.strip()
    assert cli.run("wait", ok_id).code == 0
    assert cli.run("wait", ok_id, bad_id).code == errors.JOB_FAILED_EXIT
    reached = cli.run("wait", ok_id, slow_id, "--any", "--json")
    assert reached.code == 0 and reached.json()["reached"] == [ok_id]
    timed_out = cli.run("wait", slow_id, "--timeout", "300ms")
    assert timed_out.code == errors.WaitTimeoutError.exit_code and "not reached" in timed_out.err
    assert cli.run("wait", slow_id, "--until", "later").code == 2


def test_wait_codes_are_in_the_exit_code_table() -> None:
    table = (REPO_ROOT / "docs" / "exit-codes.md").read_text()
    rows = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|", table, re.M))
    assert rows[str(errors.JOB_FAILED_EXIT)] == "job_failed"
    assert rows[str(errors.NEEDS_ATTENTION_EXIT)] == "needs_attention"


# --- watch --------------------------------------------------------------------------------------------------


def test_watch_shows_output_live_and_exits_with_the_job(cli: CLI, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    job_id = cli.ok(
        "exec", "start", "--cmd", f"echo first-line; read line < {gate}; echo second-line; exit 3"
    ).out.strip()
    watcher = popen_cli(cli, "watch", job_id, "--strip-ansi")
    read_until(watcher, b"first-line")  # shown while the job is still running
    assert watcher.poll() is None
    with open(gate, "w") as handle:
        handle.write("go\n")
    rest = read_until(watcher, b"second-line")
    assert watcher.wait(timeout=20) == errors.JOB_FAILED_EXIT, rest


def test_watch_json_streams_output_and_status_events(cli: CLI) -> None:
    job_id = cli.ok("exec", "start", "--cmd", "echo one; sleep 0.3; echo two").out.strip()
    result = cli.ok("watch", job_id, "--json", "--strip-ansi")
    events = [json.loads(line) for line in result.out.splitlines()]
    output = "".join(event["data"] for event in events if event["type"] == "output")
    assert "one" in output and "two" in output
    statuses = [event["status"] for event in events if event["type"] == "status"]
    assert statuses[-1] == "completed" and events[-1]["type"] in ("status", "output")


def test_watch_until_idle_follows_a_tui_turn(cli: CLI) -> None:
    job = cli.start("SLEEP 0.5")
    result = cli.ok("watch", job["id"], "--until", "idle", "--strip-ansi")
    assert "ECHO[9 chars" in result.out


# --- resume and notify --------------------------------------------------------------------------------------


def test_resume_continues_the_same_thread(cli: CLI) -> None:
    job = cli.start("first turn")
    first = cli.wait_status(job["id"], ["idle"])
    cli.ok("kill", job["id"])
    assert cli.run("resume", "ffffffff").code == 3

    resumed = cli.ok("resume", job["id"], "second turn", "--json").json()
    assert resumed["id"] == job["id"] and resumed["thread_id"] == first["thread_id"]
    assert resumed["delivery"]["confirmed_by"] == "protocol"
    idle = cli.wait_status(job["id"], ["idle"])
    assert idle["summary"].startswith(f"ECHO[11 chars sha256={sha('second turn')}]")
    assert idle["thread_id"] == first["thread_id"]
    home = Path(os.environ["CODEX_HOME"])
    (rollout,) = home.glob(f"sessions/*/*/*/rollout-*{first['thread_id']}.jsonl")
    assert rollout.read_text().count('"task_complete"') == 2  # one thread, both turns
    output = cli.ok("output", job["id"], "--strip-ansi").out
    assert "ECHO[10 chars" in output and "ECHO[11 chars" in output  # one log across both attempts

    assert cli.run("resume", job["id"]).code == 5  # it is live again


def test_notify_on_complete_runs_the_users_command_with_facts_in_env_only(cli: CLI, project: Path) -> None:
    log = project / "notified.log"
    command = (
        'printf "%s|%s|%s|%s|%s\\n" "$CODEX_AGENT_JOB_ID" "$CODEX_AGENT_STATUS" "$CODEX_AGENT_EXIT_CODE" '
        f'"$CODEX_AGENT_EVENT" "$CODEX_AGENT_SUMMARY" >> {log}'
    )
    job = cli.start("say $(touch pwned) `touch pwned2`", "--notify-on-complete", command)
    wait_for(lambda: log.exists() and "|turn|" in log.read_text(), what="the idle notification")
    first = log.read_text().splitlines()[0]
    assert first.startswith(f"{job['id']}|idle||turn|ECHO[")
    assert "$(touch pwned)" in first and "`touch pwned2`" in first
    cli.ok("send", job["id"], "EXIT 3")
    cli.wait_status(job["id"], ["failed"])
    wait_for(lambda: "|end|" in log.read_text(), what="the end notification")
    ends = [line for line in log.read_text().splitlines() if "|end|" in line]
    assert len(ends) == 1 and ends[0].startswith(f"{job['id']}|failed|3|end|ECHO[")
    assert not (project / "pwned").exists() and not (project / "pwned2").exists()


def test_a_command_waiting_at_a_prompt_needs_input_and_keys_answer_it(cli: CLI) -> None:
    job_id = cli.ok(
        "exec", "start", "--cmd", "printf 'Overwrite the file? [y/n] '; read answer; echo \"got $answer\""
    ).out.strip()
    asking = cli.wait_status(job_id, ["needs_input"])
    assert asking["attention"] == "Overwrite the file? [y/n]" and asking["status_basis"] == "output"
    cli.ok("send", job_id, "--key", "y")
    cli.ok("send", job_id, "--key", "Enter")
    assert cli.wait_status(job_id, ["completed"])["attention"] is None
    assert "got y" in cli.ok("output", job_id, "--strip-ansi").out
