"""`config`: the settings `start` would use, and where each one came from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codex_agent import config, prompt_roles
from codex_agent.cli.common import DirOption, JsonOption, echo, envelope, print_json
from codex_agent.errors import UsageError
from codex_agent.store import find_project_root


def show_config(
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Show the settings with this profile applied.")
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="Show the settings for this worker role.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="As `start --model`.")] = None,
    reasoning: Annotated[
        str | None, typer.Option("--reasoning", "-r", help="As `start --reasoning`.")
    ] = None,
    sandbox: Annotated[str | None, typer.Option("--sandbox", "-s", help="As `start --sandbox`.")] = None,
    directory: DirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the effective settings (model, reasoning, sandbox, ...) and where each came from."""
    base = (directory or Path.cwd()).resolve()
    if not base.is_dir():
        raise UsageError(f"not a directory: {base}", "pass an existing directory with --dir")
    root = find_project_root(base)
    chosen_role = prompt_roles.get_role(role) if role is not None else None
    settings = config.resolve_settings(
        root, profile=profile, role=chosen_role, model=model, reasoning=reasoning, sandbox=sandbox
    )
    _, config_file = config.read_project_config(root)
    profiles = config.load_profiles(root)
    if json_output:
        data = envelope("settings", config.settings_json(settings))
        data.update(
            project_root=str(root),
            config_file=config_file,
            profile=profile,
            role=role,
            profiles=[profiles[name].to_json() for name in sorted(profiles)],
        )
        print_json(data)
        return
    echo(f"project:     {root}")
    echo(f"config file: {config_file or 'none (built-in defaults)'}")
    if profile or role:
        echo(f"profile:     {profile or '-'}    role: {role or '-'}")
    echo()
    width = max(len(name) for name in config.SETTING_NAMES)
    values = {name: str(getattr(settings, name)) for name in config.SETTING_NAMES}
    value_width = max(len(value) for value in values.values())
    for name in config.SETTING_NAMES:
        echo(f"{name:<{width}}  {values[name]:<{value_width}}  {settings.sources.get(name, 'default')}")
    echo()
    echo("profiles (--profile NAME):")
    for name in sorted(profiles):
        item = profiles[name]
        shown = ", ".join(f"{key}={value}" for key, value in item.values.items())
        echo(f"  {name:<10} {shown}  [{item.origin}]")
