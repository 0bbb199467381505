"""`trust`: pre-answer codex's "Trust this folder?" question for a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codex_agent.agents import codex
from codex_agent.cli.common import echo
from codex_agent.store import find_project_root


def trust(
    directory: Annotated[
        Path | None, typer.Argument(help="Directory to trust (default: the current project's root).")
    ] = None,
) -> None:
    """Mark a directory trusted in codex's config, so a hidden TUI never stops to ask."""
    target = find_project_root((directory or Path.cwd()).resolve())
    home = codex.codex_home()
    if codex.trust_directory(home, target):
        echo(f"trusted {target} in {home / 'config.toml'}")
    else:
        echo(f"{target} was already trusted")
