"""The minimum-version check of `start`: codex is asked once per binary, and again whenever the binary
changes; a codex too old is refused each time and never remembered."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_agent.agents import codex
from codex_agent.errors import MissingDependencyError


def fake_codex(path: Path, version: str, calls: Path) -> str:
    path.write_text(f"#!/bin/sh\necho x >> '{calls}'\necho 'codex-cli {version}'\n")
    path.chmod(0o755)
    return str(path)


def asked(calls: Path) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_a_binary_that_passed_is_not_asked_again_until_it_changes(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    binary = fake_codex(tmp_path / "codex", "0.171.0", calls)
    assert codex.require_version(binary) == "codex-cli 0.171.0"
    assert codex.require_version(binary) == "codex-cli 0.171.0"
    assert asked(calls) == 1
    fake_codex(tmp_path / "codex", "0.172.10", calls)  # an upgrade in place: another size and mtime
    assert codex.require_version(binary) == "codex-cli 0.172.10"
    assert asked(calls) == 2


def test_a_codex_too_old_is_refused_every_time(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    binary = fake_codex(tmp_path / "codex", "0.160.0", calls)
    for _ in range(2):
        with pytest.raises(MissingDependencyError, match=r"0\.169"):
            codex.require_version(binary)
    assert asked(calls) == 2


def test_an_unreadable_cache_only_costs_the_question(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    binary = fake_codex(tmp_path / "codex", "0.171.0", calls)
    cache = tmp_path / "cache" / "codex-agent"
    cache.mkdir(parents=True)
    (cache / codex.VERSIONS_FILE).write_text("[not, json")
    assert codex.require_version(binary) == "codex-cli 0.171.0"
    assert codex.require_version(binary) == "codex-cli 0.171.0"
    assert asked(calls) == 1
