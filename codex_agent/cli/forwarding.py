"""`--machine NAME` for any command: one option, one line.

To make a command work on remote machines, give it the option and forward first thing:

    def status(job_id: JobIdArgument, ..., machine: MachineOption = None) -> None:
        if machine:
            forward(machine)
        ...

`forward` rebuilds the command's own argv from what click parsed (minus --machine), sends it to the
machine's codex-agent, relays its output and exits with its exit status. Text arguments given as `-` or
`@FILE` are read here, locally, and sent as the remote command's standard input: by default the parameter
named `prompt`; pass `local_text=(...)` for others. `all` and `auto` are handled for the commands that
support them (`jobs --machine all`; `auto` for the commands that start something).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from codex_agent.cli.common import parse_duration_ms, read_text_argument
from codex_agent.errors import UsageError

MachineOption = Annotated[
    str | None,
    typer.Option(
        "--machine",
        help="Run on this registered machine over SSH (see `codex-agent machine list`).",
        show_default=False,
    ),
]

# Commands that wait for something have no fixed deadline (keep-alives still end a dead connection);
# a --timeout they are given, plus a margin, becomes their deadline.
LONG_RUNNING = frozenset({("wait",), ("watch",), ("send",), ("exec", "run"), ("exec", "logs")})
AUTO_COMMANDS = frozenset({("start",), ("exec", "start"), ("exec", "run")})
TIMEOUT_MARGIN_S = 60.0


def current_context() -> Any:
    """The click context of the running command (typer vendors click in recent versions)."""
    import importlib

    try:
        module = importlib.import_module("typer._click.globals")
    except ImportError:  # pragma: no cover - typer versions that depend on click
        module = importlib.import_module("click")
    return module.get_current_context()


def command_path(ctx: Any) -> tuple[str, ...]:
    return tuple(str(ctx.command_path).split()[1:])


def _option_name(param: Any) -> str:
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return str(longs[0] if longs else param.opts[0])


def context_argv(
    ctx: Any, *, skip: Sequence[str] = ("machine",), local_text: Sequence[str] = ("prompt",)
) -> tuple[list[str], bytes]:
    """The argv that reproduces this command's parsed parameters, and the standard input to send with it."""
    options: list[str] = []
    arguments: list[str] = []
    stdin = b""
    for param in ctx.command.params:
        name = param.name or ""
        if name in skip or name not in ctx.params:
            continue
        value: Any = ctx.params[name]
        if name in local_text and isinstance(value, str) and (value == "-" or value.startswith("@")):
            stdin = read_text_argument(value).encode("utf-8", errors="surrogateescape")
            value = "-"
        if param.param_type_name == "argument":
            values = value if isinstance(value, (list, tuple)) else [value]
            arguments += [_text(item) for item in values if item is not None]
            continue
        if param.param_type_name != "option" or value is None or value == param.default:
            continue
        flag = _option_name(param)
        if param.is_flag:
            if value:
                options.append(flag)
            elif param.secondary_opts:
                options.append(param.secondary_opts[0])
        elif param.multiple:
            for item in value:
                options += [flag, _text(item)]
        else:
            options += [flag, _text(value)]
    argv = [*command_path(ctx), *options]
    if arguments:
        argv += ["--", *arguments]
    return argv, stdin


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


def _deadline(ctx: Any) -> float | None:
    if command_path(ctx) not in LONG_RUNNING:
        return -1.0  # the default deadline
    timeout = ctx.params.get("timeout")
    if isinstance(timeout, str) and timeout:
        return parse_duration_ms(timeout) / 1000 + TIMEOUT_MARGIN_S
    if isinstance(timeout, (int, float)) and timeout > 0:
        return float(timeout) + TIMEOUT_MARGIN_S
    return None


# Handlers for `--machine all`, by command path, as "module:function": each gets the context and returns an
# exit code. Named, not imported, so that a command without --machine loads none of the remote code.
ALL_HANDLERS: dict[tuple[str, ...], str] = {("jobs",): "codex_agent.cli.machine:jobs_everywhere"}


def _all_handler(path: tuple[str, ...]) -> Callable[[Any], int] | None:
    import importlib

    target = ALL_HANDLERS.get(path)
    if target is None:
        return None
    module, _, name = target.partition(":")
    handler: Callable[[Any], int] = getattr(importlib.import_module(module), name)
    return handler


def forward_in_project(machine: str, project: Path, ref: str | None) -> NoReturn:
    """Make `project` present on `machine` at `ref` (default HEAD), as `exec start --project` does, then run
    the current command there with `--dir` set to the host's copy; exit with its status."""
    from codex_agent.remote import forward as remote
    from codex_agent.remote import machines

    if machine == "all":
        raise UsageError("--project needs one machine (or auto), not all")
    if machine == "auto":
        target, _ = remote.pick_machine()
        sys.stderr.write(f"codex-agent: --machine auto chose {target.name}\n")
    else:
        target = machines.get(machine)
    pushed = remote.push_project(target, project, ref or "HEAD")
    ctx = current_context()
    argv, stdin = context_argv(ctx, skip=("machine", "project_dir", "ref", "directory"))
    if "--" in argv:
        at = argv.index("--")
        argv[at:at] = ["--dir", str(pushed["path"])]
    else:
        argv += ["--dir", str(pushed["path"])]
    result = remote.call(target, argv, stdin=stdin, timeout_s=_deadline(ctx))
    raise typer.Exit(result.exit_code)


def forward(machine: str, *, local_text: Sequence[str] = ("prompt",)) -> NoReturn:
    """Run the current command on `machine` instead of here, and exit with its status."""
    from codex_agent.remote import forward as remote
    from codex_agent.remote import machines

    ctx = current_context()
    path = command_path(ctx)
    if machine == "all":
        handler = _all_handler(path)
        if handler is None:
            raise UsageError(f"--machine all works with `jobs`, not `{' '.join(path)}`", "name one machine")
        raise typer.Exit(handler(ctx))
    if machine == "auto":
        if path not in AUTO_COMMANDS:
            raise UsageError(
                f"--machine auto picks a machine for new jobs; `{' '.join(path)}` needs a machine name",
                "see `codex-agent machine list`",
            )
        chosen, _ = remote.pick_machine()
        sys.stderr.write(f"codex-agent: --machine auto chose {chosen.name}\n")
        machine = chosen.name
    target = machines.get(machine)
    argv, stdin = context_argv(ctx, local_text=local_text)
    result = remote.call(target, argv, stdin=stdin, timeout_s=_deadline(ctx))
    raise typer.Exit(result.exit_code)
