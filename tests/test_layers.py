"""The package's dependencies point one way: cli -> services -> store, tmux, agents -> models, errors.

Checked on the source (imports anywhere in a module, lazy ones included).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
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


# Below the services: state, tmux, files, the agents' launch details, the protocols' shapes. They serve the
# services (jobs, job_reads, live, queue, claims, remote, keeper, dashboard, ...) and must not reach up into
# one: a service changed would otherwise change what they do, and every importer of theirs would load it.
LOWER = {
    "codex_agent.models",
    "codex_agent.errors",
    "codex_agent.safefs",
    "codex_agent.state_db",
    "codex_agent.store_schema",
    "codex_agent.store_tables",
    "codex_agent.store",
    "codex_agent.tmux",
    "codex_agent.procs",
    "codex_agent.output_log",
    "codex_agent.git",
    "codex_agent.display",
    "codex_agent.protocol",
    "codex_agent.appclient",
    "codex_agent.agents",
    "codex_agent.agents.launch",
    "codex_agent.agents.codex",
    "codex_agent.agents.streams",
}


def test_lower_modules_import_no_service() -> None:
    for name in LOWER:
        ours = {item for item in MODULES[name] if item in MODULES and item != "codex_agent"}
        assert ours <= LOWER, (name, sorted(ours - LOWER))


def _is_type_checking_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _top_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run when the module is imported: its body and the branches of its top-level `if` and
    `try` blocks, but not `if TYPE_CHECKING:` (never run) nor anything inside a function or class."""
    for node in body:
        if _is_type_checking_block(node):
            continue
        yield node
        if isinstance(node, ast.If):
            yield from _top_level_statements(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level_statements(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                yield from _top_level_statements(handler.body)


def module_level_imports(path: Path) -> set[str]:
    """Modules of ours that importing `path` imports (`from pkg import mod` imports pkg.mod)."""
    found: set[str] = set()
    for node in _top_level_statements(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(submodules or {node.module})
    return {name for name in found if name in MODULES}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or of one that imports itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_find_cycles_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_module_level_imports() -> None:
    """Imports run at import time may not go round in a circle: which module of a cycle finishes first
    depends on who imported it first, and a name used at import time may not exist yet. Lazy imports (inside
    functions) are left out: they run after every module is loaded."""
    graph = {
        module_name(path): module_level_imports(path) - {module_name(path)} for path in PACKAGE.rglob("*.py")
    }
    assert find_cycles(graph) == []
