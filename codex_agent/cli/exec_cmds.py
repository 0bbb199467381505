"""`exec`: plain commands (builds, tests) supervised like agents."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from codex_agent import jobs, waiting
from codex_agent.cli.common import DirOption, JsonOption, echo, parse_duration_ms, print_json
from codex_agent.errors import WaitTimeoutError
from codex_agent.models import JobKind

app = typer.Typer(
    help="Run plain commands (builds, tests) in supervised tmux sessions.", no_args_is_help=True
)

CommandOption = Annotated[
    str, typer.Option("--cmd", help="The command line, run by your shell as typed.", show_default=False)
]


@app.command("start")
def exec_start(cmd: CommandOption, directory: DirOption = None, json_output: JsonOption = False) -> None:
    """Start a command in the background; prints its id."""
    with jobs.opened(directory) as project:
        job = jobs.start(
            project, jobs.StartRequest(prompt="", kind=JobKind.COMMAND, cwd=directory, command=cmd)
        )
        if json_output:
            print_json({"exec_id": job.id, "status": job.status.value, "job": job.to_json()})
        else:
            echo(job.id)


@app.command("run")
def exec_run(
    cmd: CommandOption,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Give up waiting after this long (e.g. 90s, 10m).")
    ] = None,
    directory: DirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a command, wait for it, print its output and exit with its exit code."""
    timeout_s = parse_duration_ms(timeout) / 1000 if timeout else None
    with jobs.opened(directory) as project:
        job = jobs.start(
            project, jobs.StartRequest(prompt="", kind=JobKind.COMMAND, cwd=directory, command=cmd)
        )
        ended = waiting.wait_for_end(project, job.id, timeout_s=timeout_s)
        if ended is None:
            raise WaitTimeoutError(
                f"command {job.id} is still running after {timeout}",
                f"its output: codex-agent output {job.id}",
            )
        job = ended
        text = jobs.read_output(project, job, ansi=False)
        if json_output:
            print_json({"exec_id": job.id, "status": "finished", "exit_code": job.exit_code, "output": text})
        else:
            sys.stdout.write(text)
    raise typer.Exit(job.exit_code if job.exit_code is not None else 1)
