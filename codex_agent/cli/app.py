"""The typer application: every command group is registered here, in help order."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import typer

from codex_agent import __version__


def _version(value: bool) -> None:
    if value:
        typer.echo(f"codex-agent {__version__}")
        raise typer.Exit(0)


def build_app() -> typer.Typer:
    from codex_agent.cli import (
        codex_setup,
        config_cmd,
        control,
        coord,
        dashboard,
        events,
        exec_cmds,
        health,
        inspect,
        live,
        machine,
        map_cmd,
        recover,
        start,
    )

    app = typer.Typer(
        name="codex-agent",
        help="Supervise Codex agents and plain commands, each in its own tmux session.",
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: Annotated[
            bool,
            typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
        ] = False,
    ) -> None:
        """Supervise Codex agents and plain commands, each in its own tmux session."""

    for module in (
        start,
        inspect,
        control,
        health,
        codex_setup,
        map_cmd,
        config_cmd,
        dashboard,
        live,
        events,
        coord,
        recover,
        machine,
    ):
        module.register(app)
    app.add_typer(exec_cmds.app, name="exec")
    return app


@functools.lru_cache(maxsize=1)
def click_command() -> Any:
    return typer.main.get_command(build_app())
