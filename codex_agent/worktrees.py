"""A git worktree per write agent: `start --worktree` gives the job its own checkout on a new branch.

Worktrees live in the state directory, `.codex-agent/worktrees/<job id>` (the state directory is ignored by
git, so the main checkout never sees them), on branch `codex-agent/<job id>`, made from the current HEAD or
from `--ref`. When the job ends, whatever it left uncommitted is committed to its branch, so its work is on
the branch and nowhere else. `clean` removes a worktree's folder only when nothing would be lost: a folder
with uncommitted changes is kept as it is; a branch with commits not merged into the project's HEAD is kept
(the work stays under that ref) and deleted only once merged.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_agent import git, safefs
from codex_agent.errors import ConflictError, UsageError
from codex_agent.models import Job

WORKTREES_DIR = "worktrees"
BRANCH_PREFIX = "codex-agent/"
ORPHAN_AFTER_S = 120
FALLBACK_IDENTITY = ("-c", "user.name=codex-agent", "-c", "user.email=codex-agent@localhost")


@dataclass(frozen=True, slots=True)
class Worktree:
    path: Path
    branch: str
    base: str
    root: Path  # the main checkout

    def to_attrs(self) -> dict[str, Any]:
        return {"path": str(self.path), "branch": self.branch, "base": self.base, "root": str(self.root)}

    @classmethod
    def from_job(cls, job: Job) -> Worktree | None:
        data = job.attrs.get("worktree")
        if not isinstance(data, dict):
            return None
        return cls(Path(data["path"]), str(data["branch"]), str(data["base"]), Path(data["root"]))

    def cwd_for(self, directory: Path | None) -> Path:
        """The folder in the worktree that corresponds to `directory` in the main checkout."""
        if directory is None:
            directory = Path.cwd()
        try:
            relative = directory.resolve().relative_to(self.root)
        except ValueError:
            relative = Path()
        target = self.path / relative
        return target if target.is_dir() else self.path


def resolve_base(root: Path, ref: str | None) -> str:
    """The commit a new worktree starts from: `ref`, or HEAD."""
    if not git.is_repo(root):
        raise UsageError("--worktree needs a git repository", "run it inside a git checkout")
    code, out = git.run(root, "rev-parse", "--verify", "-q", f"{ref or 'HEAD'}^{{commit}}")
    if code != 0:
        what = f"--ref {ref!r} is not a commit" if ref else "the repository has no commit yet"
        raise UsageError(what, "commit first, or pass an existing branch, tag or commit with --ref")
    return out.splitlines()[0].strip()


def create(root: Path, state_dir: Path, job_id: str, base: str) -> Worktree:
    folder = state_dir / WORKTREES_DIR
    # A link an agent put here would have git check the branch out somewhere else: refused instead.
    safefs.make_private_dir(folder)
    path = folder / job_id
    branch = BRANCH_PREFIX + job_id
    code, out = git.run(root, "worktree", "add", "-q", "-b", branch, str(path), base)
    if code != 0:
        raise ConflictError(f"could not make a worktree for job {job_id}: {out}", "see `git worktree list`")
    return Worktree(path.resolve(), branch, base, root.resolve())


def discard(worktree: Worktree) -> None:
    """Undo `create` for a job that never got recorded."""
    git.run(worktree.root, "worktree", "remove", "--force", str(worktree.path))
    git.run(worktree.root, "branch", "-D", worktree.branch)


def _identity(cwd: Path) -> tuple[str, ...]:
    code, out = git.run(cwd, "config", "user.email")
    return () if code == 0 and out.strip() else FALLBACK_IDENTITY


def commit_leftovers(job: Job) -> str | None:
    """Commit what the job left uncommitted in its worktree to its branch. Returns the new commit."""
    worktree = Worktree.from_job(job)
    if worktree is None or not worktree.path.is_dir():
        return None
    if not is_dirty(worktree):
        return None
    git.run(worktree.path, "add", "-A")
    first_line = " ".join(job.prompt.split())[:60]
    message = f"codex-agent job {job.id} ({job.status.value}): {first_line}"
    code, _ = git.run(worktree.path, *_identity(worktree.path), "commit", "-q", "--no-verify", "-m", message)
    if code != 0:
        return None
    return git.head_commit(worktree.path)


def is_dirty(worktree: Worktree) -> bool:
    code, out = git.run(worktree.path, "status", "--porcelain", "--untracked-files=all")
    return code != 0 or bool(out.strip())


def is_merged(worktree: Worktree) -> bool:
    """The branch's work is in the main checkout's HEAD (or the branch is gone)."""
    code, _ = git.run(worktree.root, "rev-parse", "--verify", "-q", f"refs/heads/{worktree.branch}")
    if code != 0:
        return True
    code, _ = git.run(worktree.root, "merge-base", "--is-ancestor", worktree.branch, "HEAD")
    return code == 0


def release(worktree: Worktree, job_id: str) -> tuple[bool, str]:
    """Remove a worktree when nothing would be lost. Returns (the job may go, what was done)."""
    if worktree.path.is_dir() and is_dirty(worktree):
        return False, (
            f"kept worktree {worktree.path} of job {job_id}: it has uncommitted changes "
            "(commit or discard them, then clean again)"
        )
    if worktree.path.is_dir():
        code, out = git.run(worktree.root, "worktree", "remove", str(worktree.path))
        if code != 0:
            return False, f"kept worktree {worktree.path} of job {job_id}: git worktree remove said: {out}"
    git.run(worktree.root, "worktree", "prune")
    if is_merged(worktree):
        git.run(worktree.root, "branch", "-d", worktree.branch)
        return True, f"removed worktree of job {job_id} (its branch was merged)"
    return True, (
        f"removed worktree folder of job {job_id}; its unmerged work stays on branch {worktree.branch}"
    )


def orphans(root: Path, state_dir: Path, known_ids: set[str]) -> list[Worktree]:
    """Worktree folders whose job record is gone (e.g. deleted with `delete --force`)."""
    folder = state_dir / WORKTREES_DIR
    if not folder.is_dir():
        return []
    found = []
    settled = time.time() - ORPHAN_AFTER_S  # a younger folder may belong to a start in progress
    for path in sorted(folder.iterdir()):
        if path.is_dir() and path.name not in known_ids and path.stat().st_mtime < settled:
            head = git.head_commit(path) or ""
            found.append(Worktree(path.resolve(), BRANCH_PREFIX + path.name, head, root.resolve()))
    return found


def remove_folder_if_empty(state_dir: Path) -> None:
    folder = state_dir / WORKTREES_DIR
    if folder.is_dir() and not any(folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)
