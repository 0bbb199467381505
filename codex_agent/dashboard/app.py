"""The Textual application behind `codex-agent dashboard`. Only that command imports this module.

Threads: one watcher thread owns a `Fleet` (and so its SQLite connection); it waits on file-system events in
the state directory, re-reads what changed and posts the result to the app as a message. Every action (send,
answer, kill, capture) runs in a worker thread with its own short-lived project. The event loop itself does
no I/O, so the screen never stalls on tmux or SQLite.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from codex_agent import job_reads, jobs
from codex_agent.dashboard.actions import JobActions
from codex_agent.dashboard.fleet import (
    DEFAULT_LIMIT,
    ELAPSED_WIDTH,
    ID_WIDTH,
    STATUS_WIDTH,
    TOKENS_WIDTH,
    Fleet,
    Row,
    Snapshot,
    flex_widths,
    row_cells,
)
from codex_agent.dashboard.panes import detail_text, status_line, styled_cells
from codex_agent.dashboard.screens import (
    DetailLoaded,
    JobScreen,
    Note,
    OutputMoved,
    SnapshotReady,
)
from codex_agent.dashboard.watcher import watch_fleet
from codex_agent.errors import CodexAgentError
from codex_agent.models import now_ms
from codex_agent.tmux import Tmux

QUIET_S = 3.0  # with no file event for this long, check tmux for sessions that vanished
FULL_REFRESH_S = 30.0  # and re-read everything at least this often
CLOCK_S = 1.0  # the elapsed column's tick
DETAIL_DELAY_S = 0.15  # a held arrow key does not capture every row it passes
DETAIL_LINES = 40
HELP = "↑↓ move  ⏎ view  m message  y/n answer  x kill  a attach  f attention  q quit"

COLUMNS = ("id", "status", "elapsed", "tokens", "prompt", "last")
TITLES = ("  ID", "STATUS", "TIME", "TOKENS", "PROMPT", "LAST OUTPUT")


# --- the app --------------------------------------------------------------------------------------------


class DashboardApp(JobActions):
    TITLE = "codex-agent dashboard"
    CSS = """
    #jobs { height: 1fr; scrollbar-size-vertical: 1; }
    #detail { height: 8; border-top: hkey $secondary; padding: 0 0; }
    #status { height: 1; }
    #help { height: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("j", "move(1)", "down", show=False),
        Binding("k", "move(-1)", "up", show=False),
        Binding("m", "message", "message"),
        Binding("y", "answer('y')", "yes"),
        Binding("n", "answer('n')", "no"),
        Binding("x", "kill", "kill"),
        Binding("a", "attach", "attach"),
        Binding("f", "filter", "attention"),
        Binding("r", "refresh", "refresh"),
    ]

    def __init__(
        self,
        directory: Path | None = None,
        *,
        limit: int | None = DEFAULT_LIMIT,
        attention_only: bool = False,
        quiet_s: float = QUIET_S,
        full_refresh_s: float = FULL_REFRESH_S,
        clock_s: float = CLOCK_S,
    ) -> None:
        super().__init__()
        self.directory = directory
        self.limit = limit
        self.attention_only = attention_only
        self.quiet_s = quiet_s
        self.full_refresh_s = full_refresh_s
        self.clock_s = clock_s
        self.tmux = Tmux.from_env()
        self.snapshot: Snapshot | None = None
        self.rows: dict[str, Row] = {}
        self.shown: list[tuple[str, tuple[str, ...]]] = []
        self.selected_id: str | None = None
        self.detail_output: dict[str, str] = {}
        self.notes: list[str] = []
        self.snapshots_applied = 0
        self._width = 0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._detail_timer: object | None = None

    # --- layout ------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="jobs", cursor_type="row", zebra_stripes=False)
        yield table
        yield Static(Text(""), id="detail")
        yield Static(Text(""), id="status")
        yield Static(Text(HELP), id="help")

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#jobs", DataTable)

    def on_mount(self) -> None:
        self._layout(self.size.width)
        self.table.focus()
        self._watcher = threading.Thread(target=self._watch, name="dashboard-watch", daemon=True)
        self._watcher.start()
        self.set_interval(self.clock_s, self._tick)

    def on_unmount(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._layout(event.size.width)

    def _flex(self) -> tuple[int, int]:
        fixed = ID_WIDTH + STATUS_WIDTH + ELAPSED_WIDTH + TOKENS_WIDTH + 2 * len(COLUMNS) + 1
        return flex_widths(self._width - fixed)

    def _layout(self, width: int) -> None:
        self._width = width
        prompt_width, last_width = self._flex()
        widths = (ID_WIDTH, STATUS_WIDTH, ELAPSED_WIDTH, TOKENS_WIDTH, prompt_width, last_width)
        table = self.table
        table.clear(columns=True)
        for key, title, column_width in zip(COLUMNS, TITLES, widths, strict=True):
            table.add_column(Text(title), width=column_width, key=key)
        self.shown = []
        self._fill_table()
        self._show_status()

    # --- reading (watcher thread) ------------------------------------------------------------------------

    def _watch(self) -> None:
        try:
            fleet = Fleet(self.directory, limit=self.limit)
        except CodexAgentError as exc:
            self.post_message(Note(exc.one_line(), error=True))
            return
        try:
            watch_fleet(
                fleet, self._stop, self.post_message, quiet_s=self.quiet_s, full_refresh_s=self.full_refresh_s
            )
        finally:
            fleet.close()

    # --- showing (event loop) ----------------------------------------------------------------------------

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        before = self.rows.get(self.selected_id) if self.selected_id else None
        self.snapshot = message.snapshot
        self.rows = {row.job.id: row for row in message.snapshot.rows}
        self.snapshots_applied += 1
        self._fill_table()
        self._show_status()
        self._show_detail()
        after = self.rows.get(self.selected_id) if self.selected_id else None
        if after is not None and (before is None or before.job.updated_at != after.job.updated_at):
            self._schedule_detail()  # the selected job's record moved: its screen may have too

    def on_output_moved(self, message: OutputMoved) -> None:
        for job_id, line in message.lines.items():
            row = self.rows.get(job_id)
            if row is not None and row.last_line != line:
                row.last_line = line
                self._update_row(row)
        if self.selected_id in message.lines:
            self._schedule_detail()

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.detail_output[message.job_id] = message.text
        if message.job_id == self.selected_id:
            self._show_detail()

    def on_note(self, message: Note) -> None:
        self.note(message.text, error=message.error)

    def _visible_rows(self) -> list[Row]:
        if self.snapshot is None:
            return []
        return [row for row in self.snapshot.rows if row.attention or not self.attention_only]

    def _cells(self, row: Row, now: int) -> tuple[str, ...]:
        prompt_width, last_width = self._flex()
        return row_cells(row, now, prompt_width, last_width)

    def _fill_table(self) -> None:
        if self._width == 0:
            return
        now = now_ms()
        wanted = [(row.job.id, self._cells(row, now)) for row in self._visible_rows()]
        if wanted == self.shown:
            return
        if [job_id for job_id, _ in wanted] == [job_id for job_id, _ in self.shown]:
            for job_id, _cells in wanted:
                self._update_row(self.rows[job_id])
            return
        table = self.table
        keep = self.selected_id
        table.clear()
        for job_id, cells in wanted:
            table.add_row(*styled_cells(self.rows[job_id], cells, color=not self.no_color), key=job_id)
        self.shown = wanted
        ids = [job_id for job_id, _ in wanted]
        if keep in ids:
            table.move_cursor(row=ids.index(keep), animate=False)
        elif ids:
            table.move_cursor(row=0, animate=False)
            self._select(ids[0])
        else:
            self._select(None)

    def _update_row(self, row: Row) -> None:
        ids = [job_id for job_id, _ in self.shown]
        if row.job.id not in ids:
            return
        index = ids.index(row.job.id)
        cells = self._cells(row, now_ms())
        old = self.shown[index][1]
        styled = styled_cells(row, cells, color=not self.no_color)
        for column, (before, after, value) in enumerate(zip(old, cells, styled, strict=True)):
            if before != after:
                self.table.update_cell(row.job.id, COLUMNS[column], value)
        self.shown[index] = (row.job.id, cells)

    def _tick(self) -> None:
        """Move the elapsed time of the live jobs on screen. Nothing is read: the rows are in memory.

        Rows scrolled out of view are left alone (each changed cell costs a repaint); they catch up on the
        next tick after they come into view.
        """
        table = self.table
        first = max(0, round(table.scroll_offset.y))
        visible = self.shown[first : first + max(0, table.size.height - 1)]
        with self.batch_update():
            for job_id, _cells in visible:
                row = self.rows.get(job_id)
                if row is not None and not row.job.status.is_terminal:
                    self._update_row(row)

    def _show_status(self) -> None:
        text = status_line(self.snapshot, self._width, attention_only=self.attention_only)
        self.query_one("#status", Static).update(Text(text))

    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        row = self.rows.get(self.selected_id) if self.selected_id else None
        if row is None:
            message = "no job needs attention" if self.attention_only and self.snapshot else "no jobs"
            detail.update(Text(message if self.snapshot else ""))
            return
        detail.update(detail_text(row.job, self.detail_output.get(row.job.id), self._width))

    # --- selection ---------------------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._select(event.row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.push_screen(JobScreen(self.directory, event.row_key.value))

    def _select(self, job_id: str | None) -> None:
        changed = job_id != self.selected_id
        self.selected_id = job_id
        self._show_detail()
        if changed and job_id is not None:
            self._schedule_detail()

    def _schedule_detail(self) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()  # type: ignore[attr-defined]
        self._detail_timer = self.set_timer(DETAIL_DELAY_S, self._load_detail)

    def _load_detail(self) -> None:
        job_id = self.selected_id
        if job_id is not None:
            self.run_worker(
                lambda: self._capture(job_id),
                thread=True,
                group="detail",
                exclusive=True,
                exit_on_error=False,
            )

    def _capture(self, job_id: str) -> None:
        try:
            with jobs.opened(self.directory) as project:
                text = job_reads.capture(project, job_id, lines=DETAIL_LINES, ansi=False)
        except CodexAgentError as exc:
            text = exc.one_line()
        self.post_message(DetailLoaded(job_id, text))

    # --- actions -----------------------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        if step > 0:
            self.table.action_cursor_down()
        else:
            self.table.action_cursor_up()

    def action_filter(self) -> None:
        self.attention_only = not self.attention_only
        self._fill_table()
        self._show_status()
        self._show_detail()


def run_dashboard(directory: Path | None, *, limit: int | None, attention_only: bool) -> None:
    DashboardApp(directory, limit=limit, attention_only=attention_only).run()
