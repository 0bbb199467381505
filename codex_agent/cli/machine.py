"""`machine` (add, list, remove, check, up, disconnect), `pull`, and `jobs --machine all`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from codex_agent.cli import forwarding
from codex_agent.cli.common import (
    JobIdArgument,
    JsonOption,
    Output,
    echo,
    envelope,
    note,
    print_json,
    show,
)
from codex_agent.cli.declare import command_group, job_command
from codex_agent.cli.render import table
from codex_agent.display import human_duration, one_line
from codex_agent.errors import CodexAgentError, RemoteError, UsageError
from codex_agent.models import JobStatus, now_ms
from codex_agent.remote import machines as registry

if TYPE_CHECKING:
    from codex_agent.jobs import Project

app = command_group("Remote machines reached over SSH: register, check, make ready.", no_args_is_help=True)
NameArgument = Annotated[str, typer.Argument(help="The machine's name.", show_default=False)]


@app.command("add")
def add(
    name: NameArgument,
    host: Annotated[
        str,
        typer.Option("--host", help="[USER@]HOST, or a Host alias from your ssh config.", show_default=False),
    ],
    port: Annotated[int | None, typer.Option("--port", help="SSH port.", show_default=False)] = None,
    identity: Annotated[
        Path | None, typer.Option("--identity", help="Private key file (ssh -i).", show_default=False)
    ] = None,
    remote_dir: Annotated[
        str,
        typer.Option("--dir", help="Work directory on the host (relative to its HOME): state and projects."),
    ] = registry.DEFAULT_REMOTE_DIR,
    ssh_config: Annotated[
        Path | None,
        typer.Option("--ssh-config", help="An ssh config file to use (ssh -F).", show_default=False),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env", help="KEY=VALUE set for codex-agent on the host (repeatable).", show_default=False
        ),
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an existing machine.")] = False,
    accept_new_host_key: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-key",
            help="Connect once and record the host's key if known_hosts has none for it (trust on first "
            "use; a changed key is still refused); prints the fingerprint.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Register a machine. Nothing is contacted unless --accept-new-host-key; next: `machine check NAME`."""
    machine = registry.prepare(
        registry.Machine(
            name=name,
            host=host,
            port=port,
            identity=str(identity) if identity else None,
            ssh_config=str(ssh_config) if ssh_config else None,
            dir=remote_dir,
            env=registry.validate_env(env or []),
        ),
        replace=replace,
    )
    fingerprints: list[str] = []
    if accept_new_host_key:
        from codex_agent.remote import ssh

        fingerprints = ssh.trust_on_first_use(machine)  # before saving: a failed connection adds nothing
    machine = registry.add(machine, replace=replace)
    if json_output:
        print_json({**machine.to_json(), "host_key_fingerprints": fingerprints})
        return
    for fingerprint in fingerprints:
        note(f"host key of {machine.host}: {fingerprint} (compare it with the host's: ssh-keygen -lf KEY)")
    echo(f"added machine {machine.name} ({machine.host}); next: codex-agent machine check {machine.name}")


@app.command("list")
def list_machines(json_output: JsonOption = False) -> None:
    """List registered machines."""
    found = sorted(registry.load().values(), key=lambda machine: machine.name)
    if json_output:
        print_json(
            {
                **envelope("machines", [machine.to_json() for machine in found]),
                "file": str(registry.machines_file()),
            }
        )
        return
    if not found:
        note("no machines; add one with `codex-agent machine add NAME --host HOST`")
        return
    echo(f"{'NAME':<16} {'HOST':<30} {'PORT':>5}  DIR")
    for machine in found:
        echo(f"{machine.name:<16} {machine.host:<30} {machine.port or '':>5}  {machine.dir}")


@app.command("remove")
def remove(name: NameArgument) -> None:
    """Forget a machine (nothing on the host is touched)."""
    from codex_agent.remote import ssh

    machine = registry.remove(name)
    ssh.close_master(machine)
    echo(f"removed machine {machine.name}")


@app.command("check")
def check(name: NameArgument, json_output: JsonOption = False) -> None:
    """Check ssh, codex-agent on the host (same version), tmux and codex, and the round-trip time.

    Exits 0 when the machine is ready, 9 otherwise; `next_action` says what to do."""
    from codex_agent.remote import install

    report = install.check(registry.get(name))
    hints = {
        "machine-up": f"codex-agent machine up {name}",
        "fix-config": "fix the ssh setup (see the problem above), then check again",
        "done": "ready",
    }
    next_step = hints.get(report["next_action"], report["next_action"])
    problem = RemoteError(f"machine {name} is not ready", next_step)
    show(
        Output(report, lambda: _print_check(report, next_step), error=None if report["ready"] else problem),
        json_output=json_output,
    )


def _print_check(report: dict[str, Any], next_step: str) -> None:
    for key, label, version in (
        ("ssh_ok", "ssh", f"{report['rtt_ms']} ms round trip" if report["rtt_ms"] is not None else ""),
        ("daemon_ok", "codex-agent", report["remote_version"] or ""),
        ("tmux_ok", "tmux", report["tmux_version"] or ""),
        ("codex_ok", "codex", report["codex_version"] or ""),
        ("git_ok", "git", report["git_version"] or ""),
    ):
        echo(f"{label:<12} {'ok' if report[key] else 'NO':<3} {version}".rstrip())
    if report["error"]:
        echo(f"problem:     {report['error']}")
    echo(f"next:        {next_step}")


@app.command("up")
def up(
    name: NameArgument,
    force: Annotated[bool, typer.Option("--force", help="Reinstall even if the host is up to date.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Install or update codex-agent on the host (wheels are built here and sent: no network needed there)."""
    from codex_agent.remote import install

    if not json_output:
        note(f"checking {name}…")
    report = install.up(registry.get(name), force=force)
    if json_output:
        print_json(report)
    elif report["action"] == "none":
        echo(f"{name}: codex-agent {report['version']} is installed and current; nothing to do")
    else:
        echo(
            f"{name}: {report['action']} codex-agent {report['version']} "
            f"({len(report['sent'])} wheel(s) sent, {report['elapsed_ms'] / 1000:.1f}s)"
        )


@app.command("disconnect")
def disconnect(name: NameArgument) -> None:
    """Close the shared SSH connection to a machine (its jobs keep running)."""
    from codex_agent.remote import ssh

    closed = ssh.close_master(registry.get(name))
    echo(f"{name}: {'connection closed' if closed else 'no open connection'}")


@app.command("receive-project", hidden=True)
def receive_project(
    name: str, commit: Annotated[str, typer.Option("--commit")], json_output: JsonOption = False
) -> None:
    """(Host side of `exec start --project`.) Read a git bundle on stdin; check COMMIT out in ./NAME."""
    from codex_agent import jobs
    from codex_agent.remote import projects

    with jobs.opened() as project:
        path = projects.receive_project(project, Path.cwd(), name, commit, sys.stdin.buffer.read())
    if json_output:
        print_json({"path": str(path), "commit": commit})
    else:
        echo(str(path))


@app.command("export-job", hidden=True)
@job_command(options=("directory",))
def export_job(project: Project, job_id: JobIdArgument) -> None:
    """(Host side of `pull`.) Write a git bundle of the job's changes to stdout."""
    from codex_agent.remote import projects

    data = projects.export_job(project, job_id)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# --- jobs --machine all ------------------------------------------------------------------------------------


def jobs_everywhere(ctx: Any) -> int:
    from codex_agent import job_reads, jobs
    from codex_agent.remote import forward as remote

    argv, _ = forwarding.context_argv(ctx)
    if "--json" not in argv:
        argv.insert(1, "--json")
    known = sorted(registry.load().values(), key=lambda machine: machine.name)
    answers = remote.call_many(known, argv, timeout_s=min(forwarding_timeout(), 30.0))
    rows: list[dict[str, Any]] = []
    status_rows: list[dict[str, Any]] = []
    params = ctx.params
    with jobs.opened(params.get("directory")) as project:
        statuses = [JobStatus(value) for value in params.get("status_filter") or []] or None
        limit = None if params.get("show_all") else params.get("limit")
        now = now_ms()
        local = [
            job.to_json(brief=True, now=now)
            for job in job_reads.list_jobs(project, limit=limit, statuses=statuses)
        ]
    rows += [{"machine": "local", **row} for row in local]
    status_rows.append({"name": "local", "ok": True, "jobs": len(local), "error": None, "error_code": None})
    for answer in answers:
        entry: dict[str, Any] = {
            "name": answer.machine.name,
            "ok": False,
            "jobs": 0,
            "error": None,
            "error_code": None,
        }
        try:
            if answer.error is not None:
                raise answer.error
            assert answer.result is not None
            if answer.result.exit_code != 0:
                raise UsageError(
                    answer.result.stderr.strip().splitlines()[-1]
                    if answer.result.stderr.strip()
                    else "failed"
                )
            found = answer.result.json()["jobs"]
        except CodexAgentError as exc:
            entry.update(error=exc.one_line(), error_code=exc.code)
        else:
            rows += [{"machine": answer.machine.name, **row} for row in found]
            entry.update(ok=True, jobs=len(found))
        status_rows.append(entry)
    rows.sort(key=lambda row: row.get("created_at") or "", reverse=True)
    if params.get("json_output"):
        print_json({**envelope("jobs", rows), "machines": status_rows})
    else:
        _table(rows)
    for entry in status_rows:
        if not entry["ok"]:
            note(f"codex-agent: {entry['name']} not listed: {entry['error']}")
    return 0


def forwarding_timeout() -> float:
    from codex_agent.remote import ssh_options

    return ssh_options.default_timeout()


def _table(rows: list[dict[str, Any]]) -> None:
    header = f"{'MACHINE':<12} {'ID':<8}  {'STATUS':<11} {'KIND':<10} {'ELAPSED':>8}  PROMPT"
    table(rows, header=header, line=_job_row, empty="no jobs")


def _job_row(row: dict[str, Any], _now: int) -> str:
    return (
        f"{one_line(row['machine'], 12):<12} {row['id']:<8}  {row['status']:<11} {row['kind']:<10} "
        f"{human_duration(int(row.get('elapsed_ms') or 0)):>8}  {one_line(row.get('prompt'), 50)}"
    )


@job_command(open_project=False, forwards=False)
def pull(job_id: JobIdArgument, directory: Path | None = None, machine: str | None = None) -> Output:
    """Bring a remote job's changes (commits and uncommitted work) into branch codex-agent/MACHINE/ID."""
    if not machine or machine in ("all", "auto"):
        raise UsageError("pull needs --machine NAME", "a local job's changes are already in your checkout")
    from codex_agent.remote import forward as remote

    result = remote.pull_job(registry.get(machine), job_id, directory or Path.cwd())
    commit = result["commit"][:12]
    return Output(
        result,
        lambda: echo(
            f"pulled job {result['job_id']} from {machine} into branch {result['branch']} ({commit})"
        ),
    )
