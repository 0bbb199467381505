"""Which folder is the project: what git says (or the folder itself), and one project per caller.

- The project root is the checkout git would name: a `.git` folder shaped like a repository, or a `.git` file
  whose `gitdir:` points at one. An empty `.git` folder (or a `.git` file that is not a pointer) is not one.
- A job started with `--dir` into a sibling checkout or a worktree belongs to the project it was started
  from: it shows in that project's `jobs`, and its Spawned and Complete entries land in that agents.log.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from codex_agent import agentslog
from codex_agent.store import find_project_root, git_root
from tests.helpers import CLI, wait_for


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_an_empty_git_folder_does_not_make_a_project_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    inner = tmp_path / "work"
    inner.mkdir()
    assert git_root(inner) is None
    assert find_project_root(inner) == inner.resolve()
    # git agrees: this is no repository
    probe = subprocess.run(["git", "-C", str(inner), "rev-parse", "--show-toplevel"], capture_output=True)
    assert probe.returncode != 0


def test_a_git_file_that_is_not_a_gitdir_pointer_is_not_a_root(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("hello\n")
    assert git_root(tmp_path) is None
    (tmp_path / ".git").write_text(f"gitdir: {tmp_path / 'nowhere'}\n")
    assert git_root(tmp_path) is None


def test_a_repository_and_its_linked_worktree_are_roots(project: Path, tmp_path: Path) -> None:
    nested = project / "src" / "deep"
    nested.mkdir(parents=True)
    assert git_root(nested) == project.resolve()
    worktree = tmp_path / "linked"
    git(project, "worktree", "add", "-q", "-b", "side", str(worktree))
    assert (worktree / ".git").is_file()
    assert git_root(worktree) == worktree.resolve()
    top = git(worktree, "rev-parse", "--show-toplevel").strip()
    assert Path(top).resolve() == worktree.resolve()


def test_a_job_under_a_stray_git_folder_keeps_its_state_in_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    folder = tmp_path / "scratch"
    folder.mkdir()
    job = CLI(cwd=folder).start("--exec", "note the date")
    assert (folder / ".codex-agent" / "state.db").exists()
    assert not (tmp_path / ".codex-agent").exists()
    assert Path(job["cwd"]).resolve() == folder.resolve()


def _entries(root: Path, kind: str) -> list[agentslog.Entry]:
    log = root / "agents.log"
    text = log.read_text() if log.exists() else ""
    return [entry for entry in agentslog.parse(text) if entry.kind == kind]


def _completed_in(cli: CLI, root: Path, job_id: str) -> None:
    cli.wait_status(job_id, ["completed", "failed"], timeout=30)
    cli.ok("jobs", "--json")  # a reader records the end if the job's own process has not yet
    wait_for(
        lambda: any(entry.job_id == job_id for entry in _entries(root, "complete")),
        timeout=20,
        what=f"the Complete entry of {job_id} in {root}/agents.log",
    )


@pytest.mark.parametrize("where", ["worktree", "sibling clone"])
def test_a_job_sent_elsewhere_with_dir_belongs_to_the_project_it_was_started_from(
    cli: CLI, project: Path, tmp_path: Path, where: str
) -> None:
    other = tmp_path / "phase1"
    if where == "worktree":
        git(project, "worktree", "add", "-q", "-b", "phase1", str(other))
    else:
        git(tmp_path, "clone", "-q", str(project), str(other))
    job = cli.start("--exec", "--dir", str(other), "implement phase 1")
    assert Path(job["cwd"]).resolve() == other.resolve()
    listed = [row["id"] for row in cli.ok("jobs", "--json").json()["jobs"]]
    assert job["id"] in listed
    assert not (other / ".codex-agent").exists()
    _completed_in(cli, project, job["id"])
    assert [entry.job_id for entry in _entries(project, "spawned")] == [job["id"]]
    assert not (other / "agents.log").exists()
    context = cli.ok("context", "--json").json()
    assert job["id"] in str(context)


def test_with_a_state_dir_set_spawned_and_complete_land_in_one_agents_log(
    project: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "remote-workdir"  # as on a host: the caller's folder, a shared state dir
    workdir.mkdir()
    elsewhere = tmp_path / "projects" / "p"
    elsewhere.parent.mkdir()
    git(tmp_path / "projects", "clone", "-q", str(project), str(elsewhere))
    env = {"CODEX_AGENT_STATE_DIR": str(workdir / ".codex-agent")}
    caller = CLI(cwd=workdir)
    job = caller.ok("start", "--exec", "--json", "--dir", str(elsewhere), "sum it up", env=env).json()
    reader = CLI(cwd=elsewhere)  # another folder reading the same state: records the end
    wait_for(
        lambda: reader.ok("status", job["id"], "--json", env=env).json()["status"] in ("completed", "failed"),
        timeout=30,
        what="the job's end",
    )
    wait_for(
        lambda: any(entry.job_id == job["id"] for entry in _entries(workdir, "complete")),
        timeout=20,
        what="the Complete entry beside the Spawned one",
    )
    assert [entry.job_id for entry in _entries(workdir, "spawned")] == [job["id"]]
    assert not (elsewhere / "agents.log").exists()
