"""Project settings: built-in defaults, overridden by `.codex-agent.toml` or `[tool.codex-agent]` in
`pyproject.toml` at the project root, then by a named profile. Each effective value remembers where it came
from."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from codex_agent.errors import UsageError
from codex_agent.models import REASONING_LEVELS, SANDBOX_MODES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE = ".codex-agent.toml"
APPROVAL_POLICIES = ("never", "on-request", "untrusted")


@dataclass(slots=True)
class Settings:
    model: str = "gpt-5.3-codex"
    reasoning: str = "xhigh"
    sandbox: str = "workspace-write"
    approval: str = "never"
    stall_after_s: int = 300
    notify_on_complete: str | None = None  # a command line run by the user's shell when a job ends or idles
    sources: dict[str, str] = field(default_factory=dict)

    def apply(self, values: dict[str, Any], source: str) -> None:
        known = {f.name for f in fields(self)} - {"sources"}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known:
                continue
            setattr(self, name, _checked(name, value, source))
            self.sources[name] = source


def _checked(name: str, value: Any, source: str) -> Any:
    choices = {"reasoning": REASONING_LEVELS, "sandbox": SANDBOX_MODES, "approval": APPROVAL_POLICIES}
    if name in choices and value not in choices[name]:
        raise UsageError(f"{source}: {name} = {value!r} is not one of {', '.join(choices[name])}")
    if name == "stall_after_s" and (not isinstance(value, int) or value <= 0):
        raise UsageError(f"{source}: stall_after_s must be a positive number of seconds")
    if name == "notify_on_complete" and (not isinstance(value, str) or not value.strip()):
        raise UsageError(f"{source}: notify_on_complete must be a command line (a non-empty string)")
    if name == "model" and (not isinstance(value, str) or not value.strip()):
        raise UsageError(f"{source}: model must be a non-empty string")
    return value


def read_project_config(root: Path) -> tuple[dict[str, Any], str | None]:
    """The raw project table and the file it came from (None when the project has no config)."""
    candidates = [(root / CONFIG_FILE, None), (root / "pyproject.toml", ("tool", "codex-agent"))]
    for path, table in candidates:
        if not path.is_file():
            continue
        try:
            data: Any = tomllib.loads(path.read_text())
        except (OSError, ValueError) as exc:  # unreadable, not UTF-8 (UnicodeDecodeError), not TOML
            raise UsageError(f"cannot read {path}: {exc}", "make it UTF-8 text in TOML syntax") from exc
        for key in table or ():
            data = data.get(key) if isinstance(data, dict) else None
        if isinstance(data, dict):
            return data, path.name
    return {}, None


def load_settings(root: Path, profile: str | None = None) -> Settings:
    """Defaults, then the project file's top-level keys, then the named profile (if any)."""
    settings = Settings()
    settings.sources = {f.name: "default" for f in fields(settings) if f.name != "sources"}
    data, source = read_project_config(root)
    if source:
        settings.apply({key: value for key, value in data.items() if key != PROFILES_KEY}, source)
    if profile is not None:
        chosen = profiles_from(data, source).get(profile)
        if chosen is None:
            raise UsageError(
                f"no profile named {profile!r}",
                f"choose one of: {', '.join(sorted(profiles_from(data, source)))}",
            )
        settings.apply(chosen.values, f"profile {profile}")
    return settings


# --- profiles ---------------------------------------------------------------------------------------------

PROFILES_KEY = "profiles"
PROFILE_KEYS = ("model", "reasoning", "sandbox", "stall_after_s")


@dataclass(frozen=True, slots=True)
class Profile:
    """A named preset of some settings, chosen with `--profile NAME`."""

    name: str
    values: dict[str, Any]
    origin: str  # "built-in", a config file name, or "built-in + <file>" when a file refines a built-in

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, **self.values}


BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    # The built-in defaults, spelled out so `--profile default` undoes a project file's top-level choices.
    "default": {
        "model": "gpt-5.3-codex",
        "reasoning": "xhigh",
        "sandbox": "workspace-write",
        "stall_after_s": 300,
    },
    # Small, well-specified chores: a cheaper, faster model that thinks briefly.
    "quick": {"model": "gpt-5.1-codex-mini", "reasoning": "low", "stall_after_s": 120},
    # Hard problems: a model made for long tasks, maximum reasoning, and more patience before "stalled".
    "deep": {"model": "gpt-5.1-codex-max", "reasoning": "xhigh", "stall_after_s": 900},
}


def profiles_from(data: dict[str, Any], source: str | None) -> dict[str, Profile]:
    """The built-in profiles, refined or extended by the `[profiles.NAME]` tables of a project config."""
    found = {name: Profile(name, dict(values), "built-in") for name, values in BUILTIN_PROFILES.items()}
    table = data.get(PROFILES_KEY, {})
    if not isinstance(table, dict):
        raise UsageError(f"{source}: `{PROFILES_KEY}` must be a table of [{PROFILES_KEY}.NAME] tables")
    for name, values in table.items():
        where = f"{source}: [{PROFILES_KEY}.{name}]"
        if not isinstance(values, dict):
            raise UsageError(f"{where} must be a table")
        clean: dict[str, Any] = {}
        for key, value in values.items():
            field_name = key.replace("-", "_")
            if field_name not in PROFILE_KEYS:
                raise UsageError(f"{where}: unknown key {key!r}", f"a profile sets {', '.join(PROFILE_KEYS)}")
            clean[field_name] = _checked(field_name, value, where)
        base = found.get(name)
        if base is None:
            found[name] = Profile(name, clean, str(source))
        else:
            found[name] = Profile(name, {**base.values, **clean}, f"built-in + {source}")
    return found


def load_profiles(root: Path) -> dict[str, Profile]:
    data, source = read_project_config(root)
    return profiles_from(data, source)


def effective_settings(
    root: Path, profile: str | None = None, layers: Sequence[tuple[dict[str, Any], str]] = ()
) -> Settings:
    """load_settings, then each (values, source) layer in order; None values are skipped."""
    settings = load_settings(root, profile)
    for values, source in layers:
        settings.apply({key: value for key, value in values.items() if value is not None}, source)
    return settings


# --- the settings a job runs with --------------------------------------------------------------------------

SETTING_NAMES = ("model", "reasoning", "sandbox", "approval", "stall_after_s")


class RoleDefaults(Protocol):
    """What of a worker role (prompt_roles.Role) settles a setting: its name, and the sandbox it runs in."""

    @property
    def name(self) -> str: ...

    @property
    def sandbox(self) -> str | None: ...


def resolve_settings(
    root: Path,
    *,
    profile: str | None = None,
    role: RoleDefaults | None = None,
    model: str | None = None,
    reasoning: str | None = None,
    sandbox: str | None = None,
) -> Settings:
    """The one resolution of a job's settings, for `start`, `config` and the job's plan alike:
    defaults < project file < profile < role < flags. A read-only role sets the sandbox unless --sandbox
    is given."""
    layers: list[tuple[dict[str, Any], str]] = []
    if role is not None and role.sandbox is not None and sandbox is None:
        layers.append(({"sandbox": role.sandbox}, f"role {role.name}"))
    layers += [
        ({"model": model}, "flag --model"),
        ({"reasoning": reasoning}, "flag --reasoning"),
        ({"sandbox": sandbox}, "flag --sandbox"),
    ]
    return effective_settings(root, profile, layers)


def settings_json(settings: Settings) -> dict[str, Any]:
    """Each setting with where it came from (`config --json`, `start --dry-run --json`)."""
    return {
        name: {
            "value": getattr(settings, name),
            "source": settings.sources.get(name, "default"),
            "from": source_kind(settings.sources.get(name, "default")),
        }
        for name in SETTING_NAMES
    }


def source_kind(source: str) -> str:
    """What kind of place a value came from: default, file, profile, role or flag."""
    head = source.split(" ", 1)[0]
    return head if head in ("default", "profile", "role", "flag") else "file"
