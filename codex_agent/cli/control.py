"""Commands that change jobs: kill, delete, clean."""

from __future__ import annotations

from typing import Annotated

import typer

from codex_agent.cli.common import DirOption, JobIdArgument, JsonOption, echo, parse_duration_ms, print_json
from codex_agent.cli.forwarding import MachineOption, forward


def kill(
    job_id: JobIdArgument,
    directory: DirOption = None,
    json_output: JsonOption = False,
    machine: MachineOption = None,
) -> None:
    """Stop a job and its tmux session (recorded as killed)."""
    if machine:
        forward(machine)
    from codex_agent import job_cleanup, jobs

    with jobs.opened(directory) as project:
        job = job_cleanup.kill(project, job_id)
        if json_output:
            print_json(job.to_json())
        else:
            echo(f"job {job.id} is {job.status.value}")


def delete(
    job_id: JobIdArgument,
    force: Annotated[bool, typer.Option("--force", help="Also delete a live job (it is killed).")] = False,
    directory: DirOption = None,
) -> None:
    """Delete a job's record, output and session."""
    from codex_agent import job_cleanup, jobs

    with jobs.opened(directory) as project:
        job = job_cleanup.delete(project, job_id, force=force)
        echo(f"deleted job {job.id}")


def clean(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Remove ended jobs older than this (e.g. 7d, 12h, 0s).")
    ] = "7d",
    directory: DirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Remove old ended jobs and this project's orphaned codex-agent sessions."""
    from codex_agent import job_cleanup, jobs

    cutoff = parse_duration_ms(older_than, default_unit="d")
    with jobs.opened(directory) as project:
        report = job_cleanup.clean(project, older_than_ms=cutoff)
        if json_output:
            print_json(report.to_json())
            return
        echo(f"removed {len(report.removed_jobs)} ended job(s)")
        for name in report.killed_orphan_sessions:
            echo(f"killed orphaned session {name}")
        for name in report.foreign_sessions:
            echo(f"left alone {name}: not made by this project's codex-agent")
        for said in report.worktrees:
            echo(said)
