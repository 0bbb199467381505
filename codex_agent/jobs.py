"""A project (its state and the tmux server its jobs run in), and starting jobs in it.

Reading jobs is `job_reads`, stopping and removing them `job_cleanup`. Returns records and prints nothing."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codex_agent import agentslog, claims, git, job_cleanup, job_reads, output_log, procs, safefs
from codex_agent.agents import codex
from codex_agent.agents.launch import ENV_FIFO, LAUNCH_SPEC, PROMPT_FILE
from codex_agent.errors import AgentError, CodexAgentError, MissingDependencyError, StateError, UsageError
from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.output_log import OUTPUT_LOG
from codex_agent.safefs import write_private_file
from codex_agent.store import Store, find_project_root, state_dir_for
from codex_agent.tmux import INSTALL_HINT as TMUX_INSTALL_HINT
from codex_agent.tmux import Tmux

if TYPE_CHECKING:
    from codex_agent.config import Settings

ENV_HANDOVER_TIMEOUT_S = 15
TAIL_FIRST_READ_BYTES = 16384  # a retry's prompt shows the failed attempt's last lines: usually all in here


@dataclass(slots=True)
class Project:
    """One project's state plus the tmux server its jobs run in."""

    root: Path
    store: Store
    tmux: Tmux

    @classmethod
    def open(cls, directory: Path | None = None, *, create: bool = False) -> Project:
        directory = (directory or Path.cwd()).resolve()
        if not directory.is_dir():
            raise UsageError(f"not a directory: {directory}", "pass an existing directory with --dir")
        state_dir = state_dir_for(directory)
        _check_utf8_path(directory, "directory")
        _check_utf8_path(state_dir, "state directory")
        return cls(find_project_root(directory), Store.open(state_dir, create=create), Tmux.from_env())

    def settings(self, profile: str | None = None) -> Settings:
        from codex_agent.config import resolve_settings  # TOML parsing: only `start` needs it

        return resolve_settings(self.root, profile=profile)

    def job_dir(self, job: Job) -> Path:
        return self.store.job_dir(job.id)


# --- start ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class StartRequest:
    prompt: str
    kind: JobKind = JobKind.CODEX
    cwd: Path | None = None
    model: str | None = None
    reasoning: str | None = None
    sandbox: str | None = None
    parent_session: str | None = None
    command: str | None = None  # for JobKind.COMMAND: a command line, run by the user's shell as typed
    profile: str | None = None  # a named settings preset (config.py); explicit values above still win
    attrs: dict[str, Any] = field(default_factory=dict)
    # Coordination (see claims.py and queue.py): file claims, checked in the same transaction as the insert;
    # an id chosen beforehand (for a worktree); `queued`: record the job as pending and launch it later.
    claims: list[str] = field(default_factory=list)
    force: bool = False
    job_id: str | None = None
    queued: bool = False


@dataclass(slots=True)
class LaunchPlan:
    """Everything `start` will do, computed without side effects (this is what --dry-run shows)."""

    job: Job
    argv: list[str]
    prompt_via: str  # "argv", "stdin", "paste" (TUI prompts too large for argv) or "none"
    settings: Settings

    def to_json(self) -> dict[str, Any]:
        # A plan shows the whole prompt it would send; records and lists keep a preview of it.
        return {
            "job": {**self.job.to_json(), "prompt": self.job.prompt},
            "argv": self.argv,
            "prompt_via": self.prompt_via,
            "prompt_bytes": len(self.job.prompt.encode("utf-8", errors="surrogateescape")),
        }


def check_prompt(text: str, what: str = "prompt") -> None:
    if "\x00" in text:
        raise UsageError(f"the {what} contains a NUL character", "remove it: no agent can receive it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"the {what} is not valid UTF-8 (at character {exc.start})",
            "codex reads UTF-8 text only: convert it first, e.g. with iconv",
        ) from None


def _check_utf8_path(path: Path, what: str) -> None:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"the {what} path is not valid UTF-8: {str(path).encode('utf-8', 'surrogateescape')!r}",
            "use a directory whose name is UTF-8 text",
        ) from None


PLACEHOLDER_ID = "00000000"  # the job id shown by --dry-run, before a real one exists


def plan_start(project: Project, request: StartRequest, job_id: str = PLACEHOLDER_ID) -> LaunchPlan:
    cwd = (request.cwd or Path.cwd()).resolve()
    if not cwd.is_dir():
        raise UsageError(f"not a directory: {cwd}", "pass an existing directory with --dir")
    _check_utf8_path(cwd, "directory")
    if not project.tmux.available():
        raise MissingDependencyError("tmux is not installed", TMUX_INSTALL_HINT)
    settings = project.settings(request.profile)
    check_prompt(request.prompt)
    job = Job(
        id=job_id,
        kind=request.kind,
        status=JobStatus.PENDING,
        prompt=request.prompt if request.kind.is_codex else (request.command or ""),
        cwd=str(cwd),
        created_at=now_ms(),
        parent_session=request.parent_session,
        attrs=dict(request.attrs),
    )
    if request.kind is JobKind.COMMAND:
        if not (request.command or "").strip():
            raise UsageError("no command given", "pass the command with --cmd")
        check_prompt(request.command or "", "command")
        shell = os.environ.get("SHELL") or "/bin/sh"
        return LaunchPlan(job, [shell, "-c", request.command or ""], "none", settings)

    job.model = request.model or settings.model
    job.reasoning = request.reasoning or settings.reasoning
    job.sandbox = request.sandbox or settings.sandbox
    binary = codex.codex_binary()
    codex.require_version(binary)
    job_dir = project.store.job_dir(job.id)
    prompt_via = "protocol" if request.prompt else "none"
    return LaunchPlan(job, codex.app_server_argv(binary, job_dir), prompt_via, settings)


def start(project: Project, request: StartRequest, *, env: Mapping[str, str] | None = None) -> Job:
    """Record a job and launch its keeper. A queued job's keeper waits in its session for its turn.

    `env` is the environment the job runs with: the caller's own, unless a keeper starts a retry for its
    submitter."""
    plan = plan_start(project, request)
    store = project.store
    if not store.exists:
        project.store = store = Store.open(store.state_dir, create=True)
    job = plan.job
    cwd = Path(job.cwd)
    job.id = request.job_id or store.new_job_id()
    job.created_at = now_ms()
    patterns = [claims.normalize(pattern, project.root) for pattern in request.claims]
    if patterns:
        job_reads.reconcile(project, store.unfinished_jobs())  # a job that has ended holds no claims
    files = claims.project_files(project.root) if patterns and not request.force else []
    job_dir = store.job_dir(job.id)
    staging = store.staging_dir(job.id)
    job.attrs.update(
        prompt_bytes=len(job.prompt.encode("utf-8", errors="surrogateescape")),
        creator_pid=os.getpid(),
        creator_started=procs.start_time(os.getpid()),  # with the pid: tells a reused pid apart
        stall_after_s=job.attrs.get("stall_after_s") or plan.settings.stall_after_s,
        prompt_via=plan.prompt_via,
        project_root=str(project.root),  # its agents.log, whichever folder later reads the job
    )
    if job.kind.is_codex:
        job.attrs["codex_home"] = str(codex.codex_home(dict(env) if env is not None else None))
    if plan.settings.notify_on_complete and "notify_on_complete" not in job.attrs:
        job.attrs["notify_on_complete"] = plan.settings.notify_on_complete
    base = git.head_commit(cwd)
    if base:
        job.attrs.update(base_commit=base, dirty_at_start=git.dirty_paths(cwd))
    try:
        # Everything the keeper reads is in place before the record exists.
        _write_job_files(staging, job, _keeper_spec(job, plan))
        with store.transaction() as tx:  # the claim check, the insert and the folder: one transaction
            claims.acquire(store, tx, job, patterns, files, force=request.force)
            store.insert_job(job, tx)
            store.add_event(job.id, "created", {"kind": job.kind.value}, tx=tx)
            os.rename(staging, job_dir)
    except BaseException:
        job_cleanup.remove_tree(staging, trash_first=False)
        job_cleanup.remove_tree(job_dir)
        raise
    try:
        agentslog.record_spawn(store, project.root, job, claims=patterns)
    except CodexAgentError as exc:
        # The log is for people: a failure to write it never stops a job, but it is said (start prints it).
        job.attrs["log_warning"] = f"no agents.log entry: {exc.one_line()}"
    except Exception:  # as above: a bug here must not stop the job either
        job.attrs["log_warning"] = "no agents.log entry (internal error)"
    launch(project, job, env=env)
    return job


def _keeper_spec(job: Job, plan: LaunchPlan) -> dict[str, Any]:
    """What the job's keeper needs to run it (launch.json in the job's folder)."""
    spec: dict[str, Any] = {"env": {"CODEX_AGENT_JOB_ID": job.id}, "cwd": job.cwd}
    if job.kind is JobKind.COMMAND:
        return {
            **spec,
            "keeper": "command",
            "argv": plan.argv,
            "stall_after_s": job.attrs.get("stall_after_s"),
        }
    return {
        **spec,
        "keeper": "codex",
        "codex": plan.argv[0],
        "tui": job.kind is JobKind.CODEX,
        "prompt_via": plan.prompt_via,
        "model": job.model,
        "reasoning": job.reasoning,
        "sandbox": job.sandbox,
        "approval": plan.settings.approval,
        "stall_after_s": job.attrs.get("stall_after_s"),
    }


def launch(project: Project, job: Job, *, env: Mapping[str, str] | None = None) -> None:
    """Start a recorded job's keeper in its tmux session and hand it the environment; the keeper records
    the job running (or, when queued, waits for its turn)."""
    store = project.store
    job_dir = store.job_dir(job.id)
    try:
        project.tmux.new_session(
            job.tmux_session,
            cwd=Path(job.cwd),
            command=[sys.executable, "-m", "codex_agent.keeper", str(job_dir)],
            log_path=job_dir / OUTPUT_LOG,
            state_dir=store.state_dir,
        )
        _hand_over_environment(job_dir / ENV_FIFO, os.environ if env is None else env)
    except BaseException as exc:
        _record_failed_start(project, job, exc)
        raise
    if not job.attrs.get("queued"):
        with contextlib.suppress(StateError):  # e.g. the disk filled just now: the keeper records it
            _mark_running(project, job)


def _mark_running(project: Project, job: Job) -> None:
    """The keeper has its environment: the job is running from now on (unless the keeper, which writes
    everything after this, got further already)."""

    def to_running(current: Job) -> bool:
        if current.status is not JobStatus.PENDING:
            return False
        current.status = JobStatus.RUNNING
        current.started_at = current.started_at or now_ms()
        current.attrs.setdefault("status_basis", "start")
        return True

    current = project.store.update_job(job.id, to_running)
    # What the caller shows comes from the record; what only this process knows (a warning) stays.
    job.status, job.started_at, job.updated_at = current.status, current.started_at, current.updated_at


def _write_job_files(job_dir: Path, job: Job, spec: dict[str, Any]) -> None:
    """The prompt, the keeper's spec, the (empty, private) output log and the FIFO for the environment."""
    try:
        write_private_file(job_dir / PROMPT_FILE, job.prompt.encode("utf-8", errors="surrogateescape"))
        write_private_file(job_dir / LAUNCH_SPEC, json.dumps(spec).encode())
        write_private_file(job_dir / OUTPUT_LOG, b"")  # tmux appends to it; created here to be private
        os.mkfifo(job_dir / ENV_FIFO, 0o600)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise safefs.disk_full(Path(exc.filename or job_dir), "write the job's files") from exc
        raise StateError(
            f"could not write the job's files: {exc.strerror or exc}", "check the state directory"
        ) from exc


def _record_failed_start(project: Project, job: Job, exc: BaseException) -> None:
    project.tmux.kill_session(job.tmux_session)
    job.status = JobStatus.FAILED
    job.error = f"failed to start: {exc}" if not isinstance(exc, KeyboardInterrupt) else "start interrupted"
    job.completed_at = now_ms()
    with contextlib.suppress(Exception):
        project.store.save_job(job)
        project.store.add_event(job.id, "ended", {"status": "failed", "exit_code": None, "error": job.error})


def _hand_over_environment(fifo: Path, env: Mapping[str, str]) -> None:
    """Give the keeper its environment through its FIFO: secrets never touch the disk.

    Opening a FIFO for writing blocks until the keeper opens it for reading, which also tells us the
    keeper is alive. An alarm bounds the wait.
    """

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError

    payload = json.dumps(dict(env)).encode("utf-8", errors="surrogateescape")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(ENV_HANDOVER_TIMEOUT_S)
    try:
        with open(fifo, "wb") as handle:
            handle.write(payload)
    except TimeoutError:
        raise AgentError(
            f"the job's keeper did not start within {ENV_HANDOVER_TIMEOUT_S}s",
            "check `codex-agent capture` of the job and that this Python can run `-m codex_agent`",
        ) from None
    except BrokenPipeError:
        raise AgentError("the job's keeper exited before it was ready", "see `codex-agent output`") from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- the job's folder ----------------------------------------------------------------------------------


def read_prompt(job_dir: Path, job: Job) -> str:
    """The task as given, from the job's folder (the record may carry only its beginning)."""
    data = safefs.read_quietly(job_dir / PROMPT_FILE)  # never through a link an agent put there
    return job.prompt if data is None else data.decode("utf-8", errors="surrogateescape")


def tail_lines(job_dir: Path, count: int, *, limit: int = 300) -> list[str]:
    """The last non-empty lines of the job's output, escape sequences removed."""
    lines = output_log.last_lines(job_dir, count, first_read=TAIL_FIRST_READ_BYTES)  # a link reads as none
    return [line[:limit] for line in lines]


@contextlib.contextmanager
def opened(directory: Path | None = None, *, create: bool = False) -> Iterator[Project]:
    project = Project.open(directory, create=create)
    try:
        yield project
    finally:
        project.store.close()
