"""Coordination commands: `claims` (list, release) and `log` (show agents.log, add an entry)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from codex_agent.cli.common import (
    AgentOutput,
    DirOption,
    JobIdArgument,
    JsonOption,
    echo,
    envelope,
    note,
    print_json,
    read_text_argument,
)
from codex_agent.display import human_duration, one_line, plain
from codex_agent.models import now_ms

claims_app = typer.Typer(
    help="File claims of live jobs (see `start --claim`).", rich_markup_mode=None, add_completion=False
)
log_app = typer.Typer(
    help="The project's agents.log: spawns, completions, and orchestrator notes.",
    rich_markup_mode=None,
    add_completion=False,
)


@claims_app.callback(invoke_without_command=True)
def claims_list(ctx: typer.Context, directory: DirOption = None, json_output: JsonOption = False) -> None:
    """List the live claims: which job means to write which files."""
    from codex_agent import claims, job_reads, jobs

    if ctx.invoked_subcommand:
        return
    with jobs.opened(directory) as project:
        job_reads.reconcile(project, project.store.unfinished_jobs())  # ended jobs hold no claims
        live = claims.live_claims(project.store)
    if json_output:
        print_json(envelope("claims", [claim.to_json() for claim in live]))
        return
    if not live:
        note("no live claims")
        return
    now = now_ms()
    echo(f"{'JOB':<8}  {'STATUS':<11} {'AGE':>7}  PATTERN")
    for claim in live:
        age = human_duration(max(0, now - claim.created_at))
        echo(f"{claim.job_id:<8}  {claim.job_status:<11} {age:>7}  {one_line(claim.pattern, 300)}")


@claims_app.command("release")
def claims_release(
    job_id: JobIdArgument, directory: DirOption = None, json_output: JsonOption = False
) -> None:
    """Release a job's claims now (the job keeps running)."""
    from codex_agent import claims, jobs

    with jobs.opened(directory) as project:
        job = project.store.find_job(job_id)
        count = claims.release(project.store, job.id)
    if json_output:
        print_json({"job_id": job.id, "released": count})
    else:
        echo(f"released {count} claim(s) of job {job.id}")


@log_app.callback(invoke_without_command=True)
def log_show(
    ctx: typer.Context,
    tail: Annotated[
        int | None, typer.Option("--tail", "-n", min=1, help="Only the last N entries.", show_default=False)
    ] = None,
    directory: DirOption = None,
    json_output: JsonOption = False,
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
def log_add(
    text: Annotated[str, typer.Argument(help="The entry: text, `-` for standard input, or @FILE.")],
    kind: Annotated[str, typer.Option("--kind", "-k", help="synthesis or note.")] = "note",
    directory: DirOption = None,
) -> None:
    """Append an orchestrator entry (a synthesis of findings, or a note) to agents.log."""
    from codex_agent import agentslog, jobs

    body = read_text_argument(text, what="entry")
    with jobs.opened(directory) as project:
        agentslog.add_note(project.root, body, kind=kind)
        echo(f"added a {kind} entry to {agentslog.log_path(project.root)}")
