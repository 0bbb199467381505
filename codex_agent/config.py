"""Project settings: built-in defaults, overridden by `.codex-agent.toml` or `[tool.codex-agent]` in
`pyproject.toml` at the project root. Each effective value remembers where it came from."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

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
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read {path}: {exc}", "fix the file's TOML syntax") from exc
        for key in table or ():
            data = data.get(key) if isinstance(data, dict) else None
        if isinstance(data, dict):
            return data, path.name
    return {}, None


def load_settings(root: Path) -> Settings:
    settings = Settings()
    settings.sources = {f.name: "default" for f in fields(settings) if f.name != "sources"}
    data, source = read_project_config(root)
    if source:
        settings.apply(data, source)
    return settings
