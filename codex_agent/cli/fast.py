"""A lean path for the two reads orchestrators poll: `jobs --json` and `status ID --json`.

Building the typer application costs more than these commands' own work: importing typer and every command
module and, in recent typer versions, pydantic for parameter conversion (see docs/benchmarks.md). For exactly
these forms the few options are read here, and the same services and output helpers as the typer commands
are called; when every job concerned has ended, the store alone answers. Anything else (help, human output,
another option, a value typer would reject) returns None and takes the typer path, so every usage error keeps
its one wording. A test runs both paths on the same states and compares their output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codex_agent.models import Job
    from codex_agent.store import Store

JOBS_DEFAULT_LIMIT = 20  # as `jobs --limit`'s default in cli/inspect.py

_Options = dict[str, list[str]]


def try_run(args: Sequence[str]) -> int | None:
    """Run `args` if they are a lean form and return the exit status; else None, having done nothing."""
    if len(args) < 2 or "--json" not in args:
        return None
    if args[0] == "jobs":
        return _jobs(args[1:])
    if args[0] == "status":
        return _status(args[1:])
    return None


def _read(
    args: Sequence[str], flags: Mapping[str, str], valued: Mapping[str, str]
) -> tuple[_Options, list[str]] | None:
    """Options by name and the positional arguments; None for anything these forms do not take."""
    options: _Options = {}
    positional: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        key, equals, inline = arg.partition("=")
        if arg in flags:
            options.setdefault(flags[arg], [])
        elif arg.startswith("--") and equals and key in valued:
            options.setdefault(valued[key], []).append(inline)
        elif arg in valued and rest:
            options.setdefault(valued[arg], []).append(rest.pop(0))
        elif arg.startswith("-"):
            return None
        else:
            positional.append(arg)
    values = [value for found in options.values() for value in found]
    if any(not value or value.startswith("-") for value in values):
        return None  # let typer decide what an empty or dash-led value means
    return options, positional


def _directory(options: _Options) -> Path | None:
    return Path(options["dir"][0]) if "dir" in options else None


def _settled_store(directory: Path | None) -> Store | None:
    """The project's state, opened as `jobs.Project.open` opens it; None when the directory is not one.

    A store whose jobs have all ended needs nothing from tmux: reconciliation only looks at unfinished jobs.
    Then the lifecycle module (and tmux, git, subprocess) need not even be imported.
    """
    from codex_agent.store import Store, state_dir_for

    where = (directory or Path.cwd()).resolve()
    if not where.is_dir():
        return None  # the full path words the refusal
    return Store.open(state_dir_for(where), create=False)


def _jobs(args: Sequence[str]) -> int | None:
    from codex_agent.models import JobStatus

    parsed = _read(
        args,
        {"--json": "json", "--all": "all", "-a": "all"},
        {"--limit": "limit", "-n": "limit", "--status": "status", "--dir": "dir", "-d": "dir"},
    )
    if parsed is None:
        return None
    options, positional = parsed
    if positional or len(options.get("limit", ())) > 1 or len(options.get("dir", ())) > 1:
        return None
    limit: int | None = JOBS_DEFAULT_LIMIT
    if "limit" in options:
        text = options["limit"][0]
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            return None
        limit = int(text)
    if "all" in options:
        limit = None
    known = {status.value: status for status in JobStatus}
    if any(value not in known for value in options.get("status", ())):
        return None
    statuses = [known[value] for value in options["status"]] if options.get("status") else None

    directory = _directory(options)
    store = _settled_store(directory)
    if store is not None:
        try:
            if not store.unfinished_jobs():
                _print_jobs(store.list_jobs(limit=limit, statuses=statuses))
                return 0
        finally:
            store.close()
    from codex_agent import job_reads, jobs

    with jobs.opened(directory) as project:
        _print_jobs(job_reads.list_jobs(project, limit=limit, statuses=statuses))
    return 0


def _print_jobs(found: list[Job]) -> None:
    from codex_agent.cli.output import envelope, print_json
    from codex_agent.models import now_ms

    now = now_ms()
    print_json(envelope("jobs", [job.to_json(brief=True, now=now) for job in found]))


def _status(args: Sequence[str]) -> int | None:
    parsed = _read(args, {"--json": "json"}, {"--dir": "dir", "-d": "dir"})
    if parsed is None:
        return None
    options, positional = parsed
    if len(positional) != 1 or len(options.get("dir", ())) > 1:
        return None
    from codex_agent.cli.output import print_json

    directory = _directory(options)
    store = _settled_store(directory)
    if store is not None:
        try:
            job = store.find_job(positional[0])
            if job.status.is_terminal:
                print_json(job.to_json())
                return 0
        finally:
            store.close()
    from codex_agent import job_reads, jobs

    with jobs.opened(directory) as project:
        print_json(job_reads.get_job(project, positional[0]).to_json())
    return 0
