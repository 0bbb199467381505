"""The git questions codex-agent asks (codex_agent/git.py), in-process against a real repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from codex_agent import git
from codex_agent.git import FileStat


def sh_git(root: Path, *args: str) -> str:
    command = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def commit_all(root: Path, message: str) -> str:
    sh_git(root, "add", "-A")
    sh_git(root, "commit", "-q", "-m", message)
    return sh_git(root, "rev-parse", "HEAD").strip()


def test_head_commit_and_is_repo(project: Path, tmp_path: Path) -> None:
    assert git.head_commit(project) == sh_git(project, "rev-parse", "HEAD").strip()
    assert git.is_repo(project) and git.is_repo(project / ".git")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not git.is_repo(plain) and git.head_commit(plain) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    sh_git(empty, "init", "-q")
    assert git.is_repo(empty) and git.head_commit(empty) is None  # a repository without a commit yet


def test_dirty_paths_are_changes_and_new_files_but_not_ignored_ones(project: Path) -> None:
    (project / ".gitignore").write_text("*.log\n")
    commit_all(project, "ignore logs")
    (project / "README.md").write_text("changed\n")
    (project / "sub").mkdir()
    (project / "sub" / "new.py").write_text("x = 1\n")
    (project / "build.log").write_text("noise\n")
    assert git.dirty_paths(project) == ["README.md", "sub/new.py"]
    assert git.dirty_paths(project / "sub") == ["README.md", "sub/new.py"]  # relative to the root


def test_changed_since_counts_commits_edits_and_new_files(project: Path) -> None:
    base = git.head_commit(project)
    (project / "committed.txt").write_text("1\n")
    commit_all(project, "one")
    (project / "README.md").write_text("edited\n")
    (project / "new.txt").write_text("new\n")
    (project / "agents.log").write_text("codex-agent's own log\n")
    assert git.changed_since(project, base, []) == ["README.md", "committed.txt", "new.txt"]


def test_changed_since_leaves_out_what_was_dirty_at_the_start_unless_committed(project: Path) -> None:
    base = git.head_commit(project)
    (project / "README.md").write_text("already edited\n")
    (project / "scratch.txt").write_text("already there\n")
    dirty = git.dirty_paths(project)
    (project / "scratch.txt").write_text("edited again\n")
    assert git.changed_since(project, base, dirty) == []
    sh_git(project, "add", "README.md")
    sh_git(project, "commit", "-q", "-m", "the job committed it")
    assert git.changed_since(project, base, dirty) == ["README.md"]


def test_changed_since_without_a_base_or_a_repository(project: Path, tmp_path: Path) -> None:
    (project / "new.txt").write_text("new\n")
    assert git.changed_since(project, None, []) == ["new.txt"]
    assert git.changed_since(tmp_path / "home", None, []) is None


def test_listed_files_are_tracked_and_addable_relative_to_the_folder(project: Path, tmp_path: Path) -> None:
    (project / ".gitignore").write_text("secret/\n")
    (project / "src").mkdir()
    (project / "src" / "a.py").write_text("")
    commit_all(project, "src")
    (project / "src" / "b.py").write_text("")
    (project / "secret").mkdir()
    (project / "secret" / "key").write_text("")
    assert git.listed_files(project) == [".gitignore", "README.md", "src/a.py", "src/b.py"]
    assert git.listed_files(project / "src") == ["a.py", "b.py"]
    assert git.listed_files(tmp_path / "home") is None


def test_top_level_untracked_files_and_commit_subjects(project: Path) -> None:
    (project / "deep").mkdir()
    (project / "deep" / "u.txt").write_text("")
    assert git.top_level(project / "deep") == project.resolve()
    assert git.untracked_files(project / "deep") == ["deep/u.txt"]  # full names, from the root
    commit = commit_all(project, "a subject line\n\nand a body")
    assert git.commit_subject(project, commit) == "a subject line"
    assert git.commit_subject(project, "0" * 40) is None


def test_diff_stats_count_lines_of_every_kind_of_change(project: Path) -> None:
    (project / "gone.txt").write_text("a\nb\n")
    (project / "kept.txt").write_text("1\n2\n3\n")
    base = commit_all(project, "base")
    (project / "gone.txt").unlink()
    (project / "kept.txt").write_text("1\nzwei\n3\nvier\n")
    (project / "added.txt").write_text("x\n")
    commit_all(project, "since")
    (project / "untracked.txt").write_text("one\ntwo\nthree without newline")
    (project / "blob.bin").write_bytes(b"\x00\x01\x02")
    (project / "agents.log").write_text("not counted\n")
    assert git.diff_stats(project, base) == [
        FileStat("added.txt", 1, 0, "added"),
        FileStat("blob.bin", None, 0, "untracked"),
        FileStat("gone.txt", 0, 2, "deleted"),
        FileStat("kept.txt", 2, 1, "modified"),
        FileStat("untracked.txt", 3, 0, "untracked"),
    ]


def test_diff_stats_between_two_commits_ignore_the_working_tree(project: Path) -> None:
    base = git.head_commit(project)
    assert base is not None
    (project / "README.md").write_text("hello\nworld\n")
    tip = commit_all(project, "tip")
    (project / "README.md").write_text("uncommitted\n")
    assert git.diff_stats_between(project, base, tip) == [FileStat("README.md", 1, 0, "modified")]
    assert git.diff_stats_between(project, base, "no-such-branch") is None


def test_run_gives_the_exit_status_and_the_output(project: Path) -> None:
    code, out = git.run(project, "rev-parse", "--abbrev-ref", "HEAD")
    assert (code, out) == (0, "main")
    code, out = git.run(project, "rev-parse", "--verify", "no-such-ref")
    assert code != 0 and "fatal" in out  # stderr is part of the answer
    code, out = git.run(project, "var", "GIT_AUTHOR_IDENT", env={"GIT_AUTHOR_NAME": "Ada", "EMAIL": "a@b.c"})
    assert code == 0 and out.startswith("Ada <a@b.c>")
