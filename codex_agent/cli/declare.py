"""Declaring a command: the function holds what is its own; the options every job command has come from here.

    @job_command()
    def kill(project: Project, job_id: JobIdArgument) -> Output:
        \"\"\"Stop a job and its tmux session (recorded as killed).\"\"\"
        job = job_cleanup.kill(project, job_id)
        return Output(job, lambda: echo(f"job {job.id} is {job.status.value}"))

`job_command` appends --dir, --json and --machine to the function's own parameters (what typer reads from
`__signature__` and `__annotations__`), runs the command on the machine when --machine is given
(cli/forwarding.py), opens the project of --dir, calls the function with it and prints the `Output` it returns
(cli/common.py `show`). The function may ask for `project`, `directory`, `json_output` or `machine` by naming
a parameter so; it never declares their options itself. Nothing heavier than typer and the forwarding module
is imported here: `jobs` is imported only once a command runs locally. `command_group` makes a group of
subcommands.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

import typer

from codex_agent.cli.common import DirOption, JsonOption, Output, show
from codex_agent.cli.forwarding import MachineOption, forward

CommandFunction = Callable[..., Output | None]
# The options a job command may have, in the order --help lists them, with their annotations and defaults.
SHARED: dict[str, tuple[Any, Any]] = {
    "directory": (DirOption, None),
    "json_output": (JsonOption, False),
    "machine": (MachineOption, None),
}
PROJECT = "project"


def job_command(
    *,
    options: Sequence[str] = ("directory", "json_output", "machine"),
    json_help: str | None = None,
    open_project: bool = True,
    forwards: bool = True,
    local_text: Sequence[str] = ("prompt",),
) -> Callable[[CommandFunction], Callable[..., None]]:
    """The decorator. `options`: which of SHARED the command has. `json_help`: --json's help when it means
    more than "Print JSON on stdout." (a stream, say). `open_project=False`: the function opens what it needs
    (it may ask for `directory`). `forwards=False`: the function handles --machine itself (it asks for
    `machine`). `local_text`: the text arguments read here when forwarded (see forwarding.forward)."""
    unknown = set(options) - set(SHARED)
    if unknown:
        raise ValueError(f"no shared option {sorted(unknown)}")

    def decorate(func: CommandFunction) -> Callable[..., None]:
        own = inspect.signature(func)
        wanted = [name for name in (PROJECT, *SHARED) if name in own.parameters]
        if PROJECT in wanted and not open_project:
            raise ValueError(f"{func.__name__} asks for the project but opens none")
        missing = [name for name in wanted if name != PROJECT and name not in options]
        if missing:
            raise ValueError(f"{func.__name__} asks for {missing}, options it does not have")

        @functools.wraps(func)
        def command(**given: Any) -> None:
            shared = {name: given.pop(name) for name in options}
            machine = shared.get("machine")
            if forwards and machine:
                forward(machine, local_text=local_text)
            passed = {name: shared[name] for name in wanted if name != PROJECT}
            json_output = bool(shared.get("json_output"))
            if not open_project:
                show(func(**given, **passed), json_output=json_output)
                return
            from codex_agent import jobs

            with jobs.opened(shared.get("directory")) as project:
                if PROJECT in wanted:
                    passed[PROJECT] = project
                show(func(**given, **passed), json_output=json_output)

        _declare(command, func, own, options, json_help)
        return command

    return decorate


def command_group(help_text: str, *, no_args_is_help: bool = False) -> typer.Typer:
    """A group of subcommands (`exec`, `machine`, `claims`, `log`), built as the root group builds a command:
    plain help text, no completion options of its own (the root has them)."""
    return typer.Typer(
        help=help_text, no_args_is_help=no_args_is_help, rich_markup_mode=None, add_completion=False
    )


def _declare(
    command: Callable[..., None],
    func: CommandFunction,
    own: inspect.Signature,
    options: Sequence[str],
    json_help: str | None,
) -> None:
    """Give the wrapper the signature typer builds the command from: the function's own parameters (those the
    decorator supplies left out), then the shared options. Annotations are objects, not strings, since typer
    would evaluate strings in this module's namespace."""
    kept = [param for param in own.parameters.values() if param.name not in (PROJECT, *SHARED)]
    hints = _hints(func, [param.name for param in kept])
    params = [param.replace(annotation=hints.get(param.name, param.annotation)) for param in kept]
    for name in options:
        annotation, default = SHARED[name]
        if name == "json_output" and json_help is not None:
            annotation = typing.Annotated[bool, _json_option(json_help)]
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )
    command.__signature__ = own.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {param.name: param.annotation for param in params} | {"return": None}


def _hints(func: CommandFunction, names: list[str]) -> dict[str, Any]:
    """The evaluated annotations of these parameters only: a supplied one (`project: Project`) may name a type
    imported for type checking alone, which does not exist when the command runs."""
    probe = types.FunctionType((lambda: None).__code__, func.__globals__)
    probe.__annotations__ = {
        name: func.__annotations__[name] for name in names if name in func.__annotations__
    }
    return typing.get_type_hints(probe, include_extras=True)


def _json_option(help_text: str) -> Any:
    return typer.Option("--json", help=help_text)
