"""Live agents: send, watch, wait, resume."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from codex_agent.cli.common import (
    AgentOutput,
    JobIdArgument,
    Output,
    RawOption,
    StripAnsiOption,
    echo,
    envelope,
    note,
    parse_duration_ms,
    print_json_line,
    read_text_argument,
)
from codex_agent.cli.declare import job_command
from codex_agent.display import one_line
from codex_agent.errors import UsageError, WaitTimeoutError
from codex_agent.models import Job

if TYPE_CHECKING:
    from codex_agent import live
    from codex_agent.jobs import Project

TimeoutOption = Annotated[
    str | None,
    typer.Option("--timeout", help="Give up after this long (e.g. 90s, 10m); exits 124.", show_default=False),
]
SendMessageArgument = Annotated[
    str | None,
    typer.Argument(help="The message: text, `-` for standard input, or @FILE.", show_default=False),
]
ResumeMessageArgument = Annotated[
    str | None,
    typer.Argument(help="A message to send once it is up: text, `-` or @FILE.", show_default=False),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="done (the job ended), idle (its turns are finished), attention (needs_input or stalled). "
        "Default: done or waiting for a person (idle, needs_input, stalled).",
        show_default=False,
    ),
]


def _until(value: str | None, default: live.Until) -> live.Until:
    from codex_agent import live

    if value is None:
        return default
    choices = (live.Until.DONE, live.Until.IDLE, live.Until.ATTENTION)
    for choice in choices:
        if value == choice.value:
            return choice
    raise UsageError(f"--until must be one of {', '.join(c.value for c in choices)}, not {value!r}")


def _seconds(value: str | None) -> float | None:
    return parse_duration_ms(value) / 1000 if value else None


def _status_line(job: Job) -> str:
    basis = job.attrs.get("status_basis")
    text = f"{job.id}  {job.status.value}"
    if job.exit_code is not None:
        text += f" (exit {job.exit_code})"
    if basis:
        text += f"  [{basis}]"
    attention = job.attrs.get("attention")
    if attention:
        text += f"  {one_line(str(attention), 200)}"
    return text


@job_command(local_text=("message",))
def send(
    project: Project,
    job_id: JobIdArgument,
    message: SendMessageArgument = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", help="Press one key instead (y, n, Enter, Escape, C-c, ...).", show_default=False
        ),
    ] = None,
    when_idle: Annotated[
        bool, typer.Option("--when-idle", help="Wait until the agent is idle before sending.")
    ] = False,
    timeout: TimeoutOption = None,
) -> Output:
    """Send a message to a live TUI agent and confirm it took it (exit 8 if not), or press a key."""
    from codex_agent import live

    if (message is None) == (key is None):
        raise UsageError("give either a MESSAGE or --key KEY", "see `codex-agent send --help`")
    if key is not None:
        job = live.send_key(project, job_id, key)
        return Output({"job_id": job.id, "key": key}, lambda: echo(f"pressed {key} in job {job.id}"))
    assert message is not None
    text = read_text_argument(message, what="message")
    delivery = live.send_message(project, job_id, text, when_idle=when_idle, timeout_s=_seconds(timeout))
    how = "queued behind the running turn" if delivery.busy else "a new turn started"
    return Output(
        delivery, lambda: echo(f"delivered to job {delivery.job_id}: {delivery.chars} chars, {how}")
    )


@job_command(json_help="One JSON object per line: output chunks and status changes.")
def watch(
    project: Project,
    job_id: JobIdArgument,
    until: UntilOption = None,
    strip_ansi: StripAnsiOption = False,
    raw: RawOption = False,
    new_only: Annotated[
        bool, typer.Option("--new", help="Only output written from now on (default: from the start).")
    ] = False,
    json_output: bool = False,
) -> None:
    """Follow a job's output as it is written; exit when it ends (0 ok, 10 failed, 11 needs attention)."""
    from codex_agent import live

    chosen = _until(until, live.Until.DONE)
    last: Job | None = None
    out = AgentOutput(raw=raw, strip=strip_ansi)
    for event in live.watch(
        project, job_id, until=chosen, ansi=raw or not strip_ansi, from_start=not new_only
    ):
        if json_output:
            print_json_line(event.to_json())
        elif event.kind == "output":
            out.write_text(event.data)
            sys.stdout.flush()
        elif event.job is not None:
            note(f"codex-agent: {_status_line(event.job)}")
        if event.job is not None:
            last = event.job
    out.close()
    raise typer.Exit(live.outcome_exit_code([last]) if last else 0)


@job_command()
def wait(
    project: Project,
    job_ids: Annotated[list[str], typer.Argument(help="Job ids (or unique prefixes).", show_default=False)],
    any_job: Annotated[bool, typer.Option("--any", help="Return when one job gets there, not all.")] = False,
    timeout: TimeoutOption = None,
    until: UntilOption = None,
) -> Output:
    """Block until jobs end or wait for a person.

    Exits 0 (ended well or idle), 10 (a job failed, was killed or lost), 11 (a job needs attention:
    needs_input or stalled), 124 (timed out).
    """
    from codex_agent import live

    chosen = _until(until, live.Until.PERSON)
    result = live.wait_for(project, job_ids, chosen, timeout_s=_seconds(timeout), any_job=any_job)
    if result is None:
        raise WaitTimeoutError(
            f"not reached within {timeout}: {', '.join(job_ids)}",
            "see where they are with `codex-agent status ID`",
        )
    data = envelope("jobs", [job.to_json() for job in result.jobs])
    data.update(reached=result.reached_ids, exit_code=result.exit_code)
    return Output(data, lambda: _print_status_lines(result.jobs), exit_code=result.exit_code)


def _print_status_lines(found: list[Job]) -> None:
    for job in found:
        echo(_status_line(job))


@job_command(options=("directory", "json_output"))
def resume(
    project: Project,
    job_id: JobIdArgument,
    message: ResumeMessageArgument = None,
) -> Output:
    """Continue an ended codex TUI job's thread in a new tmux session (same job id, new attempt)."""
    from codex_agent import live

    text = read_text_argument(message, what="message") if message is not None else None
    job, delivery = live.resume(project, job_id, text)
    data = {**job.to_json(), "delivery": delivery.to_json() if delivery else None}
    return Output(data, lambda: _print_resumed(job, delivery))


def _print_resumed(job: Job, delivery: live.Delivery | None) -> None:
    attempts = len(job.attrs.get("attempts") or []) + 1
    echo(f"resumed job {job.id} (attempt {attempts}) on thread {job.thread_id}")
    if delivery:
        echo(f"delivered the message ({delivery.chars} chars, {delivery.confirmed_by})")
