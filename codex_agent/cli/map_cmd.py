"""`map`: write a first codebase map (docs/CODEBASE_MAP.md) for `start --map`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codex_agent import codemap
from codex_agent.cli.common import DirOption, echo, note
from codex_agent.errors import UsageError


def write_map(
    force: Annotated[bool, typer.Option("--force", help="Replace an existing docs/CODEBASE_MAP.md.")] = False,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the map instead of writing it.")] = False,
    directory: DirOption = None,
) -> None:
    """Write docs/CODEBASE_MAP.md for the directory (run it at the repository root): files, entry points,
    tests and imports, read from the code itself."""
    root = (directory or Path.cwd()).resolve()
    if not root.is_dir():
        raise UsageError(f"not a directory: {root}", "pass an existing directory with --dir")
    if stdout:
        typer.echo(codemap.build_map(root), nl=False)
        return
    target, text = codemap.write_map(root, force=force)
    echo(str(target))
    note(
        f"codex-agent: wrote {codemap.MAP_PATH} ({text.count(chr(10))} lines); review it, then "
        "`codex-agent start --map ...` gives it to agents"
    )
