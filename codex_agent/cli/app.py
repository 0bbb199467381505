"""The root command: a click group that imports and builds only the command that is run.

typer parses every command: when `codex-agent status ID` runs, the group imports `codex_agent.cli.inspect`
and has typer build `status` alone (cli/registry.py says where each command lives). `--version`, `--help` and
a mistyped command name need neither typer nor any command module, so they cost little more than click's
own import. Shell completion and `--install-completion` hand over to typer's completion code when asked for.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Any

import click

from codex_agent.cli.registry import COMMANDS

PROG = "codex-agent"
HELP = "Supervise Codex agents and plain commands, each in its own tmux session."


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from codex_agent import __version__

    sys.stdout.write(f"{PROG} {__version__}\n")
    ctx.exit(0)


def _completion(name: str) -> Any:
    """typer's callback for --install-completion or --show-completion, once one of them is given."""

    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> Any:
        if not value or ctx.resilient_parsing:
            return value
        from typer import completion

        _typer_shells()
        return getattr(completion, name)(ctx, param, value)

    return callback


def _typer_shells() -> None:
    """Register typer's shell-completion classes with click, as typer does before it completes or installs."""
    from typer._completion_classes import completion_init

    completion_init()


def _root_options() -> list[click.Parameter]:
    return [
        _flag("--version", "Print the version and exit.", _print_version, is_eager=True),
        _flag(
            "--install-completion",
            "Install completion for the current shell.",
            _completion("install_callback"),
        ),
        _flag(
            "--show-completion",
            "Show completion for the current shell, to copy it or customize the installation.",
            _completion("show_callback"),
        ),
    ]


def _flag(name: str, help_text: str, callback: Any, *, is_eager: bool = False) -> click.Option:
    """A root flag that acts when given (through its callback) and is no parameter of any command."""
    return click.Option(
        [name], is_flag=True, expose_value=False, is_eager=is_eager, callback=callback, help=help_text
    )


def build_command(name: str, target: str) -> click.Command:
    """Import the module `target` names and let typer build that one command (or group) from it."""
    import typer

    module_name, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module_name), attribute)
    if isinstance(found, typer.Typer):
        command = typer.main.get_command(found)
    else:
        app = typer.Typer(rich_markup_mode=None, add_completion=False)
        app.command(name)(found)
        command = typer.main.get_command(app)
    command.name = name
    return command


class LazyGroup(click.Group):
    """A group whose commands are named in cli/registry.py and built on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = build_command(cmd_name, COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        command = self.get_command(ctx, name)
        if command is None and not ctx.resilient_parsing:
            if name.startswith("-"):
                self.parse_args(ctx, args)  # an unknown option: click words that refusal
            raise click.UsageError(_unknown_command(name), ctx)
        return (name if command else None), command, args[1:]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the registry's help lines, cut to the width as click cuts a command's."""
        width = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=line).get_short_help_str(width))
            for name, (_, line) in COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _main_shell_completion(self, ctx_args: Any, prog_name: str, complete_var: str | None = None) -> None:
        variable = complete_var or f"_{prog_name}_COMPLETE".replace("-", "_").upper()
        instruction = os.environ.get(variable)
        if not instruction:
            return
        from typer import completion

        _typer_shells()
        sys.exit(completion.shell_complete(self, ctx_args, prog_name, variable, instruction))

    def run(self, args: list[str]) -> int:
        """Parse `args`, run the command they name and return its exit status; refusals are raised."""
        self._main_shell_completion({}, PROG)
        try:
            with self.make_context(PROG, args) as ctx:
                result = self.invoke(ctx)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        return result if isinstance(result, int) else 0


def _unknown_command(name: str) -> str:
    from difflib import get_close_matches

    message = f"No such command {name!r}."
    matches = get_close_matches(name, list(COMMANDS))
    if matches:
        message += " Did you mean " + ", ".join(repr(match) for match in matches) + "?"
    return message


@functools.lru_cache(maxsize=1)
def click_command() -> LazyGroup:
    return LazyGroup(
        name=PROG,
        help=HELP,
        params=_root_options(),
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
