"""The package's dependencies point one way: cli -> services -> store, tmux, agents -> models, errors.

Checked on the source (imports anywhere in a module, lazy ones included).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "codex_agent"
# The bottom of the stack: imported by everything, importing nothing of ours but each other.
FOUNDATIONS = {"codex_agent.models", "codex_agent.errors"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_only_the_cli_imports_typer() -> None:
    offenders = [
        name
        for name, imported in MODULES.items()
        if any(item == "typer" or item.startswith("typer.") for item in imported)
        and not name.startswith("codex_agent.cli")
    ]
    assert offenders == []


def test_nothing_below_the_cli_imports_it() -> None:
    offenders = [
        name
        for name, imported in MODULES.items()
        if not name.startswith("codex_agent.cli")
        and name != "codex_agent.__main__"
        and any(item == "codex_agent.cli" or item.startswith("codex_agent.cli.") for item in imported)
    ]
    assert offenders == []


def test_models_and_errors_depend_on_nothing_of_ours() -> None:
    for name in FOUNDATIONS:
        ours = {item for item in MODULES[name] if item.startswith("codex_agent")}
        assert all(item.startswith(tuple(FOUNDATIONS)) for item in ours), (name, ours)


def test_store_and_tmux_know_nothing_of_jobs_or_each_other() -> None:
    for name, forbidden in (
        ("codex_agent.store", ("codex_agent.tmux", "codex_agent.jobs", "codex_agent.agents")),
        ("codex_agent.tmux", ("codex_agent.store", "codex_agent.jobs", "codex_agent.agents")),
    ):
        assert not [item for item in MODULES[name] if item.startswith(forbidden)], name
