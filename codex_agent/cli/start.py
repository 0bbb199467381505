"""`start`: launch a Codex agent (TUI or exec) in its own tmux session."""

from __future__ import annotations

from typing import Annotated

import typer

from codex_agent import jobs
from codex_agent.cli.common import DirOption, JsonOption, echo, print_json, read_text_argument
from codex_agent.cli.forwarding import MachineOption, forward
from codex_agent.cli.render import job_started
from codex_agent.errors import UsageError
from codex_agent.models import REASONING_LEVELS, SANDBOX_MODES, JobKind


def _choice(value: str | None, choices: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    return value


def register(app: typer.Typer) -> None:
    @app.command()
    def start(
        prompt: Annotated[
            str,
            typer.Argument(help="The task: text, `-` to read standard input, or @FILE.", show_default=False),
        ],
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
        directory: DirOption = None,
        exec_mode: Annotated[
            bool,
            typer.Option("--exec", help="Run `codex exec`: one task that ends by itself, no follow-ups."),
        ] = False,
        parent_session: Annotated[
            str | None, typer.Option("--parent-session", help="Id of the orchestrator session, for linkage.")
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run", help="Show what would run (prompt, settings, command); create nothing."
            ),
        ] = False,
        json_output: JsonOption = False,
        machine: MachineOption = None,
    ) -> None:
        """Start a Codex agent on a task in a new tmux session."""
        if machine:
            forward(machine)
        request = jobs.StartRequest(
            prompt=read_text_argument(prompt),
            kind=JobKind.CODEX_EXEC if exec_mode else JobKind.CODEX,
            cwd=directory,
            model=model,
            reasoning=_choice(reasoning, REASONING_LEVELS, "--reasoning"),
            sandbox=_choice(sandbox, SANDBOX_MODES, "--sandbox"),
            parent_session=parent_session,
        )
        if not request.prompt.strip():
            raise UsageError("the prompt is empty", "say what the agent should do")
        with jobs.opened(directory) as project:
            if dry_run:
                plan = jobs.plan_start(project, request)
                if json_output:
                    print_json(plan.to_json())
                else:
                    _print_plan(plan)
                return
            job = jobs.start(project, request)
            if json_output:
                print_json(job.to_json())
            else:
                job_started(job, project.tmux)


def _print_plan(plan: jobs.LaunchPlan) -> None:
    import shlex

    job = plan.job
    echo(f"kind:      {job.kind.value}")
    echo(f"model:     {job.model}    reasoning: {job.reasoning}    sandbox: {job.sandbox}")
    echo(f"directory: {job.cwd}")
    echo(f"command:   {shlex.join(plan.argv)}")
    echo(
        f"prompt:    {len(job.prompt.encode('utf-8', errors='surrogateescape'))} bytes, via {plan.prompt_via}"
    )
    echo("--- prompt ---")
    echo(job.prompt)
