"""What the dashboard does to the selected job (message, answer, kill, attach) and re-reading on request.

Each action runs in a worker thread with its own short-lived project, so the event loop never waits on
tmux or SQLite; the outcome comes back as a Note."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from textual.app import App, SuspendNotSupported

from codex_agent import job_cleanup, jobs
from codex_agent.dashboard.fleet import Fleet, Row, answer_prompt, send_message
from codex_agent.dashboard.screens import ConfirmScreen, MessageScreen, Note, SnapshotReady
from codex_agent.display import one_line
from codex_agent.errors import CodexAgentError
from codex_agent.models import Job, JobKind
from codex_agent.tmux import Tmux


class JobActions(App[None]):
    """The dashboard app's actions; DashboardApp sets the state below."""

    directory: Path | None
    limit: int | None
    tmux: Tmux
    rows: dict[str, Row]
    selected_id: str | None
    notes: list[str]

    def note(self, text: str, *, error: bool = False) -> None:
        self.notes.append(text)
        self.notify(text, severity="error" if error else "information", timeout=4)

    def _selected_job(self) -> Job | None:
        row = self.rows.get(self.selected_id) if self.selected_id else None
        if row is None:
            self.note("no job selected", error=True)
            return None
        return row.job

    def action_refresh(self) -> None:
        self.run_worker(self._reload, thread=True, group="refresh", exclusive=True, exit_on_error=False)

    def _reload(self) -> None:
        try:
            fleet = Fleet(self.directory, limit=self.limit)
            try:
                self.post_message(SnapshotReady(fleet.snapshot()))
            finally:
                fleet.close()
        except CodexAgentError as exc:
            self.post_message(Note(exc.one_line(), error=True))

    def action_message(self) -> None:
        job = self._selected_job()
        if job is None:
            return
        if job.kind is not JobKind.CODEX or not job.status.is_live:
            self.note(f"job {job.id} takes no messages: only a live codex TUI job does", error=True)
            return

        def send(text: str | None) -> None:
            if text:
                self._act(f"message sent to {job.id}", lambda project: send_message(project, job.id, text))

        self.push_screen(MessageScreen(job), send)

    def action_answer(self, key: str) -> None:
        job = self._selected_job()
        if job is not None:
            self._act(f"answered {key} to {job.id}", lambda project: answer_prompt(project, job.id, key))

    def action_kill(self) -> None:
        job = self._selected_job()
        if job is None:
            return
        if job.status.is_terminal:
            self.note(f"job {job.id} has already ended ({job.status.value})", error=True)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(f"killed {job.id}", lambda project: job_cleanup.kill(project, job.id))

        question = f"Kill job {job.id} ({job.status.value}): {one_line(job.prompt, 40)}?"
        self.push_screen(ConfirmScreen(question), confirmed)

    def _act(self, done: str, action: Callable[[jobs.Project], object]) -> None:
        def work() -> None:
            try:
                with jobs.opened(self.directory) as project:
                    action(project)
            except CodexAgentError as exc:
                self.post_message(Note(exc.one_line(), error=True))
                return
            self.post_message(Note(done))

        self.run_worker(work, thread=True, group="act", exit_on_error=False)

    def action_attach(self) -> None:
        job = self._selected_job()
        if job is None:
            return
        if job.status.is_terminal:
            self.note(f"job {job.id} has ended: nothing to attach to", error=True)
            return
        argv = self.tmux.attach_argv(job.tmux_session)
        # Attaching from inside tmux needs TMUX unset; the job's server is a different one anyway.
        env = {key: value for key, value in os.environ.items() if key not in ("TMUX", "TMUX_PANE")}
        try:
            with self.suspend():
                subprocess.run(argv, env=env, check=False)
        except SuspendNotSupported:
            self.note(
                f"cannot hand over this terminal; attach with: {self.tmux.attach_command(job.tmux_session)}"
            )
            return
        self.action_refresh()
