"""The host's half of moving code: receiving a project bundle, and exporting a job's changes as a bundle.

Both run on the host, inside a remote call (whose working directory is the machine's work directory).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from codex_agent import git, job_reads, jobs
from codex_agent.errors import ConflictError, UsageError

GIT_TIMEOUT_S = 300
EXPORT_REF_PREFIX = "refs/codex-agent/export/"
SAVED_REF_PREFIX = "refs/codex-agent/saved/"
_SOURCE_PREFIX = "refs/codex-agent/source/"
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_IDENTITY = {
    "GIT_AUTHOR_NAME": "codex-agent",
    "GIT_AUTHOR_EMAIL": "codex-agent@localhost",
    "GIT_COMMITTER_NAME": "codex-agent",
    "GIT_COMMITTER_EMAIL": "codex-agent@localhost",
}


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None, what: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except FileNotFoundError as exc:
        raise UsageError("git is not installed on this host", "install git") from exc
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"cannot {what}: {lines[-1] if lines else 'git failed'}")
    return result.stdout.decode(errors="surrogateescape")


def receive_project(project: jobs.Project, workdir: Path, name: str, commit: str, bundle: bytes) -> Path:
    """Fetch `bundle` into WORKDIR/NAME (created on first use) and check out `commit` there (detached)."""
    if not _PROJECT_NAME.match(name):
        raise UsageError(f"not a project name: {name!r}")
    if not _COMMIT.match(commit):
        raise UsageError(f"not a full commit id: {commit!r}")
    if not bundle:
        raise UsageError("no bundle arrived on standard input")
    dest = workdir / name
    if not (dest / ".git").exists():
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        _git(dest, "init", "-q", what="create the project's repository")
    if _git(dest, "status", "--porcelain", what="check the project").strip():
        busy = [
            job.id
            for job in job_reads.list_jobs(project, limit=None)
            if job.status.is_live and _inside(job.cwd, dest)
        ]
        if busy:
            raise ConflictError(
                f"{dest} is in use by live job(s) {', '.join(busy)}",
                "wait for them (or kill them) before sending the project again",
            )
        # Work left by an earlier job is kept under a ref, never thrown away, before the copy is reset.
        head = _git(dest, "rev-parse", "--verify", "-q", "HEAD", what="read HEAD").strip()
        saved = _snapshot(dest, head, "codex-agent: left in the host's copy") if head else None
        if saved:
            _git(
                dest,
                "update-ref",
                f"{SAVED_REF_PREFIX}{int(time.time() * 1000)}",
                saved,
                what="keep the work",
            )
    with tempfile.NamedTemporaryFile(dir=dest / ".git", prefix="incoming-", suffix=".bundle") as handle:
        handle.write(bundle)
        handle.flush()
        _git(
            dest,
            "fetch", "-q", "--force", "--no-tags", handle.name,
            f"+refs/*:{_SOURCE_PREFIX}*", f"+HEAD:{_SOURCE_PREFIX}HEAD",
            what="fetch the project",
        )  # fmt: skip
    _git(dest, "checkout", "-q", "--force", "--detach", commit, what=f"check out {commit[:12]}")
    _git(dest, "clean", "-q", "-f", "-d", what="clean the copy")  # untracked files; ignored ones stay
    return dest


def _inside(path: str, directory: Path) -> bool:
    return Path(path) == directory or directory in Path(path).parents


def _snapshot(top: Path, head: str, message: str) -> str | None:
    """A commit of the working tree (tracked and untracked files) on top of HEAD; None if it is clean.

    Made with a temporary index: the checkout, its index and its branches stay as they are.
    """
    with tempfile.TemporaryDirectory(prefix="codex-agent-snapshot-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_IDENTITY}
        _git(top, "read-tree", head, env=index, what="prepare a snapshot")
        # codex-agent's own coordination log is not part of a job's work.
        _git(
            top, "add", "-A", "--", ".", f":(exclude){git.AGENTS_LOG}", env=index, what="snapshot the changes"
        )
        tree = _git(top, "write-tree", env=index, what="snapshot the changes").strip()
    if tree == _git(top, "rev-parse", f"{head}^{{tree}}", what="read HEAD").strip():
        return None
    return _git(top, "commit-tree", tree, "-p", head, "-m", message, env=_IDENTITY, what="snapshot").strip()


def export_job(project: jobs.Project, job_id: str) -> bytes:
    """A git bundle of the job's work: its commits, plus a commit of its uncommitted changes if any.

    The bundle's one ref is EXPORT_REF_PREFIX + the job id. Nothing in the job's checkout changes (the
    snapshot is made with a temporary index).
    """
    job = job_reads.get_job(project, job_id)
    cwd = Path(job.cwd)
    if not git.is_repo(cwd):
        raise ConflictError(f"job {job.id} did not run in a git repository ({cwd})", "nothing to pull")
    top = Path(_git(cwd, "rev-parse", "--show-toplevel", what="find the repository").strip())
    head = _git(top, "rev-parse", "--verify", "HEAD", what="read HEAD").strip()
    commit = _snapshot(top, head, f"codex-agent job {job.id}: uncommitted changes") or head
    with tempfile.TemporaryDirectory(prefix="codex-agent-export-") as tmp:
        ref = EXPORT_REF_PREFIX + job.id
        _git(top, "update-ref", ref, commit, what="name the snapshot")
        base = job.attrs.get("base_commit")
        if base == commit:
            raise ConflictError(f"job {job.id} changed nothing", "there is nothing to pull")
        bundle = Path(tmp) / "job.bundle"
        spec = [ref] + ([f"^{base}"] if isinstance(base, str) and _COMMIT.match(base) else [])
        _git(top, "bundle", "create", "-q", str(bundle), *spec, what="bundle the job's changes")
        return bundle.read_bytes()
