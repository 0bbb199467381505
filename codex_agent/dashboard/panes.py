"""What the dashboard's table cells, status line and detail pane show, as text: pure functions of the rows."""

from __future__ import annotations

from rich.text import Text

from codex_agent.dashboard.fleet import Row, Snapshot, claims_text, counts_text, fit, status_text
from codex_agent.display import human_duration, one_line
from codex_agent.models import Job, JobStatus

STATUS_STYLES = {
    JobStatus.NEEDS_INPUT: "bold yellow",
    JobStatus.STALLED: "bold yellow",
    JobStatus.FAILED: "bold red",
    JobStatus.RUNNING: "green",
    JobStatus.IDLE: "cyan",
    JobStatus.PENDING: "dim",
    JobStatus.COMPLETED: "dim green",
    JobStatus.KILLED: "dim",
    JobStatus.LOST: "magenta",
}


def styled_cells(row: Row, cells: tuple[str, ...], *, color: bool) -> list[Text]:
    styled = [Text(cell, no_wrap=True, overflow="ellipsis") for cell in cells]
    styled[2].justify = styled[3].justify = "right"
    if color:  # without colour a grey shade would only blur the symbol
        styled[1].stylize(STATUS_STYLES.get(row.job.status, ""))
    if row.attention:
        styled[0].stylize("bold")
        styled[1].stylize("bold")
    return styled


def status_line(snapshot: Snapshot | None, width: int, *, attention_only: bool) -> str:
    if snapshot is None:
        text = "reading jobs…"
    else:
        claims = claims_text(snapshot.claims, max(20, width // 3))
        flag = "  [attention only]" if attention_only else ""
        counts = counts_text(snapshot, max(10, width - len(claims) - len(flag) - 3))
        text = f"{counts}{flag} │ {claims}"
    return fit(text, max(width, 10))


def detail_text(job: Job, output: str | None, width: int) -> Text:
    """The selected job's head line, prompt and last lines of output (None: still being captured)."""
    width = max(width, 20)
    head = f"{job.id}  {status_text(job.status)}  {job.kind.value}  {human_duration(job.elapsed_ms())}"
    if job.error:
        head += f"  {one_line(job.error, width)}"
    lines = [fit(head, width), one_line(f"prompt: {job.prompt}", width)]
    if output is None:
        lines.append("…")
    else:
        recent = [line for line in output.rstrip("\n").split("\n") if line.strip()]
        lines.extend(one_line(line, width) for line in recent[-5:])
    text = Text("\n".join(lines))
    text.stylize("bold", 0, len(lines[0]))
    return text
