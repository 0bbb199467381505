"""A worktree per job (codex_agent/worktrees.py), in-process against a real git repository."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from codex_agent import git, worktrees
from codex_agent.errors import ConflictError, UsageError
from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.store import Store
from codex_agent.worktrees import Worktree


def sh_git(root: Path, *args: str) -> str:
    command = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def state_dir(project: Path) -> Path:
    """The project's state folder, made as codex-agent makes it (ignored by git)."""
    store = Store.open(project / ".codex-agent", create=True)
    store.close()
    return project / ".codex-agent"


def new_worktree(project: Path, state_dir: Path, job_id: str = "0badcafe") -> Worktree:
    return worktrees.create(project, state_dir, job_id, worktrees.resolve_base(project, None))


def job_in(worktree: Worktree, prompt: str = "write the notes") -> Job:
    job = Job("0badcafe", JobKind.CODEX_EXEC, JobStatus.COMPLETED, prompt, str(worktree.path), now_ms())
    job.attrs["worktree"] = worktree.to_attrs()
    return job


def test_the_base_is_head_or_the_given_ref(project: Path) -> None:
    head = sh_git(project, "rev-parse", "HEAD")
    assert worktrees.resolve_base(project, None) == head
    sh_git(project, "tag", "v1")
    (project / "README.md").write_text("later\n")
    sh_git(project, "commit", "-qam", "later")
    assert worktrees.resolve_base(project, "v1") == head  # a tag is taken to its commit
    assert worktrees.resolve_base(project, "main") == sh_git(project, "rev-parse", "HEAD")


def test_a_base_that_is_not_a_commit_is_refused(project: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--ref 'nope' is not a commit"):
        worktrees.resolve_base(project, "nope")
    with pytest.raises(UsageError, match="needs a git repository"):
        worktrees.resolve_base(tmp_path / "home", None)
    empty = tmp_path / "empty"
    empty.mkdir()
    sh_git(empty, "init", "-q")
    with pytest.raises(UsageError, match="no commit yet"):
        worktrees.resolve_base(empty, None)


def test_a_worktree_is_a_checkout_of_the_base_on_the_jobs_branch(project: Path, state_dir: Path) -> None:
    worktree = new_worktree(project, state_dir)
    assert worktree.path == (state_dir / "worktrees" / "0badcafe").resolve()
    assert worktree.branch == "codex-agent/0badcafe" and worktree.root == project.resolve()
    assert (worktree.path / "README.md").read_text() == "hello\n"
    assert sh_git(worktree.path, "rev-parse", "--abbrev-ref", "HEAD") == "codex-agent/0badcafe"
    assert sh_git(project, "rev-parse", "codex-agent/0badcafe") == worktree.base
    assert git.dirty_paths(project) == []  # the main checkout does not see it
    assert Worktree.from_job(job_in(worktree)) == worktree  # recorded in the job, read back the same


def test_a_second_worktree_for_the_same_job_is_a_conflict(project: Path, state_dir: Path) -> None:
    new_worktree(project, state_dir)
    with pytest.raises(ConflictError, match="could not make a worktree for job 0badcafe"):
        new_worktree(project, state_dir)


def test_a_job_without_a_worktree_has_none() -> None:
    job = Job("0badcafe", JobKind.COMMAND, JobStatus.RUNNING, "true", "/tmp", now_ms())
    assert Worktree.from_job(job) is None
    job.attrs["worktree"] = "not a table"
    assert Worktree.from_job(job) is None


def test_the_working_folder_maps_into_the_worktree(project: Path, state_dir: Path, tmp_path: Path) -> None:
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "src" / "pkg" / "m.py").write_text("")
    (project / "scratch").mkdir()  # untracked: not in the worktree's checkout
    sh_git(project, "add", "src")
    sh_git(project, "commit", "-qm", "src")
    worktree = new_worktree(project, state_dir)
    assert worktree.cwd_for(project / "src" / "pkg") == worktree.path / "src" / "pkg"
    assert worktree.cwd_for(project / "scratch") == worktree.path
    assert worktree.cwd_for(tmp_path) == worktree.path  # outside the project: the worktree's root


def test_leftovers_are_committed_to_the_jobs_branch(project: Path, state_dir: Path) -> None:
    worktree = new_worktree(project, state_dir)
    (worktree.path / "notes.txt").write_text("done\n")
    (worktree.path / "README.md").write_text("changed\n")
    assert worktrees.is_dirty(worktree)
    commit = worktrees.commit_leftovers(job_in(worktree, "write   the\nnotes"))
    assert commit is not None and commit == sh_git(project, "rev-parse", worktree.branch)
    assert not worktrees.is_dirty(worktree)
    message = sh_git(project, "log", "-1", "--format=%s|%an", worktree.branch)
    assert message == "codex-agent job 0badcafe (completed): write the notes|codex-agent"  # fallback author
    assert sh_git(project, "show", "--name-only", "--format=", worktree.branch).split() == [
        "README.md",
        "notes.txt",
    ]
    assert (project / "README.md").read_text() == "hello\n"  # the main checkout is untouched


def test_nothing_is_committed_for_a_clean_or_missing_worktree(project: Path, state_dir: Path) -> None:
    worktree = new_worktree(project, state_dir)
    assert worktrees.commit_leftovers(job_in(worktree)) is None
    assert sh_git(project, "rev-parse", worktree.branch) == worktree.base
    worktrees.discard(worktree)
    assert worktrees.commit_leftovers(job_in(worktree)) is None


def test_a_worktree_with_uncommitted_changes_is_kept(project: Path, state_dir: Path) -> None:
    worktree = new_worktree(project, state_dir)
    (worktree.path / "wip.txt").write_text("unsaved work\n")
    may_go, said = worktrees.release(worktree, "0badcafe")
    assert not may_go and "uncommitted changes" in said
    assert (worktree.path / "wip.txt").is_file()


def test_an_unmerged_branch_outlives_its_worktree_folder(project: Path, state_dir: Path) -> None:
    worktree = new_worktree(project, state_dir)
    (worktree.path / "feature.txt").write_text("feature\n")
    worktrees.commit_leftovers(job_in(worktree))
    assert not worktrees.is_merged(worktree)
    may_go, said = worktrees.release(worktree, "0badcafe")
    assert may_go and f"stays on branch {worktree.branch}" in said
    assert not worktree.path.exists()
    assert sh_git(project, "branch", "--list", worktree.branch) != ""  # the work is kept under its ref


def test_a_merged_branch_goes_with_its_worktree(project: Path, state_dir: Path) -> None:
    worktree = new_worktree(project, state_dir)
    (worktree.path / "feature.txt").write_text("feature\n")
    worktrees.commit_leftovers(job_in(worktree))
    sh_git(project, "merge", "-q", "--ff-only", worktree.branch)
    assert worktrees.is_merged(worktree)
    may_go, said = worktrees.release(worktree, "0badcafe")
    assert may_go and "its branch was merged" in said
    assert not worktree.path.exists() and sh_git(project, "branch", "--list", worktree.branch) == ""
    assert worktrees.is_merged(worktree)  # a branch that is gone counts as merged


def test_discard_removes_the_folder_and_the_branch(project: Path, state_dir: Path) -> None:
    worktree = new_worktree(project, state_dir)
    (worktree.path / "half.txt").write_text("half done\n")
    worktrees.discard(worktree)
    assert not worktree.path.exists()
    assert sh_git(project, "branch", "--list", worktree.branch) == ""
    worktrees.remove_folder_if_empty(state_dir)
    assert not (state_dir / "worktrees").exists()


def test_orphans_are_settled_folders_of_unknown_jobs(project: Path, state_dir: Path) -> None:
    known = new_worktree(project, state_dir, "00000001")
    orphan = new_worktree(project, state_dir, "00000002")
    young = new_worktree(project, state_dir, "00000003")
    old = time.time() - worktrees.ORPHAN_AFTER_S - 10
    for worktree in (known, orphan):
        os.utime(worktree.path, (old, old))
    found = worktrees.orphans(project, state_dir, {"00000001"})
    assert [(w.path, w.branch, w.base) for w in found] == [(orphan.path, orphan.branch, orphan.base)]
    assert young.path.is_dir()
    worktrees.remove_folder_if_empty(state_dir)
    assert (state_dir / "worktrees").is_dir()  # not empty: kept


def test_no_worktrees_folder_means_no_orphans(project: Path, state_dir: Path) -> None:
    assert worktrees.orphans(project, state_dir, set()) == []
