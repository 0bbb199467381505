"""`exec`: plain commands (builds, tests) supervised like agents, here or on a machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from codex_agent.cli.common import (
    DirOption,
    JsonOption,
    echo,
    parse_duration_ms,
    print_json,
    warn_about_log,
    write_agent_output,
)
from codex_agent.cli.forwarding import MachineOption, forward
from codex_agent.errors import UsageError, WaitTimeoutError
from codex_agent.models import JobKind

app = typer.Typer(
    help="Run plain commands (builds, tests) in supervised tmux sessions.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)

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
def exec_start(
    cmd: CommandOption,
    directory: DirOption = None,
    json_output: JsonOption = False,
    machine: MachineOption = None,
    project: Annotated[
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
) -> None:
    """Start a command in the background; prints its exec_id."""
    if project is not None:
        if not machine or machine == "all":
            raise UsageError("--project works with --machine", "locally, run in the project with --dir")
        _start_in_project(machine, project, ref, cmd, json_output)
        return
    if machine:
        forward(machine)
    from codex_agent import execs, jobs

    with jobs.opened(directory) as opened:
        job = jobs.start(
            opened, jobs.StartRequest(prompt="", kind=JobKind.COMMAND, cwd=directory, command=cmd)
        )
        warn_about_log(job)
        if json_output:
            print_json(execs.started_json(job))
        else:
            echo(job.id)


def _start_in_project(machine: str, project: Path, ref: str, cmd: str, json_output: bool) -> None:
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
def exec_run(
    cmd: CommandOption,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Give up waiting after this long (e.g. 90s, 10m).")
    ] = None,
    directory: DirOption = None,
    json_output: JsonOption = False,
    machine: MachineOption = None,
) -> None:
    """Run a command, wait for it, print its output and exit with its exit code."""
    if machine:
        forward(machine)
    from codex_agent import execs, job_reads, jobs, waiting

    timeout_s = parse_duration_ms(timeout) / 1000 if timeout else None
    with jobs.opened(directory) as project:
        job = jobs.start(
            project, jobs.StartRequest(prompt="", kind=JobKind.COMMAND, cwd=directory, command=cmd)
        )
        warn_about_log(job)
        ended = waiting.wait_for_end(project, job.id, timeout_s=timeout_s)
        if ended is None:
            raise WaitTimeoutError(
                f"command {job.id} is still running after {timeout}",
                f"its output: codex-agent output {job.id}",
            )
        job = ended
        if json_output:
            text = job_reads.read_output(project, job, ansi=False)
            print_json({**execs.result_json(project, job), "output": text})
        else:
            write_agent_output(job_reads.output_chunks(project, job), raw=False, strip=True)
    raise typer.Exit(job.exit_code if job.exit_code is not None else 1)


@app.command("result")
def exec_result(
    exec_id: ExecIdOption,
    tail: TailOption = None,
    directory: DirOption = None,
    json_output: JsonOption = False,
    machine: MachineOption = None,
) -> None:
    """Is the command running or finished, and with which exit code."""
    if machine:
        forward(machine)
    from codex_agent import execs, jobs

    with jobs.opened(directory) as project:
        job = execs.find_exec(project, exec_id)
        data = execs.result_json(project, job, tail=execs.DEFAULT_TAIL if tail is None else tail)
    if json_output:
        print_json(data)
    elif data["status"] == "running":
        echo("running")
    else:
        echo(f"finished exit_code={data['exit_code']}")


@app.command("logs")
def exec_logs(
    exec_id: ExecIdOption,
    stream: Annotated[str, typer.Option("--stream", help="stdout or stderr.")] = "stdout",
    tail: TailOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until it ends.")
    ] = False,
    directory: DirOption = None,
    machine: MachineOption = None,
) -> None:
    """Print one output stream as JSON lines: {"stream", "time", "text"}."""
    if machine:
        forward(machine)
    from codex_agent import execs, jobs

    with jobs.opened(directory) as project:
        for record in execs.logs(project, exec_id, stream, tail=tail, follow=follow):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            if follow:
                sys.stdout.flush()
