"""Machine output, shared by the typer commands and the lean read path: this module never imports typer."""

from __future__ import annotations

import json
import sys
from typing import Any

from codex_agent.models import JSON_VERSION, iso, now_ms

# json.dumps escapes C0 controls but, with ensure_ascii=False, leaves DEL, the C1 controls (U+009B is a CSI
# for some terminals) and the Unicode line separators as they are: JSON printed to a terminal, or pasted into
# JavaScript, would carry them raw. Escaped, the JSON means the same.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x7F, 0xA0), 0x2028, 0x2029)}


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False).translate(_JSON_ESCAPES) + "\n")


def print_json_line(data: Any, *, flush: bool = True) -> None:
    """One record of a stream (NDJSON: `watch --json`, `exec logs`): one compact line, flushed at once when
    followed live, so a reader sees it as it happens."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False).translate(_JSON_ESCAPES) + "\n")
    if flush:
        sys.stdout.flush()


def envelope(key: str, value: Any) -> dict[str, Any]:
    """The versioned top level of list outputs: {"version", "generated_at", key: value}."""
    return {"version": JSON_VERSION, "generated_at": iso(now_ms()), key: value}
