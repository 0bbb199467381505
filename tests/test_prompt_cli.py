"""`start` with --map, -f, --context-budget, --role, --profile and --template; `config`; large prompts."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from codex_agent.store import Store
from tests.helpers import CLI

ESTIMATE = {"CODEX_AGENT_TOKENIZER": "estimate"}


def estimate(text: str) -> int:
    return math.ceil(len(text.encode()) / 4)


@pytest.fixture
def code(project: Path) -> Path:
    for index in range(6):
        (project / "src").mkdir(exist_ok=True)
        (project / "src" / f"mod{index}.py").write_text(f'"""Module {index}."""\n' + f"X{index} = 1\n" * 300)
    (project / "tests").mkdir()
    (project / "tests" / "test_a.py").write_text("def test_a():\n    assert True\n")
    (project / "docs").mkdir()
    (project / "docs" / "notes.md").write_text("# Notes\n\nShort.\n")
    (project / "package-lock.json").write_text("{}\n")
    (project / "docs" / "CODEBASE_MAP.md").write_text("# Map\n\n" + "- src/modN.py: a module\n" * 50)
    return project


def test_dry_run_with_map_three_globs_and_budget_stays_within_it(cli: CLI, code: Path) -> None:
    args = ["start", "--dry-run", "--map", "-f", "src/**/*.py", "-f", "tests/*.py", "-f", "docs/*.md"]
    args += ["--context-budget", "2500", "Tidy the modules."]
    result = cli.ok(*args, env=ESTIMATE)
    out = result.out
    prompt = out.split("--- prompt ---\n", 1)[1].removesuffix("\n")
    assert estimate(prompt) <= 2500
    assert "tokens:    " in out and "of a budget of 2500, counted with estimate (UTF-8 bytes / 4" in out
    assert prompt.startswith("# Context\n")
    assert "## Codebase map: docs/CODEBASE_MAP.md" in prompt
    assert "## File: docs/notes.md" in prompt and "## File: tests/test_a.py" in prompt
    assert prompt.endswith("# Task\n\nTidy the modules.")
    # Six modules of ~900 tokens each cannot all fit: the ones left out are named, in the prompt,
    # in the dry-run report and on stderr.
    cut = [
        line.split(":", 1)[0] for line in prompt.split("## Not included")[1].splitlines() if line[:2] == "- "
    ]
    assert cut and all(name.startswith("- src/mod") for name in cut)
    for name in cut:
        path = name[2:]
        assert f"## File: {path}" not in prompt
        assert f"cut:       {path}: left out (about " in out
        assert f"codex-agent: cut {path}: left out" in result.err
    included = [f"src/mod{i}.py" for i in range(6) if f"## File: src/mod{i}.py" in prompt]
    assert included and len(included) + len(cut) == 6
    assert "codex-agent: codebase map: docs/CODEBASE_MAP.md" in result.err
    assert not (code / ".codex-agent").exists()

    data = cli.ok(*args, "--json", env=ESTIMATE).json()
    assert data["prompt_tokens"] == estimate(data["job"]["prompt"]) <= 2500
    assert data["context_budget"] == 2500 and data["codebase_map"] == "docs/CODEBASE_MAP.md"
    assert [item["path"] for item in data["cut"]] == [name[2:] for name in cut]
    assert {item["action"] for item in data["cut"]} == {"left_out"}
    assert data["token_count_exact"] is False


def test_lockfiles_are_skipped_with_a_note_unless_named(cli: CLI, code: Path) -> None:
    broad = cli.ok("start", "--dry-run", "--json", "-f", "*.json", "-f", "docs/*", "go")
    assert broad.json()["files_skipped"] == [
        {"path": "package-lock.json", "reason": "lockfile or dependency manifest (name it exactly)"}
    ]
    assert "codex-agent: skipped package-lock.json: lockfile" in broad.err
    named = cli.ok("start", "--dry-run", "--json", "-f", "package-lock.json", "go").json()
    assert named["files_included"] == ["package-lock.json"]


def test_map_flag_says_when_there_is_none(cli: CLI) -> None:
    result = cli.ok("start", "--dry-run", "--map", "go")
    assert "codex-agent: no codebase map found (looked for docs/CODEBASE_MAP.md" in result.err
    assert "`codex-agent map` writes a first one" in result.err
    assert result.out.endswith("--- prompt ---\ngo\n")


def test_glob_matching_nothing_is_a_usage_error(cli: CLI) -> None:
    result = cli.run("start", "--dry-run", "-f", "src/**/*.rs", "go")
    assert result.code == 2
    assert result.err.startswith("codex-agent: no tracked or unignored files under ")
    assert result.err.count("\n") == 1


def test_profiles_and_roles_change_the_command_line(cli: CLI, project: Path) -> None:
    def plan(*args: str) -> dict:  # type: ignore[type-arg]
        return cli.ok("start", "--dry-run", "--json", *args, "look around").json()  # type: ignore[no-any-return]

    default = plan()["job"]  # model, reasoning and sandbox go to codex in thread/start
    assert default["model"] == "gpt-5.3-codex" and default["sandbox"] == "workspace-write"
    assert default["reasoning"] == "xhigh"

    quick = plan("--profile", "quick")
    assert quick["job"]["model"] == "gpt-5.1-codex-mini"
    assert quick["job"]["reasoning"] == "low"
    assert quick["settings"]["model"] == {
        "value": "gpt-5.1-codex-mini",
        "source": "profile quick",
        "from": "profile",
    }

    deep = plan("-p", "deep", "-r", "high")
    assert deep["job"]["model"] == "gpt-5.1-codex-max"
    assert deep["job"]["reasoning"] == "high"  # a flag beats the profile
    assert deep["settings"]["reasoning"]["source"] == "flag --reasoning"

    reviewer = plan("--role", "reviewer")
    assert reviewer["job"]["sandbox"] == "read-only"
    assert reviewer["settings"]["sandbox"]["source"] == "role reviewer"
    assert reviewer["job"]["prompt"].startswith("# Role: reviewer\n")
    assert reviewer["job"]["prompt"].endswith("\n\n# Task\n\nlook around")
    assert plan("--role", "researcher", "--exec")["job"]["sandbox"] == "read-only"
    assert plan("--role", "reviewer", "-s", "workspace-write")["job"]["sandbox"] == "workspace-write"
    implementer = plan("--role", "implementer")
    assert implementer["job"]["sandbox"] == "workspace-write"
    assert implementer["job"]["prompt"].startswith("# Role: implementer\n")

    (project / ".codex-agent.toml").write_text(
        'model = "team-model"\nsandbox = "read-only"\n'
        '[profiles.quick]\nreasoning = "medium"\n'
        '[profiles.ci]\nmodel = "ci-model"\nsandbox = "danger-full-access"\nstall_after_s = 30\n'
    )
    assert plan()["job"]["model"] == "team-model"
    refined = plan("--profile", "quick")
    assert refined["job"]["model"] == "gpt-5.1-codex-mini"  # kept from the built-in profile
    assert refined["job"]["reasoning"] == "medium"
    ci = plan("--profile", "ci")
    assert ci["job"]["model"] == "ci-model" and ci["job"]["sandbox"] == "danger-full-access"
    assert plan("--profile", "ci", "--role", "verifier")["job"]["sandbox"] == "danger-full-access"


def test_unknown_profile_role_or_profile_key_is_refused(cli: CLI, project: Path) -> None:
    result = cli.run("start", "--dry-run", "--profile", "fast", "go")
    assert result.code == 2
    assert result.err == "codex-agent: no profile named 'fast' — choose one of: deep, default, quick\n"
    result = cli.run("start", "--dry-run", "--role", "boss", "go")
    assert result.code == 2 and "choose one of: reviewer, researcher, implementer, verifier" in result.err
    (project / ".codex-agent.toml").write_text('[profiles.mine]\nmodle = "x"\n')
    result = cli.run("config", "--profile", "mine")
    assert result.code == 2
    assert result.err.startswith("codex-agent: .codex-agent.toml: [profiles.mine]: unknown key 'modle'")


def test_profile_stall_setting_reaches_the_job(cli: CLI, project: Path) -> None:
    job = cli.start("--exec", "--profile", "deep", "EXIT 0")
    cli.wait_status(job["id"], ["completed"])
    store = Store.open(project / ".codex-agent", create=False)
    try:
        record = store.get_job(job["id"])
    finally:
        store.close()
    assert record.attrs["stall_after_s"] == 900
    assert record.model == "gpt-5.1-codex-max"


def test_config_shows_each_setting_and_its_source(cli: CLI, project: Path) -> None:
    data = cli.ok("config", "--json").json()
    assert data["config_file"] is None
    assert {name: item["from"] for name, item in data["settings"].items()} == dict.fromkeys(
        ("model", "reasoning", "sandbox", "approval", "stall_after_s"), "default"
    )
    assert [item["name"] for item in data["profiles"]] == ["deep", "default", "quick"]

    (project / "pyproject.toml").write_text(
        '[tool.codex-agent]\nreasoning = "high"\n[tool.codex-agent.profiles.slow]\nstall_after_s = 3600\n'
    )
    data = cli.ok("config", "--json", "--profile", "slow", "--role", "reviewer", "-m", "m1").json()
    assert data["config_file"] == "pyproject.toml"
    assert data["settings"] == {
        "model": {"value": "m1", "source": "flag --model", "from": "flag"},
        "reasoning": {"value": "high", "source": "pyproject.toml", "from": "file"},
        "sandbox": {"value": "read-only", "source": "role reviewer", "from": "role"},
        "approval": {"value": "never", "source": "default", "from": "default"},
        "stall_after_s": {"value": 3600, "source": "profile slow", "from": "profile"},
    }
    slow = next(item for item in data["profiles"] if item["name"] == "slow")
    assert slow == {"name": "slow", "origin": "pyproject.toml", "stall_after_s": 3600}

    text = cli.ok("config", "--profile", "quick").out
    assert "config file: pyproject.toml" in text
    assert "model          gpt-5.1-codex-mini  profile quick" in text
    assert "reasoning      low                 profile quick" in text
    assert "quick      model=gpt-5.1-codex-mini, reasoning=low, stall_after_s=120  [built-in]" in text


def test_template_prints_the_skeleton(cli: CLI) -> None:
    result = cli.ok("start", "--template")
    headings = [line for line in result.out.splitlines() if line.endswith(":") and line.isupper()]
    assert headings == ["TASK:", "CONTEXT:", "REQUIREMENTS:", "VERIFICATION:"]
    assert "codex-agent start @FILE" in result.err
    missing = cli.run("start")
    assert missing.code == 2
    assert missing.err == (
        "codex-agent: no task given — pass it as text, `-` for standard input or @FILE "
        "(`start --template` prints a skeleton)\n"
    )


def one_megabyte() -> str:
    line = "naïve $(rm -rf /); `x` 'q' \"dq\" \\ \t tab — ünïcode ✓ {braces} %s\n"
    text = (line * (1_048_576 // len(line.encode()) + 1)).encode()[:1_048_576]
    return text.decode("utf-8", errors="ignore")  # cut on a character boundary


@pytest.mark.parametrize("mode", ["tui", "exec"])
def test_one_megabyte_prompt_arrives_byte_exact(cli: CLI, tmp_path: Path, mode: str) -> None:
    text = one_megabyte()
    assert len(text.encode()) > 1_048_570
    digest = hashlib.sha256(text.encode()).hexdigest()
    if mode == "exec":
        job = cli.ok("start", "--exec", "-", "--json", input=text.encode()).json()
    else:
        prompt_file = tmp_path / "big.txt"
        prompt_file.write_bytes(text.encode())
        job = cli.start(f"@{prompt_file}")
    done = cli.wait_status(job["id"], ["completed", "idle", "failed"], timeout=120)
    assert done["status"] == ("completed" if mode == "exec" else "idle"), done
    assert done["summary"].startswith(f"ECHO[{len(text)} chars sha256={digest}]")


def test_role_and_files_reach_the_agent_as_assembled(cli: CLI, code: Path) -> None:
    args = ("--role", "verifier", "-f", "docs/notes.md", "check the notes")
    planned = cli.ok("start", "--dry-run", "--json", "--exec", *args).json()["job"]["prompt"]
    job = cli.start("--exec", *args)
    done = cli.wait_status(job["id"], ["completed", "failed"])
    assert done["summary"].startswith(
        f"ECHO[{len(planned)} chars sha256={hashlib.sha256(planned.encode()).hexdigest()}]"
    )
    assert "## File: docs/notes.md\n\n```markdown\n# Notes\n\nShort.\n```" in planned
