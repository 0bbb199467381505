"""`start`: launch a Codex agent (TUI or exec) in its own tmux session."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codex_agent import jobs, queue
from codex_agent.agents import codex
from codex_agent.cli import prompt_opts
from codex_agent.cli.common import Output, echo, parse_duration_ms, warn_about_log
from codex_agent.cli.declare import job_command
from codex_agent.cli.forwarding import forward, forward_in_project
from codex_agent.cli.render import job_queued, job_started
from codex_agent.errors import UsageError
from codex_agent.models import REASONING_LEVELS, SANDBOX_MODES, JobKind, JobStatus
from codex_agent.store import owning_directory


def _choice(value: str | None, choices: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    return value


@job_command(open_project=False, forwards=False)
def start(
    prompt: Annotated[
        str | None,
        typer.Argument(help="The task: text, `-` to read standard input, or @FILE.", show_default=False),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model (default: gpt-5.3-codex).")
    ] = None,
    reasoning: Annotated[
        str | None, typer.Option("--reasoning", "-r", help="low, medium, high or xhigh (default: xhigh).")
    ] = None,
    sandbox: Annotated[
        str | None,
        typer.Option(
            "--sandbox",
            "-s",
            help="read-only, workspace-write or danger-full-access (default: workspace-write).",
        ),
    ] = None,
    # Prompt context and presets (docs/prompts.md, docs/config.md).
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Settings preset: quick, deep, default, or one from the project config.",
        ),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="reviewer, researcher, implementer or verifier: prepends a preamble that scopes the "
            "worker and sets its report format; reviewer and researcher run read-only unless -s is set.",
        ),
    ] = None,
    codebase_map: Annotated[
        bool,
        typer.Option(
            "--map", help="Include the codebase map (docs/CODEBASE_MAP.md, or ARCHITECTURE.md, ...)."
        ),
    ] = False,
    file_globs: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            metavar="GLOB",
            help="Include the files under --dir that match GLOB (`**` crosses folders); repeatable; "
            "!GLOB excludes.",
        ),
    ] = None,
    context_budget: Annotated[
        int | None,
        typer.Option(
            "--context-budget",
            min=1,
            metavar="TOKENS",
            help="Keep the whole prompt within TOKENS by cutting map and files; says what was cut.",
        ),
    ] = None,
    template: Annotated[
        bool,
        typer.Option(
            "--template", help="Print a TASK / CONTEXT / REQUIREMENTS / VERIFICATION skeleton and exit."
        ),
    ] = False,
    exec_mode: Annotated[
        bool,
        typer.Option("--exec", help="Run `codex exec`: one task that ends by itself, no follow-ups."),
    ] = False,
    parent_session: Annotated[
        str | None, typer.Option("--parent-session", help="Id of the orchestrator session, for linkage.")
    ] = None,
    # --- coordination (claims.py, worktrees.py, queue.py) ---
    claim: Annotated[
        list[str] | None,
        typer.Option(
            "--claim", help="Files the job will write, as a glob from the project root (repeatable)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Start even if a claim overlaps a live job's claim.")
    ] = False,
    worktree: Annotated[
        bool,
        typer.Option("--worktree", help="Run in its own git worktree, on a new branch codex-agent/ID."),
    ] = False,
    ref: Annotated[
        str | None,
        typer.Option(
            "--ref",
            help="With --worktree: branch from this commit; with --project: the commit to check out "
            "on the machine (default: HEAD).",
        ),
    ] = None,
    after: Annotated[
        list[str] | None,
        typer.Option("--after", help="Wait until this job has completed, then start (repeatable)."),
    ] = None,
    max_parallel: Annotated[
        int | None,
        typer.Option("--max-parallel", min=1, help="Wait while N jobs of this project are running."),
    ] = None,
    retry: Annotated[int, typer.Option("--retry", min=0, help="Try a failed launch up to N more times.")] = 0,
    retry_on_failure: Annotated[
        bool,
        typer.Option(
            "--retry-on-failure", help="Also restart a run that fails (up to --retry N, default 1)."
        ),
    ] = False,
    trust: Annotated[
        bool, typer.Option("--trust", help="Mark the directory trusted in codex's config first.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show what would run (prompt, settings, command); create nothing."),
    ] = False,
    stall_after: Annotated[
        str | None,
        typer.Option(
            "--stall-after",
            help="Report the job as stalled after this long without progress (e.g. 90s, 10m; "
            "default 300s or the project's stall_after_s).",
            show_default=False,
        ),
    ] = None,
    notify_on_complete: Annotated[
        str | None,
        typer.Option(
            "--notify-on-complete",
            help="A command line your shell runs when the job ends or turns idle; it reads "
            "CODEX_AGENT_JOB_ID, _STATUS, _EXIT_CODE, _SUMMARY from its environment.",
            show_default=False,
        ),
    ] = None,
    project_dir: Annotated[
        Path | None,
        typer.Option(
            "--project",
            help="With --machine: a local git project to make present on the machine (at --ref) and "
            "start the agent in.",
            show_default=False,
        ),
    ] = None,
    directory: Path | None = None,
    machine: str | None = None,
) -> Output | None:
    """Start a Codex agent on a task in a new tmux session."""
    if project_dir is not None:
        if not machine:
            raise UsageError("--project works with --machine", "locally, run in the project with --dir")
        forward_in_project(machine, project_dir, ref)
    if machine:
        forward(machine)
    attrs: dict[str, object] = {}
    if stall_after is not None:
        stall_ms = parse_duration_ms(stall_after)
        if stall_ms <= 0:
            raise UsageError("--stall-after must be longer than zero")
        attrs["stall_after_s"] = stall_ms / 1000
    if notify_on_complete is not None:
        if not notify_on_complete.strip():
            raise UsageError("--notify-on-complete needs a command line")
        attrs["notify_on_complete"] = notify_on_complete
    if template:
        prompt_opts.print_template()
        return None
    prepared = prompt_opts.prepare(
        directory,
        prompt_opts.read_task(prompt),
        role=role,
        use_map=codebase_map,
        file_globs=file_globs or [],
        budget=context_budget,
        profile=profile,
        model=model,
        reasoning=_choice(reasoning, REASONING_LEVELS, "--reasoning"),
        sandbox=_choice(sandbox, SANDBOX_MODES, "--sandbox"),
    )
    request = jobs.StartRequest(
        prompt=prepared.prompt.text,
        kind=JobKind.CODEX_EXEC if exec_mode else JobKind.CODEX,
        cwd=directory,
        model=prepared.settings.model,
        reasoning=prepared.settings.reasoning,
        sandbox=prepared.settings.sandbox,
        parent_session=parent_session,
        profile=profile,
        attrs=attrs,
    )
    # A job belongs to the project it is started from; a worktree is made of the --dir checkout, so
    # with --worktree that checkout's project holds the job (docs/coordination.md, "One project").
    owner = directory if worktree else owning_directory(directory)
    with jobs.opened(owner) as project:
        if dry_run:
            plan = jobs.plan_start(project, request)
            data = {**plan.to_json(), **prompt_opts.plan_json(prepared)}
            return Output(data, lambda: _print_plan(plan, prompt_opts.plan_lines(prepared)))
        if trust and not exec_mode:
            codex.trust_directory(codex.codex_home(), project.root)
        coordination = queue.Coordination(
            claims=claim or [],
            force=force,
            after=after or [],
            max_parallel=max_parallel,
            retry=retry,
            retry_on_failure=retry_on_failure,
            worktree=worktree,
            ref=ref,
        )
        job = queue.submit(project, request, coordination)
        warn_about_log(job)
        tmux = project.tmux
    return Output(job, lambda: job_queued(job) if job.status is JobStatus.PENDING else job_started(job, tmux))


def _print_plan(plan: jobs.LaunchPlan, extra: list[str] | None = None) -> None:
    import shlex

    job = plan.job
    echo(f"kind:      {job.kind.value}")
    echo(f"model:     {job.model}    reasoning: {job.reasoning}    sandbox: {job.sandbox}")
    echo(f"directory: {job.cwd}")
    echo(f"command:   {shlex.join(plan.argv)}")
    echo(
        f"prompt:    {len(job.prompt.encode('utf-8', errors='surrogateescape'))} bytes, via {plan.prompt_via}"
    )
    for line in extra or ():
        echo(line)
    echo("--- prompt ---")
    echo(job.prompt)
