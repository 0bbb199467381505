"""A lean path for the two reads orchestrators poll: `jobs --json` and `status ID --json`.

Building the typer application costs more than these commands' own work: importing typer and every command
module and, in recent typer versions, pydantic for parameter conversion (see docs/benchmarks.md). For exactly
these forms the few options are read here, and the same services and output helpers as the typer commands
are called. Anything else (help, human output, another option, a value typer would reject) returns None and
takes the typer path, so every usage error keeps its one wording. A test runs both paths on the same state
and compares their output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

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
    limit = JOBS_DEFAULT_LIMIT
    if "limit" in options:
        text = options["limit"][0]
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            return None
        limit = int(text)
    known = {status.value: status for status in JobStatus}
    if any(value not in known for value in options.get("status", ())):
        return None
    statuses = [known[value] for value in options["status"]] if options.get("status") else None

    from codex_agent import jobs
    from codex_agent.cli.output import envelope, print_json
    from codex_agent.models import now_ms

    with jobs.opened(_directory(options)) as project:
        found = jobs.list_jobs(project, limit=None if "all" in options else limit, statuses=statuses)
        now = now_ms()
        print_json(envelope("jobs", [job.to_json(brief=True, now=now) for job in found]))
    return 0


def _status(args: Sequence[str]) -> int | None:
    parsed = _read(args, {"--json": "json"}, {"--dir": "dir", "-d": "dir"})
    if parsed is None:
        return None
    options, positional = parsed
    if len(positional) != 1 or len(options.get("dir", ())) > 1:
        return None

    from codex_agent import jobs
    from codex_agent.cli.output import print_json

    with jobs.opened(_directory(options)) as project:
        print_json(jobs.get_job(project, positional[0]).to_json())
    return 0
