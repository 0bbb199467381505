"""The lean path for `jobs --json` and `status ID --json` answers exactly as the typer commands do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench.state import fill_store
from codex_agent import cli
from codex_agent.cli import fast
from codex_agent.store import STATE_DIR_NAME
from tests.helpers import CLI, REPO_ROOT


@pytest.fixture
def history(project: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """25 recorded jobs of every kind and end, one live command and one that has just ended."""
    recorded = fill_store(project / STATE_DIR_NAME, project, 25, seed=7)
    live = cli.ok("exec", "start", "--cmd", "sleep 60").out.strip()
    ended = cli.ok("exec", "start", "--cmd", "echo done").out.strip()
    cli.wait_status(ended, ["completed"])
    monkeypatch.chdir(project)
    return {"recorded": recorded[3], "live": live, "ended": ended}


def _both_paths(
    args: Sequence[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(exit code, stdout, stderr) of `codex-agent ARGS` through the lean path, then through typer."""
    taken: list[Sequence[str]] = []
    real_try_run = fast.try_run

    def spy(argv: Sequence[str]) -> int | None:
        result = real_try_run(argv)  # an error it raises has been answered by the lean path too
        if result is None:
            taken.append(argv)
        return result

    with monkeypatch.context() as patch:
        patch.setattr(fast, "try_run", spy)
        lean = (cli.run(list(args)), *capsys.readouterr())
    assert not taken, f"the lean path left {args} to typer"
    with monkeypatch.context() as patch:
        patch.setattr(fast, "try_run", lambda argv: None)
        typer_path = (cli.run(list(args)), *capsys.readouterr())
    return lean, typer_path


LEAN_FORMS = [
    ("jobs", "--json"),
    ("jobs", "--json", "--all"),
    ("jobs", "-a", "--json"),
    ("jobs", "--json", "-n", "3"),
    ("jobs", "--limit=5", "--json"),
    ("jobs", "--json", "--status", "completed", "--status=failed"),
    ("jobs", "--json", "--status", "running"),
    ("jobs", "--json", "--dir", "{project}"),
    ("status", "{recorded}", "--json"),
    ("status", "--json", "{live}"),
    ("status", "{ended}", "--json", "-d", "{project}"),
    ("status", "{prefix}", "--json"),
    ("status", "ffffffff", "--json"),  # no such job: exit 3 and one line
    ("status", "not-an-id", "--json"),  # a usage error from the services: exit 2
    ("jobs", "--json", "--dir", "{project}/missing"),
]


def test_the_lean_path_prints_what_typer_prints(
    history: dict[str, str],
    project: Path,
    cli: CLI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    frozen = time.time()
    monkeypatch.setattr(time, "time", lambda: frozen)  # so generated_at and elapsed_ms agree
    values = {**history, "project": str(project), "prefix": history["live"][:5]}
    # First with a live job (the lifecycle reconciles it with tmux), then with every job ended.
    for state in ("one job live", "all ended"):
        if state == "all ended":
            cli.ok("kill", history["live"])
        codes = set()
        for form in LEAN_FORMS:
            argv = [arg.format(**values) for arg in form]
            lean, typer_path = _both_paths(argv, monkeypatch, capsys)
            assert lean == typer_path, f"{state}: codex-agent {' '.join(argv)}"
            assert lean[1] or lean[2], f"{state}: codex-agent {' '.join(argv)} said nothing"
            codes.add(lean[0])
        assert codes == {0, 2, 3}


@pytest.mark.parametrize(
    "args",
    [
        ("jobs",),
        ("jobs", "--all"),
        ("jobs", "--json", "--help"),
        ("jobs", "--json", "--limit", "0"),
        ("jobs", "--json", "--limit", "three"),
        ("jobs", "--json", "--limit", "3", "--limit", "4"),
        ("jobs", "--json", "--status", "sleeping"),
        ("jobs", "--json", "--unknown"),
        ("jobs", "--json", "--dir"),
        ("jobs", "--json", "--dir="),
        ("jobs", "--json", "extra"),
        ("status", "--json"),
        ("status", "abc", "def", "--json"),
        ("status", "abc"),
        ("status", "abc", "--json", "-h"),
        ("sessions", "--json"),
        ("--json",),
    ],
)
def test_anything_else_is_left_to_typer(args: tuple[str, ...]) -> None:
    assert fast.try_run(list(args)) is None


IMPORTS = """
import sys
from codex_agent.cli import run
status = run(sys.argv[1:])
loaded = [name for name in ("typer", "codex_agent.jobs", "subprocess") if name in sys.modules]
print("loaded:", *loaded, file=sys.stderr)
sys.exit(status)
"""


def _loaded(project: Path, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS, *args],
        cwd=project,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"{")
    return result.stderr.decode().split("loaded:")[-1].split()


def test_what_the_lean_path_imports(history: dict[str, str], project: Path, cli: CLI) -> None:
    # With a live job, the lifecycle asks tmux; typer is never needed.
    assert _loaded(project, "jobs", "--json") == ["codex_agent.jobs", "subprocess"]
    assert _loaded(project, "status", history["recorded"], "--json") == []
    cli.ok("kill", history["live"])
    # Every job ended: the store alone answers.
    assert _loaded(project, "jobs", "--json", "--all") == []
    assert _loaded(project, "status", history["live"], "--json") == []
