"""The end-to-end tier: the real Codex CLI against our model server, once per pinned version.

Every test that uses the ``real_codex`` fixture runs against each version listed in scripts/codex-versions
(test ids end in ``[codex-0.169.0]``, ``[codex-0.171.0]``, …) and carries the ``e2e`` mark. A version's
binary comes from ``$CODEX_AGENT_REAL_CODEX_VERSIONS`` (``0.169.0=/path/codex:0.171.0=/path/codex``, as
scripts/test exports it), else from the cache folder scripts/test installs into, else (for the primary pin
in scripts/codex-version only) from ``$CODEX_AGENT_REAL_CODEX`` or PATH.

Everything runs inside the loopback-only network namespace the root conftest enters; without it (or without
a version's binary) these tests skip and say why.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import network_isolation_problem
from tests.e2e.model_server import API_KEY_ENV, ModelServer, write_codex_config
from tests.e2e.netns import find_codex
from tests.helpers import REPO_ROOT

PINNED_VERSION = (REPO_ROOT / "scripts" / "codex-version").read_text().strip()
CODEX_VERSIONS = tuple((REPO_ROOT / "scripts" / "codex-versions").read_text().split())
VERSIONS_ENV = "CODEX_AGENT_REAL_CODEX_VERSIONS"

_VERSION_PAIR = re.compile(r"(\d+\.\d+\.\d+[\w.-]*)=(.*?)(?=:\d+\.\d+\.\d+[\w.-]*=|$)")


def parse_versions(value: str) -> dict[str, str]:
    """``VERSION=PATH`` pairs joined by ``:`` (a path may itself hold ``:``, just not ``:1.2.3=``)."""
    return {version: path for version, path in _VERSION_PAIR.findall(value) if path}


def _cache_binary(version: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "codex-agent" / f"codex-{version}" / "node_modules" / ".bin" / "codex"


def codex_binaries(env: Mapping[str, str]) -> dict[str, str | None]:
    """Where each pinned version's binary is, or None where it is not installed."""
    given = parse_versions(env.get(VERSIONS_ENV, ""))
    found: dict[str, str | None] = {}
    for version in CODEX_VERSIONS:
        path = given.get(version) or str(_cache_binary(version))
        if not os.access(path, os.X_OK) and version == PINNED_VERSION:
            path = find_codex() or path
        found[version] = path if os.access(path, os.X_OK) else None
    return found


# Resolved at collection, with the environment the run started with (tests then replace HOME).
_BINARIES = codex_binaries(os.environ)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "real_codex" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", params=CODEX_VERSIONS, ids=[f"codex-{v}" for v in CODEX_VERSIONS])
def codex_version(request: pytest.FixtureRequest) -> str:
    """The pinned codex version the test runs against."""
    return str(request.param)


@pytest.fixture(scope="session")
def real_codex(codex_version: str) -> str:
    """The path of the real codex binary of ``codex_version``, checked by its ``--version``."""
    problem = network_isolation_problem()
    if problem is not None:
        pytest.skip(f"the real codex runs only in a loopback-only network namespace: {problem}")
    binary = _BINARIES.get(codex_version)
    if binary is None:
        pytest.skip(
            f"codex-cli {codex_version} is not installed: run scripts/test "
            f"(it installs every version in scripts/codex-versions) or set {VERSIONS_ENV}"
        )
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    if f"codex-cli {codex_version}" not in version:
        pytest.fail(f"expected codex-cli {codex_version}, found {version.strip()!r} at {binary}")
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
