#!/usr/bin/env python3
"""Write docs/cli.md from the `--help` of every codex-agent command.

    python scripts/gen_cli_docs.py           # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check   # exit 1 when docs/cli.md is not what the commands say

The terminal is fixed (COLUMNS=100, NO_COLOR=1, TERM=dumb) so the text is the same on every machine.
tests/test_cli_docs.py runs the check.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"
FIXED_ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}

PREAMBLE = """\
# Command reference

Generated from `codex-agent --help` by `python scripts/gen_cli_docs.py`; do not edit by hand (a test checks
that this file matches the commands). Exit codes are in [exit-codes.md](exit-codes.md), the JSON shapes in
[json.md](json.md), and the workflows in [orchestrators.md](orchestrators.md).

Job ids are 8 hex characters; every command that takes one also accepts a unique prefix, or the tmux session
name `codex-agent-<id>`. Every read command takes `--json`.

## Shell completion

`codex-agent --install-completion` installs tab completion for the shell you run it from (bash, zsh, fish or
PowerShell) and says which file it changed; open a new shell afterwards. `codex-agent --show-completion`
prints the script instead, to install it yourself, e.g.
`codex-agent --show-completion >> ~/.bashrc`.
"""


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group, depth first, in the order `--help` lists them.

    Through click's own interface (list_commands, get_command): the root group builds its commands lazily.
    """
    yield path, command
    if not hasattr(command, "list_commands"):
        return
    for name in command.list_commands(None):
        sub = command.get_command(None, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        yield from commands(sub, (*path, name))


def help_text(path: tuple[str, ...]) -> str:
    from codex_agent.cli import run

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = run([*path, "--help"])
    if status != 0:
        raise SystemExit(f"codex-agent {' '.join(path)} --help exited {status}")
    return "\n".join(line.rstrip() for line in buffer.getvalue().strip("\n").splitlines())


def render() -> str:
    os.environ.update(FIXED_ENV)
    from codex_agent.cli.app import click_command

    sections = []
    contents = []
    for path, _command in commands(click_command()):
        title = " ".join(("codex-agent", *path))
        anchor = "-".join(("codex-agent", *path))
        contents.append(f"{'  ' * max(0, len(path) - 1)}- [{title}](#{anchor})")
        sections.append(f"## {title}\n\n```text\n{help_text(path)}\n```\n")
    return PREAMBLE + "\n## Commands\n\n" + "\n".join(contents) + "\n\n" + "\n".join(sections)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    if not TARGET.exists() or TARGET.read_text() != text:
        TARGET.write_text(text)
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
