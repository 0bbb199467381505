"""What the dashboard shows, read from the project's state, and the plain-text snapshot. No Textual here.

A `Fleet` reads one project's jobs into `Row`s (attention first), with each job's last line of output taken
from the tail of its output log (a file read, no tmux call). `watch_changes` turns file-system events in the
state directory into refresh requests, so the dashboard only works when something changed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codex_agent import claims, job_reads, jobs, output_log
from codex_agent.agents.launch import STAMP_FILE
from codex_agent.display import SYMBOLS, human_duration, one_line, tokens_text
from codex_agent.errors import AgentError
from codex_agent.models import Job, JobStatus, now_ms
from codex_agent.state_db import DB_NAME
from codex_agent.tmux import Tmux

# Jobs someone should look at, in the order they are listed.
ATTENTION_STATUSES = (JobStatus.NEEDS_INPUT, JobStatus.STALLED, JobStatus.FAILED)
_GROUP = {
    JobStatus.NEEDS_INPUT: 0,
    JobStatus.STALLED: 1,
    JobStatus.FAILED: 2,
    JobStatus.RUNNING: 3,
    JobStatus.PENDING: 3,
    JobStatus.IDLE: 4,
}
ATTENTION_MARK = "»"
DEFAULT_LIMIT = 200
TAIL_BYTES = 8192
# Lines of a codex TUI screen that are furniture, not output: the input box and its footer.

# Files whose change means a job's record may have changed: re-read every job.
RECORD_FILES = frozenset({STAMP_FILE})
# The database's files also change when a reader opens it; only a new data_version means a commit.
DATABASE_FILES = frozenset({DB_NAME, f"{DB_NAME}-wal"})
# A change here only moves that job's last line of output.
OUTPUT_FILE = output_log.OUTPUT_LOG
WATCH_DEBOUNCE_MS = 400
WATCH_STEP_MS = 100


@dataclass(slots=True)
class Row:
    job: Job
    last_line: str = ""

    @property
    def attention(self) -> bool:
        return self.job.status in ATTENTION_STATUSES


def sort_rows(rows: Sequence[Row]) -> list[Row]:
    """Attention first (needs input, stalled, failed), then working, idle, ended; newest first in each."""
    return sorted(rows, key=lambda row: (_GROUP.get(row.job.status, 5), -row.job.created_at, row.job.id))


@dataclass(frozen=True, slots=True)
class ClaimView:
    """One claim as the footer shows it: what is claimed, and by whom."""

    target: str
    holder: str

    def to_json(self) -> dict[str, str]:
        return {"target": self.target, "holder": self.holder}


def live_claims(project: jobs.Project) -> list[ClaimView]:
    """The claims held now by live jobs."""
    if not project.store.exists:
        return []
    return [ClaimView(claim.pattern, claim.job_id) for claim in claims.live_claims(project.store)]


@dataclass(slots=True)
class Snapshot:
    rows: list[Row]
    claims: list[ClaimView] = field(default_factory=list)
    taken_at: int = field(default_factory=now_ms)
    project_root: str = ""

    def counts(self) -> dict[JobStatus, int]:
        counts: dict[JobStatus, int] = {}
        for row in self.rows:
            counts[row.job.status] = counts.get(row.job.status, 0) + 1
        return counts

    @property
    def attention_count(self) -> int:
        return sum(1 for row in self.rows if row.attention)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project_root,
            "counts": {status.value: n for status, n in self.counts().items()},
            "attention": self.attention_count,
            "claims": [claim.to_json() for claim in self.claims],
            "jobs": [
                {**row.job.to_json(brief=True, now=self.taken_at), "attention": row.attention,
                 "last_line": row.last_line}
                for row in self.rows
            ],
        }  # fmt: skip


# --- reading the state ----------------------------------------------------------------------------------


def last_output_line(job_dir: Path, job: Job, limit: int = 300) -> str:
    """What the row shows. A codex job: what its keeper recorded — the question it waits on, what it is
    doing, else its last message (the TUI's screen redraws and says little). A command: the last line it
    wrote (its output log's tail), else its summary."""
    summary = (job.summary or "").strip()
    if job.kind.is_codex:
        text = job.attrs.get("attention") or job.attrs.get("doing") or (summary.splitlines() or [""])[-1]
        return one_line(str(text), limit)
    for line in output_log.last_lines(job_dir, 1, first_read=TAIL_BYTES):
        return one_line(line, limit)
    return one_line(summary.splitlines()[-1], limit) if summary else ""


class Fleet:
    """One project's jobs for the dashboard. It holds a SQLite connection: use one per thread."""

    def __init__(self, directory: Path | None = None, *, limit: int | None = DEFAULT_LIMIT) -> None:
        self.directory = directory
        self.limit = limit
        self.project = jobs.Project.open(directory)
        self._data_version: int | None = None

    @property
    def state_dir(self) -> Path:
        return self.project.store.state_dir

    @property
    def tmux(self) -> Tmux:
        return self.project.tmux

    def close(self) -> None:
        self.project.store.close()

    def _reopen_if_created(self) -> None:
        # A project without state reads as empty; once the first job creates it, open it for real.
        if not self.project.store.exists and (self.state_dir / DB_NAME).exists():
            self.project.store.close()
            self.project = jobs.Project.open(self.directory)

    def database_changed(self) -> bool:
        """Has anyone else committed to the database since the last snapshot? (Opening it is no change.)"""
        self._reopen_if_created()
        return self.project.store.data_version() != self._data_version

    def snapshot(self) -> Snapshot:
        self._reopen_if_created()
        self._data_version = self.project.store.data_version()
        found = job_reads.list_jobs(self.project, limit=self.limit)
        rows = [Row(job, last_output_line(self.project.job_dir(job), job)) for job in found]
        return Snapshot(sort_rows(rows), live_claims(self.project), now_ms(), str(self.project.root))

    def last_line(self, job: Job) -> str:
        return last_output_line(self.project.job_dir(job), job)

    def session_states(self) -> frozenset[tuple[str, bool]]:
        """Every codex-agent session and whether its pane is dead: one tmux call, for the safety check."""
        return frozenset((name, pane.dead) for name, pane in self.project.tmux.panes().items())


# --- acting ---------------------------------------------------------------------------------------------


def send_message(project: jobs.Project, job_id: str, text: str) -> Job:
    """Hand a follow-up message to a live codex TUI job's keeper (confirmed by codex, as `send` is)."""
    from codex_agent import live

    delivery = live.send_message(project, job_id, text)
    project.store.add_event(delivery.job_id, "message", {"chars": len(text), "via": "dashboard"})
    return job_reads.get_job(project, delivery.job_id)


def answer_prompt(project: jobs.Project, job_id: str, key: str) -> Job:
    """Answer the question a live job waits on with `y` or `n`, as `send --key` does (through codex's
    protocol for a codex job, a key in the pane for a command)."""
    from codex_agent import live

    if key not in ("y", "n"):
        raise AgentError(f"not an answer: {key!r}", "answer with y or n")
    return live.send_key(project, job_id, key)


# --- watching -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Change:
    """What changed in the state directory: job records, the database, or only some jobs' output."""

    records: bool = False
    database: bool = False
    output_of: set[str] = field(default_factory=set)


def classify(state_dir: Path, paths: Sequence[str]) -> Change:
    change = Change()
    for raw in paths:
        path = Path(raw)
        if path.name in RECORD_FILES:
            change.records = True
        elif path.name in DATABASE_FILES:
            change.database = True
        elif path.name == OUTPUT_FILE:
            with contextlib.suppress(ValueError):
                parts = path.relative_to(state_dir).parts
                if len(parts) == 3 and parts[0] == "jobs":
                    change.output_of.add(parts[1])
    return change


def _interesting(_change: object, path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name in RECORD_FILES or name in DATABASE_FILES or name == OUTPUT_FILE


def watch_changes(state_dir: Path, stop: threading.Event, *, quiet_s: float) -> Iterator[Change | None]:
    """Yield a `Change` whenever watched files change (bursts grouped), and None after `quiet_s` of quiet.

    Runs until `stop` is set. While the state directory does not exist yet, it yields None every `quiet_s`.
    """
    from watchfiles import watch

    state_dir = state_dir.resolve()
    while not stop.is_set():
        if not state_dir.is_dir():
            if stop.wait(quiet_s):
                return
            yield None
            continue
        for changes in watch(
            state_dir,
            watch_filter=_interesting,
            debounce=WATCH_DEBOUNCE_MS,
            step=WATCH_STEP_MS,
            rust_timeout=max(1, int(quiet_s * 1000)),
            yield_on_timeout=True,
            stop_event=stop,
            recursive=True,
        ):
            yield classify(state_dir, [path for _kind, path in changes]) if changes else None
        if not stop.is_set():
            stop.wait(quiet_s)  # the directory went away under the watch: look again shortly


# --- the plain-text snapshot ----------------------------------------------------------------------------

# Fixed columns: mark+id, status, elapsed, tokens; the prompt and last line share what is left.
ID_WIDTH = 10
STATUS_WIDTH = 13
ELAPSED_WIDTH = 6
TOKENS_WIDTH = 6
MIN_FLEX = 8


def flex_widths(free: int) -> tuple[int, int]:
    """Split the free width between the prompt (two fifths) and the last line of output."""
    free = max(free, 2 * MIN_FLEX)
    prompt = max(MIN_FLEX, free * 2 // 5)
    return prompt, free - prompt


def fit(text: str, width: int) -> str:
    """Cut `text` to `width` characters (an ellipsis marks the cut); unlike one_line, spacing is kept."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def elapsed_text(ms: int) -> str:
    """Elapsed time for the table: seconds only in the first minute, then minutes.

    A live view repaints whenever this text changes; a fleet of long jobs then repaints once a minute per
    row, not every second. The detail panel shows the exact time.
    """
    if ms < 60_000:
        return human_duration(ms)
    minutes = ms // 60_000
    if minutes < 60:
        return f"{minutes}m"
    return human_duration(ms)


def status_text(status: JobStatus) -> str:
    return f"{SYMBOLS[status]} {status.value}"


def row_cells(row: Row, now: int, prompt_width: int, last_width: int) -> tuple[str, ...]:
    job = row.job
    mark = ATTENTION_MARK if row.attention else " "
    return (
        f"{mark} {job.id}",
        status_text(job.status),
        elapsed_text(job.elapsed_ms(now)),
        tokens_text(job),
        one_line(job.prompt, prompt_width),
        one_line(row.last_line, last_width),
    )


def counts_text(snapshot: Snapshot, width: int) -> str:
    counts = snapshot.counts()
    order = sorted(counts, key=lambda status: (_GROUP.get(status, 5), status.value))
    total = f"{len(snapshot.rows)} job{'s' if len(snapshot.rows) != 1 else ''}"
    long = "  ".join([total, *(f"{SYMBOLS[s]}{counts[s]} {s.value}" for s in order)])
    if len(long) <= width:
        return long
    return fit("  ".join([total, *(f"{SYMBOLS[s]}{counts[s]}" for s in order)]), width)


def claims_text(claims: Sequence[ClaimView], width: int) -> str:
    if not claims:
        return "claims: none"
    shown = ", ".join(f"{claim.target} ({claim.holder})" for claim in claims)
    return one_line(f"claims {len(claims)}: {shown}", width)


def render_text(snapshot: Snapshot, *, width: int = 100, attention_only: bool = False) -> str:
    """The snapshot as plain text, no wider than `width` (for `dashboard --once`)."""
    width = max(width, 60)
    fixed = ID_WIDTH + STATUS_WIDTH + ELAPSED_WIDTH + TOKENS_WIDTH + 2 * 5
    prompt_width, last_width = flex_widths(width - fixed)
    rows = [row for row in snapshot.rows if row.attention or not attention_only]
    moment = time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at / 1000))
    attention = f"{snapshot.attention_count} need attention  " if snapshot.attention_count else ""
    header = f"codex-agent dashboard  {moment}  {attention}{snapshot.project_root}"
    lines = [fit(header, width)]
    titles = ("  ID", "STATUS", "TIME", "TOKENS", "PROMPT", "LAST OUTPUT")
    lines.append(_format(titles, prompt_width))
    for row in rows:
        lines.append(_format(row_cells(row, snapshot.taken_at, prompt_width, last_width), prompt_width))
    if not rows:
        lines.append("  (no jobs)" if not attention_only else "  (no job needs attention)")
    lines.append(counts_text(snapshot, width))
    lines.append(claims_text(snapshot.claims, width))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _format(cells: Sequence[str], prompt_width: int) -> str:
    ident, status, elapsed, tokens, prompt, last = cells
    return (
        f"{ident:<{ID_WIDTH}}  {status:<{STATUS_WIDTH}}  {elapsed:>{ELAPSED_WIDTH}}  "
        f"{tokens:>{TOKENS_WIDTH}}  {prompt:<{prompt_width}}  {last}"
    )


def report_lines(job: Job, tmux: Tmux, now: int | None = None) -> list[str]:
    """The status details of one job, one fact a line (the full view and the detail panel)."""
    rows = [
        ("status", f"{status_text(job.status)}  {job.kind.value}  {human_duration(job.elapsed_ms(now))}"),
        ("model", f"{job.model}  reasoning {job.reasoning}  sandbox {job.sandbox}" if job.model else None),
        ("exit code", None if job.exit_code is None else str(job.exit_code)),
        ("error", job.error),
        ("tokens", None if job.tokens is None else f"{job.tokens.input} in, {job.tokens.output} out"),
        ("files", ", ".join(job.files_modified) if job.files_modified else None),
        ("directory", job.cwd),
        ("attach", tmux.attach_command(job.tmux_session)),
        ("prompt", one_line(job.prompt, 400)),
        ("summary", one_line(job.summary, 400) if job.summary else None),
    ]
    return [f"{label + ':':<11}{value}" for label, value in rows if value]
