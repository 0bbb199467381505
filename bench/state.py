"""Realistic state for the benchmarks: projects full of recorded jobs, and live jobs on a private tmux server.

Recorded jobs are written straight into the project's database through codex_agent.store, with the fields a
real history has (long prompts, summaries, token counts, changed files, per-kind bookkeeping). Live jobs are
started through the codex-agent command line, so they are exactly what users run: a tmux session per job.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import Run, run_process
from codex_agent.models import Job, JobKind, JobStatus, Tokens, now_ms
from codex_agent.store import STATE_DIR_NAME, Store

REPO_ROOT = Path(__file__).resolve().parent.parent
FAKE_CODEX = REPO_ROOT / "tests" / "fakes" / "codex"
DAY_MS = 86_400_000

_VOCABULARY = (
    "refactor the parser so that nested blocks keep their source positions and add tests for the edge "
    "cases we saw in the bug report fix the flaky retry logic in the http client make the cache eviction "
    "honour the configured size limit update the docs migrate the settings loader to the new schema keep "
    "backwards compatibility with version one files and explain every change in the summary"
)
_WORDS = _VOCABULARY.split()
_FILES = (
    "src/parser.py", "src/lexer.py", "src/cache.py", "src/http/client.py", "src/http/retry.py",
    "tests/test_parser.py", "tests/test_cache.py", "docs/usage.md", "README.md", "pyproject.toml",
    "src/settings/loader.py", "src/settings/schema.py", "tests/test_settings.py", "CHANGELOG.md",
)  # fmt: skip


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


_ERRORS = {JobStatus.KILLED: "killed by request", JobStatus.LOST: "its tmux session vanished"}


def recorded_job(rng: random.Random, job_id: str, cwd: str, now: int) -> Job:
    """One finished job as a real history holds it: mostly codex agents, some plain commands."""
    kind = rng.choices([JobKind.CODEX, JobKind.CODEX_EXEC, JobKind.COMMAND], weights=[6, 3, 1])[0]
    status = rng.choices(
        [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.KILLED, JobStatus.LOST], weights=[80, 12, 6, 2]
    )[0]
    created = now - rng.randrange(30 * DAY_MS)
    started = created + rng.randrange(50, 400)
    completed = started + rng.randrange(5_000, 3_600_000)
    exit_code = {JobStatus.COMPLETED: 0, JobStatus.FAILED: rng.choice([1, 2, 125]), JobStatus.KILLED: None}
    job = Job(
        id=job_id,
        kind=kind,
        status=status,
        prompt=_text(rng, rng.randrange(30, 600)) if kind.is_codex else f"make test-{rng.randrange(99)}",
        cwd=cwd,
        created_at=created,
        started_at=started,
        completed_at=completed,
        exit_code=exit_code.get(status),
        error=_ERRORS.get(status),
        updated_at=completed,
    )
    job.attrs = {"creator_pid": rng.randrange(1000, 400_000), "stall_after_s": 300, "messages_sent": 1}
    job.attrs.update(base_commit=f"{rng.getrandbits(160):040x}", dirty_at_start=[])
    if kind.is_codex:
        job.model, job.reasoning, job.sandbox = "gpt-5.3-codex", "xhigh", "workspace-write"
        job.thread_id = f"{uuid.UUID(int=rng.getrandbits(128))}"
        job.summary = _text(rng, rng.randrange(20, 300))
        job.tokens = Tokens(
            input=rng.randrange(5_000, 900_000),
            output=rng.randrange(500, 40_000),
            cached_input=rng.randrange(0, 500_000),
            reasoning_output=rng.randrange(0, 20_000),
            context_window=272_000,
        )
        job.files_modified = sorted(rng.sample(_FILES, rng.randrange(0, 8)))
        job.attrs.update(
            codex_home="/home/dev/.codex", record_sizes=[rng.randrange(9999), rng.randrange(99999)]
        )
        if kind is JobKind.CODEX:
            turns = rng.randrange(1, 6)
            job.attrs.update(messages_sent=turns, turns_completed=turns, last_turn_at=completed - 1000)
    else:
        job.summary = f"{rng.randrange(10, 900)} passed in {rng.randrange(1, 99)}.{rng.randrange(99)}s"
        job.files_modified = []
    return job


def fill_store(state_dir: Path, cwd: Path, count: int, *, seed: int = 1) -> list[str]:
    """Insert `count` finished jobs in one transaction; returns their ids."""
    rng = random.Random(seed)
    store = Store.open(state_dir, create=True)
    now = now_ms()
    ids: set[str] = set()
    while len(ids) < count:
        ids.add(f"{rng.getrandbits(32):08x}")
    try:
        with store.transaction() as tx:
            for job_id in sorted(ids):
                store.insert_job(recorded_job(rng, job_id, str(cwd), now), tx)
    finally:
        store.close()
    return sorted(ids)


@dataclass
class Project:
    path: Path
    recorded: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.path / STATE_DIR_NAME


class BenchEnv:
    """A private world: temp HOME and CODEX_HOME, its own tmux server, projects in a temp folder."""

    def __init__(self, base: Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="codex-agent-bench-", dir=base))
        home = self.root / "home"
        (home / ".codex").mkdir(parents=True)
        self.socket = f"ca-bench-{secrets.token_hex(5)}"
        keep = ("PATH", "LANG", "LC_ALL", "TZ")
        self.env = {key: os.environ[key] for key in keep if key in os.environ}
        # The codex double's app-server mode needs websockets: the interpreter running the bench (a venv
        # with codex-agent installed) comes first on PATH, so the double's `python3` has it.
        self.env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), self.env.get("PATH", "")])
        self.env.update(
            HOME=str(home),
            CODEX_HOME=str(home / ".codex"),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_STATE_HOME=str(home / ".local" / "state"),
            CODEX_AGENT_TMUX_SOCKET=self.socket,
            CODEX_AGENT_CODEX_BIN=str(FAKE_CODEX),
            SHELL="/bin/sh",
            NO_COLOR="1",
            COLUMNS="120",
            PYTHONPATH=str(REPO_ROOT),
        )
        self.cli = cli_argv()
        self._projects = 0

    # --- projects -------------------------------------------------------------------------------------------

    def project(self, recorded: int, *, seed: int = 1) -> Project:
        self._projects += 1
        path = self.root / f"project-{self._projects}"
        path.mkdir()
        git = ["git", "-C", str(path), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        (path / "README.md").write_text("bench\n")
        subprocess.run([*git, "add", "README.md"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
        project = Project(path)
        project.recorded = fill_store(project.state_dir, path, recorded, seed=seed)
        return project

    # --- the command line -----------------------------------------------------------------------------------

    def run(self, project: Project, *args: str, stdin: bytes | None = None, peak: bool = False) -> Run:
        return run_process([*self.cli, *args], env=self.env, cwd=project.path, stdin=stdin, peak=peak)

    def ok(self, project: Project, *args: str, peak: bool = False) -> Run:
        result = self.run(project, *args, peak=peak)
        if result.code != 0:
            raise RuntimeError(
                f"codex-agent {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
            )
        return result

    def has_command(self, *words: str) -> bool:
        """Whether this codex-agent has a command (`--help` of an unknown command is a usage error)."""
        probe = subprocess.run(
            [*self.cli, *words, "--help"], env=self.env, cwd=self.root, capture_output=True, check=False
        )
        return probe.returncode == 0

    def start_live(self, project: Project, count: int, command: str = "sleep 600") -> list[str]:
        ids = []
        for _ in range(count):
            result = self.ok(project, "exec", "start", "--cmd", command, "--json")
            ids.append(json.loads(result.stdout)["exec_id"])
        project.live.extend(ids)
        return ids

    # --- tmux -----------------------------------------------------------------------------------------------

    def tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, check=False)
        return result.stdout.decode(errors="replace")

    def tmux_server_pid(self) -> int | None:
        text = self.tmux("display-message", "-p", "#{pid}").strip()
        return int(text) if text.isdigit() else None

    def pane_pids(self) -> dict[str, int]:
        """Session name -> the pid of its pane's first process."""
        panes = {}
        for line in self.tmux("list-panes", "-a", "-F", "#{session_name} #{pane_pid}").splitlines():
            name, _, pid = line.partition(" ")
            if pid.isdigit():
                panes[name] = int(pid)
        return panes

    def kill_live(self) -> None:
        self.tmux("kill-server")

    def _socket_path(self) -> Path:
        folder = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return Path(folder) / f"tmux-{os.getuid()}" / self.socket

    def close(self) -> None:
        self.kill_live()
        self._socket_path().unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)


def cli_argv() -> list[str]:
    """The `codex-agent` script installed next to this Python (what users run), else `-m codex_agent`."""
    script = Path(sys.executable).parent / "codex-agent"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "codex_agent"]


def python_argv(code: str) -> Sequence[str]:
    return [sys.executable, "-c", code]
