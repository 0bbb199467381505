"""Read commands: status, jobs, sessions, capture, output, attach."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from codex_agent.cli.common import (
    AgentOutput,
    DirOption,
    JobIdArgument,
    JsonOption,
    RawOption,
    StripAnsiOption,
    echo,
    envelope,
    print_json,
    write_agent_output,
)
from codex_agent.cli.forwarding import MachineOption, forward
from codex_agent.cli.render import job_details, jobs_table
from codex_agent.errors import UsageError
from codex_agent.models import JobStatus, now_ms


def _statuses(values: list[str] | None) -> list[JobStatus] | None:
    if not values:
        return None
    try:
        return [JobStatus(value) for value in values]
    except ValueError:
        names = ", ".join(status.value for status in JobStatus)
        raise UsageError(f"--status takes one of {names}") from None


def status(
    job_id: JobIdArgument,
    directory: DirOption = None,
    json_output: JsonOption = False,
    machine: MachineOption = None,
) -> None:
    """Show one job: status, timings, tokens, files, summary."""
    if machine:
        forward(machine)
    from codex_agent import job_reads, jobs

    with jobs.opened(directory) as project:
        job = job_reads.get_job(project, job_id)
        if json_output:
            print_json(job.to_json())
        else:
            job_details(job, project.tmux)


def list_jobs(
    json_output: JsonOption = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most N jobs, newest first.")
    ] = 20,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Show every job (no limit).")] = False,
    status_filter: Annotated[
        list[str] | None, typer.Option("--status", help="Only jobs with this status (repeatable).")
    ] = None,
    directory: DirOption = None,
    machine: MachineOption = None,
) -> None:
    """List jobs, newest first. With --machine all: every machine's jobs (and this one's)."""
    if machine:
        forward(machine)
    from codex_agent import job_reads, jobs

    statuses = _statuses(status_filter)
    with jobs.opened(directory) as project:
        found = job_reads.list_jobs(project, limit=None if show_all else limit, statuses=statuses)
        if json_output:
            now = now_ms()
            print_json(envelope("jobs", [job.to_json(brief=True, now=now) for job in found]))
        else:
            jobs_table(found)


def sessions(directory: DirOption = None, json_output: JsonOption = False) -> None:
    """List live codex-agent tmux sessions and the job each belongs to."""
    from codex_agent import job_reads, jobs

    with jobs.opened(directory) as project:
        job_reads.reconcile(project, project.store.unfinished_jobs())
        panes = project.tmux.panes()
        rows = []
        for name, pane in sorted(panes.items()):
            rows.append(
                {
                    "session": name,
                    "job_id": name.removeprefix("codex-agent-"),
                    "alive": not pane.dead,
                    "this_project": pane.state_dir == str(project.store.state_dir),
                    "attach": project.tmux.attach_command(name),
                }
            )
        if json_output:
            print_json(envelope("sessions", rows))
            return
        for row in rows:
            state = "alive" if row["alive"] else "ended"
            where = "" if row["this_project"] else "  (another project)"
            echo(f"{row['session']}  {state}{where}")


def capture(
    job_id: JobIdArgument,
    lines: Annotated[int, typer.Argument(min=1, help="How many lines.")] = 50,
    strip_ansi: StripAnsiOption = False,
    raw: RawOption = False,
    directory: DirOption = None,
    machine: MachineOption = None,
) -> None:
    """Print the last N lines of a job's screen, scrollback included."""
    if machine:
        forward(machine)
    from codex_agent import job_reads, jobs

    with jobs.opened(directory) as project:
        text = job_reads.capture(project, job_id, lines=lines, ansi=raw or not strip_ansi)
    out = AgentOutput(raw=raw, strip=strip_ansi)
    out.write_text(text)
    out.close()


def output(
    job_id: JobIdArgument,
    strip_ansi: StripAnsiOption = False,
    raw: RawOption = False,
    directory: DirOption = None,
    machine: MachineOption = None,
) -> None:
    """Print everything a job has written, also after it ended."""
    if machine:
        forward(machine)
    from codex_agent import job_reads, jobs

    with jobs.opened(directory) as project:
        write_agent_output(job_reads.output(project, job_id), raw=raw, strip=strip_ansi)


def attach(job_id: JobIdArgument, directory: DirOption = None) -> None:
    """Attach to a job's tmux session (with a terminal), else print the command to do so."""
    from codex_agent import job_reads, jobs

    with jobs.opened(directory) as project:
        job = job_reads.get_job(project, job_id)
        argv = project.tmux.attach_argv(job.tmux_session)
        if sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("TMUX"):
            os.execvp(argv[0], argv)
        echo(project.tmux.attach_command(job.tmux_session))
