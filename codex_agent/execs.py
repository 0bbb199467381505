"""Plain commands as `exec`s: their result and their separately recorded stdout and stderr.

The JSON shapes follow one contract, the same locally and through `--machine`: which machine, the exec_id,
`status` ("running" or "finished"), `exit_code` once finished, the tails of both streams, and the next
action ("wait" while running, "done" once finished).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from codex_agent import job_reads, jobs
from codex_agent.agents import streams
from codex_agent.agents.launch import STAMP_FILE
from codex_agent.errors import ConflictError, NotFoundError, UsageError
from codex_agent.models import JSON_VERSION, Job, JobKind
from codex_agent.remote.protocol import MACHINE_ENV

DEFAULT_TAIL = 20


def machine_name() -> str:
    import os

    return os.environ.get(MACHINE_ENV) or "local"


def find_exec(project: jobs.Project, exec_id: str) -> Job:
    try:
        job = job_reads.get_job(project, exec_id)
    except NotFoundError:
        where = machine_name()
        raise NotFoundError(
            f"exec_id {exec_id} not found on {where}",
            "list them with `codex-agent jobs" + ("`" if where == "local" else f" --machine {where}`"),
        ) from None
    if job.kind is not JobKind.COMMAND:
        raise ConflictError(
            f"job {job.id} is a {job.kind.value} job, not an exec", f"see `codex-agent status {job.id}`"
        )
    return job


def _tail_text(project: jobs.Project, job: Job, stream: str, tail: int) -> str:
    records, _ = streams.read_lines(project.job_dir(job), stream, tail=tail)
    return "\n".join(str(record.get("text", "")) for record in records)


def result_json(project: jobs.Project, job: Job, *, tail: int = DEFAULT_TAIL) -> dict[str, Any]:
    finished = job.status.is_terminal
    return {
        "version": JSON_VERSION,
        "machine": machine_name(),
        "exec_id": job.id,
        "status": "finished" if finished else "running",
        "job_status": job.status.value,
        "exit_code": job.exit_code if finished else None,
        "error": job.error,
        "command": job.prompt,
        "cwd": job.cwd,
        "elapsed_ms": job.elapsed_ms(),
        "stdout_tail": _tail_text(project, job, "stdout", tail),
        "stderr_tail": _tail_text(project, job, "stderr", tail),
        "next_action": "done" if finished else "wait",
    }


def started_json(job: Job) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "machine": machine_name(),
        "exec_id": job.id,
        "status": "running",
        "next_action": "wait",
        "job": job.to_json(),
    }


def logs(
    project: jobs.Project, exec_id: str, stream: str, *, tail: int | None, follow: bool
) -> Iterator[dict[str, Any]]:
    """The stream's records as {stream, time, text}; with `follow`, new ones until the exec finishes."""
    if stream not in streams.STREAMS:
        raise UsageError(f"--stream must be stdout or stderr, not {stream!r}")
    if tail is not None and tail < 0:
        raise UsageError("--tail must be 0 or more")
    job = find_exec(project, exec_id)
    job_dir = project.job_dir(job)
    records, offset = streams.read_lines(job_dir, stream, tail=tail)
    yield from records
    if not follow:
        return
    from codex_agent import waiting

    def ended() -> bool:
        return job_reads.get_job(project, job.id).status.is_terminal

    names = frozenset({streams.stream_file(job_dir, stream).name, STAMP_FILE})

    def wait(timeout_s: float) -> None:
        waiting.wait_for_change([job_dir], timeout_s, names)

    yield from streams.follow(job_dir, stream, offset, ended, wait)
