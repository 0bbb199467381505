"""Prompt assembly: choosing files, finding the codebase map, roles, and keeping within a token budget."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from codex_agent import prompt_files, prompt_roles, prompts
from codex_agent.errors import UsageError
from codex_agent.prompt_files import ChosenFile, select_files
from codex_agent.prompts import TokenCounter, assemble, estimate_tokens

ESTIMATE = TokenCounter(prompts.ESTIMATE_NAME, False, estimate_tokens)


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(project: Path) -> Path:
    files = {
        "src/app/__init__.py": '"""The app."""\n',
        "src/app/core.py": "def run():\n    return 1\n",
        "src/app/util.py": "X = 1\n",
        "src/app/gen/big.py": "x = 1\n" * 60_000,  # 360 KB
        "web/index.ts": "export const a = 1;\n",
        "web/package.json": '{"name": "web"}\n',
        "web/package-lock.json": "{}\n",
        "poetry.lock": "# lock\n",
        "notes/.hidden.md": "hidden\n",
        "build/out.py": "generated = True\n",
        ".gitignore": "build/\n*.log\n",
        "debug.log": "noise\n",
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    (project / "src/app/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (project / "src/app/latin1.py").write_bytes(b"name = '\xe9t\xe9'\n")
    git(project, "add", "src", "web", ".gitignore")
    git(project, "commit", "-q", "-m", "files")
    (project / "src/app/untracked.py").write_text("NEW = 1\n")  # untracked, not ignored: included
    return project


def paths(selection: prompt_files.FileSelection) -> list[str]:
    return [item.path for item in selection.files]


def test_globs_respect_gitignore_and_take_untracked_files(repo: Path) -> None:
    selection = select_files(repo, ["**/*.py"])
    assert selection.listing == "git"
    assert paths(selection) == [
        "src/app/__init__.py",
        "src/app/core.py",
        "src/app/untracked.py",
        "src/app/util.py",
    ]
    skipped = {item.path: item.reason for item in selection.skipped}
    assert skipped["src/app/gen/big.py"].startswith("too large")
    assert skipped["src/app/latin1.py"] == "not UTF-8 text"
    assert "build/out.py" not in skipped  # ignored by .gitignore: never considered


def test_exclusions_braces_and_directories(repo: Path) -> None:
    chosen = select_files(repo, ["src/**/*.{py,png}", "!**/__init__.py", "!src/app/u*.py"])
    assert paths(chosen) == ["src/app/core.py"]
    assert {item.path: item.reason for item in chosen.skipped}["src/app/logo.png"] == "binary"
    assert paths(select_files(repo, ["web"])) == ["web/index.ts"]  # a folder stands for all under it


def test_lockfiles_and_manifests_only_when_named_exactly(repo: Path) -> None:
    broad = select_files(repo, ["web/*", "*.lock"])
    assert paths(broad) == ["web/index.ts"]
    reasons = {item.path: item.reason for item in broad.skipped}
    assert set(reasons) == {"poetry.lock", "web/package-lock.json", "web/package.json"}
    assert all("name it exactly" in reason for reason in reasons.values())
    exact = select_files(repo, ["web/package.json", "./poetry.lock"])
    assert paths(exact) == ["poetry.lock", "web/package.json"]
    # A file named exactly is taken even when .gitignore hides it; a glob never reaches it.
    assert paths(select_files(repo, ["debug.log"])) == ["debug.log"]
    with pytest.raises(UsageError):
        select_files(repo, ["*.log"])


def test_dot_files_only_when_the_pattern_names_the_dot(repo: Path) -> None:
    assert "notes/.hidden.md" not in paths(select_files(repo, ["**/*.md", "**/*.py"]))
    assert paths(select_files(repo, ["notes/.*.md"])) == ["notes/.hidden.md"]


def test_bad_patterns_are_refused_with_a_reason(repo: Path) -> None:
    with pytest.raises(UsageError, match=r"match 'src/\*\*/\*\.rs'"):
        select_files(repo, ["**/*.py", "src/**/*.rs"])
    with pytest.raises(UsageError, match="outside"):
        select_files(repo, ["../secret.txt"])
    with pytest.raises(UsageError, match="excludes"):
        select_files(repo, ["!**/*.py"])


def test_outside_git_the_walk_skips_caches_and_virtualenvs(tmp_path: Path) -> None:
    base = tmp_path / "plain"
    for name in ("a.py", "pkg/b.py", ".venv/lib/c.py", "node_modules/x/d.js", "__pycache__/e.py"):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text("pass\n")
    selection = select_files(base, ["**/*.py"])
    assert selection.listing == "walk"
    assert paths(selection) == ["a.py", "pkg/b.py"]
    with pytest.raises(UsageError, match=r"no files under .* match '\*\*/\*.js'"):
        select_files(base, ["**/*.js"])


def test_codebase_map_fallbacks_and_parent_search(project: Path) -> None:
    sub = project / "pkg" / "deep"
    sub.mkdir(parents=True)
    assert prompts.find_codebase_map(sub) is None
    (project / "ARCHITECTURE.md").write_text("# arch\n")
    assert prompts.find_codebase_map(sub) == project / "ARCHITECTURE.md"
    (project / "docs").mkdir()
    (project / "docs" / "ARCHITECTURE.md").write_text("# docs arch\n")
    assert prompts.find_codebase_map(sub) == project / "docs" / "ARCHITECTURE.md"
    (project / "CODEBASE_MAP.md").write_text("# map\n")
    assert prompts.find_codebase_map(sub) == project / "CODEBASE_MAP.md"
    (project / "docs" / "CODEBASE_MAP.md").write_text("# docs map\n")
    assert prompts.find_codebase_map(sub) == project / "docs" / "CODEBASE_MAP.md"
    (sub / "ARCHITECTURE.md").write_text("# nearest\n")
    assert prompts.find_codebase_map(sub) == sub / "ARCHITECTURE.md"  # the nearest folder wins


def test_without_context_the_prompt_is_the_task_byte_for_byte() -> None:
    task = "fix it\r\n\tplease  \n\n"
    assert assemble(task).text == task
    assert assemble(task, budget=100, counter=ESTIMATE).text == task


def test_layout_role_then_context_then_task_last() -> None:
    role = prompt_roles.get_role("reviewer")
    code = "print('```')\n````\n"
    result = assemble(
        "Review the parser.",
        role=role,
        codebase_map=("docs/CODEBASE_MAP.md", "# Map\n- a.py\n"),
        files=[ChosenFile("a.py", code)],
    )
    text = result.text
    assert text.startswith("# Role: reviewer\n")
    assert text.index("## Codebase map: docs/CODEBASE_MAP.md") < text.index("## File: a.py")
    assert text.endswith("# Task\n\nReview the parser.")
    assert "`````python\n" + code + "`````" in text  # the fence is longer than any run inside
    assert result.included == ["a.py"] and result.map_path == "docs/CODEBASE_MAP.md"


def test_budget_cuts_files_whole_keeps_order_and_lists_the_cuts() -> None:
    files = [
        ChosenFile("a.py", "a = 1\n" * 100),  # ~150 tokens
        ChosenFile("b.py", "b = 2\n" * 2000),  # ~3000 tokens: cannot fit
        ChosenFile("c.py", "c = 3\n" * 100),  # fits after b is left out
    ]
    result = assemble("Do the thing.", files=files, budget=600, counter=ESTIMATE)
    assert result.tokens == estimate_tokens(result.text) <= 600
    assert result.included == ["a.py", "c.py"]
    assert [(item.path, item.shortened) for item in result.cut] == [("b.py", False)]
    assert "## Not included" in result.text and "- b.py: left out (about" in result.text
    assert "b = 2" not in result.text
    assert result.text.endswith("# Task\n\nDo the thing.")


def test_budget_shortens_a_long_map_to_whole_lines() -> None:
    big_map = "".join(f"- module_{index}.py — does thing number {index}\n" for index in range(400))
    result = assemble("Task.", codebase_map=("CODEBASE_MAP.md", big_map), budget=1000, counter=ESTIMATE)
    assert result.tokens <= 1000
    (item,) = result.cut
    assert item.shortened and item.total_lines == 400 and 10 <= (item.kept_lines or 0) < 400
    assert f"- module_{item.kept_lines - 1}.py" in result.text  # type: ignore[operator]
    assert f"- module_{item.kept_lines}.py" not in result.text
    assert "shortened to its first" in result.text


@pytest.mark.parametrize("budget", [60, 200, 450, 1000, 5000])
def test_any_budget_that_holds_the_task_is_kept(budget: int) -> None:
    files = [ChosenFile(f"f{index}.py", f"value = {index}\n" * (index * 13)) for index in range(1, 12)]
    result = assemble(
        "Task.",
        role=prompt_roles.get_role("implementer") if budget > 450 else None,
        codebase_map=("M.md", "line\n" * 300),
        files=files,
        budget=budget,
        counter=ESTIMATE,
    )
    assert estimate_tokens(result.text) == result.tokens <= budget
    assert not set(result.included) & {item.path for item in result.cut}
    assert len(result.included) + len([item for item in result.cut if item.kind == "file"]) == len(files)
    if result.cut_list == "items":
        assert all(item.describe() in result.text for item in result.cut)


def test_a_task_over_the_budget_is_refused() -> None:
    with pytest.raises(UsageError, match="over the context budget of 10"):
        assemble("x" * 400, budget=10, counter=ESTIMATE)


def test_real_tokenizer_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bpe_openai", reason="the optional tokenizer (codex-agent[tokens]) is not installed")
    monkeypatch.setattr(prompts, "_COUNTER", None)
    counter = prompts.token_counter()
    assert counter.exact and counter.name.startswith("o200k_base")
    assert counter.count("hello world") == 2
    assert counter.count("<|endoftext|> is plain text here") > 1  # special tokens are not special


def test_estimate_is_stated_and_forced_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompts, "_COUNTER", None)
    monkeypatch.setenv(prompts.TOKENIZER_ENV, "estimate")
    counter = prompts.token_counter()
    assert not counter.exact and "estimate" in counter.name
    assert counter.count("abcd" * 10) == 10 and counter.count("é") == 1


def test_roles() -> None:
    assert {name: role.sandbox for name, role in prompt_roles.ROLES.items()} == {
        "reviewer": "read-only",
        "researcher": "read-only",
        "implementer": None,
        "verifier": None,
    }
    for role in prompt_roles.ROLES.values():
        assert role.preamble.startswith(f"# Role: {role.name}\n")
        assert "Final message:" in role.preamble
    with pytest.raises(UsageError) as refused:
        prompt_roles.get_role("boss")
    assert refused.value.one_line() == (
        "no role named 'boss' — choose one of: reviewer, researcher, implementer, verifier"
    )
