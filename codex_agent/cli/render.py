"""Human-readable rendering of jobs. (JSON output is the records' own `to_json`.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from codex_agent.cli.common import echo, note
from codex_agent.display import SYMBOLS, human_duration, one_line, tokens_text
from codex_agent.models import Job, now_ms

if TYPE_CHECKING:  # the caller's project has one; --help and forwarded commands need no tmux module
    from codex_agent.tmux import Tmux


Row = TypeVar("Row")


def table(rows: Sequence[Row], *, header: str, line: Callable[[Row, int], str], empty: str) -> None:
    """Rows under a header line, each made by `line(row, now)`; with none, `empty` on stderr (stdout stays
    empty, as a script expects of an empty list)."""
    if not rows:
        note(empty)
        return
    now = now_ms()
    echo(header)
    for row in rows:
        echo(line(row, now))


def jobs_table(jobs: Sequence[Job]) -> None:
    header = f"{'ID':<8}  {'STATUS':<13} {'KIND':<10} {'ELAPSED':>8} {'TOKENS':>7}  PROMPT"
    table(jobs, header=header, line=_job_row, empty="no jobs")


def _job_row(job: Job, now: int) -> str:
    status = f"{SYMBOLS[job.status]} {job.status.value}"
    return (
        f"{job.id:<8}  {status:<13} {job.kind.value:<10} {human_duration(job.elapsed_ms(now)):>8} "
        f"{tokens_text(job):>7}  {one_line(job.prompt, 60)}"
    )


def job_details(job: Job, tmux: Tmux) -> None:
    rows = [
        ("id", job.id),
        ("status", f"{SYMBOLS[job.status]} {job.status.value}"),
        ("based on", job.attrs.get("status_basis")),
        ("attention", one_line(str(job.attrs["attention"]), 300) if job.attrs.get("attention") else None),
        ("kind", job.kind.value),
        ("model", f"{job.model}  reasoning {job.reasoning}  sandbox {job.sandbox}" if job.model else None),
        ("directory", job.cwd),
        ("elapsed", human_duration(job.elapsed_ms())),
        ("exit code", None if job.exit_code is None else str(job.exit_code)),
        ("error", job.error),
        ("thread", job.thread_id),
        ("tokens", _tokens_detail(job)),
        ("files", ", ".join(job.files_modified) if job.files_modified else None),
        ("session", f"{job.tmux_session}  (attach: {tmux.attach_command(job.tmux_session)})"),
        ("prompt", one_line(job.prompt, 200)),
        ("summary", one_line(job.summary, 400) if job.summary else None),
    ]
    for label, value in rows:
        if value:
            # One line per row whatever the value holds: a newline in an error or a file name cannot add a
            # row of its own (say, a forged "summary:").
            echo(f"{label + ':':<11}{one_line(value, 2000)}")


def _tokens_detail(job: Job) -> str | None:
    if job.tokens is None:
        return None
    text = f"{job.tokens.input} in, {job.tokens.output} out"
    if job.tokens.context_used_pct is not None:
        text += f", {job.tokens.context_used_pct}% of the context window"
    return text


def job_started(job: Job, tmux: Tmux) -> None:
    echo(f"started job {job.id} ({job.kind.value}) in tmux session {job.tmux_session}")
    echo(f"  watch:   codex-agent capture {job.id}")
    if job.kind.value == "codex":
        echo(f'  message: codex-agent send {job.id} "..."')
    echo(f"  status:  codex-agent status {job.id}")
    echo(f"  attach:  {tmux.attach_command(job.tmux_session)}")


def job_queued(job: Job) -> None:
    after = job.attrs.get("after") or []
    limit = job.attrs.get("max_parallel")
    why = []
    if after:
        why.append(f"after {', '.join(after)}")
    if limit:
        why.append(f"at most {limit} running")
    echo(f"queued job {job.id} ({job.kind.value}): starts by itself when its turn comes ({'; '.join(why)})")
    echo(f"  status:  codex-agent status {job.id}")
