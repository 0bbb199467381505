"""`dashboard`: a live full-screen view of every job, or one plain-text snapshot of it with --once."""

from __future__ import annotations

import shutil
import sys
from typing import Annotated

import typer

from codex_agent.cli.common import DirOption, envelope, print_json
from codex_agent.errors import UsageError


def dashboard(
    once: Annotated[
        bool, typer.Option("--once", help="Print one plain-text snapshot and exit (no terminal needed).")
    ] = False,
    attention: Annotated[
        bool, typer.Option("--attention", help="Only jobs that need attention (f toggles it live).")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most the N newest jobs.")] = 200,
    directory: DirOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="With --once: print the snapshot as JSON.")
    ] = False,
) -> None:
    """Watch every job live: status, time, tokens, last output; act on them with single keys.

    Keys: arrows or j/k move, enter shows a job's report and output, m sends a message, y/n answer a
    question, x kills (after a confirmation), a attaches (detach to come back), f shows only jobs that
    need attention, q quits.
    """
    from codex_agent.dashboard.fleet import Fleet, render_text

    fleet = Fleet(directory, limit=limit)  # refuses a bad --dir before any screen is drawn
    if once or json_output:
        try:
            snapshot = fleet.snapshot()
        finally:
            fleet.close()
        if attention:
            snapshot.rows = [row for row in snapshot.rows if row.attention]
        if json_output:
            data = envelope("jobs", [])
            data.update(snapshot.to_json())
            print_json(data)
            return
        width = shutil.get_terminal_size((100, 24)).columns
        sys.stdout.write(render_text(snapshot, width=width))
        return
    fleet.close()
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the dashboard needs a terminal", "run it in one, or print a snapshot with --once")
    from codex_agent.dashboard.app import run_dashboard

    run_dashboard(directory, limit=limit, attention_only=attention)
