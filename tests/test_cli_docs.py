"""docs/cli.md is what the commands' `--help` says (regenerate with `python scripts/gen_cli_docs.py`)."""

from __future__ import annotations

import os
import subprocess
import sys

import click

from tests.helpers import REPO_ROOT

GENERATOR = REPO_ROOT / "scripts" / "gen_cli_docs.py"
FIXED = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **FIXED}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_reference_is_current() -> None:
    result = run(str(GENERATOR), "--check")
    assert result.returncode == 0, result.stderr


def test_reference_shows_what_a_real_process_prints() -> None:
    """The generator captures help in-process; a separate process must print the very same text."""
    text = (REPO_ROOT / "docs" / "cli.md").read_text()
    for command in (["start"], ["exec", "run"], []):
        real = run("-m", "codex_agent", *command, "--help")
        assert real.returncode == 0, real.stderr
        block = "\n".join(line.rstrip() for line in real.stdout.strip("\n").splitlines())
        assert f"```text\n{block}\n```" in text, f"codex-agent {' '.join(command)} --help differs"


def test_every_command_has_a_section() -> None:
    from codex_agent.cli.app import click_command

    text = (REPO_ROOT / "docs" / "cli.md").read_text()
    root = click_command()
    context = click.Context(root)
    for name in root.list_commands(context):
        command = root.get_command(context, name)
        if (
            command is None or command.hidden
        ):  # internal entry points (the far end of `--machine`) are not documented
            continue
        assert f"## codex-agent {name}\n" in text
        for sub, sub_command in getattr(command, "commands", {}).items():
            if not sub_command.hidden:
                assert f"## codex-agent {name} {sub}\n" in text
