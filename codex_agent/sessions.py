"""The tmux sessions codex-agent made (on this tmux server), and the job each belongs to."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from codex_agent import job_reads, jobs
from codex_agent.models import SESSION_PREFIX


@dataclass(frozen=True, slots=True)
class SessionRow:
    session: str
    job_id: str
    alive: bool
    this_project: bool  # made by this project's codex-agent (its state directory), not another's
    attach: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_sessions(project: jobs.Project) -> list[SessionRow]:
    """Every codex-agent session, by name; jobs whose keeper is gone are recorded as lost first."""
    job_reads.reconcile(project, project.store.unfinished_jobs())
    state_dir = str(project.store.state_dir)
    return [
        SessionRow(
            session=name,
            job_id=name.removeprefix(SESSION_PREFIX),
            alive=not pane.dead,
            this_project=pane.state_dir == state_dir,
            attach=project.tmux.attach_command(name),
        )
        for name, pane in sorted(project.tmux.panes().items())
    ]
