"""The job lifecycle: start, reconcile with tmux, read, kill, delete, clean.

Returns records and prints nothing."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codex_agent import agentslog, claims, git, procs, safefs, worktrees
from codex_agent.agents import codex
from codex_agent.agents.launch import ENV_FIFO, LAUNCH_SPEC
from codex_agent.errors import (
    AgentError,
    CodexAgentError,
    ConflictError,
    DiskFullError,
    MissingDependencyError,
    StateError,
    UsageError,
)
from codex_agent.models import Job, JobKind, JobStatus, now_ms
from codex_agent.store import STAGING_DIR_NAME, Store, find_project_root, state_dir_for, write_private_file
from codex_agent.tmux import INSTALL_HINT as TMUX_INSTALL_HINT
from codex_agent.tmux import PaneState, Tmux

if TYPE_CHECKING:
    from codex_agent.config import Settings

OUTPUT_LOG = "output.log"
PROMPT_FILE = "prompt.txt"
ENV_HANDOVER_TIMEOUT_S = 15
ORPHAN_FOLDER_AGE_S = 120  # a staged job folder this old belongs to a start that was interrupted
ANSI_SEQUENCE = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\r")


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
        reconcile(project, store.unfinished_jobs())  # a job that has ended holds no claims
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
            claims.acquire(tx, job, patterns, files, force=request.force)
            store.insert_job(job, tx)
            store.add_event(job.id, "created", {"kind": job.kind.value}, tx=tx)
            os.rename(staging, job_dir)
    except BaseException:
        _remove_tree(staging, trash_first=False)
        _remove_tree(job_dir)
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
    for _ in range(20):
        current = project.store.get_job(job.id)
        if current.status is JobStatus.PENDING:
            before = current.updated_at
            current.status = JobStatus.RUNNING
            current.started_at = current.started_at or now_ms()
            current.attrs.setdefault("status_basis", "start")
            if not project.store.save_job(current, expected_updated_at=before):
                continue
        # What the caller shows comes from the record; what only this process knows (a warning) stays.
        job.status, job.started_at, job.updated_at = current.status, current.started_at, current.updated_at
        return


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


# --- reconcile -----------------------------------------------------------------------------------------


def reconcile(project: Project, jobs: Sequence[Job]) -> None:
    """Notice jobs whose keeper is gone without recording an end: the one write a read may make.

    A live job's state is its keeper's to write; a read only looks at tmux (one call for all jobs), and
    records `lost` (or `failed`, for a start that died) where nobody is left to record the end."""
    unfinished = [job for job in jobs if not job.status.is_terminal]
    if not unfinished:
        return
    panes = project.tmux.panes()
    for job in unfinished:
        pane = panes.get(job.tmux_session)
        if _handover_missed(project, job, pane):
            _stop_processes(project, job)  # its keeper waits for an environment that will never come
            pane = None
        ending = _orphaned(job, pane)
        if ending is None:
            continue
        before = job.updated_at
        status, error = ending
        job.status = status
        job.error = error
        job.completed_at = now_ms()
        job.attrs["status_basis"] = "tmux"
        job.attrs.pop("attention", None)
        job.attrs.pop("question", None)
        try:
            saved = project.store.save_job(job, expected_updated_at=before)
        except DiskFullError:
            continue  # a read still answers on a full disk (the way out needs it); the next one records it
        if saved:
            project.store.add_event(
                job.id, "ended", {"status": status.value, "exit_code": None, "error": error}
            )
        else:
            _copy_into(job, project.store.get_job(job.id))  # someone else got there first: theirs stands


HANDOVER_SETTLE_S = 2.0  # how long a keeper that has its environment may take to record the job running


def _handover_missed(project: Project, job: Job, pane: PaneState | None) -> bool:
    """A start that died between making the session and handing over the environment: the keeper has done
    nothing (it has nothing to run with), so ending it here takes nothing from anyone."""
    if job.status is not JobStatus.PENDING or pane is None or pane.dead or job.attrs.get("queued"):
        return False
    if _alive(job.attrs.get("creator_pid"), job.attrs.get("creator_started")):
        return False
    if (project.job_dir(job) / ENV_FIFO).exists():
        return True
    # The keeper has its environment and records the job running at once: wait for that, do not write it.
    from codex_agent import waiting

    waiting.wait_until(
        project,
        [job.id],
        lambda current: current[0].status is not JobStatus.PENDING,
        timeout_s=HANDOVER_SETTLE_S,
    )
    _copy_into(job, project.store.get_job(job.id))
    return False


def _orphaned(job: Job, pane: PaneState | None) -> tuple[JobStatus, str] | None:
    """(status, why) for a job nobody is left to end; None while its keeper (or its starter) lives."""
    if pane is not None and not pane.dead:
        return None
    if pane is not None:
        code = pane.dead_status
        how = f"exit status {code}" if code is not None and code < 128 else _signal_name(code)
        return JobStatus.LOST, f"its keeper ended without recording an end ({how})"
    if job.status is JobStatus.PENDING:
        if _alive(job.attrs.get("creator_pid"), job.attrs.get("creator_started")):
            return None  # recorded, and its session is being made (queued or not)
        if not job.attrs.get("queued"):
            return JobStatus.FAILED, "start was interrupted before the agent ran"
    return JobStatus.LOST, "its tmux session vanished without an end record"


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown exit status"
    with contextlib.suppress(ValueError):
        return f"killed by {signal.Signals(code - 128).name}"
    return f"exit status {code}"


def _copy_into(target: Job, source: Job) -> None:
    for item in dataclasses.fields(Job):
        setattr(target, item.name, getattr(source, item.name))


def _alive(pid: object, started: object = None) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # The pid may have been reused by a later process (pids wrap around quickly on busy machines).
    return not isinstance(started, int) or procs.start_time(pid) in (started, None)


def read_prompt(job_dir: Path, job: Job) -> str:
    """The task as given, from the job's folder (the record may carry only its beginning)."""
    data = safefs.read_quietly(job_dir / PROMPT_FILE)  # never through a link an agent put there
    return job.prompt if data is None else data.decode("utf-8", errors="surrogateescape")


def tail_lines(job_dir: Path, count: int, *, limit: int = 300) -> list[str]:
    """The last non-empty lines of the job's output, escape sequences removed."""
    data = safefs.read_quietly(job_dir / OUTPUT_LOG, limit=16384, tail=True)  # a link reads as no output
    tail = strip_ansi(data or b"").decode(errors="replace")
    lines = [line.strip()[:limit] for line in tail.splitlines() if line.strip()]
    return lines[-count:]


# --- reading -----------------------------------------------------------------------------------------


def list_jobs(
    project: Project, *, limit: int | None, statuses: Sequence[JobStatus] | None = None
) -> list[Job]:
    reconcile(project, project.store.unfinished_jobs())
    return project.store.list_jobs(limit=limit, statuses=statuses)


def get_job(project: Project, job_id: str) -> Job:
    job = project.store.find_job(job_id)
    reconcile(project, [job])
    return job


def capture(project: Project, job_id: str, *, lines: int, ansi: bool) -> str:
    """The last `lines` lines of the pane (its scrollback included); from the output log once it is gone."""
    if lines <= 0:
        raise UsageError("the number of lines must be positive")
    job = get_job(project, job_id)
    if job.tmux_session in project.tmux.panes():
        return project.tmux.capture(job.tmux_session, lines=lines, ansi=ansi)
    data = _tail_lines(project, job, lines)
    if not ansi:
        data = strip_ansi(data)
    text = data.decode("utf-8", errors="replace")
    rows = text.rstrip("\n").split("\n")
    return "\n".join(rows[-lines:]) + "\n" if text else ""


CAPTURE_TAIL_BYTES = 256 * 1024  # per line asked for, at most: a huge log is never read whole


def _tail_lines(project: Project, job: Job, lines: int) -> bytes:
    """Enough of the end of the output log for its last `lines` lines (bounded: a 1 GB log stays on disk)."""
    path = project.job_dir(job) / OUTPUT_LOG
    size = 8192
    limit = CAPTURE_TAIL_BYTES * max(1, min(lines, 64))
    while True:
        data = safefs.read_tail(path, size, under=project.store.state_dir) or b""
        if data.count(b"\n") > lines or len(data) < size or size >= limit:
            return data
        size *= 4


def read_output(project: Project, job: Job, *, ansi: bool) -> str:
    """The job's whole output as written to its pane, kept in the output log (in memory: small logs only)."""
    data = b"".join(output_chunks(project, job))
    if not ansi:
        data = strip_ansi(data)
    return data.decode("utf-8", errors="replace")


def output_chunks(project: Project, job: Job) -> Iterator[bytes]:
    """The job's output log in pieces: `output` of a 1 GB log costs a few MB. A link, FIFO or folder put in
    its place is refused (safefs), never followed."""
    return safefs.iter_chunks(project.job_dir(job) / OUTPUT_LOG, under=project.store.state_dir)


def output(project: Project, job_id: str) -> Iterator[bytes]:
    return output_chunks(project, get_job(project, job_id))


def strip_ansi(data: bytes) -> bytes:
    return ANSI_SEQUENCE.sub(b"", data)


# --- acting ------------------------------------------------------------------------------------------


KILL_GRACE_S = 15.0  # how long the keeper has to stop the turn and record the end


def kill(project: Project, job_id: str) -> Job:
    """Ask the job's keeper to stop the turn and end the job; where no keeper answers, end it here."""
    from codex_agent import waiting
    from codex_agent.keeper import control

    job = get_job(project, job_id)
    if job.status.is_terminal:
        # An interrupted earlier kill may have left the agent behind, and an ended job its dead pane.
        if job.tmux_session in project.tmux.panes():
            _stop_processes(project, job)
        return job
    ended = None  # a queued job's keeper waits for its turn and takes no requests: it is ended here
    if not (job.status is JobStatus.PENDING and job.attrs.get("queued")):
        try:
            control.ask(project.job_dir(job), {"op": "kill"}, timeout_s=KILL_GRACE_S)
            ended = waiting.wait_for_end(project, job.id, timeout_s=KILL_GRACE_S)
        except (AgentError, ConflictError):
            ended = None  # no keeper answers: one that died
    _stop_processes(project, job)  # first: stopping frees space and needs none
    if ended is None:
        try:
            _record_kill(project, job.id)
        except DiskFullError as exc:
            raise DiskFullError(
                f"job {job.id} was stopped, but not recorded as killed: {exc.message}",
                "free some space, then run `codex-agent kill` again to record it",
            ) from exc
    return project.store.get_job(job.id)


def _record_kill(project: Project, job_id: str) -> None:
    from codex_agent.keeper.after_end import close
    from codex_agent.keeper.record import Ending, Recorder

    close(Recorder(project.store, job_id), Ending(JobStatus.KILLED, None, "killed by request"), None)


def _stop_processes(project: Project, job: Job) -> None:
    """Stop everything the job started, then its session: tools run in sessions of their own and would
    outlive the pane."""
    pane = project.tmux.panes().get(job.tmux_session)
    groups = procs.process_groups_below(pane.pid) if pane is not None and pane.pid else set()
    if pane is not None and pane.pid and not pane.dead:
        groups.add(pane.pid)  # tmux makes the pane's process a group leader
    procs.signal_groups(groups, signal.SIGTERM)
    project.tmux.kill_session(job.tmux_session)
    procs.signal_groups(groups, signal.SIGKILL)  # whatever ignored SIGTERM


def delete(project: Project, job_id: str, *, force: bool) -> Job:
    job = get_job(project, job_id)
    if not job.status.is_terminal and not force:
        raise ConflictError(f"job {job.id} is {job.status.value}", "kill it first, or pass --force")
    _stop_processes(project, job)
    _remove_tree(project.job_dir(job))
    project.store.delete_job(job.id)
    return job


TRASH_PREFIX = ".trash-"


def _remove_tree(path: Path, *, trash_first: bool = True) -> None:
    """Move the folder aside in one rename, then delete it: an interrupted removal leaves either the whole
    folder or a trash folder that the next `clean` sweeps, never half a job folder under its id."""
    import shutil

    trash = path.with_name(f"{TRASH_PREFIX}{path.name}-{os.urandom(4).hex()}") if trash_first else path
    try:
        path.rename(trash)
    except OSError:
        trash = path
    if trash.is_symlink() or (trash.exists() and not trash.is_dir()):
        # Something an agent put in place of a job folder: the link (or file) goes, never what it points at.
        with contextlib.suppress(OSError):
            trash.unlink()
        return
    shutil.rmtree(trash, ignore_errors=True)


def _sweep_folders(project: Project) -> list[str]:
    """Job folders with no record, left by an interrupted `start` or removal.

    A job's folder moves into jobs/ in the transaction that records it, so under the write lock a folder
    there without a record is an orphan. Staged folders of starts killed midway are swept once they are
    older than any start could take.
    """
    folders = project.store.state_dir / "jobs"
    if not project.store.exists or not folders.is_dir():
        return []
    removed = []
    with project.store.transaction() as tx:
        known = {row[0] for row in tx.execute("SELECT id FROM jobs")}
        for folder in list(folders.iterdir()):
            if folder.name.startswith(TRASH_PREFIX):
                _remove_tree(folder, trash_first=False)
            elif folder.name not in known:
                _remove_tree(folder)
                removed.append(folder.name)
    staging = project.store.state_dir / STAGING_DIR_NAME
    settled_before = time.time() - ORPHAN_FOLDER_AGE_S
    for folder in list(staging.iterdir()) if staging.is_dir() else []:
        if _mtime(folder) < settled_before:
            _remove_tree(folder, trash_first=False)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")


@dataclass(slots=True)
class CleanReport:
    removed_jobs: list[str] = field(default_factory=list)
    killed_orphan_sessions: list[str] = field(default_factory=list)
    foreign_sessions: list[str] = field(default_factory=list)
    worktrees: list[str] = field(default_factory=list)  # what happened to each job's worktree, in words
    stopped_leftover_sessions: list[str] = field(default_factory=list)
    removed_orphan_folders: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "removed_jobs": self.removed_jobs,
            "killed_orphan_sessions": self.killed_orphan_sessions,
            "foreign_sessions": self.foreign_sessions,
            "worktrees": self.worktrees,
            "stopped_leftover_sessions": self.stopped_leftover_sessions,
            "removed_orphan_folders": self.removed_orphan_folders,
        }


def clean(project: Project, *, older_than_ms: int) -> CleanReport:
    """Remove ended jobs older than the cutoff, and this project's sessions that have no job record."""
    report = CleanReport()
    cutoff = now_ms() - older_than_ms
    reconcile(project, project.store.unfinished_jobs())
    for job in project.store.list_jobs():
        if job.status.is_terminal and (job.completed_at or job.created_at) <= cutoff:
            worktree = worktrees.Worktree.from_job(job)
            if worktree is not None:
                may_go, said = worktrees.release(worktree, job.id)
                report.worktrees.append(said)
                if not may_go:
                    continue  # the job stays, so its report and worktree stay findable
            project.tmux.kill_session(job.tmux_session)
            _remove_tree(project.job_dir(job))
            project.store.delete_job(job.id)
            report.removed_jobs.append(job.id)
    report.removed_orphan_folders = _sweep_folders(project)
    # Sessions first, then records: `start` records a job before it makes its session, so a session seen
    # here whose record is missing below is truly orphaned, not one that a concurrent start just made.
    panes = project.tmux.panes()
    remaining = project.store.list_jobs()
    for orphan in worktrees.orphans(project.root, project.store.state_dir, {job.id for job in remaining}):
        report.worktrees.append(worktrees.release(orphan, orphan.path.name)[1])
    worktrees.remove_folder_if_empty(project.store.state_dir)
    known = {job.tmux_session: job for job in remaining}
    ours = str(project.store.state_dir)
    for name, pane in panes.items():
        if name in known:
            if known[name].status.is_terminal and not pane.dead and pane.state_dir == ours:
                # An ended job whose agent still runs: an interrupted `kill`, or a session that appeared
                # after an interrupted `start` was recorded as failed.
                _stop_processes(project, known[name])
                report.stopped_leftover_sessions.append(name)
            continue
        if pane.state_dir == ours:
            project.tmux.kill_session(name)
            report.killed_orphan_sessions.append(name)
        elif not pane.state_dir:
            report.foreign_sessions.append(name)
    return report


@contextlib.contextmanager
def opened(directory: Path | None = None, *, create: bool = False) -> Iterator[Project]:
    project = Project.open(directory, create=create)
    try:
        yield project
    finally:
        project.store.close()
