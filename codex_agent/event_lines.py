"""Events as one line of text: for a person (`events` without --json), or for an orchestrator's monitor.

Agents' text reaches a terminal here, so every line is cleaned: no escape sequence, control or format
character gets through, and each field is cut to a width."""

from __future__ import annotations

import re
import shlex
import time
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codex_agent.events import Event

TEXT_WIDTH = 200


# CSI (ESC [ ... final), OSC and other string sequences (ESC ] ... BEL or ESC \), and two-byte escapes.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|\x9b[0-?]*[ -/]*[@-~]"
)


def clean(text: str | None, width: int = TEXT_WIDTH) -> str:
    """Agent text made safe for a terminal and for one line: no escape sequences, no control or format
    characters (bidi overrides, zero-width), no lone surrogates; whitespace runs become one space.

    (A minimal local sanitizer: display.py has none yet.)"""
    stripped = _ESCAPES.sub("", text or "")
    kept = "".join(
        " " if char.isspace() else char
        for char in stripped
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    flat = " ".join(kept.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _said(text: str | None, width: int = TEXT_WIDTH) -> str:
    """An agent's words inside one of our lines: cleaned, and without our "→", which marks what we suggest."""
    return clean((text or "").replace("→", "->"), width)


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line
    return ""


def describe(event: Event) -> str:
    """What happened and the command to run next, e.g.
    `job 3f9a1c2e needs input: Allow rm -rf build? → codex-agent send 3f9a1c2e --key y`."""
    job = event.job_id or "-"
    data = event.data
    if event.kind == "started":
        return f"job {job} started ({data['kind'] or 'job'}) → codex-agent wait {job}"
    if event.kind == "turn_completed":
        summary = _said(_first_line(data["summary"])) or "(no summary)"
        return (
            f"job {job} finished its turn: {summary} → codex-agent report {job}; "
            f'follow up: codex-agent send {job} "..."'
        )
    if event.kind == "needs_input":
        return _needs_input(job, data)
    if event.kind == "turn_failed":
        error = _said(data["error"]) or "(no error text)"
        return (
            f'job {job} turn failed: {error} → codex-agent capture {job}; retry: codex-agent send {job} "..."'
        )
    if event.kind == "stalled":
        quiet = data["quiet_s"]
        since = f" for {_seconds(quiet)}" if quiet is not None else ""
        return (
            f"job {job} stalled: no progress{since} → codex-agent capture {job}; "
            f'nudge: codex-agent send {job} "..."'
        )
    return _ended(job, data, event.job_kind)


def _needs_input(job: str, data: dict[str, Any]) -> str:
    question = _said(data["question"]) or "a question on its screen"
    command = _said(data["command"], 120)
    asked = f"{question} (command: {command})" if command and command not in question else question
    answers = [_said(answer, 40) for answer in data["answers"]]
    answers = [answer for answer in answers if answer]
    if answers:
        others = f" (answers: {', '.join(answers)})" if len(answers) > 1 else ""
        return (
            f"job {job} needs input: {asked} → codex-agent send {job} --key {shlex.quote(answers[0])}{others}"
        )
    return (
        f"job {job} needs input: {asked} → codex-agent capture {job}, "
        f"then codex-agent send {job} --key y (or a message)"
    )


def _ended(job: str, data: dict[str, Any], job_kind: str | None) -> str:
    status = _said(data["status"], 20)
    exit_code = data["exit_code"]
    head = f"job {job} ended: {status}" + (f", exit {exit_code}" if exit_code is not None else "")
    error = _said(data["error"])
    if error and status != "completed":
        head += f": {error}"
    follow_up = f"codex-agent report {job}"
    if status in ("failed", "lost") and job_kind in ("codex", "codex-exec"):
        follow_up += f'; continue it: codex-agent resume {job} "..."'
    return f"{head} → {follow_up}"


def _seconds(value: float) -> str:
    seconds = int(value)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def human_line(event: Event) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(event.at / 1000))
    return f"#{event.seq} {clock} {describe(event)}"
