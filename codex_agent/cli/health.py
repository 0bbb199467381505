"""`health`: are tmux and codex there, and how are the live jobs doing (the report is health.py's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codex_agent.cli.common import Output, echo
from codex_agent.cli.declare import job_command
from codex_agent.errors import MissingDependencyError

if TYPE_CHECKING:
    from codex_agent.jobs import Project


@job_command(options=("directory", "json_output"))
def health(project: Project) -> Output:
    """Check tmux and codex, and report live jobs. Exits 6 when something is missing."""
    from codex_agent import health as service

    report = service.report(project)
    missing = [name for name in ("tmux", "codex") if not report[name]["ok"]]
    problem = MissingDependencyError(f"{' and '.join(missing)} missing or unusable", "see the report above")
    return Output(report, lambda: _print_report(report), error=problem if missing else None)


def _print_report(report: dict[str, Any]) -> None:
    for name in ("tmux", "codex"):
        check = report[name]
        mark = "ok  " if check["ok"] else "MISSING"
        echo(f"{name:<6}{mark} {check.get('version') or ''}".rstrip())
        if check.get("hint"):
            echo(f"      {check['hint']}")
    echo(f"state {report['state_dir']}")
    echo(f"live  {len(report['live_jobs'])} job(s)")
    for row in report["live_jobs"]:
        alive = "alive" if row["process_alive"] else "NO PROCESS"
        echo(
            f"      {row['id']}  {row['status']:<11} {alive}"
            f"  last output {row['last_output_at'] or '-'}  last turn {row['last_turn_at'] or '-'}"
        )
