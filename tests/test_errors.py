"""The exit-code table in docs/ matches the error classes, and refusals are one line with no traceback."""

from __future__ import annotations

import re
from pathlib import Path

from codex_agent import errors
from tests.helpers import CLI, REPO_ROOT


def documented_codes() -> dict[str, int]:
    table = (REPO_ROOT / "docs" / "exit-codes.md").read_text()
    return {name: int(code) for code, name in re.findall(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|", table, re.M)}


def test_every_error_class_is_documented_with_its_exit_code() -> None:
    documented = documented_codes()
    for error in errors.ALL_ERRORS:
        assert documented.get(error.code) == error.exit_code, error.__name__
    assert documented["internal"] == errors.INTERNAL_ERROR_EXIT
    assert documented["interrupted"] == errors.INTERRUPTED_EXIT


def test_exit_codes_are_distinct() -> None:
    codes = [error.exit_code for error in errors.ALL_ERRORS]
    assert len(codes) == len(set(codes))


def test_refusals_are_one_line_and_change_nothing(cli: CLI, project: Path) -> None:
    cases = [
        (("status", "zzzz"), 2, "not a job id"),
        (("status", "../x"), 2, "not a job id"),
        (("status", "abcd"), 3, "no job"),
        (("start", "hi", "-r", "extreme"), 2, "--reasoning must be one of"),
        (("start", "hi", "-s", "yolo"), 2, "--sandbox must be one of"),
        (("jobs", "--limit", "zero"), 2, "--limit"),
        (("jobs", "--status", "sleeping"), 2, "--status takes one of"),
        (("start", "hi", "--dir", "/nonexistent/dir"), 2, "not a directory"),
        (("clean", "--older-than", "soon"), 2, "not a duration"),
        (("start", "   "), 2, "the prompt is empty"),
        (("start", "@/nonexistent/prompt.txt"), 2, "cannot read the prompt file"),
        (("frobnicate",), 2, "No such command"),
    ]
    for args, code, text in cases:
        result = cli.run(*args)
        assert result.code == code, (args, result)
        assert text in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1, (args, result.err)
        assert "Traceback" not in result.err
    assert not (project / ".codex-agent").exists()


def test_missing_codex_is_reported_with_an_install_hint(cli: CLI, project: Path) -> None:
    result = cli.run("start", "hi", env={"CODEX_AGENT_CODEX_BIN": "/nonexistent/codex"})
    assert result.code == 6
    assert "npm install -g @openai/codex" in result.err
    assert not (project / ".codex-agent").exists()


def test_missing_tmux_is_reported_with_an_install_hint(cli: CLI, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to("/usr/bin/git")
    result = cli.run("exec", "start", "--cmd", "true", env={"PATH": str(bin_dir)})
    assert result.code == 6
    assert "install tmux" in result.err
    assert cli.ok("jobs", "--json", "--all").json()["jobs"] == []  # nothing recorded
    health = cli.run("health", "--json", env={"PATH": str(bin_dir)})
    assert health.code == 6
    assert health.json()["tmux"]["ok"] is False
