"""Coordination commands: `claims` (list, release) and `log` (show agents.log, add an entry)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from codex_agent.cli.common import (
    AgentOutput,
    JobIdArgument,
    Output,
    echo,
    envelope,
    note,
    print_json,
    read_text_argument,
)
from codex_agent.cli.declare import command_group, job_command
from codex_agent.cli.render import table
from codex_agent.display import human_duration, one_line, plain

if TYPE_CHECKING:
    from codex_agent.claims import Claim
    from codex_agent.jobs import Project

claims_app = command_group("File claims of live jobs (see `start --claim`).")
log_app = command_group("The project's agents.log: spawns, completions, and orchestrator notes.")


@claims_app.callback(invoke_without_command=True)
@job_command(options=("directory", "json_output"), open_project=False)
def claims_list(ctx: typer.Context, directory: Path | None = None) -> Output | None:
    """List the live claims: which job means to write which files."""
    from codex_agent import claims, job_reads, jobs

    if ctx.invoked_subcommand:  # `claims release`: the subcommand does it
        return None
    with jobs.opened(directory) as project:
        job_reads.reconcile(project, project.store.unfinished_jobs())  # ended jobs hold no claims
        live = claims.live_claims(project.store)
    return Output.listing("claims", [claim.to_json() for claim in live], lambda: _print_claims(live))


def _print_claims(live: list[Claim]) -> None:
    table(
        live,
        header=f"{'JOB':<8}  {'STATUS':<11} {'AGE':>7}  PATTERN",
        line=_claim_row,
        empty="no live claims",
    )


def _claim_row(claim: Claim, now: int) -> str:
    age = human_duration(max(0, now - claim.created_at))
    return f"{claim.job_id:<8}  {claim.job_status:<11} {age:>7}  {one_line(claim.pattern, 300)}"


@claims_app.command("release")
@job_command(options=("directory", "json_output"))
def claims_release(project: Project, job_id: JobIdArgument) -> Output:
    """Release a job's claims now (the job keeps running)."""
    from codex_agent import claims

    job = project.store.find_job(job_id)
    count = claims.release(project.store, job.id)
    return Output(
        {"job_id": job.id, "released": count}, lambda: echo(f"released {count} claim(s) of job {job.id}")
    )


@log_app.callback(invoke_without_command=True)
@job_command(options=("directory", "json_output"), open_project=False)
def log_show(
    ctx: typer.Context,
    tail: Annotated[
        int | None, typer.Option("--tail", "-n", min=1, help="Only the last N entries.", show_default=False)
    ] = None,
    directory: Path | None = None,
    json_output: bool = False,
) -> None:
    """Print agents.log (from the project root), or its last N entries."""
    from codex_agent import agentslog, job_reads, jobs

    if ctx.invoked_subcommand:
        return
    with jobs.opened(directory) as project:
        job_reads.reconcile(project, project.store.unfinished_jobs())  # records endings not yet logged
        path = agentslog.log_path(project.root)
        if tail is None and not json_output:
            _print_log(path)  # streamed: a huge log costs no memory
            return
        text = agentslog.read_text(project.root)
        entries = agentslog.parse(text)
        if tail is not None:
            entries = entries[-tail:]
        agentslog.verify(project.store, entries)
    if json_output:
        data = envelope("entries", [entry.to_json() for entry in entries])
        data["path"] = str(path)
        print_json(data)
        return
    if not text:
        note(f"no agents.log yet at {path}")
        return
    # People read this: an escape sequence an agent put in the file is shown as nothing, never run.
    sys.stdout.write(plain(agentslog.tail_text(entries)))


def _print_log(path: Path) -> None:
    from codex_agent import safefs

    out = AgentOutput(raw=False, strip=True)  # terminal control removed, as from any agent's text
    empty = True
    for chunk in safefs.iter_chunks(path):
        empty = empty and not chunk
        out.write_bytes(chunk)
    out.close()
    if empty:
        note(f"no agents.log yet at {path}")


@log_app.command("add")
@job_command(options=("directory",), open_project=False)
def log_add(
    text: Annotated[str, typer.Argument(help="The entry: text, `-` for standard input, or @FILE.")],
    kind: Annotated[str, typer.Option("--kind", "-k", help="synthesis or note.")] = "note",
    directory: Path | None = None,
) -> None:
    """Append an orchestrator entry (a synthesis of findings, or a note) to agents.log."""
    from codex_agent import agentslog, jobs

    body = read_text_argument(text, what="entry")  # read before the project is opened, as ever
    with jobs.opened(directory) as project:
        agentslog.add_note(project.root, body, kind=kind)
        echo(f"added a {kind} entry to {agentslog.log_path(project.root)}")
