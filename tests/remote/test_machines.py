"""Machines over real SSH: `machine up`/`check`, exec on a host, agents on a host, failures, many machines.

The hosts come from the harness (tests/remote/sshd.py): real sshd servers in their own network namespaces,
each with its own user and HOME. codex-agent is installed on them once per session with `machine up`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CLI, REPO_ROOT, wait_for

from .sshd import SshHarness

FAKE_CODEX = REPO_ROOT / "tests" / "fakes" / "codex"


def _close_masters(control_dir: Path) -> None:
    for sock in control_dir.iterdir() if control_dir.exists() else []:
        if sock.is_socket():
            subprocess.run(
                ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                capture_output=True,
                timeout=10,
                check=False,
            )


def _registry_text(harness: SshHarness, aliases: list[str]) -> str:
    return "".join(
        f'[machines."{alias}"]\nhost = "{alias}"\nssh_config = "{harness.client_config}"\ndir = "work"\n\n'
        for alias in aliases
    )


@pytest.fixture(scope="session")
def installed(ssh_hosts: SshHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """codex-agent installed on every host by `machine up`; the first run's reports, by host."""
    if ssh_hosts.mode != "netns":
        pytest.skip("installing on a host would touch this user's own HOME in loopback mode")
    base = tmp_path_factory.mktemp("machines")
    registry = base / "machines.toml"
    aliases = [host.alias for host in ssh_hosts.hosts]
    registry.write_text(_registry_text(ssh_hosts, aliases))
    control = Path(tempfile.mkdtemp(prefix="ca-cm-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "CODEX_AGENT_MACHINES_FILE": str(registry),
        "CODEX_AGENT_CACHE_DIR": str(base / "cache"),
        "CODEX_AGENT_SSH_CONTROL_DIR": str(control),
    }
    reports = {}
    try:
        # The first host also fills the local wheel cache; the others then install at the same time.
        procs = {}
        for index, alias in enumerate(aliases):
            procs[alias] = subprocess.Popen(
                [sys.executable, "-m", "codex_agent", "machine", "up", alias, "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            if index == 0:
                procs[alias].wait(timeout=900)
        for alias, proc in procs.items():
            out, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, err.decode()
            reports[alias] = json.loads(out)
        yield {"reports": reports, "cache": base / "cache"}
    finally:
        _close_masters(control)
        shutil.rmtree(control, ignore_errors=True)


@pytest.fixture
def remote(
    netns_hosts: SshHarness, installed: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SshHarness]:
    """Machines h1 and h2 registered for this test, with a private directory for master sockets."""
    registry = tmp_path / "machines.toml"
    registry.write_text(_registry_text(netns_hosts, ["h1", "h2"]))
    control = Path(tempfile.mkdtemp(prefix="ca-cm-"))
    monkeypatch.setenv("CODEX_AGENT_MACHINES_FILE", str(registry))
    monkeypatch.setenv("CODEX_AGENT_SSH_CONTROL_DIR", str(control))
    monkeypatch.setenv("CODEX_AGENT_CACHE_DIR", str(installed["cache"]))
    try:
        yield netns_hosts
    finally:
        _close_masters(control)
        shutil.rmtree(control, ignore_errors=True)


def _records(cli: CLI, *args: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in cli.ok("exec", "logs", *args).out.splitlines()]


def _master_pid(control: Path) -> int:
    sockets = [sock for sock in control.iterdir() if sock.is_socket()]
    assert len(sockets) == 1, sockets
    check = subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sockets[0]}", "-O", "check", "x"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return int(check.stderr.split("pid=")[1].split(")")[0])


# --- readiness ------------------------------------------------------------------------------------


def test_machine_up_then_check_is_green_and_a_second_up_does_nothing(
    remote: SshHarness, cli: CLI, installed: dict[str, Any]
) -> None:
    first = installed["reports"]["h1"]
    assert first["action"] == "installed" and first["previous"] is None
    assert any(name.startswith("codex_agent-") for name in first["sent"])
    assert any(name.startswith("pydantic_core-") for name in first["sent"])  # dependencies came from here too

    check = cli.ok("machine", "check", "h1", "--json").json()
    assert check["ready"] and check["ssh_ok"] and check["daemon_ok"] and check["tmux_ok"] and check["git_ok"]
    assert check["remote_version"] == check["local_version"] and check["same_build"]
    assert check["tmux_version"].startswith("tmux ") and check["rtt_ms"] > 0
    assert check["next_action"] == "done"
    assert check["codex_ok"] is False  # no codex on the host: exec works, agents would not

    again = cli.ok("machine", "up", "h1", "--json").json()
    assert again["action"] == "none" and again["sent"] == []


def test_calls_share_one_connection(remote: SshHarness, cli: CLI) -> None:
    cli.ok("jobs", "--machine", "h1", "--json")
    logins = remote.accepted_logins("h1")
    for _ in range(3):
        assert cli.ok("jobs", "--machine", "h1", "--json").json()["jobs"] is not None
    assert remote.accepted_logins("h1") == logins


# --- exec -----------------------------------------------------------------------------------------


def test_exec_run_on_a_host_prints_output_and_exits_with_the_code(remote: SshHarness, cli: CLI) -> None:
    result = cli.run("exec", "run", "--machine", "h1", "--cmd", "id -un; echo out; echo err >&2; exit 3")
    assert result.code == 3, result.err
    assert result.out.splitlines()[0] == remote.host("h1").user
    assert "out\n" in result.out and "err\n" in result.out


def test_exec_start_result_and_logs_keep_streams_apart(remote: SshHarness, cli: CLI) -> None:
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done; exit 5"
    exec_id = cli.ok("exec", "start", "--machine", "h2", "--cmd", script).out.strip()
    followed = _records(cli, "--machine", "h2", "--id", exec_id, "--stream", "stderr", "--follow")
    assert [r["text"] for r in followed] == ["err1", "err2", "err3"]
    stdout = _records(cli, "--machine", "h2", "--id", exec_id, "--stream", "stdout")
    assert [r["text"] for r in stdout] == ["out1", "out2", "out3"]
    assert all(r["stream"] == "stdout" and r["time"] for r in stdout)
    tail = _records(cli, "--machine", "h2", "--id", exec_id, "--stream", "stdout", "--tail", "1")
    assert [r["text"] for r in tail] == ["out3"]

    result = cli.ok("exec", "result", "--machine", "h2", "--id", exec_id, "--json").json()
    assert result["machine"] == "h2" and result["exec_id"] == exec_id
    assert result["status"] == "finished" and result["exit_code"] == 5 and result["next_action"] == "done"
    assert result["stdout_tail"] == "out1\nout2\nout3" and result["stderr_tail"] == "err1\nerr2\nerr3"
    # The job ran on h2 and nowhere else.
    assert cli.run("exec", "result", "--machine", "h1", "--id", exec_id).code == 3
    assert cli.run("exec", "result", "--id", exec_id).code == 3


def test_dropping_the_ssh_connection_mid_job_loses_nothing(remote: SshHarness, cli: CLI) -> None:
    script = "echo begin; sleep 6; echo end-marker"
    exec_id = cli.ok("exec", "start", "--machine", "h1", "--cmd", script).out.strip()
    argv = ["exec", "logs", "--machine", "h1", "--id", exec_id, "--follow"]
    follower = subprocess.Popen(
        [sys.executable, "-m", "codex_agent", *argv],
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert follower.stdout is not None
    assert json.loads(follower.stdout.readline())["text"] == "begin"  # the call is under way
    control = Path(os.environ["CODEX_AGENT_SSH_CONTROL_DIR"])
    os.kill(_master_pid(control), signal.SIGKILL)  # the shared connection dies under a running call

    rest, err = follower.communicate(timeout=30)
    assert b"end-marker" not in rest
    assert follower.returncode == 9, err
    assert err.decode().count("\n") == 1 and "codex-agent: h1:" in err.decode()

    # A new connection is made on the next call; the job went on without any.
    def finished() -> dict[str, Any] | None:
        data: dict[str, Any] = cli.ok("exec", "result", "--machine", "h1", "--id", exec_id, "--json").json()
        return data if data["status"] == "finished" else None

    done = wait_for(finished, timeout=20, interval=0.3)
    assert done["exit_code"] == 0 and done["stdout_tail"] == "begin\nend-marker"


def test_project_is_pushed_at_a_ref_and_the_jobs_changes_are_pulled_back(
    remote: SshHarness, cli: CLI, project: Path
) -> None:
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "tag", "first"], check=True)
    (project / "README.md").write_text("second version\n")
    subprocess.run([*git, "commit", "-qam", "second"], check=True)

    script = "cat README.md; echo made > new.txt; echo more >> README.md"
    started = cli.ok(
        "exec", "start", "--machine", "h2", "--project", ".", "--ref", "first", "--cmd", script, "--json"
    ).json()
    exec_id = started["exec_id"]
    assert started["machine"] == "h2" and started["next_action"] == "wait"
    wait_for(
        lambda: (
            cli.ok("exec", "result", "--machine", "h2", "--id", exec_id, "--json").json()["status"]
            == "finished"
        )
    )
    assert _records(cli, "--machine", "h2", "--id", exec_id)[0]["text"] == "hello"  # the file as of `first`

    pulled = cli.ok("pull", "--machine", "h2", exec_id, "--json").json()
    assert pulled["branch"] == f"codex-agent/h2/{exec_id}"
    show = subprocess.run(
        [*git, "show", f"{pulled['branch']}:README.md"], capture_output=True, text=True, check=True
    )
    assert show.stdout == "hello\nmore\n"
    files = subprocess.run(
        [*git, "diff", "--name-only", "first", pulled["branch"]], capture_output=True, text=True, check=True
    )
    assert files.stdout.split() == ["README.md", "new.txt"]
    assert (
        subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
        == ""
    )


# --- agents ---------------------------------------------------------------------------------------


def test_codex_job_on_a_host_goes_idle_and_takes_another_message(remote: SshHarness, cli: CLI) -> None:
    host = remote.host("h1")
    assert host.uid is not None
    # The test double stands in for codex on the host (its app-server speaks WebSocket: it runs with the
    # Python of the host's codex-agent, which has `websockets`); the host user's env file says where it is.
    fakes = host.home / "fakes"
    shutil.copytree(FAKE_CODEX.parent, fakes, ignore=shutil.ignore_patterns("__pycache__"))
    python = host.home / ".local" / "share" / "codex-agent" / "venv" / "bin" / "python"
    codex = host.home / "bin" / "codex"
    env_file = host.home / ".config" / "codex-agent" / "env"
    for path in (codex, env_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    codex.write_text(f'#!/bin/sh\nexec {python} {fakes / "codex"} "$@"\n')
    codex.chmod(0o755)
    env_file.write_text(f"# where codex is on this host\nCODEX_AGENT_CODEX_BIN={codex}\n")
    for path in (host.home / "bin", codex, host.home / ".config", env_file.parent, env_file, fakes):
        os.chown(path, host.uid, host.uid)
    for path in fakes.rglob("*"):
        os.chown(path, host.uid, host.uid)

    prompt_file = Path(cli.cwd) / "task.txt"
    prompt_file.write_text("explain the build\n")
    job = cli.ok("start", "--machine", "h1", f"@{prompt_file}", "--json").json()
    assert job["status"] == "running" and job["kind"] == "codex"

    def status(wanted: str) -> dict[str, Any] | None:
        data: dict[str, Any] = cli.ok("status", "--machine", "h1", job["id"], "--json").json()
        return data if data["status"] == wanted else None

    idle = wait_for(lambda: status("idle"), timeout=30, interval=0.3)
    digest = hashlib.sha256(b"explain the build\n").hexdigest()
    assert f"sha256={digest}" in idle["summary"]

    # `send` is not part of this branch: type the message into the host's tmux pane directly.
    session = f"codex-agent-{job['id']}"
    for keys in (["-l", "second message"], ["Enter"]):
        typed = remote.ssh("h1", ["tmux", "send-keys", "-t", session, *keys])
        assert typed.returncode == 0, typed.stderr
    second = hashlib.sha256(b"second message").hexdigest()
    wait_for(
        lambda: (
            f"sha256={second}"
            in (cli.ok("status", "--machine", "h1", job["id"], "--json").json()["summary"] or "")
        ),
        timeout=30,
        interval=0.3,
    )
    screen = cli.ok("capture", "--machine", "h1", job["id"], "--strip-ansi").out
    assert "ECHO[14 chars" in screen
    assert cli.ok("kill", "--machine", "h1", job["id"], "--json").json()["status"] == "killed"


# --- many machines --------------------------------------------------------------------------------


def test_jobs_on_all_machines_with_one_host_down(remote: SshHarness, cli: CLI) -> None:
    on_h1 = cli.ok("exec", "start", "--machine", "h1", "--cmd", "sleep 30").out.strip()
    local = cli.ok("exec", "start", "--cmd", "sleep 30").out.strip()
    remote.stop("h2", power_off=True)  # refuses new connections; its processes (and our old session) are gone

    result = cli.ok("jobs", "--machine", "all", "--json")
    listing = result.json()
    rows = {(row["machine"], row["id"]) for row in listing["jobs"]}
    assert ("h1", on_h1) in rows and ("local", local) in rows
    state = {entry["name"]: entry for entry in listing["machines"]}
    assert state["h1"]["ok"] and state["local"]["ok"]
    assert not state["h2"]["ok"] and state["h2"]["error_code"] == "remote_unreachable"
    assert "h2 not listed" in result.err

    human = cli.ok("jobs", "--machine", "all").out
    assert "MACHINE" in human and on_h1 in human


def test_start_auto_picks_the_machine_with_fewest_live_jobs(remote: SshHarness, cli: CLI) -> None:
    cli.ok("exec", "start", "--machine", "h1", "--cmd", "sleep 30")
    picked = cli.ok("exec", "start", "--machine", "auto", "--cmd", "sleep 30", "--json")
    assert picked.json()["machine"] == "h2"
    assert "--machine auto chose h2" in picked.err


# --- failures -------------------------------------------------------------------------------------


def _one_line_error(result: Any) -> str:
    assert result.out == "", result.out
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    return str(lines[0])


def test_failures_say_what_happened_and_what_to_do(remote: SshHarness, cli: CLI, tmp_path: Path) -> None:
    unknown = cli.run("jobs", "--machine", "nope")
    assert unknown.code == 3 and "unknown machine 'nope'" in _one_line_error(unknown)

    missing = cli.run("exec", "result", "--machine", "h1", "--id", "0badc0de")
    assert missing.code == 3 and "exec_id 0badc0de not found on h1" in _one_line_error(missing)

    remote.stop("h2", power_off=True)
    refused = cli.run("jobs", "--machine", "h2")
    assert refused.code == 9 and "Connection refused" in _one_line_error(refused)
    remote.start("h2")

    remote.set_authorized_keys("h2", [])
    denied = cli.run("jobs", "--machine", "h2")
    assert denied.code == 9 and "unauthorized" in _one_line_error(denied)
    check = cli.run("machine", "check", "h2", "--json")
    assert check.code == 9
    assert check.json()["ssh_ok"] is False and check.json()["next_action"] == "fix-config"
    assert check.json()["error_code"] == "remote_unauthorized"
    remote.set_authorized_keys("h2", [remote.client_public_key])

    # A host whose key we have never seen (an ssh config with an empty known_hosts).
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text(remote.client_config.read_text().replace(str(remote.known_hosts), str(empty)))
    cli.ok("machine", "add", "stranger", "--host", "h2", "--ssh-config", str(config))
    stranger = cli.run("status", "--machine", "stranger", "abc")
    assert stranger.code == 9 and "not in known_hosts" in _one_line_error(stranger)

    # codex-agent gone from the host: the error says to run `machine up`.
    host = remote.host("h1")
    entry = host.home / ".local" / "share" / "codex-agent" / "venv" / "bin" / "codex-agent"
    entry.rename(entry.with_name("moved-away"))
    try:
        gone = cli.run("jobs", "--machine", "h1")
        assert gone.code == 9 and "machine up h1" in _one_line_error(gone)
        assert cli.run("machine", "check", "h1", "--json").json()["next_action"] == "machine-up"
    finally:
        entry.with_name("moved-away").rename(entry)


def test_status_round_trip_with_connection_sharing(remote: SshHarness, cli: CLI) -> None:
    """Not a benchmark: records how long `status --machine` takes once the connection is shared."""
    exec_id = cli.ok("exec", "start", "--machine", "h1", "--cmd", "true").out.strip()
    times = []
    for _ in range(7):
        started = time.monotonic()
        cli.ok("status", "--machine", "h1", exec_id, "--json")
        times.append(time.monotonic() - started)
    median = statistics.median(times)
    print(f"status --machine round trip: median {median * 1000:.0f} ms over {len(times)} runs")
    assert median < 10  # generous: the machine running the tests may be busy
