"""A first codebase map for a repository that has none, so `start --map` helps from the first day.

Everything comes from the files themselves: the tree of project files (git's list when in a repository),
each module's first docstring, heading or comment, the entry points that manifests and Makefiles declare,
the tests, and which modules import which (Python through `ast`, JavaScript and TypeScript through a plain
import pattern). The output is sorted and capped, so it is the same for the same tree and stays readable
for large repositories. People are expected to correct and extend it; it is only rewritten on request.
"""

from __future__ import annotations

import ast
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from codex_agent.codemap_sources import (
    KINDS,
    SCRIPT_LIKE,
    Repo,
    describe,
    has_main_guard,
    is_test,
    js_imports,
    python_imports,
    python_modules,
    python_tree,
)
from codex_agent.errors import CodexAgentError, ConflictError
from codex_agent.prompt_files import list_project_files

MAP_PATH = "docs/CODEBASE_MAP.md"
MAX_ANALYSED_FILES = 5000
MAX_LAYOUT_FILES = 400
MAX_FILES_PER_DIR = 40
MAX_DIRECTORY_LINES = 150
MAX_IMPORT_ROWS = 120
MAX_LIST = 25
_MAKE_TARGET = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-/]*)\s*:(?![=:])")


# --- sections ---------------------------------------------------------------------------------------------


def _kind_counts(files: Iterable[str]) -> str:
    counts = Counter(KINDS.get(PurePosixPath(path).suffix.lower(), "other") for path in files)
    ordered = sorted(counts.items(), key=lambda item: (item[0] == "other", -item[1], item[0]))
    return ", ".join(f"{count} {kind}" for kind, count in ordered)


def _suffix_counts(files: Iterable[str]) -> str:
    counts = Counter(PurePosixPath(path).suffix or PurePosixPath(path).name for path in files)
    return ", ".join(
        f"{count} {suffix}" for suffix, count in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    )


def _capped(items: list[str], limit: int = MAX_LIST) -> list[str]:
    if len(items) <= limit:
        return items
    return [*items[:limit], f"- … and {len(items) - limit} more"]


def _overview(repo: Repo) -> list[str]:
    source = "tracked and unignored files (git)" if repo.listing == "git" else "files"
    top: dict[str, list[str]] = defaultdict(list)
    for path in repo.files:
        parts = PurePosixPath(path).parts
        top[parts[0] + "/" if len(parts) > 1 else "."].append(path)
    lines = [
        "## Overview",
        "",
        f"- {len(repo.files)} {source}: {_kind_counts(repo.files)}.",
    ]
    folders = [f"`{name}` ({len(paths)})" for name, paths in sorted(top.items()) if name != "."]
    if folders:
        shown = folders[:MAX_LIST] + (
            [f"… and {len(folders) - MAX_LIST} more"] if len(folders) > MAX_LIST else []
        )
        lines.append(f"- Top-level folders (files in each): {', '.join(shown)}.")
    return lines


def _entry_points(repo: Repo, modules: dict[str, str], trees: dict[str, ast.Module]) -> list[str]:
    items: list[str] = []
    names = set(repo.files)
    for path in [p for p in repo.files if PurePosixPath(p).name == "pyproject.toml"][:MAX_LIST]:
        data = repo.toml(path)
        tables = [
            ("[project.scripts]", data.get("project", {}).get("scripts")),
            ("[project.gui-scripts]", data.get("project", {}).get("gui-scripts")),
            ("[tool.poetry.scripts]", data.get("tool", {}).get("poetry", {}).get("scripts")),
        ]
        for label, table in tables:
            if isinstance(table, dict):
                for command, target in sorted(table.items()):
                    items.append(f"- `{command}` → `{target}` ({path} {label})")
    for path in [p for p in repo.files if PurePosixPath(p).name == "package.json"][:MAX_LIST]:
        data = repo.json(path)
        bin_field = data.get("bin")
        if isinstance(bin_field, str):
            items.append(f"- `{data.get('name', path)}` → `{bin_field}` ({path} bin)")
        elif isinstance(bin_field, dict):
            for command, target in sorted(bin_field.items()):
                items.append(f"- `{command}` → `{target}` ({path} bin)")
        for key in ("main", "module"):
            if isinstance(data.get(key), str):
                items.append(f"- {key}: `{data[key]}` ({path})")
        scripts = data.get("scripts")
        if isinstance(scripts, dict) and scripts:
            runner = "npm run"
            items.append(
                f"- `{runner} <script>` ({path}): {', '.join(f'`{name}`' for name in sorted(scripts))}"
            )
    for module, path in sorted(modules.items()):
        if PurePosixPath(path).name == "__main__.py":
            package = module.rsplit(".", 1)[0] if "." in module else module
            items.append(f"- `python -m {package}` → `{path}`")
    scripts = sorted(
        path
        for path, tree in trees.items()
        if PurePosixPath(path).name != "__main__.py" and not is_test(path) and has_main_guard(tree)
    )
    if scripts:
        shown = ", ".join(f"`{path}`" for path in scripts[:MAX_LIST])
        more = f" and {len(scripts) - MAX_LIST} more" if len(scripts) > MAX_LIST else ""
        items.append(f'- Runnable as scripts (`if __name__ == "__main__"`): {shown}{more}')
    for makefile in ("Makefile", "makefile", "GNUmakefile"):
        if makefile in names:
            targets = _make_targets(repo.text(makefile) or "")
            if targets:
                items.append(f"- `make <target>` ({makefile}): {', '.join(f'`{t}`' for t in targets)}")
    if "Cargo.toml" in names:
        bins = repo.toml("Cargo.toml").get("bin", [])
        for entry in bins if isinstance(bins, list) else []:
            if isinstance(entry, dict) and entry.get("name"):
                items.append(f"- binary `{entry['name']}` → `{entry.get('path', 'src/bin/')}` (Cargo.toml)")
        if "src/main.rs" in names:
            items.append("- binary → `src/main.rs` (Cargo)")
    go_mains = sorted(p for p in repo.files if PurePosixPath(p).name == "main.go")
    for path in go_mains[:MAX_LIST]:
        items.append(f"- Go program → `{path}`")
    for path in sorted(p for p in repo.files if PurePosixPath(p).name == "Dockerfile")[:5]:
        items.append(f"- container image → `{path}`")
    return ["## Entry points", "", *(items or ["- None found (no scripts, bin, __main__.py or Makefile)."])]


def _make_targets(text: str) -> list[str]:
    targets: list[str] = []
    for line in text.splitlines():
        match = _MAKE_TARGET.match(line)
        if match and not match.group(1).startswith(".") and "%" not in match.group(1):
            name = match.group(1)
            if name not in targets:
                targets.append(name)
    return targets[:40]


def _layout(repo: Repo, modules_by_path: dict[str, str]) -> list[str]:
    lines = ["## Layout", "", "Each file with its first docstring, heading or comment."]
    by_dir: dict[str, list[str]] = defaultdict(list)
    for path in repo.files:
        by_dir[str(PurePosixPath(path).parent)].append(path)
    listed = 0
    directory_lines = 0
    summarised: list[str] = []
    for folder in sorted(by_dir, key=lambda d: (d != ".", d)):
        paths = sorted(by_dir[folder])
        label = "(top level)" if folder == "." else f"{folder}/"
        if listed >= MAX_LAYOUT_FILES:
            summarised.append(f"- `{label}` — {len(paths)} files: {_suffix_counts(paths)}")
            continue
        heading = f"### `{label}`"
        package_init = f"{folder}/__init__.py" if folder != "." else "__init__.py"
        if package_init in modules_by_path:
            about = describe(repo, package_init)
            heading += f" — {about}" if about else ""
        lines += ["", heading]
        directory_lines += 1
        shown = paths[: min(MAX_FILES_PER_DIR, MAX_LAYOUT_FILES - listed)]
        for path in shown:
            about = None if path == package_init else describe(repo, path)
            name = PurePosixPath(path).name
            lines.append(f"- `{name}`" + (f" — {about}" if about else ""))
        listed += len(shown)
        rest = paths[len(shown) :]
        if rest:
            lines.append(f"- … and {len(rest)} more: {_suffix_counts(rest)}")
    if summarised:
        lines += ["", "### Further folders (not listed file by file)"]
        lines += _capped(summarised, MAX_DIRECTORY_LINES)
    return lines


def _tests(repo: Repo, names: set[str]) -> list[str]:
    tests = [path for path in repo.files if is_test(path)]
    lines = ["## Tests", ""]
    if not tests:
        lines.append("- No test files found.")
    else:
        by_dir = Counter(str(PurePosixPath(path).parent) for path in tests)
        places = ", ".join(f"`{folder}/` ({count})" for folder, count in sorted(by_dir.items())[:MAX_LIST])
        lines.append(f"- {len(tests)} test files in {places}.")
    runs: list[str] = []
    pyproject = repo.toml("pyproject.toml") if "pyproject.toml" in names else {}
    if "pytest" in pyproject.get("tool", {}) or {"pytest.ini", "conftest.py", "tests/conftest.py"} & names:
        runs.append("`pytest`")
    elif any(path.endswith(".py") for path in tests):
        runs.append("`python -m pytest` (or `python -m unittest`)")
    package = repo.json("package.json") if "package.json" in names else {}
    if isinstance(package.get("scripts"), dict) and "test" in package["scripts"]:
        runs.append("`npm test`")
    if "go.mod" in names:
        runs.append("`go test ./...`")
    if "Cargo.toml" in names:
        runs.append("`cargo test`")
    for makefile in ("Makefile", "makefile", "GNUmakefile"):
        if makefile in names:
            for target in _make_targets(repo.text(makefile) or ""):
                if any(word in target for word in ("test", "check", "lint")):
                    runs.append(f"`make {target}`")
    if runs:
        lines.append(f"- Run them with: {', '.join(runs)}.")
    ci = sorted(
        path
        for path in repo.files
        if path.startswith((".github/workflows/", ".gitlab-ci", ".ci/", ".circleci/")) or path == "tox.ini"
    )
    if ci:
        lines.append(f"- CI and check scripts: {', '.join(f'`{path}`' for path in ci[:MAX_LIST])}.")
    return lines


def _dependencies(repo: Repo, modules: dict[str, str], trees: dict[str, ast.Module]) -> list[str]:
    lines = ["## How modules depend on each other", ""]
    by_path = {path: module for module, path in modules.items()}
    graph: dict[str, set[str]] = {}
    for path, tree in sorted(trees.items()):
        module = by_path.get(path)
        if module is None or is_test(path):
            continue
        graph[module] = python_imports(tree, module, PurePosixPath(path).stem == "__init__", modules)
    edges = {module: targets for module, targets in graph.items() if targets}
    if edges:
        lines.append("Python, from `import` statements (modules of this repository only; tests left out):")
        lines.append("")
        rows = [
            f"- `{module}` → {', '.join(f'`{target}`' for target in sorted(targets))}"
            for module, targets in sorted(edges.items())
        ]
        lines += _capped(rows, MAX_IMPORT_ROWS)
        fan_in = Counter(target for targets in edges.values() for target in targets)
        most = sorted(fan_in.items(), key=lambda item: (-item[1], item[0]))[:12]
        lines += ["", "Most imported: " + ", ".join(f"`{name}` ({count})" for name, count in most) + "."]
    scripts = [p for p in repo.files if PurePosixPath(p).suffix in SCRIPT_LIKE and not is_test(p)]
    known = set(repo.files)
    js_rows = []
    for path in scripts[:MAX_ANALYSED_FILES]:
        targets = js_imports(repo, path, known)
        if targets:
            js_rows.append(f"- `{path}` → {', '.join(f'`{target}`' for target in sorted(targets))}")
    if js_rows:
        if edges:
            lines.append("")
        lines += ["JavaScript/TypeScript, from relative imports (packages left out):", ""]
        lines += _capped(js_rows, MAX_IMPORT_ROWS)
    if not edges and not js_rows:
        lines.append("- No imports between this repository's own Python or JavaScript/TypeScript files.")
    return lines


# --- the whole map ----------------------------------------------------------------------------------------


def build_map(root: Path) -> str:
    """The map of the project under `root`, as Markdown."""
    root = root.resolve()
    files, listing = list_project_files(root)
    files = [path for path in files if path != MAP_PATH]
    repo = Repo(root, files, listing)
    names = set(files)
    modules = python_modules(files)
    modules_by_path = {path: module for module, path in modules.items()}
    trees: dict[str, ast.Module] = {}
    for path in sorted(modules_by_path)[:MAX_ANALYSED_FILES]:
        tree = python_tree(repo, path)
        if tree is not None:
            trees[path] = tree
    sections = [
        [
            f"# Codebase map: {root.name}",
            "",
            "A first map, written by `codex-agent map` from the files themselves. Correct it and add what "
            "the code cannot say (why things are the way they are, what is about to change): `codex-agent "
            "start --map` hands it to every agent. It is only rewritten by `codex-agent map --force`.",
        ],
        _overview(repo),
        _entry_points(repo, modules, trees),
        _tests(repo, names),
        _dependencies(repo, modules, trees),
        _layout(repo, modules_by_path),
    ]
    if len(modules_by_path) > MAX_ANALYSED_FILES:
        sections.append(
            [f"(Imports and scripts were read from the first {MAX_ANALYSED_FILES} Python files.)"]
        )
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def write_map(root: Path, *, force: bool = False) -> tuple[Path, str]:
    """Write MAP_PATH under `root`; refuses to replace an existing one unless `force`."""
    target = root / MAP_PATH
    if target.exists() and not force:
        raise ConflictError(f"{target} already exists", "edit it, or pass --force to write a new one over it")
    text = build_map(root)
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise CodexAgentError(
            f"cannot write {target}: {exc.strerror}", "check the folder's permissions"
        ) from exc
    return target, text
