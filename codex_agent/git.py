"""The few git questions codex-agent asks: which commit a job started from, and what changed since."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT_S = 30


def _git(cwd: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode(errors="surrogateescape")


def head_commit(cwd: Path) -> str | None:
    out = _git(cwd, "rev-parse", "--verify", "-q", "HEAD")
    return out.strip() if out else None


def is_repo(cwd: Path) -> bool:
    return _git(cwd, "rev-parse", "--git-dir") is not None


def dirty_paths(cwd: Path) -> list[str]:
    """Paths (relative to the repository root) that differ from HEAD, or are untracked and not ignored."""
    out = _git(cwd, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
    if not out:
        return []
    return sorted({entry[3:] for entry in out.split("\0") if len(entry) > 3})


def changed_since(cwd: Path, base: str | None, dirty_at_start: list[str]) -> list[str] | None:
    """Files changed since a job started: committed since `base`, modified, or new.

    Files that were already dirty at the start are left out unless they were committed since: their later
    edits cannot be told apart from the ones that were there before.
    """
    if not is_repo(cwd):
        return None
    changed = set(dirty_paths(cwd)) - set(dirty_at_start)
    if base:
        committed = _git(cwd, "diff", "--name-only", "-z", base, "HEAD")
        if committed:
            changed.update(name for name in committed.split("\0") if name)
    return sorted(changed)


def listed_files(cwd: Path) -> list[str] | None:
    """Files under `cwd` that git knows or would add (tracked, plus untracked not ignored), relative to
    `cwd`, sorted. None when `cwd` is not in a git work tree."""
    out = _git(cwd, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out is None:
        return None
    return sorted({name for name in out.split("\0") if name})
