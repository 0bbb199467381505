"""Plain-text pieces that every human-facing view shares (the CLI's tables, the dashboard, `context`)."""

from __future__ import annotations

import re

from codex_agent.models import Job, JobStatus

# A symbol per status, so every view reads without colour.
SYMBOLS = {
    JobStatus.PENDING: "…",
    JobStatus.RUNNING: "▶",
    JobStatus.IDLE: "◆",
    JobStatus.NEEDS_INPUT: "?",
    JobStatus.STALLED: "!",
    JobStatus.COMPLETED: "✓",
    JobStatus.FAILED: "✗",
    JobStatus.KILLED: "■",
    JobStatus.LOST: "~",
}


def tokens_text(job: Job) -> str:
    if job.tokens is None:
        return "-"
    total = job.tokens.input + job.tokens.output
    return f"{total / 1000:.1f}k" if total >= 1000 else str(total)


def human_duration(ms: int) -> str:
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def one_line(text: str | None, width: int) -> str:
    flat = " ".join(plain(text or "").split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"


# --- text from agents and files, shown as text --------------------------------------------------------------
# Terminal control: CSI sequences (cursor, screen, colours), OSC/DCS/SOS/PM/APC strings (title, clipboard:
# OSC 52), other ESC sequences, and every C0/C1 control character but newline and tab. An agent's reply or a
# file name may hold any of them; printed raw they would clear the screen or write the reader's clipboard.
_SEQUENCE = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|[\x1b][\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
_CONTROL = re.compile(rf"{_SEQUENCE}|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SGR = re.compile(r"\x1b\[[0-9;:]*m\Z")
_INCOMPLETE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b\x9c]*|[ -/]*)?\Z|\x9b[0-?]*[ -/]*\Z")
HOLD_LIMIT = 4096  # an escape sequence still open after this many characters is dropped as it comes


def plain(text: str) -> str:
    """`text` with every terminal control sequence and control character removed (newlines and tabs kept)."""
    return _CONTROL.sub("", text)


def plain_or_none(text: str | None) -> str | None:
    return None if text is None else plain(text)


class TerminalFilter:
    """Removes terminal control from a stream of text that arrives in pieces (a sequence may be cut in two).

    With `keep_sgr`, colour and style sequences (SGR, `ESC [ … m`) stay, for a terminal; nothing else does."""

    def __init__(self, *, keep_sgr: bool) -> None:
        self.keep_sgr = keep_sgr
        self._held = ""

    def _replace(self, match: re.Match[str]) -> str:
        found = match.group(0)
        return found if self.keep_sgr and _SGR.match(found) else ""

    def feed(self, text: str) -> str:
        text = self._held + text
        self._held = ""
        cut = max(text.rfind("\x1b"), text.rfind("\x9b"))
        if cut >= 0 and len(text) - cut < HOLD_LIMIT and _INCOMPLETE.match(text, cut):
            text, self._held = text[:cut], text[cut:]  # wait for the rest of the sequence
        return self._clean(text)

    def end(self) -> str:
        held, self._held = self._held, ""
        return self._clean(held)

    def _clean(self, text: str) -> str:
        # A plain replacement is a third faster than a function per match: used when nothing is kept.
        return _CONTROL.sub(self._replace, text) if self.keep_sgr else _CONTROL.sub("", text)
