"""The Claude Code plugin and marketplace pass Claude Code's own validator, strictly, with no errors and no
warnings, on the oldest supported and the newest checked Claude Code (scripts/claude-versions).

The validator is `claude plugin validate --strict PATH` from the npm package `@anthropic-ai/claude-code`
(scripts/test installs each version into a cache folder). It works offline and without a login; it still
runs inside a network namespace of its own with only loopback, so it cannot reach anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codex_agent import __version__
from tests.helpers import REPO_ROOT

CLAUDE_CACHE_ENV = "CODEX_AGENT_CLAUDE_CACHE"
PLUGIN = REPO_ROOT / "plugins" / "codex-orchestrator"
MARKETPLACE = REPO_ROOT / ".claude-plugin" / "marketplace.json"
# The oldest supported and the newest checked Claude Code; scripts/test installs each into a cache folder.
CLAUDE_VERSIONS = (REPO_ROOT / "scripts" / "claude-versions").read_text().split()
# Resolved at import, before the per-test fixtures point HOME at a temporary folder.
_CACHE_ROOTS = [
    Path(path)
    for path in (
        os.environ.get(CLAUDE_CACHE_ENV),
        os.path.expanduser("~/.cache/codex-agent"),
        os.path.expanduser("~/.cache/codex-agent-ci"),
    )
    if path
]


def _find_claude(version: str) -> str | None:
    for root in _CACHE_ROOTS:
        candidate = root / f"claude-{version}" / "node_modules" / ".bin" / "claude"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


CLAUDES = {version: _find_claude(version) for version in CLAUDE_VERSIONS}


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

needs_offline = pytest.mark.skipif(
    OFFLINE is None, reason="cannot create a loopback-only network namespace (unshare -n)"
)
each_version = pytest.mark.parametrize("version", CLAUDE_VERSIONS)


def claude(version: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = CLAUDES[version]
    if binary is None:
        pytest.skip(
            f"Claude Code {version} is not installed: scripts/test installs it (or {CLAUDE_CACHE_ENV})"
        )
    assert OFFLINE is not None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "NO_COLOR": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return subprocess.run(
        [*OFFLINE, binary, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def validate(version: str, path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return claude(version, home, "plugin", "validate", "--strict", str(path))


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "Validation passed" in text, text
    lowered = text.lower()
    assert "warning" not in lowered and "error" not in lowered and "⚠" not in text, text


@needs_offline
@each_version
def test_the_pinned_claude_code_is_the_one_run(version: str, tmp_path: Path) -> None:
    result = claude(version, tmp_path, "--version")
    assert result.stdout.split()[0] == version, result.stdout + result.stderr


@needs_offline
@each_version
@pytest.mark.parametrize("target", ["plugin", "marketplace"])
def test_claude_code_validator_reports_nothing(version: str, target: str, tmp_path: Path) -> None:
    path = PLUGIN if target == "plugin" else REPO_ROOT
    result = validate(version, path, tmp_path)
    assert_clean(result)
    manifest = "plugin.json" if target == "plugin" else "marketplace.json"
    assert manifest in result.stdout
    capture = os.environ.get("CODEX_AGENT_VALIDATOR_CAPTURE")
    if capture:  # for the closing note: what each version said
        with open(capture, "a") as handle:
            handle.write(f"=== claude {version}: plugin validate --strict {path}\n{result.stdout}\n")


@needs_offline
@each_version
def test_validator_does_report_a_broken_skill(version: str, tmp_path: Path) -> None:
    """The check above would be worthless if the validator ignored the skill: break it and look."""
    copy = tmp_path / "plugin"
    shutil.copytree(PLUGIN, copy)
    skill = copy / "skills" / "codex-orchestrator" / "SKILL.md"
    skill.write_text(skill.read_text().split("---", 2)[2])  # drop the frontmatter
    result = validate(version, copy, tmp_path / "home")
    assert result.returncode != 0
    assert "warning" in (result.stdout + result.stderr).lower()


@needs_offline
@each_version
def test_validator_does_read_the_hooks(version: str, tmp_path: Path) -> None:
    """The same for the hooks file: a malformed one is refused."""
    copy = tmp_path / "plugin"
    shutil.copytree(PLUGIN, copy)
    (copy / "hooks" / "hooks.json").write_text('{"hooks": {"SessionStart": [{"matcher": 3, "hooks": []}]}}')
    result = validate(version, copy, tmp_path / "home")
    assert result.returncode != 0, result.stdout
    assert re.search(r"hooks\.SessionStart\.0\b.*matcher", result.stdout + result.stderr), result.stdout


@needs_offline
def test_newest_validator_lists_the_monitor(tmp_path: Path) -> None:
    """`plugin validate` does not check a monitors file (a broken one passes: "Provides: not listed"); the
    newest version at least lists what it read, so a monitor it could not read shows here."""
    result = validate(CLAUDE_VERSIONS[-1], PLUGIN, tmp_path)
    (monitor,) = json.loads((PLUGIN / "monitors" / "monitors.json").read_text())
    assert f"monitors: {monitor['name']} {json.dumps(monitor['command'])}" in result.stdout, result.stdout


def test_monitors_file_has_the_shape_claude_code_reads() -> None:
    """What Claude Code 2.1.197 to 2.1.332 accept in monitors/monitors.json (their schema, read from their
    code since the validator skips it): an array of {name, command, description, when?}, nothing else,
    names unique, `when` "always" or "on-skill-invoke:<skill>"."""
    entries = json.loads((PLUGIN / "monitors" / "monitors.json").read_text())
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert set(entry) <= {"name", "command", "description", "when"}, entry
        for key in ("name", "command", "description"):
            assert isinstance(entry[key], str) and entry[key], key
        when = entry.get("when", "always")
        assert when == "always" or (when.startswith("on-skill-invoke:") and len(when) > 16)
    assert len({entry["name"] for entry in entries}) == len(entries)


@needs_offline
@each_version
def test_marketplace_add_and_install_from_this_repository(version: str, tmp_path: Path) -> None:
    """What a user does: add this repository as a marketplace, install the plugin, and get the skill, the
    hooks and the monitor."""
    added = claude(version, tmp_path, "plugin", "marketplace", "add", str(REPO_ROOT))
    assert added.returncode == 0, added.stdout + added.stderr
    installed = claude(version, tmp_path, "plugin", "install", "codex-orchestrator@codex-agent")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    details = claude(version, tmp_path, "plugin", "details", "codex-orchestrator@codex-agent")
    assert details.returncode == 0, details.stdout + details.stderr
    assert re.search(r"Skills \(1\)\s+codex-orchestrator", details.stdout), details.stdout
    assert re.search(r"Hooks \(2\)\s+SessionStart, SessionEnd", details.stdout), details.stdout
    cache = tmp_path / ".claude" / "plugins" / "cache"
    for part in (
        "skills/codex-orchestrator/SKILL.md",
        "hooks/hooks.json",
        "hooks/codex_agent_hook.py",
        "monitors/monitors.json",
    ):
        copies = [path for path in cache.rglob(Path(part).name) if path.as_posix().endswith(part)]
        assert [copy.read_bytes() for copy in copies] == [(PLUGIN / part).read_bytes()], part


def test_manifest_names_no_placeholder_and_no_field_the_oldest_version_rejects() -> None:
    plugin = json.loads((PLUGIN / ".claude-plugin" / "plugin.json").read_text())
    # There is no public repository: a homepage or repository field would be a placeholder.
    assert "homepage" not in plugin and "repository" not in plugin
    assert plugin["version"]
    assert (PLUGIN / "assets" / "icon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_marketplace_lists_the_plugin_with_matching_version() -> None:
    market = json.loads(MARKETPLACE.read_text())
    plugin = json.loads((PLUGIN / ".claude-plugin" / "plugin.json").read_text())
    (entry,) = [item for item in market["plugins"] if item["name"] == plugin["name"]]
    assert (REPO_ROOT / entry["source"]).resolve() == PLUGIN.resolve()
    assert entry["version"] == plugin["version"] == __version__
