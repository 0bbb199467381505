"""Machine output, shared by the typer commands and the lean read path: this module never imports typer."""

from __future__ import annotations

import json
import sys
from typing import Any

from codex_agent.models import JSON_VERSION, iso, now_ms


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def envelope(key: str, value: Any) -> dict[str, Any]:
    """The versioned top level of list outputs: {"version", "generated_at", key: value}."""
    return {"version": JSON_VERSION, "generated_at": iso(now_ms()), key: value}
