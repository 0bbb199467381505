"""The command registry: its help lines are the commands' own, and only the invoked command is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codex_agent.cli.app import build_command, click_command
from codex_agent.cli.registry import COMMANDS
from tests.helpers import REPO_ROOT

NO_LIMIT = 10_000


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_registry_line_is_the_commands_own_first_sentence(name: str) -> None:
    target, line = COMMANDS[name]
    command = build_command(name, target)
    assert command.name == name
    assert command.get_short_help_str(NO_LIMIT) == line, (
        f"update the help line of {name!r} in cli/registry.py"
    )


def test_the_root_lists_every_command_in_registry_order() -> None:
    root = click_command()
    assert root.list_commands(None) == list(COMMANDS)  # type: ignore[arg-type]
    assert root.get_command(None, "no-such-command") is None


PROBE = """
import sys
from codex_agent.cli import run
status = run(sys.argv[1:])
mine = sorted(name for name in sys.modules if name.startswith("codex_agent.") or name in ("typer", "rich"))
print(" ".join(mine), file=sys.stderr)
sys.exit(status)
"""


def _modules_loaded(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    return result.returncode, set(result.stderr.splitlines()[-1].split())


def test_version_help_and_a_typo_import_no_command_module(tmp_path: Path) -> None:
    for args in (["--version"], ["--help"], ["statuss"]):
        code, loaded = _modules_loaded(tmp_path, *args)
        assert code == (2 if args == ["statuss"] else 0)
        commands = {name for name in loaded if name.startswith("codex_agent.cli.")} - {
            "codex_agent.cli.app",
            "codex_agent.cli.fast",
            "codex_agent.cli.registry",
        }
        assert commands == set(), args
        assert "typer" not in loaded and "rich" not in loaded, args


def test_a_command_imports_its_own_module_only(tmp_path: Path) -> None:
    code, loaded = _modules_loaded(tmp_path, "status", "--help")
    assert code == 0
    assert "codex_agent.cli.inspect" in loaded and "typer" in loaded
    for other in ("start", "live", "machine", "exec_cmds", "coord", "dashboard", "health"):
        assert f"codex_agent.cli.{other}" not in loaded
    assert "codex_agent.jobs" not in loaded  # --help reads no state
    assert "rich" not in loaded  # plain help: typer's rich formatting is off


def test_a_forwarded_command_does_not_load_the_local_lifecycle(tmp_path: Path) -> None:
    code, loaded = _modules_loaded(tmp_path, "exec", "start", "--cmd", "true", "--machine", "nobox")
    assert code == 3  # unknown machine
    assert "codex_agent.jobs" not in loaded
