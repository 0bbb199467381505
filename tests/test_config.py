"""How settings are resolved (codex_agent/config.py): defaults, the project file, a profile, then flags, each
value with where it came from. In-process, on real files in a temporary project."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_agent.config import (
    BUILTIN_PROFILES,
    Settings,
    effective_settings,
    load_profiles,
    load_settings,
    read_project_config,
    source_kind,
)
from codex_agent.errors import UsageError


def test_without_a_config_every_setting_is_the_default(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert settings == Settings(sources=settings.sources)
    assert set(settings.sources.values()) == {"default"}
    assert read_project_config(tmp_path) == ({}, None)


def test_the_project_file_overrides_defaults_and_says_so(tmp_path: Path) -> None:
    (tmp_path / ".codex-agent.toml").write_text('model = "m1"\nstall-after-s = 60\nunknown = 1\n')
    settings = load_settings(tmp_path)
    assert settings.model == "m1" and settings.stall_after_s == 60  # dashes read as underscores
    assert settings.sources["model"] == ".codex-agent.toml"
    assert settings.sources["stall_after_s"] == ".codex-agent.toml"
    assert settings.sources["reasoning"] == "default" and settings.reasoning == "xhigh"


def test_pyproject_tool_table_is_read_when_there_is_no_codex_agent_toml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.codex-agent]\nreasoning = "low"\n')
    settings = load_settings(tmp_path)
    assert settings.reasoning == "low" and settings.sources["reasoning"] == "pyproject.toml"
    (tmp_path / ".codex-agent.toml").write_text('reasoning = "medium"\n')
    assert load_settings(tmp_path).reasoning == "medium"  # the dedicated file comes first


def test_a_pyproject_without_the_tool_table_is_no_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.other]\nmodel = "not ours"\n')
    assert read_project_config(tmp_path) == ({}, None)
    assert load_settings(tmp_path).model == Settings().model


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ('reasoning = "extreme"', "reasoning = 'extreme' is not one of low, medium, high, xhigh"),
        ('sandbox = "none"', "sandbox = 'none' is not one of"),
        ('approval = "always"', "approval = 'always' is not one of"),
        ("stall_after_s = 0", "stall_after_s must be a positive number"),
        ('stall_after_s = "5"', "stall_after_s must be a positive number"),
        ('model = "  "', "model must be a non-empty string"),
        ('notify_on_complete = ""', "notify_on_complete must be a command line"),
    ],
)
def test_bad_values_are_refused_naming_the_file(tmp_path: Path, line: str, complaint: str) -> None:
    (tmp_path / ".codex-agent.toml").write_text(line + "\n")
    with pytest.raises(UsageError) as refused:
        load_settings(tmp_path)
    assert str(refused.value).startswith(".codex-agent.toml: ")
    assert complaint in str(refused.value)


def test_a_file_that_is_not_toml_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / ".codex-agent.toml").write_text("model = \n")
    with pytest.raises(UsageError, match=r"cannot read .*\.codex-agent\.toml"):
        load_settings(tmp_path)
    (tmp_path / ".codex-agent.toml").write_bytes(b'model = "\xff"\n')
    with pytest.raises(UsageError, match="cannot read"):
        load_settings(tmp_path)


def test_a_profile_applies_over_the_file(tmp_path: Path) -> None:
    (tmp_path / ".codex-agent.toml").write_text('model = "from-file"\nsandbox = "read-only"\n')
    settings = load_settings(tmp_path, "quick")
    assert settings.model == BUILTIN_PROFILES["quick"]["model"] and settings.reasoning == "low"
    assert settings.sources["model"] == "profile quick"
    assert settings.sandbox == "read-only" and settings.sources["sandbox"] == ".codex-agent.toml"


def test_the_default_profile_undoes_the_files_choices(tmp_path: Path) -> None:
    (tmp_path / ".codex-agent.toml").write_text('model = "from-file"\nreasoning = "low"\n')
    settings = load_settings(tmp_path, "default")
    assert (settings.model, settings.reasoning) == (Settings().model, Settings().reasoning)


def test_a_project_refines_a_builtin_profile_and_adds_its_own(tmp_path: Path) -> None:
    (tmp_path / ".codex-agent.toml").write_text(
        '[profiles.deep]\nstall-after-s = 1800\n[profiles.review]\nmodel = "r1"\nsandbox = "read-only"\n'
    )
    profiles = load_profiles(tmp_path)
    assert set(profiles) == {"default", "quick", "deep", "review"}
    deep = profiles["deep"]
    assert deep.origin == "built-in + .codex-agent.toml"
    assert deep.values == {**BUILTIN_PROFILES["deep"], "stall_after_s": 1800}
    assert profiles["review"].origin == ".codex-agent.toml"
    assert profiles["review"].to_json() == {
        "name": "review",
        "origin": ".codex-agent.toml",
        "model": "r1",
        "sandbox": "read-only",
    }
    assert profiles["quick"].origin == "built-in"
    settings = load_settings(tmp_path, "review")
    assert (settings.model, settings.sandbox, settings.reasoning) == ("r1", "read-only", "xhigh")


def test_an_unknown_profile_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        load_settings(tmp_path, "fast")
    assert "no profile named 'fast'" in str(refused.value)
    assert refused.value.hint == "choose one of: deep, default, quick"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("profiles = 3\n", "`profiles` must be a table"),
        ("[profiles]\nx = 1\n", "[profiles.x] must be a table"),
        ('[profiles.x]\napproval = "never"\n', "[profiles.x]: unknown key 'approval'"),
        ('[profiles.x]\nreasoning = "max"\n', "[profiles.x]: reasoning = 'max' is not one of"),
    ],
)
def test_bad_profiles_are_refused(tmp_path: Path, text: str, complaint: str) -> None:
    (tmp_path / ".codex-agent.toml").write_text(text)
    with pytest.raises(UsageError) as refused:
        load_profiles(tmp_path)
    assert complaint in str(refused.value)


def test_flags_come_last_and_unset_flags_change_nothing(tmp_path: Path) -> None:
    (tmp_path / ".codex-agent.toml").write_text('model = "from-file"\n')
    layers = [
        ({"reasoning": "high", "model": None}, "role reviewer"),
        ({"reasoning": "medium", "sandbox": None}, "flag"),
    ]
    settings = effective_settings(tmp_path, "quick", layers)
    assert (
        settings.model == BUILTIN_PROFILES["quick"]["model"] and settings.sources["model"] == "profile quick"
    )
    assert settings.reasoning == "medium" and settings.sources["reasoning"] == "flag"
    assert settings.sandbox == "workspace-write" and settings.sources["sandbox"] == "default"
    with pytest.raises(UsageError, match="flag: reasoning"):
        effective_settings(tmp_path, None, [({"reasoning": "bogus"}, "flag")])


def test_source_kinds() -> None:
    assert [source_kind(s) for s in ("default", "profile quick", "role reviewer", "flag")] == [
        "default",
        "profile",
        "role",
        "flag",
    ]
    assert source_kind(".codex-agent.toml") == "file" and source_kind("pyproject.toml") == "file"
