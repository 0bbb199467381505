"""Heartbeats of live jobs for `health`: is the keeper's process there, when did the job last show output
and progress. Status itself is never decided here: the job's keeper records it from codex's protocol."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_agent.agents.launch import STAMP_FILE
from codex_agent.models import Job, iso
from codex_agent.output_log import OUTPUT_LOG
from codex_agent.tmux import PaneState


@dataclass(slots=True)
class Heartbeat:
    process_alive: bool
    pid: int | None
    last_output_at: int | None
    last_progress_at: int | None
    last_turn_at: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "process_alive": self.process_alive,
            "pid": self.pid,
            "last_output_at": iso(self.last_output_at),
            "last_progress_at": iso(self.last_progress_at),
            "last_turn_at": iso(self.last_turn_at),
        }


def _mtime_ms(path: Path) -> int | None:
    try:
        return int(path.stat().st_mtime * 1000)
    except OSError:
        return None


def _latest(*values: int | None) -> int | None:
    present = [value for value in values if value]
    return max(present) if present else None


def last_output_ms(job_dir: Path, pane: PaneState | None) -> int | None:
    """The last time the job wrote to its terminal: tmux's window activity, or the output log's mtime."""
    activity = pane.activity_s * 1000 if pane is not None and pane.activity_s else None
    return _latest(activity, _mtime_ms(job_dir / OUTPUT_LOG))


def heartbeat(job: Job, job_dir: Path, pane: PaneState | None) -> Heartbeat:
    """A codex TUI redraws its spinner while it works, so its output says nothing: its progress is the last
    change its keeper recorded. For everything else, progress is output."""
    started = job.started_at or job.created_at
    output = last_output_ms(job_dir, pane)
    recorded = _mtime_ms(job_dir / STAMP_FILE)
    progress = _latest(started, recorded) if job.kind.is_codex else _latest(started, output)
    turn = job.attrs.get("turn") or {}
    completed = turn.get("completed_at")
    return Heartbeat(
        process_alive=pane is not None and not pane.dead,
        pid=pane.pid if pane is not None else None,
        last_output_at=output,
        last_progress_at=progress,
        last_turn_at=completed if isinstance(completed, int) else None,
    )
