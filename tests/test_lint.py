"""The linters are part of the test suite: ruff (lint and format) and mypy --strict over the package and
the tests must pass, so CI enforces them as it enforces the tests.

Each tool runs from the test interpreter's own bin folder (the venv's), as a separate process in the
repository root, with the configuration of pyproject.toml. A tool that is not installed there is skipped,
with the reason given.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

BIN = Path(sys.executable).parent


def run_tool(name: str, *args: str) -> None:
    tool = BIN / name
    if not tool.is_file():
        pytest.skip(f"{name} is not installed in {BIN} (pip install -e '.[test]')")
    proc = subprocess.run(
        [str(tool), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    command = " ".join([name, *args])
    assert proc.returncode == 0, f"{command} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"


def test_ruff_check_passes() -> None:
    run_tool("ruff", "check", "--no-cache", ".")


def test_ruff_format_leaves_every_file_unchanged() -> None:
    run_tool("ruff", "format", "--check", "--no-cache", ".")


def test_mypy_strict_passes_over_the_package_and_the_tests() -> None:
    # Plain `mypy` reads [tool.mypy] in pyproject.toml: strict, packages codex_agent and tests.
    run_tool("mypy")
