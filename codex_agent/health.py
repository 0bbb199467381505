"""`health`'s report: are tmux and codex there and usable, and how are the live jobs doing."""

from __future__ import annotations

from typing import Any

from codex_agent import activity, job_reads, jobs
from codex_agent.agents import codex
from codex_agent.errors import CodexAgentError
from codex_agent.models import now_ms
from codex_agent.tmux import INSTALL_HINT


def codex_check() -> dict[str, Any]:
    """Where codex is, which version it says it is (`codex --version`), and whether that version will do."""
    try:
        binary = codex.codex_binary()
    except CodexAgentError as exc:
        return {"ok": False, "path": None, "version": None, "hint": exc.one_line()}
    try:
        version = codex.version_of(binary)
    except CodexAgentError as exc:
        return {"ok": False, "path": binary, "version": None, "hint": exc.one_line()}
    problem = codex.check_version(version)
    return {"ok": problem is None, "path": binary, "version": version, "hint": problem}


def _live_jobs(project: jobs.Project) -> list[dict[str, Any]]:
    unfinished = project.store.unfinished_jobs()
    job_reads.reconcile(project, unfinished)
    now = now_ms()
    panes = project.tmux.panes()
    return [
        {
            "id": job.id,
            "status": job.status.value,
            "status_basis": job.attrs.get("status_basis"),
            "attention": job.attrs.get("attention"),
            "elapsed_ms": job.elapsed_ms(now),
            **activity.heartbeat(job, project.job_dir(job), panes.get(job.tmux_session)).to_json(),
        }
        for job in unfinished
        if job.status.is_live
    ]


def report(project: jobs.Project) -> dict[str, Any]:
    """The health report (docs/json.md, "Health"); `ok` is false when tmux or codex is missing."""
    tmux_version = project.tmux.version()
    tmux_check = {"ok": tmux_version is not None, "version": tmux_version, "hint": None}
    if tmux_version is None:
        tmux_check["hint"] = INSTALL_HINT
    checked = codex_check()
    return {
        "ok": bool(tmux_check["ok"] and checked["ok"]),
        "tmux": tmux_check,
        "codex": checked,
        "state_dir": str(project.store.state_dir),
        "live_jobs": _live_jobs(project) if tmux_version is not None else [],
    }
