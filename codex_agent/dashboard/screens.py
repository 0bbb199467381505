"""The dashboard's screens besides the table (a confirmation, a message box, one job in full) and the
messages its threads post to the event loop."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static

from codex_agent import job_reads, jobs
from codex_agent.dashboard.fleet import Snapshot, report_lines
from codex_agent.display import plain
from codex_agent.errors import CodexAgentError
from codex_agent.models import Job

FULL_VIEW_LINES = 300


# --- messages from threads ------------------------------------------------------------------------------


class SnapshotReady(Message):
    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class OutputMoved(Message):
    """Some jobs wrote output: their new last lines."""

    def __init__(self, lines: dict[str, str]) -> None:
        super().__init__()
        self.lines = lines


class DetailLoaded(Message):
    def __init__(self, job_id: str, text: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.text = text


class Note(Message):
    def __init__(self, text: str, error: bool = False) -> None:
        super().__init__()
        self.text = text
        self.error = error


# --- screens --------------------------------------------------------------------------------------------


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Static { width: 60; height: auto; border: heavy $error; padding: 0 1; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.question}\n\ny = yes    n or esc = no"))

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class MessageScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    MessageScreen { align: center middle; }
    MessageScreen > Vertical { width: 76; height: auto; border: heavy $accent; padding: 0 1; }
    MessageScreen Input { width: 100%; }
    """

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Message to job {self.job.id}  (enter sends, esc cancels)"))
            yield Input(placeholder="what should the agent do next?", id="message")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value if event.value.strip() else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class JobScreen(Screen[None]):
    """One job in full: its report and its recent output."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,backspace", "close", "back"),
        Binding("r", "reload", "reload"),
    ]
    DEFAULT_CSS = """
    JobScreen #title { height: 1; text-style: bold; }
    JobScreen #report { height: auto; margin-bottom: 1; }
    JobScreen #help { height: 1; dock: bottom; }
    """

    def __init__(self, directory: Path | None, job_id: str) -> None:
        super().__init__()
        self.directory = directory
        self.job_id = job_id
        self.output_text = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(f"job {self.job_id}"), id="title")
        with VerticalScroll(id="body"):
            yield Static(Text("loading…"), id="report")
            yield Static(Text(""), id="output")
        yield Static(Text("esc back  r reload  m message  y/n answer  x kill  a attach  q quit"), id="help")

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self._load, thread=True, group="full-view", exclusive=True, exit_on_error=False)

    def _load(self) -> None:
        try:
            with jobs.opened(self.directory) as project:
                job = job_reads.get_job(project, self.job_id)
                report = report_lines(job, project.tmux)
                output = job_reads.capture(project, self.job_id, lines=FULL_VIEW_LINES, ansi=False)
        except CodexAgentError as exc:
            report, output = [exc.one_line()], ""
        self.post_message(DetailLoaded(self.job_id, "\n".join(report) + "\n\x00" + output))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        message.stop()
        report, _, output = message.text.partition("\n\x00")
        self.output_text = output
        # Agents' text, shown as text: no escape sequence reaches the terminal through Textual either.
        self.query_one("#report", Static).update(Text(plain(report)))
        self.query_one("#output", Static).update(Text(plain(output.rstrip("\n")) or "(no output yet)"))
        self.query_one("#body", VerticalScroll).scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
