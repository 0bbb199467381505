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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codex_agent import activity, agentslog, claims, git, procs, safefs, worktrees
from codex_agent.agents import codex
from codex_agent.agents.launch import ENV_FIFO, EXIT_FILE, LAUNCH_ERROR, LAUNCH_SPEC
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
_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\r")


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
        from codex_agent.config import load_settings  # TOML parsing: only `start` needs it

        return load_settings(self.root, profile)

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


def _check_prompt(text: str, what: str = "prompt") -> None:
    if "\x00" in text:
        raise UsageError(f"the {what} contains a NUL character", "remove it: no agent can receive it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"the {what} is not valid UTF-8 (at character {exc.start})",
            "codex reads UTF-8 text only: convert it first, e.g. with iconv",
        ) from None


# Ends a bracketed paste: inside a message it would end the paste early and type the rest as keys.
PASTE_END = "\x1b[201~"


def _check_pasteable(text: str, what: str = "message") -> None:
    if PASTE_END in text:
        raise UsageError(
            f"the {what} contains the end-of-paste sequence ESC [201~",
            "remove it: it would end the paste early and type the rest as keys",
        )


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
    _check_prompt(request.prompt)
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
        _check_prompt(request.command or "", "command")
        shell = os.environ.get("SHELL") or "/bin/sh"
        return LaunchPlan(job, [shell, "-c", request.command or ""], "none", settings)

    job.model = request.model or settings.model
    job.reasoning = request.reasoning or settings.reasoning
    job.sandbox = request.sandbox or settings.sandbox
    binary = codex.codex_binary()
    codex_settings = codex.CodexSettings(job.model, job.reasoning, job.sandbox, settings.approval)
    job_dir = project.store.job_dir(job.id)
    if request.kind is JobKind.CODEX_EXEC:
        return LaunchPlan(job, codex.exec_argv(binary, codex_settings, job_dir, cwd), "stdin", settings)
    too_big = len(request.prompt.encode("utf-8", errors="surrogateescape")) > codex.MAX_ARGV_PROMPT_BYTES
    prompt_via = "paste" if too_big else ("argv" if request.prompt else "none")
    if prompt_via == "paste":
        _check_pasteable(request.prompt, "prompt")
    return LaunchPlan(job, codex.tui_argv(binary, codex_settings, job_dir, cwd), prompt_via, settings)


def start(project: Project, request: StartRequest) -> Job:
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
    # The first plan checked everything before anything was written; the command line names the job's folder.
    argv = plan_start(project, request, job_id=job.id).argv
    job.attrs.update(
        prompt_bytes=len(job.prompt.encode("utf-8", errors="surrogateescape")),
        creator_pid=os.getpid(),
        creator_started=procs.start_time(os.getpid()),  # with the pid: tells a reused pid apart
        stall_after_s=job.attrs.get("stall_after_s") or plan.settings.stall_after_s,
        messages_sent=1 if plan.prompt_via in ("argv", "stdin", "paste") else 0,
        prompt_via=plan.prompt_via,
    )
    if job.kind.is_codex:
        job.attrs["codex_home"] = str(codex.codex_home())
    if plan.settings.notify_on_complete and "notify_on_complete" not in job.attrs:
        job.attrs["notify_on_complete"] = plan.settings.notify_on_complete
    base = git.head_commit(cwd)
    if base:
        job.attrs.update(base_commit=base, dirty_at_start=git.dirty_paths(cwd))
    try:
        # Everything the launcher reads is in place before the record exists: the queue may launch it.
        _write_job_files(staging, job, argv, plan.prompt_via)
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
    if request.queued:
        return job  # pending: the queue launches it (queue.py)
    launch(project, job)
    return job


def launch(project: Project, job: Job) -> None:
    """Start a recorded job's tmux session and hand it our environment; the job becomes running."""
    store = project.store
    job_dir = store.job_dir(job.id)
    cwd = Path(job.cwd)
    try:
        project.tmux.new_session(
            job.tmux_session,
            cwd=cwd,
            command=[sys.executable, "-m", "codex_agent.agents.launch", str(job_dir)],
            log_path=job_dir / OUTPUT_LOG,
            state_dir=store.state_dir,
        )
        _hand_over_environment(job_dir / ENV_FIFO)
    except BaseException as exc:
        _record_failed_start(project, job, exc)
        _after_changes(project, [job])
        raise
    job.status = JobStatus.RUNNING
    job.started_at = now_ms()
    job.attrs["last_sent_at"] = job.started_at
    job.attrs["status_basis"] = activity.BASIS_START
    try:
        if not store.save_job(job):
            _copy_into(job, store.get_job(job.id))  # a reader saw the agent end before this was written
        store.add_event(job.id, "started", {})
    except StateError:
        # The agent runs (e.g. the disk filled up just now): the next reader records it as running, as it
        # does when a `start` dies at this point.
        pass
    if job.attrs.get("prompt_via") == "paste":
        deliver_message(project, job, read_prompt(project, job))


def read_prompt(project: Project, job: Job) -> str:
    """The job's whole prompt (or command line), from its folder: the record keeps only a preview."""
    data = safefs.read_bytes(project.job_dir(job) / PROMPT_FILE, under=project.store.state_dir)
    return job.prompt if data is None else data.decode("utf-8", errors="surrogateescape")


def _write_job_files(job_dir: Path, job: Job, argv: list[str], prompt_via: str) -> None:
    """The prompt, the launch spec, the (empty, private) output log and the FIFO for the environment."""
    try:
        write_private_file(job_dir / PROMPT_FILE, job.prompt.encode("utf-8", errors="surrogateescape"))
        spec: dict[str, Any] = {
            "argv": argv,
            "prompt_via": "none" if prompt_via == "paste" else prompt_via,
            "env": {"CODEX_AGENT_JOB_ID": job.id},
            "streams": job.kind is JobKind.COMMAND,  # stdout and stderr recorded apart (agents/streams.py)
            "notify_on_complete": bool(job.attrs.get("notify_on_complete")),  # read by the turn hook
        }
        write_private_file(job_dir / LAUNCH_SPEC, json.dumps(spec).encode())
        write_private_file(job_dir / OUTPUT_LOG, b"")  # tmux appends to it; created here to be private
        if job.kind is JobKind.CODEX_EXEC:
            write_private_file(job_dir / codex.LAST_MESSAGE_FILE, b"")  # codex rewrites it, mode kept
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


def _hand_over_environment(fifo: Path) -> None:
    """Give the launcher our environment through its FIFO: secrets never touch the disk.

    Opening a FIFO for writing blocks until the launcher opens it for reading, which also tells us the
    launcher is alive. An alarm bounds the wait.
    """

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError

    payload = json.dumps(dict(os.environ)).encode("utf-8", errors="surrogateescape")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(ENV_HANDOVER_TIMEOUT_S)
    try:
        with open(fifo, "wb") as handle:
            handle.write(payload)
    except TimeoutError:
        raise AgentError(
            f"the job's launcher did not start within {ENV_HANDOVER_TIMEOUT_S}s",
            "check `codex-agent capture` of the job and that this Python can run `-m codex_agent`",
        ) from None
    except BrokenPipeError:
        raise AgentError(
            "the job's launcher exited before it was ready", "see `codex-agent output`"
        ) from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- reconcile -----------------------------------------------------------------------------------------


def reconcile(project: Project, jobs: Sequence[Job]) -> None:
    """Bring recorded state in line with tmux and the agents' own records, in place. One tmux call."""
    unfinished = [job for job in jobs if not job.status.is_terminal]
    if not unfinished:
        return
    # A job whose exit is recorded needs no tmux call: waits that wake on an exit record return sooner.
    ended = all(
        job.status is not JobStatus.PENDING and _read_exit_code(project.job_dir(job)) is not None
        for job in unfinished
    )
    panes = {} if ended else project.tmux.panes()
    moved: list[Job] = []
    for job in unfinished:
        before, status_before = job.updated_at, job.status
        changed = _reconcile_one(project, job, panes.get(job.tmux_session))
        saved = _save_if_room(project, job, before) if changed else None
        if saved is False:
            _copy_into(job, project.store.get_job(job.id))  # someone else got there first: theirs stands
        elif saved and job.status is not status_before:
            moved.append(job)
    _after_changes(project, moved)


def _save_if_room(project: Project, job: Job, before: int) -> bool | None:
    """Save a reconciled record; None when the disk is full. A read must still answer then (with what it
    found, unrecorded: the next reader with room records it), so the way out (kill, delete, clean) works."""
    try:
        return project.store.save_job(job, expected_updated_at=before)
    except DiskFullError:
        return None


def _after_changes(project: Project, moved: list[Job]) -> None:
    """Jobs whose status this process recorded a change of: log their ends, retry, advance the queue.

    The queue is built on this module, so it is imported here, when needed.
    """
    if moved:
        from codex_agent import queue

        queue.after_changes(project, moved)


def _copy_into(target: Job, source: Job) -> None:
    for item in dataclasses.fields(Job):
        setattr(target, item.name, getattr(source, item.name))


def _reconcile_one(project: Project, job: Job, pane: PaneState | None) -> bool:
    """Returns True when the record changed."""
    job_dir = project.job_dir(job)
    exit_code = _read_exit_code(job_dir)
    if job.status is JobStatus.PENDING and exit_code is None and (pane is None or not pane.dead):
        if job.attrs.get("queued"):
            return False  # waiting in the queue: launched when its turn comes (queue.py)
        # Still starting, unless its creator died: then the start can never finish by itself.
        if _alive(job.attrs.get("creator_pid"), job.attrs.get("creator_started")):
            return False
        if pane is not None and not (job_dir / ENV_FIFO).exists():
            job.status = JobStatus.RUNNING  # the launcher got its environment; only the record lagged
            job.started_at = job.started_at or now_ms()
            return True
        if pane is not None:
            # The launcher waits for an environment that its dead creator will never hand over.
            _stop_processes(project, job)
        _finish(
            project,
            job,
            JobStatus.FAILED,
            error="start was interrupted before the agent ran",
            basis=activity.BASIS_START,
        )
        return True
    if exit_code is not None:
        status = JobStatus.COMPLETED if exit_code == 0 else JobStatus.FAILED
        _finish(
            project,
            job,
            status,
            exit_code=exit_code,
            error=_exit_error(job_dir, exit_code),
            basis=activity.BASIS_EXIT,
        )
        return True
    if pane is None:
        _finish(project, job, JobStatus.LOST, error="its tmux session vanished without an exit record")
        return True
    if pane.dead:
        code = pane.dead_status if pane.dead_status is not None else -1
        _finish(project, job, JobStatus.FAILED, exit_code=code, error=_exit_error(job_dir, code))
        return True
    changed = _refresh_turns(project, job) if job.kind is JobKind.CODEX else False
    changed = activity.assess(job, job_dir, pane, project.tmux) or changed
    if job.kind is JobKind.CODEX:
        changed = _check_first_run_screen(project, job) or changed
    return changed


FIRST_RUN_GRACE_MS = 1000


def _check_first_run_screen(project: Project, job: Job) -> bool:
    """A TUI that has not begun its session may be stopped at a first-run question (trust, login).

    The screen is read only in that window (no rollout yet), so steady-state reads stay one tmux call.
    """
    if job.thread_id or now_ms() - (job.started_at or job.created_at) < FIRST_RUN_GRACE_MS:
        return False
    blocked = codex.blocking_screen(project.tmux.capture(job.tmux_session, lines=60, ansi=False))
    if blocked is None:
        return False
    question, hint = blocked
    attention = f"{question}; {hint.replace('ID', job.id)}"
    if job.status is JobStatus.NEEDS_INPUT and job.attrs.get("attention") == attention:
        return False
    job.status = JobStatus.NEEDS_INPUT
    job.attrs["attention"] = attention
    job.attrs["status_basis"] = activity.BASIS_SCREEN
    return True


def _exit_error(job_dir: Path, code: int) -> str | None:
    if code == 0:
        return None
    said = safefs.read_quietly(job_dir / LAUNCH_ERROR, limit=4096)
    if said is not None:
        return said.decode(errors="replace").strip()
    if code > 128:
        with contextlib.suppress(ValueError):
            return f"killed by signal {signal.Signals(code - 128).name}"
    return f"exited with code {code}"


def _read_exit_code(job_dir: Path) -> int | None:
    try:
        return int((safefs.read_quietly(job_dir / EXIT_FILE, limit=64) or b"").strip())
    except ValueError:
        return None


def _alive(pid: object, started: object = None) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # The pid may have been reused by a later process (pids wrap around quickly on busy machines).
    return not isinstance(started, int) or procs.start_time(pid) in (started, None)


def _refresh_turns(project: Project, job: Job) -> bool:
    """Is a TUI agent working on a turn, or idle and waiting for a message?

    From codex's records, never the screen (its input box looks the same during a turn): the rollout's
    `task_started` / `task_complete` events, compared with the time of our last message to it. A message
    sent mid-turn joins that turn, so counting messages against turns would not do. Without a rollout yet,
    the notify hook's turns are counted instead.
    """
    job_dir = project.job_dir(job)
    rollout = _rollout_path(project, job)
    # What the answer depends on: codex's two records, and when we last sent the agent a message.
    sizes = [_size(job_dir / "turns.jsonl"), _size(rollout) if rollout else 0, job.attrs.get("last_sent_at")]
    if sizes == job.attrs.get("record_sizes"):
        return False
    job.attrs["record_sizes"] = sizes
    turns, info = _absorb_codex_results(project, job)
    last_sent = int(job.attrs.get("last_sent_at") or job.started_at or 0)
    if info is not None and (info.turns_started or info.turns_completed):
        # Turns begun by an earlier process of a resumed job and never finished do not count.
        started = info.turns_started - int(job.attrs.get("abandoned_turns", 0))
        answered = (info.last_completed_ms or 0) >= last_sent
        idle = started <= info.turns_completed and answered
        job.attrs["turns_completed"] = info.turns_completed
        job.attrs["turns_basis"] = activity.BASIS_ROLLOUT
    else:
        idle = len(turns) >= int(job.attrs.get("messages_sent", 0))
        job.attrs["turns_completed"] = len(turns)
        job.attrs["turns_basis"] = activity.BASIS_HOOK
    job.attrs["turn_idle"] = idle
    job.attrs["turns_started"] = info.turns_started if info else 0
    job.attrs["rollout_path"] = str(rollout) if rollout else None
    job.attrs["context_exhausted"] = activity.context_problem(rollout)
    if turns:
        job.attrs["last_turn_at"] = turns[-1].at
    job.status = JobStatus.IDLE if idle else JobStatus.RUNNING
    return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _rollout_path(project: Project, job: Job, turns: list[codex.Turn] | None = None) -> Path | None:
    """The job's session file. The TUI's notify hook also reports a side thread (the one that names the
    session) which has no rollout: the job's thread is the one that has a rollout file."""
    home = Path(job.attrs.get("codex_home") or codex.codex_home())
    if job.thread_id:
        found = codex.find_rollout(home, job.thread_id)
        if found is not None:
            return found
    reported = turns if turns is not None else codex.read_turns(project.job_dir(job))
    for thread in dict.fromkeys(turn.thread_id for turn in reported if turn.thread_id):
        found = codex.find_rollout(home, thread)
        if found is not None:
            job.thread_id = thread
            return found
    if job.kind is JobKind.CODEX_EXEC and not job.thread_id:
        head = _read_head(project.job_dir(job) / OUTPUT_LOG)
        job.thread_id = codex.thread_from_exec_output(head)
        return codex.find_rollout(home, job.thread_id) if job.thread_id else None
    unreported = job.attrs.get("unreported_message")
    if job.kind is not JobKind.CODEX or not unreported or job.started_at is None:
        return None
    taken = {
        other.thread_id
        for other in project.store.list_jobs(limit=200)
        if other.thread_id and other.id != job.id
    }
    found = codex.discover_rollout(home, job.cwd, job.started_at, taken, unreported)
    if found is not None:
        job.thread_id = codex.read_rollout(found).thread_id
    return found


def _read_head(path: Path, limit: int = 16384) -> str:
    return strip_ansi(safefs.read_quietly(path, limit=limit) or b"").decode(errors="replace")


def _absorb_codex_results(project: Project, job: Job) -> tuple[list[codex.Turn], codex.RolloutInfo | None]:
    """Thread id, last message, tokens and files, from codex's own records."""
    job_dir = project.job_dir(job)
    reported = codex.read_turns(job_dir)
    rollout = _rollout_path(project, job, reported)
    turns = [turn for turn in reported if turn.thread_id == job.thread_id] if job.thread_id else reported
    if turns and turns[-1].last_message:
        job.summary = turns[-1].last_message
    if job.kind is JobKind.CODEX_EXEC:
        job.summary = codex.read_last_message(job_dir) or job.summary
    info = codex.read_rollout(rollout) if rollout else None
    if info is not None:
        job.tokens = info.tokens or job.tokens
        if info.last_message and info.turns_completed > len(turns):
            job.summary = info.last_message  # a turn the hook could not report
        job.summary = job.summary or info.last_message
        if info.errors:
            job.attrs["codex_errors"] = info.errors[-5:]
    files = git.changed_since(
        Path(job.cwd), job.attrs.get("base_commit"), job.attrs.get("dirty_at_start", [])
    )
    if files is None and info is not None:
        files = info.patched_files
    job.files_modified = files
    return turns, info


def _finish(
    project: Project,
    job: Job,
    status: JobStatus,
    *,
    exit_code: int | None = None,
    error: str | None = None,
    basis: str = activity.BASIS_TMUX,
) -> None:
    job.status = status
    job.attrs["status_basis"] = basis
    job.attrs.pop("attention", None)
    job.exit_code = exit_code if exit_code is not None else job.exit_code
    job.error = error if status is not JobStatus.COMPLETED else None
    exit_file = project.job_dir(job) / EXIT_FILE
    try:
        job.completed_at = int(exit_file.stat().st_mtime * 1000)
    except OSError:
        job.completed_at = now_ms()
    if job.kind.is_codex:
        _absorb_codex_results(project, job)
    else:
        job.summary = _last_output_line(project.job_dir(job) / OUTPUT_LOG)
        files = git.changed_since(
            Path(job.cwd), job.attrs.get("base_commit"), job.attrs.get("dirty_at_start", [])
        )
        job.files_modified = files
    with contextlib.suppress(Exception):
        project.store.add_event(job.id, "ended", {"status": status.value, "exit_code": job.exit_code})


def _last_output_line(log: Path, limit: int = 300) -> str | None:
    data = safefs.read_quietly(log, limit=8192, tail=True)
    if data is None:
        return None
    tail = strip_ansi(data)
    for line in reversed(tail.decode(errors="replace").splitlines()):
        if line.strip():
            return line.strip()[:limit]
    return None


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
    return _ANSI.sub(b"", data)


# --- acting ------------------------------------------------------------------------------------------


def deliver_message(project: Project, job: Job, text: str, *, ready_timeout_s: float = 60) -> None:
    """Paste `text` into a TUI agent as one bracketed paste and submit it."""
    _check_prompt(text, "message")
    _check_pasteable(text)
    if (
        not job.thread_id
        and len(text.encode("utf-8", errors="surrogateescape")) > codex.MAX_ARGV_PROMPT_BYTES
    ):
        # Codex cannot hand a message this large to the notify hook: find the thread by its rollout instead.
        job.attrs["unreported_message"] = text[:200]
        project.store.save_job(job)
    wait_until_ready(project, job, timeout_s=ready_timeout_s)
    project.tmux.paste(job.tmux_session, text.encode("utf-8", errors="surrogateescape"))
    project.tmux.send_keys(job.tmux_session, "Enter")


def wait_until_ready(project: Project, job: Job, *, timeout_s: float) -> None:
    """Wait until the TUI shows its composer (it cannot take a paste before)."""
    deadline = time.monotonic() + timeout_s
    while True:
        screen = project.tmux.capture(job.tmux_session, lines=60, ansi=False)
        if any(marker in screen for marker in codex.COMPOSER_MARKERS):
            return
        if time.monotonic() > deadline:
            raise AgentError(
                f"job {job.id}: the codex TUI did not show its input box within {timeout_s:.0f}s",
                f"look at the pane: codex-agent capture {job.id}",
            )
        time.sleep(0.05)


def kill(project: Project, job_id: str) -> Job:
    job = get_job(project, job_id)
    while not job.status.is_terminal:
        before = job.updated_at
        job.status = JobStatus.KILLED
        job.completed_at = now_ms()
        job.error = "killed by request"
        job.attrs["status_basis"] = activity.BASIS_KILL
        job.attrs.pop("attention", None)
        # Record first, then kill: a reader in between sees "killed", never "lost".
        try:
            if project.store.save_job(job, expected_updated_at=before):
                break
        except DiskFullError as exc:
            # The job's own output may be what filled the disk: stop it anyway, then say what was not done.
            _stop_processes(project, job)
            raise DiskFullError(
                f"job {job.id} was stopped, but not recorded as killed: {exc.message}",
                "free some space (`codex-agent delete ID` removes a job and its output); the next read "
                "records it as lost",
            ) from exc
        job = get_job(project, job.id)  # changed meanwhile (a reader reconciled it): look again
    else:
        # Already ended. An interrupted earlier kill may have left its session (or the agent) behind; a
        # dead pane kept for reading goes too: asked to kill, nothing of the job should stay.
        pane = project.tmux.panes().get(job.tmux_session)
        if pane is not None and (job.status is JobStatus.KILLED or not pane.dead):
            _stop_processes(project, job)
        elif pane is not None:
            project.tmux.kill_session(job.tmux_session)
        return job
    _stop_processes(project, job)
    if job.kind.is_codex:
        with contextlib.suppress(Exception):
            _absorb_codex_results(project, job)
            project.store.save_job(job)
    with contextlib.suppress(DiskFullError):  # recorded as killed already: the event is a detail
        project.store.add_event(job.id, "killed", {})
    _after_changes(project, [job])
    return job


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
