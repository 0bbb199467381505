"""Read commands: status, jobs, sessions, capture, output, attach."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from codex_agent.cli.common import (
    JobIdArgument,
    Output,
    RawOption,
    StripAnsiOption,
    echo,
    write_agent_output,
    write_agent_text,
)
from codex_agent.cli.declare import job_command
from codex_agent.cli.render import job_details, jobs_table
from codex_agent.errors import UsageError
from codex_agent.models import JobStatus, now_ms

if TYPE_CHECKING:
    from codex_agent.jobs import Project
    from codex_agent.sessions import SessionRow


def _statuses(values: list[str] | None) -> list[JobStatus] | None:
    if not values:
        return None
    try:
        return [JobStatus(value) for value in values]
    except ValueError:
        names = ", ".join(status.value for status in JobStatus)
        raise UsageError(f"--status takes one of {names}") from None


@job_command()
def status(project: Project, job_id: JobIdArgument) -> Output:
    """Show one job: status, timings, tokens, files, summary."""
    from codex_agent import job_reads

    job = job_reads.get_job(project, job_id)
    return Output(job, lambda: job_details(job, project.tmux))


@job_command()
def list_jobs(
    project: Project,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most N jobs, newest first.")
    ] = 20,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Show every job (no limit).")] = False,
    status_filter: Annotated[
        list[str] | None, typer.Option("--status", help="Only jobs with this status (repeatable).")
    ] = None,
) -> Output:
    """List jobs, newest first. With --machine all: every machine's jobs (and this one's)."""
    from codex_agent import job_reads

    found = job_reads.list_jobs(project, limit=None if show_all else limit, statuses=_statuses(status_filter))
    now = now_ms()
    return Output.listing(
        "jobs", [job.to_json(brief=True, now=now) for job in found], lambda: jobs_table(found)
    )


@job_command(options=("directory", "json_output"))
def sessions(project: Project) -> Output:
    """List live codex-agent tmux sessions and the job each belongs to."""
    from codex_agent import sessions as service

    rows = service.list_sessions(project)
    return Output.listing("sessions", [row.to_json() for row in rows], lambda: _print_sessions(rows))


def _print_sessions(rows: list[SessionRow]) -> None:
    for row in rows:
        where = "" if row.this_project else "  (another project)"
        echo(f"{row.session}  {'alive' if row.alive else 'ended'}{where}")


@job_command(options=("directory", "machine"))
def capture(
    project: Project,
    job_id: JobIdArgument,
    lines: Annotated[int, typer.Argument(min=1, help="How many lines.")] = 50,
    strip_ansi: StripAnsiOption = False,
    raw: RawOption = False,
) -> None:
    """Print the last N lines of a job's screen, scrollback included."""
    from codex_agent import job_reads

    text = job_reads.capture(project, job_id, lines=lines, ansi=raw or not strip_ansi)
    write_agent_text(text, raw=raw, strip=strip_ansi)


@job_command(options=("directory", "machine"))
def output(
    project: Project, job_id: JobIdArgument, strip_ansi: StripAnsiOption = False, raw: RawOption = False
) -> None:
    """Print everything a job has written, also after it ended."""
    from codex_agent import job_reads

    write_agent_output(job_reads.output(project, job_id), raw=raw, strip=strip_ansi)


@job_command(options=("directory",))
def attach(project: Project, job_id: JobIdArgument) -> None:
    """Attach to a job's tmux session (with a terminal), else print the command to do so."""
    from codex_agent import job_reads

    job = job_reads.get_job(project, job_id)
    argv = project.tmux.attach_argv(job.tmux_session)
    if sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("TMUX"):
        os.execvp(argv[0], argv)
    echo(project.tmux.attach_command(job.tmux_session))
