"""The OpenSSH test hosts behave like real machines reached over ssh."""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import sshd
from .sshd import HarnessConfig, HarnessError, SshHarness, SshHost, availability, provision, wait_for

_SSHD_SCRIPT = Path(sshd.__file__)


def _timed(
    harness: SshHarness, host: SshHost, command: list[str], options: list[str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = harness.ssh(host, command, options=options or [])
    return result, time.monotonic() - start


def _master_pid(harness: SshHarness, host: SshHost) -> int | None:
    check = harness.control(host, "check")
    match = re.search(r"Master running \(pid=(\d+)\)", check.stderr)
    return int(match.group(1)) if check.returncode == 0 and match else None


def _gone(harness_tag: str, hosts: list[SshHost], run_dir: Path) -> list[str]:
    """Leftovers of a torn-down run, as readable strings (empty when everything is gone)."""
    left = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=10).stdout
    routes = subprocess.run(
        ["ip", "route", "show", "table", "all"], capture_output=True, text=True, timeout=10
    ).stdout
    for h in hosts:
        if h.netns and h.netns in netns:
            left.append(f"netns {h.netns}")
        if h.veth and f" {h.veth}@" in links:
            left.append(f"veth {h.veth}")
        if h.guard_route and h.guard_route in routes:
            left.append(f"route {h.guard_route}")
        if h.created_user:
            try:
                pwd.getpwnam(h.user)
                left.append(f"user {h.user}")
            except KeyError:
                pass
        if h.sshd_pid is not None and sshd._alive(h.sshd_pid, h.sshd_start):
            left.append(f"sshd {h.sshd_pid}")
    if run_dir.exists():
        left.append(f"dir {run_dir}")
    if harness_tag in netns:
        left.append(f"netns tagged {harness_tag}")
    return left


def test_commands_run_as_the_hosts_user_with_exact_arguments(hosts: SshHarness) -> None:
    for host in hosts.hosts:
        result = hosts.ssh(host, ["sh", "-c", 'printf "%s\\n" "$(id -un)" "$HOME" "$SSH_CONNECTION"'])
        assert result.returncode == 0, result.stderr
        user, home, connection = result.stdout.splitlines()
        assert user == host.user
        assert home == str(host.home)
        # SSH_CONNECTION is "client_ip client_port server_ip server_port".
        assert connection.split()[2] == host.address
        assert connection.split()[3] == str(host.port)

        tricky = ["a b", "it's", "$HOME", "*", "", "x;y", "--flag"]
        echoed = hosts.ssh(host, ["printf", "%s\\n", *tricky])
        assert echoed.returncode == 0, echoed.stderr
        assert echoed.stdout.split("\n")[:-1] == tricky


def test_hosts_have_separate_users_homes_and_tmux_servers(netns_hosts: SshHarness) -> None:
    h1, h2 = netns_hosts.hosts[:2]
    assert h1.user != h2.user
    assert h1.home != h2.home
    homes = [netns_hosts.ssh(h, ["sh", "-c", 'echo "$HOME"']).stdout.strip() for h in (h1, h2)]
    assert homes == [str(h1.home), str(h2.home)]

    started = netns_hosts.ssh(h1, ["tmux", "new-session", "-d", "-s", "probe", "sleep 300"])
    assert started.returncode == 0, started.stderr
    assert netns_hosts.ssh(h1, ["tmux", "has-session", "-t", "probe"]).returncode == 0
    on_h2 = netns_hosts.ssh(h2, ["tmux", "has-session", "-t", "probe"])
    assert on_h2.returncode == 1
    # h2's user has a tmux socket directory of its own, and no server in it.
    assert f"/tmp/tmux-{h2.uid}/default" in on_h2.stderr


def test_non_interactive_login_finds_python3_and_tmux(hosts: SshHarness) -> None:
    for host in hosts.hosts:
        env = hosts.remote_env(host)
        assert env["user"] == host.user
        assert env["python3"], f"no python3 on PATH {env['path']}"
        assert env["tmux"], f"no tmux on PATH {env['path']}"
        assert tuple(int(p) for p in env["python3_version"].split(".")[:2]) >= (3, 10)
        assert os.path.dirname(env["python3"]) in env["path"].split(":")
        # `machine up` will build a per-user venv with pip from the standard library.
        venv_ok = hosts.ssh(host, ["python3", "-c", "import venv, ensurepip"])
        assert venv_ok.returncode == 0, venv_ok.stderr


def test_control_master_shares_one_connection(hosts: SshHarness) -> None:
    host = hosts.hosts[0]
    options = hosts.control_options(host)
    logins_before = hosts.accepted_logins(host)
    assert _master_pid(hosts, host) is None

    first, first_seconds = _timed(hosts, host, ["true"], options)
    assert first.returncode == 0, first.stderr
    master = _master_pid(hosts, host)
    assert master is not None
    assert hosts.accepted_logins(host) == logins_before + 1

    second, second_seconds = _timed(hosts, host, ["true"], options)
    assert second.returncode == 0, second.stderr
    # Same master, and the server saw no new login: the command went over the shared connection.
    assert _master_pid(hosts, host) == master
    assert hosts.accepted_logins(host) == logins_before + 1
    assert second_seconds < first_seconds


def test_stopped_host_fails_fast_in_batch_mode(hosts: SshHarness) -> None:
    host = hosts.hosts[0]
    hosts.stop(host)
    result, seconds = _timed(hosts, host, ["true"], ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
    assert result.returncode == 255
    assert f"connect to host {host.address} port {host.port}: Connection refused" in result.stderr
    assert seconds < 5

    hosts.start(host)
    assert hosts.ssh(host, ["true"]).returncode == 0


def test_cut_host_times_out_and_comes_back(netns_hosts: SshHarness) -> None:
    h1, h2 = netns_hosts.hosts[:2]
    netns_hosts.cut(h1)
    result, seconds = _timed(netns_hosts, h1, ["true"], ["-o", "BatchMode=yes", "-o", "ConnectTimeout=1"])
    assert result.returncode == 255
    assert f"connect to host {h1.address} port 22: Connection timed out" in result.stderr
    assert 0.9 <= seconds < 5
    assert netns_hosts.ssh(h2, ["true"]).returncode == 0

    netns_hosts.restore(h1)
    assert netns_hosts.ssh(h1, ["true"]).returncode == 0


def test_master_with_server_alive_notices_a_cut(netns_hosts: SshHarness) -> None:
    host = netns_hosts.hosts[0]
    options = [
        *netns_hosts.control_options(host),
        "-o",
        "ServerAliveInterval=1",
        "-o",
        "ServerAliveCountMax=1",
    ]
    assert netns_hosts.ssh(host, ["true"], options=options).returncode == 0
    assert _master_pid(netns_hosts, host) is not None
    netns_hosts.cut(host)
    wait_for(lambda: _master_pid(netns_hosts, host) is None, timeout=8, what="the master to give up")


def test_exiting_the_master_leaves_detached_processes_running(hosts: SshHarness) -> None:
    host = hosts.hosts[0]
    options = hosts.control_options(host)
    socket_name = f"cat-probe-{secrets.token_hex(3)}"
    tmux = ["tmux", "-L", socket_name]
    started = hosts.ssh(host, [*tmux, "new-session", "-d", "-s", "job", "sleep 300"], options=options)
    assert started.returncode == 0, started.stderr
    spawned = hosts.ssh(
        host, ["sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!"], options=options
    )
    assert spawned.returncode == 0, spawned.stderr
    pid = spawned.stdout.strip()
    assert pid.isdigit()
    try:
        assert hosts.control(host, "exit").returncode == 0
        wait_for(lambda: _master_pid(hosts, host) is None, timeout=5, what="the master to exit")

        assert hosts.ssh(host, [*tmux, "has-session", "-t", "job"]).returncode == 0
        comm = hosts.ssh(host, ["cat", f"/proc/{pid}/comm"])
        assert comm.returncode == 0 and comm.stdout.strip() == "sleep"
    finally:
        hosts.ssh(host, [*tmux, "kill-server"])
        hosts.ssh(host, ["kill", pid])


def test_unknown_host_key_and_unauthorized_key_are_refused(hosts: SshHarness, tmp_path: Path) -> None:
    host = hosts.hosts[0]
    unknown = hosts.ssh(host, ["true"], options=["-o", "UserKnownHostsFile=/dev/null"])
    assert unknown.returncode == 255
    assert f"No ED25519 host key is known for {host.known_hosts_name}" in unknown.stderr
    assert "Host key verification failed." in unknown.stderr

    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=10)
    hosts.set_authorized_keys(host, [other.with_suffix(".pub").read_text()])
    refused = hosts.ssh(host, ["true"])
    assert refused.returncode == 255
    assert f"{host.user}@{host.address}: Permission denied (publickey)." in refused.stderr


# ---- the harness's own lifecycle ------------------------------------------------------------------


def _netns_or_skip() -> None:
    if availability()[0] != "netns":
        pytest.skip("needs per-host network namespaces (root and iproute2)")


def test_teardown_removes_everything_and_is_idempotent() -> None:
    _netns_or_skip()
    harness = provision(HarnessConfig(hosts=1))
    hosts, run_dir = list(harness.hosts), harness.run_dir
    assert harness.ssh(hosts[0], ["true"]).returncode == 0
    harness.teardown()
    assert _gone(harness.tag, hosts, run_dir) == []
    harness.teardown()
    assert _gone(harness.tag, hosts, run_dir) == []


def test_failed_setup_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    _netns_or_skip()
    seen: list[SshHarness] = []

    def fail_after_network_and_user(harness: SshHarness, host: SshHost) -> None:
        seen.append(harness)
        raise HarnessError("injected failure")

    monkeypatch.setattr(sshd, "_write_host_files", fail_after_network_and_user)
    with pytest.raises(HarnessError, match="injected failure"):
        provision(HarnessConfig(hosts=1))
    (harness,) = seen
    host = SshHost(alias="h1", address="", port=22, user=f"cat-{harness.tag}-h1", home=Path("/"),
                   dir=Path("/"), netns=f"cat-{harness.tag}-h1", veth=f"cat-{harness.tag}-h1",
                   created_user=True)  # fmt: skip
    assert _gone(harness.tag, [host], harness.run_dir) == []


def test_sweep_removes_hosts_of_a_run_that_was_killed() -> None:
    _netns_or_skip()
    holder = subprocess.Popen(
        [sys.executable, str(_SSHD_SCRIPT), "hold", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line, holder.stderr.read() if holder.stderr else ""
        run_dir = Path(json.loads(line)["run_dir"])
        state = json.loads((run_dir / "state.json").read_text())
        hosts = [sshd._host_from_dict(raw) for raw in state["hosts"]]
        assert hosts and all(h.sshd_pid is not None for h in hosts)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        # The crash left everything in place, sshd included.
        assert _gone(state["tag"], hosts, run_dir) != []

        assert str(run_dir) in sshd.sweep_stale()
        assert _gone(state["tag"], hosts, run_dir) == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
