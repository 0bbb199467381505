"""`exec`: plain commands (builds, tests) supervised like agents, here or on a machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from codex_agent.cli.common import (
    Output,
    echo,
    parse_duration_ms,
    print_json_line,
    warn_about_log,
    write_agent_output,
)
from codex_agent.cli.declare import command_group, job_command
from codex_agent.cli.forwarding import forward
from codex_agent.errors import UsageError, WaitTimeoutError
from codex_agent.models import Job, JobKind

if TYPE_CHECKING:
    from codex_agent.jobs import Project

app = command_group("Run plain commands (builds, tests) in supervised tmux sessions.", no_args_is_help=True)

CommandOption = Annotated[
    str, typer.Option("--cmd", help="The command line, run by your shell as typed.", show_default=False)
]
ExecIdOption = Annotated[
    str, typer.Option("--id", help="The exec_id printed by `exec start`.", show_default=False)
]
TailOption = Annotated[
    int | None, typer.Option("--tail", min=0, help="Only the last N lines.", show_default=False)
]


@app.command("start")
@job_command(open_project=False, forwards=False)
def exec_start(
    cmd: CommandOption,
    project_dir: Annotated[
        Path | None,
        typer.Option(
            "--project",
            help="With --machine: a local git project to make present on the machine (at --ref) and run in.",
            show_default=False,
        ),
    ] = None,
    ref: Annotated[
        str, typer.Option("--ref", help="With --project: the commit, branch or tag to check out.")
    ] = "HEAD",
    directory: Path | None = None,
    json_output: bool = False,
    machine: str | None = None,
) -> Output:
    """Start a command in the background; prints its exec_id."""
    if project_dir is not None:
        if not machine or machine == "all":
            raise UsageError("--project works with --machine", "locally, run in the project with --dir")
        _start_in_project(machine, project_dir, ref, cmd, json_output)
    if machine:
        forward(machine)
    from codex_agent import execs, jobs

    with jobs.opened(directory) as opened:
        job = _start_command(opened, directory, cmd)
    return Output(execs.started_json(job), lambda: echo(job.id))


def _start_command(project: Project, directory: Path | None, cmd: str) -> Job:
    from codex_agent import jobs

    job = jobs.start(project, jobs.StartRequest(prompt="", kind=JobKind.COMMAND, cwd=directory, command=cmd))
    warn_about_log(job)
    return job


def _start_in_project(machine: str, project: Path, ref: str, cmd: str, json_output: bool) -> NoReturn:
    from codex_agent.remote import forward as remote
    from codex_agent.remote import machines

    if machine == "auto":
        target, _ = remote.pick_machine()
        sys.stderr.write(f"codex-agent: --machine auto chose {target.name}\n")
    else:
        target = machines.get(machine)
    pushed = remote.push_project(target, project, ref)
    argv = ["exec", "start", "--cmd", cmd, "--dir", pushed["path"], *(["--json"] if json_output else [])]
    result = remote.call(target, argv)
    raise typer.Exit(result.exit_code)


@app.command("run")
@job_command()
def exec_run(
    project: Project,
    cmd: CommandOption,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Give up waiting after this long (e.g. 90s, 10m).")
    ] = None,
    directory: Path | None = None,
    json_output: bool = False,
) -> Output:
    """Run a command, wait for it, print its output and exit with its exit code."""
    from codex_agent import execs, job_reads, waiting

    timeout_s = parse_duration_ms(timeout) / 1000 if timeout else None
    job = _start_command(project, directory, cmd)
    ended = waiting.wait_for_end(project, job.id, timeout_s=timeout_s)
    if ended is None:
        raise WaitTimeoutError(
            f"command {job.id} is still running after {timeout}", f"its output: codex-agent output {job.id}"
        )
    data = None
    if json_output:  # the whole output, read only when it is asked for
        data = {
            **execs.result_json(project, ended),
            "output": job_reads.read_output(project, ended, ansi=False),
        }
    return Output(
        data,
        lambda: write_agent_output(job_reads.output_chunks(project, ended), raw=False, strip=True),
        exit_code=ended.exit_code if ended.exit_code is not None else 1,
    )


@app.command("result")
@job_command()
def exec_result(project: Project, exec_id: ExecIdOption, tail: TailOption = None) -> Output:
    """Is the command running or finished, and with which exit code."""
    from codex_agent import execs

    job = execs.find_exec(project, exec_id)
    data = execs.result_json(project, job, tail=execs.DEFAULT_TAIL if tail is None else tail)
    return Output(
        data,
        lambda: echo("running" if data["status"] == "running" else f"finished exit_code={data['exit_code']}"),
    )


@app.command("logs")
@job_command(options=("directory", "machine"))
def exec_logs(
    project: Project,
    exec_id: ExecIdOption,
    stream: Annotated[str, typer.Option("--stream", help="stdout or stderr.")] = "stdout",
    tail: TailOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until it ends.")
    ] = False,
) -> None:
    """Print one output stream as JSON lines: {"stream", "time", "text"}."""
    from codex_agent import execs

    for record in execs.logs(project, exec_id, stream, tail=tail, follow=follow):
        print_json_line(record, flush=follow)
