"""Ids, clocks and the echo reply shared by the codex double's app-server and remote TUI.

Kept free of third-party imports: the double's old TUI and exec modes must keep running where only the
standard library is installed (the remote tier copies the double to its hosts).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid

CLI_VERSION = "0.169.0"
MARK = "\u203a"  # the real TUI's prompt mark, before user text and in the composer
PLACEHOLDER = f"{MARK} Ask Codex to do anything"  # the idle composer


def uuid7() -> str:
    """A time-ordered UUID (version 7), the kind the real codex uses for thread, turn and item ids."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def echo_reply(message: str) -> str:
    """The double's answer to one message: its length, its digest and its first 60 characters."""
    digest = hashlib.sha256(message.encode("utf-8", "surrogateescape")).hexdigest()
    return f"ECHO[{len(message)} chars sha256={digest}]: {' '.join(message.split())[:60]}"
