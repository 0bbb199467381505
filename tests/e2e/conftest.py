"""The end-to-end tier: the real Codex CLI (pinned in scripts/codex-version) against our model server.

Everything runs inside the loopback-only network namespace the root conftest enters; without it (or without
the binary) these tests skip and say why.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import network_isolation_problem
from tests.e2e.model_server import API_KEY_ENV, ModelServer, write_codex_config
from tests.e2e.netns import find_codex
from tests.helpers import REPO_ROOT

PINNED_VERSION = (REPO_ROOT / "scripts" / "codex-version").read_text().strip()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.fspath.basename != "test_model_server.py":
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def real_codex() -> str:
    problem = network_isolation_problem()
    if problem is not None:
        pytest.skip(f"the real codex runs only in a loopback-only network namespace: {problem}")
    binary = find_codex()
    if binary is None:
        pytest.skip("the real codex is not installed: run scripts/test (it installs the pinned version)")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    if PINNED_VERSION not in version:
        pytest.fail(f"expected codex-cli {PINNED_VERSION}, found {version.strip()!r} at {binary}")
    return binary


@pytest.fixture(scope="session")
def model_server(real_codex: str) -> Iterator[ModelServer]:
    with ModelServer() as server:
        yield server


@pytest.fixture
def codex_env(
    real_codex: str,
    model_server: ModelServer,
    project: Path,
    isolated_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """CODEX_HOME configured for the model server, with the test project trusted. Returns CODEX_HOME."""
    home = Path(isolated_env["CODEX_HOME"])
    write_codex_config(home, model_server.base_url, trusted_projects=[project])
    monkeypatch.setenv("CODEX_AGENT_CODEX_BIN", real_codex)
    monkeypatch.setenv(API_KEY_ENV, "mock-key")
    monkeypatch.setenv("TERM", "xterm-256color")
    return home
