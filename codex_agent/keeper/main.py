"""`python -m codex_agent.keeper JOB_DIR`: the first and only process codex-agent runs in a job's tmux pane.

It receives its submitter's environment through the job's FIFO (secrets never touch the disk), waits for its
turn when the job is queued, runs the agent — codex through its app-server (codex_run.py), or a plain command
through the stream relay — records every change of state, and when the agent ends does, once, what follows an
end: the end record, the agents.log entry, releasing claims, the worktree commit, a retry, notify-on-complete.
The queue needs no drainer: waiting keepers see the end in the database and take the freed slot themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from codex_agent.agents.launch import ENV_FIFO, LAUNCH_SPEC, PANE_VARIABLES, read_env
from codex_agent.errors import CodexAgentError
from codex_agent.keeper.record import Ending, Recorder
from codex_agent.models import Job, JobKind, JobStatus
from codex_agent.safefs import state_dir_of
from codex_agent.store import Store

KEEPER_LOG = "keeper.log"


def _log(job_dir: Path, text: str) -> None:
    try:
        fd = os.open(job_dir / KEEPER_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return
    try:
        os.write(fd, (text.rstrip("\n") + "\n").encode(errors="replace"))
    finally:
        os.close(fd)


def _environment(job_dir: Path, spec: dict[str, Any]) -> dict[str, str]:
    env = read_env(job_dir / ENV_FIFO)
    # The terminal is tmux's, not the submitter's: keep what tmux set for this pane.
    for name in PANE_VARIABLES:
        if name in os.environ:
            env[name] = os.environ[name]
        else:
            env.pop(name, None)
    env.update({str(key): str(value) for key, value in (spec.get("env") or {}).items()})
    return env


def run(job_dir: Path) -> int:
    store = Store.open(state_dir_of(job_dir), create=False)
    recorder = Recorder(store, job_dir.name, patient=True)
    try:
        spec = json.loads((job_dir / LAUNCH_SPEC).read_text())
        env = _environment(job_dir, spec)
    except TimeoutError:
        return _give_up(recorder, "the starting codex-agent never handed over its environment")
    except (OSError, ValueError) as exc:
        return _give_up(recorder, f"cannot read the launch spec: {exc}")
    finally:
        (job_dir / ENV_FIFO).unlink(missing_ok=True)
    recorder.remember_start()
    job = store.get_job(job_dir.name)
    if job.attrs.get("queued"):
        from codex_agent.keeper.queue_wait import wait_for_turn

        print(f"codex-agent: job {job.id} is queued; it starts when its turn comes", flush=True)
        reason = wait_for_turn(store, job.id)
        if reason is not None:
            return _finish(recorder, Ending(JobStatus.FAILED, None, f"never started: {reason}"), env)
    recorder.running()
    if spec.get("keeper") == "codex":
        ending = _run_codex(recorder, spec, env)
    else:
        ending = _run_command(recorder, spec, env)
    return _finish(recorder, ending, env)


def _run_codex(recorder: Recorder, spec: dict[str, Any], env: dict[str, str]) -> Ending:
    from codex_agent.keeper.codex_run import CodexKeeper

    keeper = CodexKeeper(recorder, spec, env)

    async def main() -> Ending:
        loop = asyncio.get_running_loop()
        # Ctrl-C in the pane belongs to the TUI (which reads it as a key); a hang-up or SIGTERM (tmux closing
        # the session, a `kill`) ends the job.
        loop.add_signal_handler(signal.SIGINT, lambda: None)
        loop.add_signal_handler(
            signal.SIGTERM,
            keeper.end,
            Ending(JobStatus.KILLED, 128 + signal.SIGTERM, "killed by signal SIGTERM"),
        )
        gone = Ending(JobStatus.LOST, 128 + signal.SIGHUP, "its tmux session went away (SIGHUP)")
        loop.add_signal_handler(signal.SIGHUP, keeper.end, gone)
        return await keeper.run()

    return asyncio.run(main())


def _run_command(recorder: Recorder, spec: dict[str, Any], env: dict[str, str]) -> Ending:
    from codex_agent.agents.streams import relay
    from codex_agent.keeper.command_watch import CommandWatch
    from codex_agent.keeper.control import serve_kill_requests

    killed = threading.Event()
    serve_kill_requests(recorder.job_dir, killed)
    watch = CommandWatch(recorder, float(spec.get("stall_after_s") or 300))
    try:
        code = relay(recorder.job_dir, [str(arg) for arg in spec["argv"]], env, watch)
    except OSError as exc:
        return Ending(JobStatus.FAILED, 127, f"cannot start the command: {exc}")
    if killed.is_set():
        return Ending(JobStatus.KILLED, code, "killed by request")
    if code == 128 + signal.SIGHUP:
        return Ending(JobStatus.LOST, code, "its tmux session went away (SIGHUP)")
    if code == 0:
        return Ending(JobStatus.COMPLETED, 0, None)
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return Ending(JobStatus.FAILED, code, f"killed by signal {name}")
    return Ending(JobStatus.FAILED, code, f"exited with code {code}")


def _give_up(recorder: Recorder, message: str) -> int:
    print(f"codex-agent: {message}", file=sys.stderr)
    return _finish(recorder, Ending(JobStatus.FAILED, 125, message), None)


def _finish(recorder: Recorder, ending: Ending, env: dict[str, str] | None) -> int:
    from codex_agent.agents import codex
    from codex_agent.agents.launch import socket_path
    from codex_agent.keeper.after_end import close
    from codex_agent.keeper.control import control_path

    for socket in (control_path(recorder.job_dir), socket_path(recorder.job_dir, codex.APP_SOCKET)):
        socket.unlink(missing_ok=True)
    job = recorder.store.get_job(recorder.job_id)
    if job.kind is JobKind.COMMAND and not job.status.is_terminal:
        _record_changed_files(recorder, job)
    try:
        job = close(recorder, ending, env)
    except CodexAgentError as exc:
        _log(recorder.job_dir, f"at the end: {exc.one_line()}")
        job = recorder.store.get_job(recorder.job_id)
    return 0 if job.status is JobStatus.COMPLETED else (job.exit_code or 1)


def _record_changed_files(recorder: Recorder, job: Job) -> None:
    """A plain command has no record of its edits: what git shows changed since it started is its work."""
    from codex_agent import git

    files = git.changed_since(
        Path(job.cwd), job.attrs.get("base_commit"), job.attrs.get("dirty_at_start", [])
    )
    if files is not None:
        recorder.update(lambda record: setattr(record, "files_modified", files))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m codex_agent.keeper JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(argv[1])
    try:
        return run(job_dir)
    except Exception as exc:  # the pane shows it; the keeper's log keeps it
        import traceback

        _log(job_dir, traceback.format_exc())
        print(f"codex-agent: the job's keeper failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 70
