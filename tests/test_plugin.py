"""The Claude Code plugin and marketplace pass Claude Code's own validator with no errors and no warnings.

The validator is `claude plugin validate PATH` from the npm package `@anthropic-ai/claude-code` (scripts/test
installs it into a cache folder). It works offline and without a login; it still runs inside a network
namespace of its own with only loopback, so it cannot reach anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from codex_agent import __version__
from tests.helpers import REPO_ROOT

CLAUDE_BIN_ENV = "CODEX_AGENT_CLAUDE_BIN"
PLUGIN = REPO_ROOT / "plugins" / "codex-orchestrator"
MARKETPLACE = REPO_ROOT / ".claude-plugin" / "marketplace.json"
# Resolved at import, before the per-test fixtures point HOME at a temporary folder.
_CACHES = sorted(
    [
        *Path(os.path.expanduser("~/.cache/codex-agent")).glob("claude*"),
        *Path(os.path.expanduser("~/.cache/codex-agent-ci")).glob("claude*"),
    ],
    reverse=True,
)


def _find_claude() -> str | None:
    configured = os.environ.get(CLAUDE_BIN_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for cache in _CACHES:
        candidate = cache / "node_modules" / ".bin" / "claude"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("claude")


CLAUDE = _find_claude()


def _offline_prefix() -> list[str] | None:
    """`unshare -n` with loopback up, when this process may create a network namespace."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return (
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
        if probe.returncode == 0
        else None
    )


OFFLINE = _offline_prefix()

needs_claude = [
    pytest.mark.skipif(
        CLAUDE is None,
        reason=f"Claude Code is not installed: scripts/test installs it, or set {CLAUDE_BIN_ENV}",
    ),
    pytest.mark.skipif(
        OFFLINE is None, reason="cannot create a loopback-only network namespace (unshare -n)"
    ),
]


def claude(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CLAUDE is not None and OFFLINE is not None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "NO_COLOR": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return subprocess.run(
        [*OFFLINE, CLAUDE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def validate(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return claude(home, "plugin", "validate", str(path))


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "Validation passed" in text, text
    lowered = text.lower()
    assert "warning" not in lowered and "error" not in lowered, text


def _needs_claude(test: Any) -> Any:
    for mark in needs_claude:
        test = mark(test)
    return test


@_needs_claude
@pytest.mark.parametrize("target", ["plugin", "marketplace"])
def test_claude_code_validator_reports_nothing(target: str, tmp_path: Path) -> None:
    path = PLUGIN if target == "plugin" else REPO_ROOT
    result = validate(path, tmp_path)
    assert_clean(result)
    manifest = "plugin.json" if target == "plugin" else "marketplace.json"
    assert manifest in result.stdout


@_needs_claude
def test_validator_does_report_a_broken_skill(tmp_path: Path) -> None:
    """The check above would be worthless if the validator ignored the skill: break it and look."""
    copy = tmp_path / "plugin"
    shutil.copytree(PLUGIN, copy)
    skill = copy / "skills" / "codex-orchestrator" / "SKILL.md"
    skill.write_text(skill.read_text().split("---", 2)[2])  # drop the frontmatter
    result = validate(copy, tmp_path / "home")
    assert "warning" in (result.stdout + result.stderr).lower()


@_needs_claude
def test_marketplace_add_and_install_from_this_repository(tmp_path: Path) -> None:
    """What a user does: add this repository as a marketplace, install the plugin, and get the skill."""
    added = claude(tmp_path, "plugin", "marketplace", "add", str(REPO_ROOT))
    assert added.returncode == 0, added.stdout + added.stderr
    installed = claude(tmp_path, "plugin", "install", "codex-orchestrator@codex-agent")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    details = claude(tmp_path, "plugin", "details", "codex-orchestrator@codex-agent")
    assert details.returncode == 0, details.stdout + details.stderr
    assert re.search(r"Skills \(1\)\s+codex-orchestrator", details.stdout), details.stdout
    copies = list((tmp_path / ".claude" / "plugins" / "cache").rglob("SKILL.md"))
    assert [copy.read_text() for copy in copies] == [
        (PLUGIN / "skills/codex-orchestrator/SKILL.md").read_text()
    ]


def test_marketplace_lists_the_plugin_with_matching_version() -> None:
    market = json.loads(MARKETPLACE.read_text())
    plugin = json.loads((PLUGIN / ".claude-plugin" / "plugin.json").read_text())
    (entry,) = [item for item in market["plugins"] if item["name"] == plugin["name"]]
    assert (REPO_ROOT / entry["source"]).resolve() == PLUGIN.resolve()
    assert entry["version"] == plugin["version"] == __version__
