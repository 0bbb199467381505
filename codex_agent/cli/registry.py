"""Every top-level command: its name, where it lives, and its one-line help, in the order `--help` lists them.

Nothing here is imported until a command is run: the root group (cli/app.py) imports only the module of the
command invoked, and `codex-agent --help` lists these names and lines without importing any command module.
A target is "module:attribute": a function (typer builds it into one command) or a `typer.Typer` (a group
with subcommands). The help line is the first sentence of the command's own help; a test keeps them equal.

To add a command: write its function (or typer group) in a module under codex_agent/cli/ and add one line
here, a case in bench/commands.py (tests/test_bench.py asks for one), then `python scripts/gen_cli_docs.py`.
"""

from __future__ import annotations

COMMANDS: dict[str, tuple[str, str]] = {
    "start": ("codex_agent.cli.start:start", "Start a Codex agent on a task in a new tmux session."),
    "status": ("codex_agent.cli.inspect:status", "Show one job: status, timings, tokens, files, summary."),
    "jobs": ("codex_agent.cli.inspect:list_jobs", "List jobs, newest first."),
    "sessions": (
        "codex_agent.cli.inspect:sessions",
        "List live codex-agent tmux sessions and the job each belongs to.",
    ),
    "capture": (
        "codex_agent.cli.inspect:capture",
        "Print the last N lines of a job's screen, scrollback included.",
    ),
    "output": ("codex_agent.cli.inspect:output", "Print everything a job has written, also after it ended."),
    "attach": (
        "codex_agent.cli.inspect:attach",
        "Attach to a job's tmux session (with a terminal), else print the command to do so.",
    ),
    "kill": ("codex_agent.cli.control:kill", "Stop a job and its tmux session (recorded as killed)."),
    "delete": ("codex_agent.cli.control:delete", "Delete a job's record, output and session."),
    "clean": (
        "codex_agent.cli.control:clean",
        "Remove old ended jobs and this project's orphaned codex-agent sessions.",
    ),
    "health": ("codex_agent.cli.health:health", "Check tmux and codex, and report live jobs."),
    "trust": (
        "codex_agent.cli.codex_setup:trust",
        "Mark a directory trusted in codex's config, so a hidden TUI never stops to ask.",
    ),
    "map": (
        "codex_agent.cli.map_cmd:write_map",
        "Write docs/CODEBASE_MAP.md for the directory (run it at the repository root): files, entry "
        "points, tests and imports, read from the code itself.",
    ),
    "config": (
        "codex_agent.cli.config_cmd:show_config",
        "Show the effective settings (model, reasoning, sandbox, ...) and where each came from.",
    ),
    "dashboard": (
        "codex_agent.cli.dashboard:dashboard",
        "Watch every job live: status, time, tokens, last output; act on them with single keys.",
    ),
    "send": (
        "codex_agent.cli.live:send",
        "Send a message to a live TUI agent and confirm it took it (exit 8 if not), or press a key.",
    ),
    "events": (
        "codex_agent.cli.events:events_command",
        "Job transitions: started, turn_completed, needs_input, turn_failed, stalled, ended.",
    ),
    "watch": (
        "codex_agent.cli.live:watch",
        "Follow a job's output as it is written; exit when it ends (0 ok, 10 failed, 11 needs attention).",
    ),
    "wait": ("codex_agent.cli.live:wait", "Block until jobs end or wait for a person."),
    "resume": (
        "codex_agent.cli.live:resume",
        "Continue an ended codex TUI job's thread in a new tmux session (same job id, new attempt).",
    ),
    "context": (
        "codex_agent.cli.recover:context",
        "One screen to resume from: jobs by state, claims, and the latest agents.log entries.",
    ),
    "report": (
        "codex_agent.cli.recover:report",
        "A job's outcome: status, duration, tokens, files changed with line counts, errors, summary.",
    ),
    "pull": (
        "codex_agent.cli.machine:pull",
        "Bring a remote job's changes (commits and uncommitted work) into branch codex-agent/MACHINE/ID.",
    ),
    "claims": ("codex_agent.cli.coord:claims_app", "File claims of live jobs (see `start --claim`)."),
    "log": (
        "codex_agent.cli.coord:log_app",
        "The project's agents.log: spawns, completions, and orchestrator notes.",
    ),
    "machine": (
        "codex_agent.cli.machine:app",
        "Remote machines reached over SSH: register, check, make ready.",
    ),
    "exec": (
        "codex_agent.cli.exec_cmds:app",
        "Run plain commands (builds, tests) in supervised tmux sessions.",
    ),
}
