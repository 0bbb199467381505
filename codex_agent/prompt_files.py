"""Choosing the files a prompt includes: glob patterns matched against the project's files (git's view of
them where there is one), each read as UTF-8 text within a size limit, or skipped with the reason."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from wcmatch import glob as wcglob

from codex_agent import git
from codex_agent.errors import UsageError

MAX_FILE_BYTES = 256 * 1024
MAX_MATCHED_FILES = 2000
# `**` crosses directories; `{a,b}` alternates; `*` and `**` skip dot-files unless the pattern names the dot.
GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE
# Lockfiles and dependency manifests: long, generated or noisy, rarely what a worker should read in full.
DEPENDENCY_FILES = frozenset(
    {
        "package-lock.json", "package.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
        "bun.lockb", "bun.lock", "deno.lock", "uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock",
        "Cargo.lock", "go.sum", "composer.lock", "Gemfile.lock", "mix.lock", "pubspec.lock",
        "Package.resolved", "packages.lock.json", "flake.lock", "gradle.lockfile",
    }
)  # fmt: skip
# Never part of a prompt: version-control internals and codex-agent's own state.
ALWAYS_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", ".codex-agent"})
# Outside a git repository nothing says what is generated; these are by convention.
WALK_SKIPPED_DIRS = ALWAYS_SKIPPED_DIRS | {
    "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".cache", ".idea", ".vscode",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChosenFile:
    path: str  # relative to the directory the patterns were matched in, with forward slashes
    text: str


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(slots=True)
class FileSelection:
    files: list[ChosenFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    listing: str = "git"  # "git" (tracked + untracked, .gitignore respected) or "walk"


def list_project_files(base: Path) -> tuple[list[str], str]:
    """Every file under `base` a person would call part of the project, relative and sorted.

    In a git work tree: tracked files plus untracked ones that .gitignore does not exclude. Elsewhere: a walk
    that leaves out version-control folders, virtualenvs, caches and node_modules.
    """
    listed = git.listed_files(base)
    if listed is not None:
        kept = [
            name
            for name in listed
            if not ALWAYS_SKIPPED_DIRS.intersection(PurePosixPath(name).parts[:-1])
            and (base / name).is_file()
        ]
        return kept, "git"
    found: list[str] = []
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(name for name in dirs if name not in WALK_SKIPPED_DIRS)
        relative = Path(folder).relative_to(base)
        for name in names:
            path = relative / name
            if (base / path).is_file():
                found.append(path.as_posix())
    return sorted(found), "walk"


def _split_patterns(patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    includes: list[str] = []
    excludes: list[str] = []
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        pattern = pattern.strip()
        while pattern.startswith("./"):
            pattern = pattern[2:]
        if not pattern:
            raise UsageError(f"empty file pattern {raw!r}", "give a glob such as 'src/**/*.py'")
        if pattern.startswith("/") or ".." in PurePosixPath(pattern).parts:
            raise UsageError(
                f"file pattern {raw!r} reaches outside the directory",
                "patterns are relative to --dir: pass a --dir that contains the files",
            )
        (excludes if negated else includes).append(pattern)
    if not includes:
        raise UsageError(
            "every -f pattern excludes (starts with !)", "add one that includes, e.g. -f '**/*.py'"
        )
    return includes, excludes


def _expand_directory(base: Path, pattern: str) -> str:
    """A pattern naming a directory stands for everything under it."""
    if not wcglob.is_magic(pattern, flags=GLOB_FLAGS) and (base / pattern).is_dir():
        return pattern.rstrip("/") + "/**"
    return pattern


def select_files(base: Path, patterns: Sequence[str]) -> FileSelection:
    """The files under `base` that match any include pattern and no `!` pattern, in path order.

    Lockfiles and dependency manifests are left out unless a pattern names one exactly. Binary, non-UTF-8
    and very large files are left out with a reason. An include pattern that matches nothing is an error:
    it is almost always a typo.
    """
    includes, excludes = _split_patterns(patterns)
    includes = [_expand_directory(base, pattern) for pattern in includes]
    excludes = [_expand_directory(base, pattern) for pattern in excludes]
    names, listing = list_project_files(base)
    exact = {pattern.rstrip("/") for pattern in includes if not wcglob.is_magic(pattern, flags=GLOB_FLAGS)}
    # A file named exactly is taken even when .gitignore hides it: someone asked for it by name.
    extra = sorted(name for name in exact if name not in names and (base / name).is_file())
    names = sorted({*names, *extra})
    matchers = [wcglob.compile([pattern], flags=GLOB_FLAGS) for pattern in includes]
    exclude = wcglob.compile(excludes, flags=GLOB_FLAGS) if excludes else None
    used = [False] * len(includes)
    selection = FileSelection(listing=listing)
    chosen: list[str] = []
    for name in names:
        hits = [index for index, matcher in enumerate(matchers) if matcher.match(name)]
        if not hits:
            continue
        for index in hits:
            used[index] = True
        if exclude is not None and exclude.match(name):
            continue
        if PurePosixPath(name).name in DEPENDENCY_FILES and name not in exact:
            selection.skipped.append(SkippedFile(name, "lockfile or dependency manifest (name it exactly)"))
            continue
        chosen.append(name)
    unused = [pattern for pattern, hit in zip(includes, used, strict=True) if not hit]
    if unused:
        where = "tracked or unignored files" if listing == "git" else "files"
        raise UsageError(
            f"no {where} under {base} match {', '.join(repr(p) for p in unused)}",
            "check the pattern (it is relative to --dir; `**` crosses folders)",
        )
    if len(chosen) > MAX_MATCHED_FILES:
        raise UsageError(
            f"the -f patterns match {len(chosen)} files (more than {MAX_MATCHED_FILES})",
            "narrow them, or exclude some with '!GLOB'",
        )
    for name in chosen:
        text, reason = _read_text_file(base / name)
        if text is None:
            selection.skipped.append(SkippedFile(name, reason))
        else:
            selection.files.append(ChosenFile(name, text))
    return selection


def _read_text_file(path: Path) -> tuple[str | None, str]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, f"too large ({size // 1024} KiB; the limit is {MAX_FILE_BYTES // 1024} KiB)"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable ({exc.strerror})"
    if b"\0" in data[:8192]:
        return None, "binary"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
