"""`events`: the project's job transitions, one line each; `--follow` keeps printing them as they happen."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from codex_agent import event_lines, events
from codex_agent.cli.common import DirOption, note
from codex_agent.errors import UsageError
from codex_agent.store import Store, find_project_root, state_dir_for


def events_command(
    directory: DirOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object a line (see docs/json.md).")
    ] = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Keep printing new events; never ends while the project exists."),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only events after this cursor: a seq printed earlier, or `now` for new ones only.",
            show_default=False,
        ),
    ] = None,
    job: Annotated[
        list[str] | None, typer.Option("--job", help="Only this job's events (repeatable).")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help=f"Only this kind (repeatable): {', '.join(events.PUBLIC_KINDS)}."),
    ] = None,
) -> None:
    """Job transitions: started, turn_completed, needs_input, turn_failed, stalled, ended.

    Each line names the job and the command to run next. Restart with `--since SEQ` (the last seq
    printed) to lose and repeat nothing."""
    start = (directory or Path.cwd()).resolve()
    if not start.is_dir():
        raise UsageError(f"not a directory: {start}", "pass an existing directory with --dir")
    project_dir = find_project_root(start)
    state_dir = state_dir_for(start)
    kinds = events.parse_kinds(kind or [])
    store = Store.open(state_dir, create=False)
    try:
        job_ids = [store.resolve_id(text) for text in job or []]
        after = events.parse_since(since, store)
        emit = _emit_json if json_output else _emit_lines
        if not follow:
            found = False
            for batch, _cursor in events.batches(store, after, job_ids, kinds):
                found = found or bool(batch)
                emit(batch)
            if not found:
                note("no events" + (" after that cursor" if after else " yet"))
            return
    finally:
        store.close()
    events.follow(state_dir, project_dir, after, job_ids, kinds, emit)


def _emit_json(batch: list[events.Event]) -> None:
    # ASCII-only JSON: agent text cannot carry a terminal escape or an unencodable character through it.
    sys.stdout.write("".join(json.dumps(event.to_json()) + "\n" for event in batch))
    sys.stdout.flush()


def _emit_lines(batch: list[events.Event]) -> None:
    sys.stdout.write("".join(event_lines.human_line(event) + "\n" for event in batch))
    sys.stdout.flush()
