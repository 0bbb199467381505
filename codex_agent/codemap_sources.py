"""Reading a repository for its codebase map: the project's files, what each one says it is (docstring,
heading or leading comment), and which modules import which (Python through `ast`, JavaScript and TypeScript
through a plain import pattern)."""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from codex_agent.prompt_files import DEPENDENCY_FILES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAX_READ_BYTES = 256 * 1024
DESCRIPTION_CHARS = 110
PYTHON = {".py", ".pyi"}
SCRIPT_LIKE = {".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx"}
KINDS = {
    ".py": "Python", ".pyi": "Python", ".js": "JavaScript", ".mjs": "JavaScript", ".cjs": "JavaScript",
    ".jsx": "JavaScript", ".ts": "TypeScript", ".tsx": "TypeScript", ".mts": "TypeScript",
    ".cts": "TypeScript", ".go": "Go", ".rs": "Rust", ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++",
    ".hpp": "C++", ".java": "Java", ".kt": "Kotlin", ".rb": "Ruby", ".php": "PHP", ".swift": "Swift",
    ".cs": "C#", ".sh": "Shell", ".bash": "Shell", ".md": "Markdown", ".rst": "reStructuredText",
    ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON", ".html": "HTML", ".css": "CSS",
    ".sql": "SQL",
}  # fmt: skip
_COMMENT_PREFIXES = ("#", "//", "--", ";")
_JS_IMPORT = re.compile(
    r"""(?:\bimport|\bexport)\s[^'"`;]*?\bfrom\s*['"]([^'"\n]+)['"]"""
    r"""|\bimport\s*['"]([^'"\n]+)['"]"""
    r"""|\b(?:require|import)\s*\(\s*['"]([^'"\n]+)['"]\s*\)"""
)
_JS_RESOLVE_SUFFIXES = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".d.ts")


def is_test(path: str) -> bool:
    pure = PurePosixPath(path)
    name = pure.name
    return (
        name.startswith("test_")
        or name == "conftest.py"
        or re.search(r"_test\.(py|go)$", name) is not None
        or re.search(r"\.(test|spec)\.[cm]?[jt]sx?$", name) is not None
        or any(part in ("tests", "test", "__tests__", "spec") for part in pure.parts[:-1])
    )


@dataclass(slots=True)
class Repo:
    root: Path
    files: list[str]
    listing: str
    texts: dict[str, str] = field(default_factory=dict)

    def text(self, path: str) -> str | None:
        if path in self.texts:
            return self.texts[path]
        full = self.root / path
        try:
            if full.stat().st_size > MAX_READ_BYTES:
                return None
            data = full.read_bytes()
        except OSError:
            return None
        if b"\0" in data[:4096]:
            return None
        text = data.decode("utf-8", errors="replace")
        self.texts[path] = text
        return text

    def toml(self, path: str) -> dict[str, Any]:
        text = self.text(path)
        if text is None:
            return {}
        try:
            data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return {}
        return data

    def json(self, path: str) -> dict[str, Any]:
        text = self.text(path)
        try:
            data = json.loads(text or "")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


# --- descriptions -----------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    paragraph = text.strip().split("\n\n")[0]
    flat = " ".join(paragraph.split())
    return flat if len(flat) <= DESCRIPTION_CHARS else flat[: DESCRIPTION_CHARS - 1].rstrip() + "…"


def python_tree(repo: Repo, path: str) -> ast.Module | None:
    text = repo.text(path)
    if text is None:
        return None
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError):
        return None


def _leading_comment(text: str) -> str | None:
    lines = text.splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    collected: list[str] = []
    in_block = False
    for raw in lines[:40]:
        line = raw.strip()
        if in_block:
            end = "*/" in line
            line = line.split("*/")[0].lstrip("*").strip()
            if line:
                collected.append(line)
            if end or (collected and not line):
                break
            continue
        if line.startswith("/*"):
            in_block = True
            line = line[2:].lstrip("*").strip()
            if "*/" in line:
                collected.append(line.split("*/")[0].strip())
                break
            if line:
                collected.append(line)
            continue
        prefix = next((p for p in _COMMENT_PREFIXES if line.startswith(p)), None)
        if prefix is not None:
            body = line.lstrip(prefix[0]).strip()
            if re.match(
                r"^(-\*-|coding[:=]|noqa|type:|pylint|eslint|@ts-|prettier|fmt:|SPDX|Copyright)", body
            ):
                continue
            if body:
                collected.append(body)
                continue
            if collected:
                break
            continue
        if line or collected:
            break
    return _one_line(" ".join(collected)) if collected else None


def _python_shebang(text: str | None) -> bool:
    first = (text or "").split("\n", 1)[0]
    return first.startswith("#!") and "python" in first


def describe(repo: Repo, path: str) -> str | None:
    pure = PurePosixPath(path)
    suffix = pure.suffix.lower()
    if pure.name == "pyproject.toml":
        value = repo.toml(path).get("project", {}).get("description")
        return _one_line(value) if isinstance(value, str) else "Python project metadata"
    if pure.name == "package.json":
        value = repo.json(path).get("description")
        return _one_line(value) if isinstance(value, str) else "npm package metadata"
    if pure.name == "Cargo.toml":
        value = repo.toml(path).get("package", {}).get("description")
        return _one_line(value) if isinstance(value, str) else "Rust crate metadata"
    if pure.name in DEPENDENCY_FILES:
        return None
    if suffix in PYTHON or (not suffix and _python_shebang(repo.text(path))):
        tree = python_tree(repo, path)
        if tree is not None:
            doc = ast.get_docstring(tree)
            if doc:
                return _one_line(doc)
    text = repo.text(path) if suffix not in (".json", ".lock", ".svg") else None
    if text is None:
        return None
    if suffix in (".md", ".markdown", ".rst", ".txt"):
        for line in text.splitlines()[:60]:
            stripped = line.strip()
            if stripped.startswith("#"):
                return _one_line(stripped.lstrip("#").strip())
        for line in text.splitlines()[:10]:
            if line.strip() and not set(line.strip()) <= set("=-~*#"):
                return _one_line(line)
        return None
    return _leading_comment(text)


# --- python modules and imports ---------------------------------------------------------------------------


def python_modules(files: Iterable[str]) -> dict[str, str]:
    """Module name -> path, for every Python file. A folder counts as a package when it has `__init__.py`;
    names start at the first folder that is not one (so `src/` layouts come out right)."""
    files = [path for path in files if PurePosixPath(path).suffix in PYTHON]
    packages = {str(PurePosixPath(path).parent) for path in files if PurePosixPath(path).stem == "__init__"}
    modules: dict[str, str] = {}
    for path in sorted(files):
        pure = PurePosixPath(path)
        parts = [] if pure.stem == "__init__" else [pure.stem]
        folder = pure.parent
        while str(folder) in packages and str(folder) != ".":
            parts.insert(0, folder.name)
            folder = folder.parent
        if parts and all(part.isidentifier() for part in parts):
            modules.setdefault(".".join(parts), path)
    return modules


def _resolve(name: str, modules: dict[str, str]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def python_imports(tree: ast.Module, module: str, is_package: bool, modules: dict[str, str]) -> set[str]:
    """The modules of this repository that `module` imports (anywhere in the file)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            for alias in node.names:
                target = _resolve(f"{prefix}.{alias.name}", modules) if prefix else None
                target = target or (_resolve(prefix, modules) if prefix else None)
                if target:
                    found.add(target)
    found.discard(module)
    return found


def has_main_guard(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            left = node.test.left
            if isinstance(left, ast.Name) and left.id == "__name__":
                return True
    return False


def js_imports(repo: Repo, path: str, known: set[str]) -> set[str]:
    text = repo.text(path) or ""
    found: set[str] = set()
    folder = PurePosixPath(path).parent
    for match in _JS_IMPORT.finditer(text):
        spec = next(group for group in match.groups() if group)
        if not spec.startswith("."):
            continue
        base = os.path.normpath((folder / spec).as_posix())
        for suffix in _JS_RESOLVE_SUFFIXES:
            for candidate in (base + suffix, f"{base}/index{suffix}" if suffix else None):
                if candidate and candidate in known and candidate != path:
                    found.add(candidate)
                    break
            else:
                continue
            break
    return found
