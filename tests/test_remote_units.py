"""Remote pieces that need no host: registry, error classification, argv rebuilding, remote-call."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from codex_agent.errors import NotFoundError, UsageError
from codex_agent.remote import machines, ssh_errors, ssh_options
from codex_agent.remote.machines import Machine
from codex_agent.remote.protocol import PROTOCOL, START_MARKER, TRAILER_MARKER
from tests.helpers import CLI, REPO_ROOT


def test_registry_round_trip_is_private_and_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "conf" / "machines.toml"
    monkeypatch.setenv(machines.MACHINES_FILE_ENV, str(path))
    key = tmp_path / "id_test"
    key.write_text("key")
    machines.add(
        Machine("build.box", host="me@example.invalid", port=2222, identity=str(key), env={"A": 'x "y"'}),
        replace=False,
    )
    loaded = machines.load()["build.box"]
    assert (loaded.host, loaded.port, loaded.identity, loaded.dir) == (
        "me@example.invalid",
        2222,
        str(key),
        "codex-agent",
    )
    assert loaded.env == {"A": 'x "y"'}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["machines.toml"]  # no temp file left
    with pytest.raises(UsageError):
        machines.add(Machine("build.box", host="other"), replace=False)
    machines.remove("build.box")
    with pytest.raises(NotFoundError, match=r"unknown machine 'build\.box'"):
        machines.get("build.box")


def test_default_registry_location_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(machines.MACHINES_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert machines.machines_file() == tmp_path / "xdg" / "codex-agent" / "machines.toml"


@pytest.mark.parametrize("name", ["../x", "a/b", "", "all", "auto", "local", "-x", "a b", "x" * 64])
def test_bad_machine_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError):
        machines.validate_name(name)


@pytest.mark.parametrize("host", ["-oProxyCommand=x", "a b", "", "a\nb"])
def test_bad_hosts_are_refused(host: str) -> None:
    with pytest.raises(UsageError):
        machines.validate_host(host)


# The texts are the ones OpenSSH 9.2 printed against the test hosts (see the ssh findings notes).
CASES = [
    (
        255,
        "ssh: connect to host 10.213.1.2 port 22: Connection refused\n",
        "remote_unreachable",
        "Connection refused",
    ),
    (
        255,
        "ssh: connect to host 10.213.1.2 port 22: Connection timed out\n",
        "remote_unreachable",
        "timed out",
    ),
    (255, "ssh: connect to host 10.213.1.2 port 22: No route to host\n", "remote_unreachable", "No route"),
    (
        255,
        "kex_exchange_identification: read: Connection reset by peer\n"
        "Connection reset by 10.213.1.2 port 22\n",
        "remote_unreachable",
        "connection reset by peer",
    ),
    (
        255,
        "ssh: Could not resolve hostname nohost: Name or service not known\n",
        "remote_unreachable",
        "resolve",
    ),
    (
        255,
        "No ED25519 host key is known for 10.213.1.2 and you have requested strict checking.\n"
        "Host key verification failed.\n",
        "remote_host_key",
        "not in known_hosts",
    ),
    (
        255,
        "@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n",
        "remote_host_key",
        "CHANGED",
    ),
    (255, "u@10.213.1.2: Permission denied (publickey).\n", "remote_unauthorized", "unauthorized"),
    (255, "Timeout, server 10.213.1.2 not responding.\n", "remote_connection_lost", "lost"),
    (
        255,
        "mux_client_request_session: read from master failed: Broken pipe\n",
        "remote_connection_lost",
        "lost",
    ),
    (
        127,
        "bash: line 1: /home/u/.local/share/codex-agent/venv/bin/codex-agent: No such file or directory\n",
        "remote_not_ready",
        "machine up m1",
    ),
]


@pytest.mark.parametrize(("code", "stderr", "error_code", "text"), CASES)
def test_ssh_failures_are_classified(code: int, stderr: str, error_code: str, text: str) -> None:
    error = ssh_errors.failure(Machine("m1", host="m1host"), code, stderr)
    assert error.code == error_code
    assert error.exit_code == 9
    assert text in error.one_line()
    assert "\n" not in error.one_line()


def test_ssh_options_share_connections_and_end_with_a_fixed_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ssh_options.CONTROL_DIR_ENV, "/tmp/ca-units-cm")
    argv = ssh_options.command_argv(Machine("m", host="me@h", port=2200, identity="/k"), "true")
    options = " ".join(argv)
    for wanted in (
        "BatchMode=yes",
        "ControlMaster=auto",
        "ControlPersist=",
        "ServerAliveInterval=",
        "ConnectTimeout=",
    ):
        assert wanted in options
    assert argv[-3:] == ["me@h", "--", "true"]
    assert len(str(ssh_options.control_path(Machine("m", host="h")))) < 80


def test_forwarded_argv_reproduces_the_parsed_command(cli: CLI, tmp_path: Path) -> None:
    """--machine rebuilds argv from what was parsed; a @FILE prompt is read here and sent as stdin."""
    prompt = tmp_path / "task.txt"
    prompt.write_text("do -the- thing\n")
    code = (
        "import sys, json\n"
        "from codex_agent.remote import forward\n"
        "def fake(machine, argv, *, stdin=b'', capture=False, timeout_s=-1.0):\n"
        "    print(json.dumps({'argv': argv, 'stdin': stdin.decode(), 'timeout': timeout_s}))\n"
        "    return forward.CallResult('m', 0, b'', '', None, None, 0.0)\n"
        "forward.call = fake\n"
        "from codex_agent.remote import machines\n"
        "machines.get = lambda name: machines.Machine(name, host='h')\n"
        "from codex_agent.cli import run\n"
        "sys.exit(run(sys.argv[1:]))\n"
    )

    def forwarded(*args: str) -> dict[str, object]:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, env=env, check=True, cwd=cli.cwd
        ).stdout
        return json.loads(out)  # type: ignore[no-any-return]

    sent = forwarded("start", f"@{prompt}", "--machine", "m", "-r", "low", "--exec", "--json")
    assert sent["argv"] == ["start", "--reasoning", "low", "--exec", "--json", "--", "-"]
    assert sent["stdin"] == "do -the- thing\n"
    sent = forwarded("jobs", "--machine", "m", "--status", "running", "--status", "idle", "-n", "5")
    assert sent["argv"] == ["jobs", "--limit", "5", "--status", "running", "--status", "idle"]
    sent = forwarded("exec", "run", "--machine", "m", "--cmd", "echo 'a b'; exit 3", "--timeout", "30s")
    assert sent["argv"] == ["exec", "run", "--cmd", "echo 'a b'; exit 3", "--timeout", "30s"]
    assert sent["timeout"] == 90.0
    sent = forwarded("capture", "--machine", "m", "abc", "10")
    assert sent["argv"] == ["capture", "--", "abc", "10"]


def test_remote_call_end_relays_exit_status_and_never_exits_255(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)}
    header = {"protocol": PROTOCOL, "argv": ["exec", "result", "--id", "abcdef12"], "stdin_bytes": 0,
              "workdir": "work", "env": {}, "machine": "m9"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "codex_agent", "remote-call"],
        input=json.dumps(header).encode() + b"\n",
        capture_output=True,
        env=env,
        check=False,
    )
    err = done.stderr.decode()
    assert err.startswith(START_MARKER + "\n")
    assert "exec_id abcdef12 not found on m9" in err
    trailer = json.loads(err.split(TRAILER_MARKER, 1)[1])
    assert trailer["exit"] == 3 and trailer["version"] and trailer["build"]
    assert (tmp_path / "work").is_dir()  # the machine's work directory, relative to HOME

    bad = subprocess.run(
        [sys.executable, "-m", "codex_agent", "remote-call"],
        input=b"{}\n",
        capture_output=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 9 and "bad remote request" in bad.stderr.decode()
