"""Commands that change jobs: kill, delete, clean."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from codex_agent.cli.common import JobIdArgument, Output, echo, parse_duration_ms
from codex_agent.cli.declare import job_command

if TYPE_CHECKING:
    from codex_agent.job_cleanup import CleanReport
    from codex_agent.jobs import Project


@job_command()
def kill(project: Project, job_id: JobIdArgument) -> Output:
    """Stop a job and its tmux session (recorded as killed)."""
    from codex_agent import job_cleanup

    job = job_cleanup.kill(project, job_id)
    return Output(job, lambda: echo(f"job {job.id} is {job.status.value}"))


@job_command(options=("directory",))
def delete(
    project: Project,
    job_id: JobIdArgument,
    force: Annotated[bool, typer.Option("--force", help="Also delete a live job (it is killed).")] = False,
) -> None:
    """Delete a job's record, output and session."""
    from codex_agent import job_cleanup

    job = job_cleanup.delete(project, job_id, force=force)
    echo(f"deleted job {job.id}")


@job_command(options=("directory", "json_output"))
def clean(
    project: Project,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Remove ended jobs older than this (e.g. 7d, 12h, 0s).")
    ] = "7d",
) -> Output:
    """Remove old ended jobs and this project's orphaned codex-agent sessions."""
    from codex_agent import job_cleanup

    report = job_cleanup.clean(project, older_than_ms=parse_duration_ms(older_than, default_unit="d"))
    return Output(report, lambda: _print_clean(report))


def _print_clean(report: CleanReport) -> None:
    echo(f"removed {len(report.removed_jobs)} ended job(s)")
    for name in report.killed_orphan_sessions:
        echo(f"killed orphaned session {name}")
    for name in report.foreign_sessions:
        echo(f"left alone {name}: not made by this project's codex-agent")
    for said in report.worktrees:
        echo(said)
