"""Driving the Codex CLI: the command lines we build, and what codex tells us back.

What codex tells us comes from codex itself, never from the screen: the notify hook (one line per finished
turn in `turns.jsonl`), the session ("rollout") file under `$CODEX_HOME/sessions/`, and for `codex exec` the
last-message file. The command lines are accepted by codex-cli 0.169 (see docs/codex.md).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from codex_agent import safefs
from codex_agent.agents.notify import TURNS_FILE
from codex_agent.errors import MissingDependencyError, UsageError
from codex_agent.models import Tokens

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CODEX_BIN_ENV = "CODEX_AGENT_CODEX_BIN"
CODEX_INSTALL_HINT = "install the Codex CLI (npm install -g @openai/codex) or set CODEX_AGENT_CODEX_BIN"
LAST_MESSAGE_FILE = "last_message.txt"
# One argv value may not exceed 128 KiB on Linux; larger TUI prompts are pasted once the TUI is up.
MAX_ARGV_PROMPT_BYTES = 100_000
_PATCH_MARKERS = ("*** Add File: ", "*** Update File: ", "*** Delete File: ", "*** Move to: ")


def codex_binary() -> str:
    """The codex to run: CODEX_AGENT_CODEX_BIN, else `codex` on PATH."""
    import shutil  # imported here: reading jobs never needs it

    configured = os.environ.get(CODEX_BIN_ENV)
    if configured:
        path = shutil.which(configured) or (configured if os.access(configured, os.X_OK) else None)
        if path is None:
            raise MissingDependencyError(
                f"{CODEX_BIN_ENV}={configured} is not an executable", CODEX_INSTALL_HINT
            )
        return os.path.abspath(path)
    found = shutil.which("codex")
    if found is None:
        raise MissingDependencyError("codex is not installed (not on PATH)", CODEX_INSTALL_HINT)
    return found


def codex_home(env: dict[str, str] | None = None) -> Path:
    source = os.environ if env is None else env
    return Path(source.get("CODEX_HOME") or Path.home() / ".codex").expanduser()


def _toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string for everything json.dumps emits with ensure_ascii.
    return json.dumps(text, ensure_ascii=True)


def notify_override(job_dir: Path) -> str:
    program = [sys.executable, "-m", "codex_agent.agents.notify", str(job_dir)]
    return "notify=[" + ", ".join(_toml_string(part) for part in program) + "]"


@dataclass(slots=True)
class CodexSettings:
    model: str
    reasoning: str
    sandbox: str
    approval: str = "never"
    extra_config: list[str] = field(default_factory=list)  # more `-c key=value` overrides


def _common_flags(settings: CodexSettings, job_dir: Path, cwd: Path) -> list[str]:
    flags = [
        "-c", notify_override(job_dir),
        "-c", f"model_reasoning_effort={_toml_string(settings.reasoning)}",
        "-m", settings.model,
        "-s", settings.sandbox,
        "-C", str(cwd),
    ]  # fmt: skip
    for override in settings.extra_config:
        flags += ["-c", override]
    return flags


def tui_argv(codex: str, settings: CodexSettings, job_dir: Path, cwd: Path) -> list[str]:
    """The interactive TUI. The prompt is appended by the launcher (or pasted, when too large)."""
    return [
        codex,
        *_common_flags(settings, job_dir, cwd),
        "-a", settings.approval,
        "--no-alt-screen",  # inline mode keeps the conversation in the pane's scrollback for `capture`
        "--no-daemon",  # no background server that would outlive the job
    ]  # fmt: skip


def exec_argv(codex: str, settings: CodexSettings, job_dir: Path, cwd: Path) -> list[str]:
    """`codex exec --json`, prompt on stdin (`-`): no size limit."""
    return [
        codex,
        "exec",
        "--json",
        *_common_flags(settings, job_dir, cwd),
        "--skip-git-repo-check",
        "--color", "never",
        "-o", str(job_dir / LAST_MESSAGE_FILE),
        "-",
    ]  # fmt: skip


# --- what codex tells us back ---------------------------------------------------------------------------


@dataclass(slots=True)
class Turn:
    at: int
    thread_id: str | None
    last_message: str | None
    cwd: str | None


def read_turns(job_dir: Path) -> list[Turn]:
    """Every finished turn reported by the notify hook, oldest first."""
    data = safefs.read_quietly(job_dir / TURNS_FILE)  # never through a link an agent put there
    if data is None:
        return []
    turns = []
    for line in data.decode(errors="replace").split("\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash; the next turn writes a whole one
        payload = record.get("payload") or {}
        turns.append(
            Turn(
                at=int(record.get("at", 0)),
                thread_id=payload.get("thread-id"),
                last_message=payload.get("last-assistant-message"),
                cwd=payload.get("cwd"),
            )
        )
    return turns


def find_rollout(home: Path, thread_id: str) -> Path | None:
    """The session file of a thread: sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl."""
    sessions = home / "sessions"
    if not sessions.is_dir():
        return None
    matches = sorted(sessions.glob(f"*/*/*/rollout-*{thread_id}.jsonl"))
    return matches[-1] if matches else None


def discover_rollout(home: Path, cwd: str, started_ms: int, taken: set[str], message: str) -> Path | None:
    """The rollout of a session in `cwd`, begun after `started_ms`, that holds `message`, and that no other
    job has claimed.

    Used only when the notify hook could not tell us the thread: codex cannot run the hook once a message of
    the thread is larger than one argv value may be (the payload repeats every message so far).
    """
    sessions = home / "sessions"
    if not sessions.is_dir():
        return None
    head = message.strip()[:120]
    needles = {json.dumps(head)[1:-1], json.dumps(head, ensure_ascii=False)[1:-1]}
    for path in sorted(sessions.glob("*/*/*/rollout-*.jsonl")):
        try:
            if path.stat().st_mtime * 1000 < started_ms - 2000:
                continue
            with path.open("r", errors="replace") as handle:
                first = json.loads(handle.readline() or "{}")
                payload = first.get("payload") or {}
                if (
                    first.get("type") != "session_meta"
                    or payload.get("cwd") != cwd
                    or payload.get("id") in taken
                ):
                    continue
                if any(any(needle in line for needle in needles) for line in handle):
                    return path
        except (OSError, ValueError):
            continue
    return None


def thread_from_exec_output(text: str) -> str | None:
    """`codex exec --json` announces its thread on its first line: {"type":"thread.started","thread_id":…}."""
    for line in text.splitlines()[:20]:
        if '"thread.started"' in line:
            start = line.find("{")
            try:
                event = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("thread_id"), str):
                return str(event["thread_id"])
    return None


@dataclass(slots=True)
class RolloutInfo:
    thread_id: str | None = None
    tokens: Tokens | None = None
    last_message: str | None = None
    turns_started: int = 0
    turns_completed: int = 0
    last_started_ms: int | None = None
    last_completed_ms: int | None = None
    patched_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("r", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def read_rollout(path: Path) -> RolloutInfo:
    info = RolloutInfo()
    for record in _records(path):
        payload = record.get("payload") or {}
        kind = record.get("type")
        if kind == "session_meta":
            info.thread_id = payload.get("id") or info.thread_id
        elif kind == "event_msg":
            _read_event(info, payload, _timestamp_ms(record.get("timestamp")))
        elif kind == "response_item" and payload.get("name") == "apply_patch":
            _read_patch(info, payload)
    return info


def _timestamp_ms(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _read_event(info: RolloutInfo, payload: dict[str, Any], at: int | None) -> None:
    event = payload.get("type")
    if event == "task_started":
        info.turns_started += 1
        info.last_started_ms = at
    elif event == "task_complete":
        info.turns_completed += 1
        info.last_completed_ms = at
        if payload.get("last_agent_message"):
            info.last_message = payload["last_agent_message"]
    elif event == "token_count" and payload.get("info"):
        usage = payload["info"].get("total_token_usage") or {}
        info.tokens = Tokens(
            input=int(usage.get("input_tokens", 0)),
            output=int(usage.get("output_tokens", 0)),
            cached_input=int(usage.get("cached_input_tokens", 0)),
            reasoning_output=int(usage.get("reasoning_output_tokens", 0)),
            context_window=payload["info"].get("model_context_window"),
        )
    elif event in ("error", "stream_error") and payload.get("message"):
        info.errors.append(str(payload["message"]))


def _read_patch(info: RolloutInfo, payload: dict[str, Any]) -> None:
    text = payload.get("input") or payload.get("arguments") or ""
    if not isinstance(text, str):
        return
    for line in text.splitlines():
        for marker in _PATCH_MARKERS:
            if line.startswith(marker):
                name = line[len(marker) :].strip()
                if name and name not in info.patched_files:
                    info.patched_files.append(name)


LAST_MESSAGE_LIMIT = 1 << 20  # a longer reply is kept cut: records stay small


def read_last_message(job_dir: Path) -> str | None:
    data = safefs.read_quietly(job_dir / LAST_MESSAGE_FILE, limit=LAST_MESSAGE_LIMIT)
    text = (data or b"").decode(errors="replace").strip()
    return text or None


# Text the TUI shows in its input box: used only to know when a paste can be taken, never to decide whether
# a turn is running (the box shows it during turns too).
COMPOSER_MARKERS = ("Ask Codex to do anything",)

# First-run screens that block a hidden pane until a person answers them.
BLOCKING_SCREENS = {
    "Trust this folder?": (
        "codex asks whether to trust this folder",
        "answer with `codex-agent send ID --key Enter`, or pre-trust it: `codex-agent trust DIR`",
    ),
    "Sign in with ChatGPT": (
        "codex is asking you to log in",
        "run `codex login` once (or configure a model provider with env_key), then start again",
    ),
}


def blocking_screen(screen: str) -> tuple[str, str] | None:
    """(what codex is waiting for, what to do) when the screen shows a first-run question."""
    for marker, found in BLOCKING_SCREENS.items():
        if marker in screen:
            return found
    return None


def is_trusted(home: Path, directory: Path) -> bool:
    try:
        config = tomllib.loads((home / "config.toml").read_text())
    except (OSError, ValueError):  # unreadable, not UTF-8, not TOML
        return False
    projects = config.get("projects")
    entry = projects.get(str(directory)) if isinstance(projects, dict) else None
    return isinstance(entry, dict) and entry.get("trust_level") == "trusted"


def trust_directory(home: Path, directory: Path) -> bool:
    """Mark `directory` as trusted in codex's config.toml, so its TUI does not stop at "Trust this folder?".

    Returns False when it was trusted already. Appends a table with one write (codex itself rewrites the file
    in place and keeps what is there).
    """
    directory = directory.resolve()
    if is_trusted(home, directory):
        return False
    path = home / "config.toml"
    try:
        existing = tomllib.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not TOML
        raise UsageError(f"cannot read {path}: {exc}", "fix codex's config.toml first") from exc
    projects = existing.get("projects", {})
    if not isinstance(projects, dict):
        raise UsageError(f"{path}: `projects` is not a table", "fix codex's config.toml first")
    if str(directory) in projects:
        raise UsageError(
            f"{path} already has an entry for {directory} that is not trusted",
            'set trust_level = "trusted" in it by hand',
        )
    home.mkdir(parents=True, exist_ok=True)
    table = f'\n[projects.{_toml_string(str(directory))}]\ntrust_level = "trusted"\n'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, table.encode())
    finally:
        os.close(fd)
    if not is_trusted(home, directory):  # never say "trusted" when codex would not read it so
        raise UsageError(f"{path} does not read as trusting {directory} after the edit", "fix it by hand")
    return True
