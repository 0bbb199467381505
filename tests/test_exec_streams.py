"""`exec result` and `exec logs` locally: stdout and stderr recorded apart, with timestamps."""

from __future__ import annotations

import json
import subprocess

from tests.helpers import CLI, wait_for


def _records(cli: CLI, *args: str) -> list[dict[str, str]]:
    out = cli.ok("exec", "logs", *args).out
    return [json.loads(line) for line in out.splitlines()]


def test_streams_are_recorded_apart_and_the_pane_still_shows_both(cli: CLI) -> None:
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf 'no newline'; exit 4"
    exec_id = cli.ok("exec", "start", "--cmd", script).out.strip()
    cli.wait_status(exec_id, ["failed"])

    stdout = _records(cli, "--id", exec_id, "--stream", "stdout")
    stderr = _records(cli, "--id", exec_id, "--stream", "stderr")
    assert [r["text"] for r in stdout] == ["out1", "out2", "out3", "no newline"]
    assert [r["text"] for r in stderr] == ["err1", "err2", "err3"]
    assert {r["stream"] for r in stdout} == {"stdout"} and {r["stream"] for r in stderr} == {"stderr"}
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in stdout + stderr)
    assert [r["text"] for r in _records(cli, "--id", exec_id, "--stream", "stderr", "--tail", "1")] == [
        "err3"
    ]

    result = cli.ok("exec", "result", "--id", exec_id, "--json").json()
    assert result["status"] == "finished" and result["exit_code"] == 4 and result["next_action"] == "done"
    assert result["machine"] == "local" and result["exec_id"] == exec_id
    assert (
        result["stdout_tail"] == "out1\nout2\nout3\nno newline"
        and result["stderr_tail"] == "err1\nerr2\nerr3"
    )
    assert cli.ok("exec", "result", "--id", exec_id).out == "finished exit_code=4\n"

    merged = cli.ok("output", exec_id, "--strip-ansi").out
    assert "out2" in merged and "err2" in merged


def test_running_result_and_follow_until_the_end(cli: CLI) -> None:
    exec_id = cli.ok(
        "exec", "start", "--cmd", "echo first; read line; echo got-$line; echo bye >&2"
    ).out.strip()
    wait_for(lambda: _records(cli, "--id", exec_id, "--stream", "stdout"), what="the first line")
    running = cli.ok("exec", "result", "--id", exec_id, "--json").json()
    assert (
        running["status"] == "running" and running["exit_code"] is None and running["next_action"] == "wait"
    )

    follower = subprocess.Popen(
        [*cli_argv(), "exec", "logs", "--id", exec_id, "--stream", "stdout", "--follow"],
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        env=cli_env(),
    )
    # Standard input is still the pane's terminal: keys reach the command.
    tmux = ["tmux", "-L", cli_env()["CODEX_AGENT_TMUX_SOCKET"], "send-keys", "-t", f"codex-agent-{exec_id}"]
    subprocess.run([*tmux, "-l", "hello"], check=True)
    subprocess.run([*tmux, "Enter"], check=True)
    out, _ = follower.communicate(timeout=30)
    assert follower.returncode == 0
    assert [json.loads(line)["text"] for line in out.decode().splitlines()] == ["first", "got-hello"]


def test_result_of_an_unknown_exec_id(cli: CLI) -> None:
    result = cli.run("exec", "result", "--id", "0badc0de")
    assert result.code == 3
    assert result.err.strip() == (
        "codex-agent: exec_id 0badc0de not found on local — list them with `codex-agent jobs`"
    )


def cli_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "codex_agent"]


def cli_env() -> dict[str, str]:
    import os

    from tests.helpers import REPO_ROOT

    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
