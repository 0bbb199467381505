"""The few git questions codex-agent asks: which commit a job started from, and what changed since."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
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


_STATUS = ("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")


def _git_side_by_side(cwd: Path, *commands: Sequence[str]) -> list[str | None]:
    """Several git commands run at once, each answer as `_git` gives it: a job's end waits for them."""
    procs: list[subprocess.Popen[bytes] | None] = []
    for args in commands:
        try:
            procs.append(
                subprocess.Popen(
                    ["git", "-C", str(cwd), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
                )
            )
        except FileNotFoundError:
            procs.append(None)
    answers: list[str | None] = []
    for proc in procs:
        if proc is None:
            answers.append(None)
            continue
        try:
            out, _ = proc.communicate(timeout=GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            answers.append(None)
            continue
        answers.append(out.decode(errors="surrogateescape") if proc.returncode == 0 else None)
    return answers


def _status_paths(out: str | None) -> list[str]:
    if not out:
        return []
    return sorted({entry[3:] for entry in out.split("\0") if len(entry) > 3})


def dirty_paths(cwd: Path) -> list[str]:
    """Paths (relative to the repository root) that differ from HEAD, or are untracked and not ignored."""
    return _status_paths(_git(cwd, *_STATUS))


def changed_since(cwd: Path, base: str | None, dirty_at_start: list[str]) -> list[str] | None:
    """Files changed since a job started: committed since `base`, modified, or new.

    Files that were already dirty at the start are left out unless they were committed since: their later
    edits cannot be told apart from the ones that were there before. None outside a git repository (where
    `git status` fails).
    """
    commands = [_STATUS, *([("diff", "--name-only", "-z", base, "HEAD")] if base else [])]
    status, *committed = _git_side_by_side(cwd, *commands)
    if status is None:
        return None
    changed = set(_status_paths(status)) - set(dirty_at_start)
    for names in committed:
        if names:
            changed.update(name for name in names.split("\0") if name)
    return sorted(changed)
