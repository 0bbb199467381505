"""`context` (the recovery summary for an orchestrator) and `report` (one job's outcome)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codex_agent.cli.common import JobIdArgument, Output, echo
from codex_agent.cli.declare import job_command
from codex_agent.display import SYMBOLS, human_duration, one_line
from codex_agent.models import JobStatus

if TYPE_CHECKING:
    from codex_agent.jobs import Project

WIDTH = 110


@job_command()
def context(project: Project) -> Output:
    """One screen to resume from: jobs by state, claims, and the latest agents.log entries."""
    from codex_agent import recovery

    data = recovery.build(project)
    return Output(data, lambda: render_context(data))


@job_command()
def report(project: Project, job_id: JobIdArgument) -> Output:
    """A job's outcome: status, duration, tokens, files changed with line counts, errors, summary."""
    from codex_agent import reports

    data = reports.build(project, job_id)
    return Output(data, lambda: render_report(data))


# --- context ---------------------------------------------------------------------------------------------


def _counts_line(data: dict[str, Any]) -> str:
    counts = data["counts"]
    order = [status.value for status in JobStatus]
    parts = [f"{counts[name]} {name.replace('_', ' ')}" for name in order if counts.get(name)]
    return f"{data['total_jobs']} job(s): " + (", ".join(parts) if parts else "none yet")


def _job_lines(key: str, job: dict[str, Any]) -> list[str]:
    symbol = SYMBOLS[JobStatus(job["status"])]
    if key in ("completed", "failed"):
        when = (
            f"ended {human_duration(job['ended_ago_ms'] or 0)} ago, ran {human_duration(job['elapsed_ms'])}"
        )
    elif key == "queued":
        when = f"{'queued' if job['queued'] else 'starting'} {human_duration(job['age_ms'])}"
    else:
        when = f"for {human_duration(job['elapsed_ms'])}"
    status = "" if key != "failed" else f"{job['status']}  "
    head = f"  {symbol} {job['id']}  {job['kind']:<10} {status}{when}"
    lines = [head, f"      prompt: {one_line(job['prompt'], WIDTH - 14)}"]
    details = []
    if job["after"]:
        details.append(f"after: {', '.join(job['after'])}")
    if job["claims"]:
        details.append(f"claims: {', '.join(job['claims'])}")
    if job["branch"]:
        details.append(f"branch: {job['branch']}")
    if job["files_modified"] and key in ("completed", "failed"):
        shown = ", ".join(job["files_modified"][:4])
        more = len(job["files_modified"]) - 4
        details.append(f"files: {shown}" + (f" +{more} more" if more > 0 else ""))
    if job["retry_of"]:
        details.append(f"retry of {job['retry_of']}")
    if details:
        lines.append("      " + one_line(" · ".join(details), WIDTH - 6))
    if job["error"]:
        lines.append(f"      error: {one_line(job['error'], WIDTH - 13)}")
    if job["last_message"]:
        lines.append(f"      last: {one_line(job['last_message'], WIDTH - 12)}")
    return lines


def _log_line(entry: dict[str, Any]) -> str:
    fields = entry["fields"]
    kind = entry["kind"]
    if kind == "spawned":
        what = f"Spawned {entry['job_id']}  {fields.get('prompt') or fields.get('command') or ''}"
    elif kind == "complete":
        what = f"Complete {entry['job_id']}  {fields.get('status', '')} — {fields.get('summary', '')}"
    else:
        what = f"{kind.capitalize()}  {entry['text']}"
    if entry.get("verified") is False:
        what = f"[not written by codex-agent here] {what}"
    return f"  {entry['time']} {one_line(what, WIDTH - 8)}"


def render_context(data: dict[str, Any]) -> None:
    from codex_agent import recovery

    echo(f"codex-agent context: {data['project']}  ({data['generated_at']})")
    echo(_counts_line(data))
    for key, title, _statuses in recovery.GROUPS:
        members = data["groups"][key]
        if not members:
            continue
        echo("")
        echo(f"{title.upper()} ({len(members)})")
        for job in members:
            for line in _job_lines(key, job):
                echo(line)
    if data["claims"]:
        echo("")
        echo(f"LIVE CLAIMS ({len(data['claims'])})")
        for claim in data["claims"]:
            echo(f"  {claim['job_id']}  {one_line(claim['pattern'], WIDTH - 12)}")
    log = data["log"]
    echo("")
    if log["entries"]:
        echo(f"AGENTS.LOG (last {len(log['recent'])} of {log['entries']}; all: codex-agent log)")
        for entry in log["recent"]:
            echo(_log_line(entry))
    else:
        echo(f"AGENTS.LOG: no entries yet ({log['path']})")
    echo("")
    echo('next: codex-agent report ID | capture ID | send ID "..." | log add --kind synthesis "..."')


# --- report ----------------------------------------------------------------------------------------------


def render_report(data: dict[str, Any]) -> None:
    status = data["status"] + (f" (exit {data['exit_code']})" if data["exit_code"] is not None else "")
    echo(f"job {data['id']}  {data['kind']}  {status}  after {human_duration(data['duration_ms'])}")
    echo(f"prompt:   {one_line(data['prompt'], WIDTH - 10)}")
    echo(f"started:  {data['started_at'] or '-'}   ended: {data['completed_at'] or '-'}")
    tokens = data["tokens"]
    if tokens:
        used = f", {tokens['context_used_pct']}% of the context window" if tokens["context_used_pct"] else ""
        echo(f"tokens:   {tokens['input']} in, {tokens['output']} out{used}")
    if data["worktree"]:
        echo(one_line(f"worktree: {data['worktree']['path']}  (branch {data['worktree']['branch']})", 400))
    if data["claims"]:
        echo(f"claims:   {one_line(', '.join(data['claims']), 400)}")
    if data["retry"]:
        retry = data["retry"]
        line = f"attempt:  {retry.get('attempt', 1)} of {int(retry.get('max_retries', 0)) + 1}"
        if retry.get("first"):
            line += f", first job {retry['first']}"
        if retry.get("retried_as"):
            line += f", retried as {retry['retried_as']}"
        echo(line)
    base = data["base"]
    echo("")
    if base is None:
        echo("files:    cannot be measured (no git commit to compare with)")
    else:
        subject = f" {one_line(base['subject'], 50)!r}" if base.get("subject") else ""
        echo(f"changes since {base['commit'][:12]}{subject} — {base['description']}")
        files = data["files"] or []
        if not files:
            echo("  no files changed")
        for stat in files:
            added = "bin" if stat["added"] is None else f"+{stat['added']}"
            deleted = "" if stat["deleted"] is None else f"-{stat['deleted']}"
            echo(f"  {added:>7} {deleted:>6}  {one_line(stat['path'], WIDTH)}  ({stat['change']})")
        totals = data["totals"]
        if totals and files:
            echo(f"  {totals['files']} file(s), +{totals['added']} -{totals['deleted']}")
    if data["errors"]:
        echo("")
        echo("errors:")
        for text in data["errors"]:
            echo(f"  - {one_line(text, WIDTH - 4)}")
    if data["warnings"]:
        echo("")
        echo("warnings:")
        for text in data["warnings"]:
            echo(f"  - {one_line(text, WIDTH - 4)}")
    echo("")
    echo("summary:")
    for line in (data["summary"] or "(none)").strip().splitlines():
        echo(f"  {line}")
