"""Every test runs against its own tmux server (a private socket), with HOME, CODEX_HOME and the state in
temporary folders, so the user's tmux, codex and projects are never touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CLI, wait_for

FAKE_CODEX = Path(__file__).parent / "fakes" / "codex"
NETNS_ENV = "CODEX_AGENT_TEST_NETNS"  # "off" keeps the host's network (for debugging only)
_netns_problem: str | None = "not attempted"


def pytest_configure(config: pytest.Config) -> None:
    """Move the whole test run into a fresh network namespace with only loopback up.

    The real codex tries public hosts on its own; inside this namespace the model server, the tmux servers,
    codex and the test sshd hosts can reach each other and nothing else. It must happen here, before any
    thread starts (the namespace switch applies to the calling thread only).
    """
    global _netns_problem
    from tests.e2e.netns import enter_loopback_netns, in_isolated_netns

    if os.environ.get(NETNS_ENV) == "off":
        _netns_problem = f"{NETNS_ENV}=off"
    elif in_isolated_netns():
        _netns_problem = None
    else:
        _netns_problem = enter_loopback_netns()
    wheelhouse = os.environ.get("CODEX_AGENT_WHEELHOUSE")
    if _netns_problem is None and wheelhouse:
        # No package index in here: every pip the tests run (installer, `machine up`) uses the wheels
        # scripts/test gathered beforehand.
        os.environ["PIP_NO_INDEX"] = "1"
        os.environ["PIP_FIND_LINKS"] = wheelhouse


def network_isolation_problem() -> str | None:
    """None when this run is in a loopback-only network namespace, else why not."""
    return _netns_problem


__all__ = ["CLI", "wait_for"]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    home = tmp_path / "home"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    socket = f"ca-test-{uuid.uuid4().hex[:10]}"
    values = {
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "CODEX_AGENT_TMUX_SOCKET": socket,
        "CODEX_AGENT_CODEX_BIN": str(FAKE_CODEX),
        "SHELL": "/bin/sh",
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    # The codex double starts with `#!/usr/bin/env python3` and its app-server mode imports `websockets`:
    # the interpreter running the tests (the venv's, which has it) must come first on PATH.
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    for key in ("TMUX", "TMUX_PANE", "CODEX_AGENT_STATE_DIR"):
        monkeypatch.delenv(key, raising=False)
    yield values
    _stop_everything_of(socket)


def _stop_everything_of(socket: str) -> None:
    """Kill the test's tmux server and every process that still carries its socket in its environment
    (a plain command's relay outlives the server and may start a queued job, and with it a new server)."""
    marker = f"CODEX_AGENT_TMUX_SOCKET={socket}".encode()
    for _attempt in range(5):
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        survivors = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if marker in (entry / "environ").read_bytes().split(b"\0"):
                        survivors.append(int(entry.name))
                except OSError:
                    continue
        if not survivors:
            return
        for pid in survivors:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository with one commit, the usual place an agent works in."""
    root = tmp_path / "project"
    root.mkdir()
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (root / "README.md").write_text("hello\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    return root


@pytest.fixture
def cli(project: Path) -> CLI:
    return CLI(cwd=project)


@pytest.fixture
def tmux_socket(isolated_env: dict[str, str]) -> str:
    return isolated_env["CODEX_AGENT_TMUX_SOCKET"]


def pytest_report_header() -> list[str]:
    tmux = shutil.which("tmux")
    network = "loopback-only namespace" if _netns_problem is None else f"host network ({_netns_problem})"
    return [f"codex-agent tests: python {sys.version.split()[0]}, tmux at {tmux}, network: {network}"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests of each real-parts tier ran, so a tier that silently skipped is visible."""
    for marker in ("e2e", "remote", "userpath"):
        counts: dict[str, int] = {}
        for outcome in ("passed", "failed", "skipped", "error"):
            for report in terminalreporter.stats.get(outcome, []):
                phases = ("call",) if outcome == "passed" else ("setup", "call")
                if marker in getattr(report, "keywords", {}) and getattr(report, "when", None) in phases:
                    counts[outcome] = counts.get(outcome, 0) + 1
        summary = ", ".join(f"{count} {outcome}" for outcome, count in counts.items()) or "none collected"
        terminalreporter.write_line(f"{marker} tier: {summary}")
