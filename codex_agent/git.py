"""The few git questions codex-agent asks: which commit a job started from, and what changed since."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT_S = 30
AGENTS_LOG = "agents.log"  # codex-agent's own coordination log: never counted as a job's change


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
    changed.discard(AGENTS_LOG)
    return sorted(changed)


def listed_files(cwd: Path) -> list[str] | None:
    """Files under `cwd` that git knows or would add (tracked, plus untracked not ignored), relative to
    `cwd`, sorted. None when `cwd` is not in a git work tree."""
    out = _git(cwd, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out is None:
        return None
    return sorted({name for name in out.split("\0") if name})


# --- file lists and diff statistics ----------------------------------------------------------------------


def top_level(cwd: Path) -> Path | None:
    out = _git(cwd, "rev-parse", "--show-toplevel")
    return Path(out.strip()) if out and out.strip() else None


def untracked_files(cwd: Path) -> list[str]:
    out = _git(cwd, "ls-files", "-z", "--full-name", "--others", "--exclude-standard")
    if not out:
        return []
    return sorted({name for name in out.split("\0") if name})


def commit_subject(cwd: Path, commit: str) -> str | None:
    out = _git(cwd, "log", "-1", "--format=%s", commit, "--")
    return out.strip() if out else None


@dataclass(frozen=True, slots=True)
class FileStat:
    path: str
    added: int | None  # None for a binary file
    deleted: int | None
    change: str  # "added", "modified", "deleted" or "untracked"

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "added": self.added, "deleted": self.deleted, "change": self.change}


def diff_stats(cwd: Path, base: str) -> list[FileStat] | None:
    """Line counts of every change from `base` to the working tree (commits since included), plus untracked
    files counted as added. Paths are relative to the repository root. None when git cannot tell."""
    stats = _numstat(cwd, base)
    if stats is None:
        return None
    root = top_level(cwd) or cwd
    for name in untracked_files(cwd):
        if name not in stats:
            stats[name] = FileStat(name, _count_lines(root / name), 0, "untracked")
    stats.pop(AGENTS_LOG, None)
    return [stats[name] for name in sorted(stats)]


def diff_stats_between(cwd: Path, base: str, tip: str) -> list[FileStat] | None:
    """Line counts of the changes from commit `base` to commit (or branch) `tip`."""
    stats = _numstat(cwd, base, tip)
    if stats is None:
        return None
    stats.pop(AGENTS_LOG, None)
    return [stats[name] for name in sorted(stats)]


def _numstat(cwd: Path, *revisions: str) -> dict[str, FileStat] | None:
    numstat = _git(cwd, "diff", "--numstat", "-z", "--no-renames", *revisions, "--")
    status = _git(cwd, "diff", "--name-status", "-z", "--no-renames", *revisions, "--")
    if numstat is None or status is None:
        return None
    kinds: dict[str, str] = {}
    fields = [field for field in status.split("\0") if field]
    for letter, name in zip(fields[0::2], fields[1::2], strict=False):
        kinds[name] = {"A": "added", "D": "deleted"}.get(letter[:1], "modified")
    stats: dict[str, FileStat] = {}
    for record in numstat.split("\0"):
        parts = record.split("\t", 2)
        if len(parts) != 3 or not parts[2]:
            continue
        added, deleted, name = parts
        stats[name] = FileStat(
            name,
            int(added) if added.isdigit() else None,
            int(deleted) if deleted.isdigit() else None,
            kinds.get(name, "modified"),
        )
    return stats


def _count_lines(path: Path) -> int | None:
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    if b"\0" in data[:8192]:
        return None
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


# --- worktrees ---------------------------------------------------------------------------------------------


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run one git command; returns its exit status and its output (stdout, then stderr)."""
    import os

    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, **env} if env else None,
        )
    except FileNotFoundError:
        return 127, "git is not installed"
    except subprocess.TimeoutExpired:
        return 124, f"git {args[0]} took more than {GIT_TIMEOUT_S}s"
    text = (result.stdout + result.stderr).decode(errors="replace").strip()
    return result.returncode, text
