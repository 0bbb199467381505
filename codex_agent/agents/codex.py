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
from pathlib import Path
from typing import Any

from codex_agent.agents.notify import TURNS_FILE
from codex_agent.errors import MissingDependencyError
from codex_agent.models import Tokens

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
    try:
        text = (job_dir / TURNS_FILE).read_text(errors="replace")
    except FileNotFoundError:
        return []
    turns = []
    for line in text.splitlines():
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


def discover_rollout(home: Path, cwd: str, started_ms: int, taken: set[str]) -> Path | None:
    """The rollout of a session that began in `cwd` after `started_ms`, not claimed by another job.

    Used when the notify hook could not tell us the thread (codex cannot run it when a message is larger than
    one argv value may be). Rollout names start with their creation time, so only recent days are looked at.
    """
    sessions = home / "sessions"
    if not sessions.is_dir():
        return None
    candidates = []
    for path in sessions.glob("*/*/*/rollout-*.jsonl"):
        try:
            if path.stat().st_mtime * 1000 < started_ms - 2000:
                continue
            with path.open("r", errors="replace") as handle:
                first = json.loads(handle.readline() or "{}")
        except (OSError, ValueError):
            continue
        payload = first.get("payload") or {}
        if (
            first.get("type") == "session_meta"
            and payload.get("cwd") == cwd
            and payload.get("id") not in taken
        ):
            candidates.append(path)
    return min(candidates, key=lambda p: p.name) if candidates else None


@dataclass(slots=True)
class RolloutInfo:
    thread_id: str | None = None
    tokens: Tokens | None = None
    last_message: str | None = None
    turns_started: int = 0
    turns_completed: int = 0
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
            _read_event(info, payload)
        elif kind == "response_item" and payload.get("name") == "apply_patch":
            _read_patch(info, payload)
    return info


def _read_event(info: RolloutInfo, payload: dict[str, Any]) -> None:
    event = payload.get("type")
    if event == "task_started":
        info.turns_started += 1
    elif event == "task_complete":
        info.turns_completed += 1
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


def read_last_message(job_dir: Path) -> str | None:
    try:
        text = (job_dir / LAST_MESSAGE_FILE).read_text(errors="replace").strip()
    except FileNotFoundError:
        return None
    return text or None


# Text the TUI shows in its empty input box: the only screen text codex-agent relies on, and only to know
# when a paste can be taken (never to decide a job's status).
COMPOSER_MARKERS = ("Ask Codex to do anything", "Ask Codex")
