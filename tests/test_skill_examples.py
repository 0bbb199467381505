"""Every `codex-agent ...` line in the plugin skill's code blocks runs, against the codex test double.

Placeholders are filled with real things made for each example (each test has its own tmux server):
`<id>`/`<id2>` are jobs of the kind the command needs (an idle interactive agent, or a completed `--exec`
agent for commands about finished work), `<exec-id>` a plain command started with `exec start`. Each example
must exit 0, and print JSON when it asks for `--json`.

An example that names a command or option the CLI does not have fails, naming it. Examples for remote machines
are skipped here: they need SSH hosts, which only the remote tier (tests/remote) provides.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CLI, REPO_ROOT

SKILL = REPO_ROOT / "plugins" / "codex-orchestrator" / "skills" / "codex-orchestrator" / "SKILL.md"
_FENCE = re.compile(r"^\s*```(\w*)\s*$")
_PLACEHOLDER = re.compile(r"<([a-z0-9-]+)>")


@dataclass(frozen=True)
class Example:
    line: int
    text: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text, comments=True)[1:]

    @property
    def placeholders(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.text))


def skill_examples(path: Path = SKILL) -> list[Example]:
    found: list[Example] = []
    language: str | None = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fence = _FENCE.match(line)
        if fence:
            language = None if language is not None else fence.group(1)
            continue
        if language in ("bash", "sh", "") and line.strip().startswith("codex-agent "):
            found.append(Example(number, line.strip()))
    return found


EXAMPLES = skill_examples()


def test_the_skill_has_examples_for_every_area() -> None:
    commands = {example.argv[0] for example in EXAMPLES}
    for expected in (
        "health",
        "start",
        "wait",
        "send",
        "status",
        "jobs",
        "report",
        "claims",
        "context",
        "exec",
    ):
        assert expected in commands, f"the skill shows no `codex-agent {expected}` example"


def test_every_placeholder_has_a_value() -> None:
    known = {"id", "id2", "exec-id", "machine", "ssh-target"}
    for example in EXAMPLES:
        assert example.placeholders <= known, f"SKILL.md line {example.line}: {example.placeholders - known}"


def test_missing_parts_tells_existing_from_absent_commands() -> None:
    assert missing_parts(["jobs", "--json", "--status", "idle"]) == []
    assert missing_parts(["exec", "start", "--cmd", "true"]) == []
    assert missing_parts(["no-such-command"]) == ["command `no-such-command`"]
    assert missing_parts(["exec", "no-such"]) == ["command `exec no-such`"]
    assert missing_parts(["jobs", "--no-such-flag"]) == ["option `jobs --no-such-flag`"]


def missing_parts(argv: list[str]) -> list[str]:
    """The subcommands and options in argv that this build's command tree does not have."""
    from codex_agent.cli.app import click_command

    command: Any = click_command()  # click groups, the root lazily built: told apart by `get_command`
    path: list[str] = []
    rest = list(argv)
    while hasattr(command, "get_command") and rest and not rest[0].startswith("-"):
        sub = command.get_command(None, rest[0])
        if sub is None:
            return [f"command `{' '.join([*path, rest[0]])}`"]
        path.append(rest.pop(0))
        command = sub
    known = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    known |= {"-h", "--help"}
    where = " ".join(path)
    missing = []
    for token in rest:
        if token == "--":
            break
        if token.startswith("-") and token != "-":
            name = token.split("=", 1)[0]
            if name not in known and f"option `{where} {name}`" not in missing:
                missing.append(f"option `{where} {name}`")
    return missing


def _is_remote(example: Example) -> bool:
    argv = example.argv
    return argv[0] in ("machine", "pull") or "--machine" in argv or "machine" in example.placeholders


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
    )


def _prepare_project(project: Path, *, with_map: bool) -> None:
    """The files the examples name: a codebase map, sources to include, prompt files and a test target."""
    (project / "docs").mkdir()
    if with_map:  # `codex-agent map` writes one where there is none
        (project / "docs" / "CODEBASE_MAP.md").write_text("# Map\n\n- src/app.py: the application\n")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("def page(items, size):\n    return items[:size]\n")
    (project / "prompt.md").write_text("Explain src/app.py in three sentences.\n")
    (project / "plan.md").write_text("Add a docstring to src/app.py:page. Run nothing else.\n")
    (project / "Makefile").write_text("test:\n\t@echo all tests passed\n")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "example project")


# Commands about finished work get a completed `--exec` agent; everything else an idle interactive one.
_NEEDS_FINISHED = {"watch", "report"}


def _needs_finished_job(argv: list[str]) -> bool:
    if argv[0] in _NEEDS_FINISHED:
        return True
    if argv[0] == "wait":
        # An ended job satisfies every kind of wait; an idle one only the default and --until idle.
        until = argv[argv.index("--until") + 1] if "--until" in argv else None
        return until in ("done", "attention")
    return False


def _job(cli: CLI, finished: bool, label: str) -> str:
    if finished:
        job = cli.start("--exec", f"report on {label}")
        cli.wait_status(job["id"], ["completed"])
    else:
        job = cli.start(f"look at {label}")
        cli.wait_status(job["id"], ["idle"])
    return str(job["id"])


def _fill(example: Example, cli: CLI) -> list[str]:
    argv = example.argv
    finished = _needs_finished_job(argv)
    values: dict[str, str] = {}
    for name in sorted(example.placeholders):
        if name in ("id", "id2") and argv[0] == "resume":  # an interactive agent whose process ended
            values[name] = _job(cli, False, name)
            cli.ok("kill", values[name])
        elif name in ("id", "id2"):
            values[name] = _job(cli, finished, name)
        elif name == "exec-id":
            values[name] = cli.ok("exec", "start", "--cmd", "echo built").out.strip()
        else:
            raise AssertionError(f"SKILL.md line {example.line}: no value for the placeholder <{name}>")
    return [_PLACEHOLDER.sub(lambda match: values[match.group(1)], arg) for arg in argv]


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"L{example.line}-{'-'.join(example.argv[:2])}" for example in EXAMPLES]
)
def test_skill_example_runs(example: Example, project: Path, cli: CLI) -> None:
    if _is_remote(example):
        pytest.skip("remote machine example: needs SSH test hosts (the remote tier, tests/remote)")
    missing = missing_parts(example.argv)
    assert not missing, f"SKILL.md line {example.line} uses what the CLI does not have: {', '.join(missing)}"
    if "make" in example.argv[-1:] + example.text.split() and shutil.which("make") is None:
        pytest.skip("the example runs `make`, which is not installed")
    _prepare_project(project, with_map=example.argv[0] != "map")
    argv = _fill(example, cli)
    result = cli.run(*argv, timeout=90)
    assert result.code == 0, (
        f"SKILL.md line {example.line}: `{example.text}` exited {result.code}: {result.err}"
    )
    if "--json" in argv:
        parsed: Any = json.loads(result.out)
        assert parsed, f"SKILL.md line {example.line}: empty JSON"
