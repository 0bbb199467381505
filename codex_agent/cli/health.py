"""`health`: are tmux and codex there, and how are the live jobs doing."""

from __future__ import annotations

from typing import Any

import typer

from codex_agent import activity, job_reads, jobs
from codex_agent.agents import codex
from codex_agent.cli.common import DirOption, JsonOption, echo, print_json
from codex_agent.errors import CodexAgentError
from codex_agent.models import now_ms
from codex_agent.tmux import INSTALL_HINT


def _codex_check() -> dict[str, Any]:
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


def health(directory: DirOption = None, json_output: JsonOption = False) -> None:
    """Check tmux and codex, and report live jobs. Exits 6 when something is missing."""
    with jobs.opened(directory) as project:
        tmux_version = project.tmux.version()
        tmux_check = {"ok": tmux_version is not None, "version": tmux_version, "hint": None}
        if tmux_version is None:
            tmux_check["hint"] = INSTALL_HINT
        codex_check = _codex_check()
        live: list[dict[str, Any]] = []
        if tmux_version is not None:
            unfinished = project.store.unfinished_jobs()
            job_reads.reconcile(project, unfinished)
            now = now_ms()
            panes = project.tmux.panes()
            live = [
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
        report = {
            "ok": bool(tmux_check["ok"] and codex_check["ok"]),
            "tmux": tmux_check,
            "codex": codex_check,
            "state_dir": str(project.store.state_dir),
            "live_jobs": live,
        }
    if json_output:
        print_json(report)
    else:
        for name, check in (("tmux", tmux_check), ("codex", codex_check)):
            mark = "ok  " if check["ok"] else "MISSING"
            echo(f"{name:<6}{mark} {check.get('version') or ''}".rstrip())
            if check.get("hint"):
                echo(f"      {check['hint']}")
        echo(f"state {report['state_dir']}")
        echo(f"live  {len(live)} job(s)")
        for row in live:
            alive = "alive" if row["process_alive"] else "NO PROCESS"
            echo(
                f"      {row['id']}  {row['status']:<11} {alive}"
                f"  last output {row['last_output_at'] or '-'}  last turn {row['last_turn_at'] or '-'}"
            )
    if not report["ok"]:
        raise typer.Exit(6)
