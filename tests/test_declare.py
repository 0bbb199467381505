"""cli/declare.py: a job command declares only its own parameters; the shared options are added after them."""

from __future__ import annotations

import pytest

from codex_agent.cli.app import build_command
from codex_agent.cli.declare import job_command
from codex_agent.cli.registry import COMMANDS


def _options(name: str) -> list[tuple[str, ...]]:
    command = build_command(name, COMMANDS[name][0])
    return [tuple(param.opts) for param in command.params]


def test_the_shared_options_follow_the_commands_own() -> None:
    assert _options("kill") == [("job_id",), ("--dir", "-d"), ("--json",), ("--machine",)]
    assert _options("delete") == [("job_id",), ("--force",), ("--dir", "-d")]


def test_the_opened_project_is_no_option() -> None:
    for name in ("status", "jobs", "sessions", "report", "health", "wait"):
        assert all("project" not in param.name for param in build_command(name, COMMANDS[name][0]).params)


def test_watch_keeps_its_own_json_help() -> None:
    command = build_command("watch", COMMANDS["watch"][0])
    json_option = next(param for param in command.params if param.name == "json_output")
    assert json_option.help == "One JSON object per line: output chunks and status changes."


def test_a_command_cannot_ask_for_an_option_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="machine"):

        @job_command(options=("directory",))
        def broken(machine: str | None = None) -> None:
            """Never built."""

    with pytest.raises(ValueError, match="no shared option"):
        job_command(options=("colour",))
