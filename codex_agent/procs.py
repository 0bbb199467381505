"""Process-tree helpers, from /proc (Linux).

Stopping a job means more than killing its tmux session: codex runs each tool in a session of its own, so a
tool's children would outlive the pane. We signal every process group found under the pane first.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codex_agent.tmux import Tmux


def _parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, parents before children."""
    children: dict[int, list[int]] = {}
    for child, parent in _parent_map().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    queue = [pid]
    while queue:
        current = queue.pop(0)
        for child in sorted(children.get(current, [])):
            found.append(child)
            queue.append(child)
    return found


def process_groups_below(pid: int) -> set[int]:
    """The process groups of everything below `pid` (never our own group).

    Groups rather than single processes, so that what a tool left behind is reached even after it has been
    re-parented away from the pane.
    """
    groups = set()
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(child))
    groups.discard(os.getpgid(0))
    return groups


def signal_groups(groups: set[int], sig: signal.Signals) -> None:
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, sig)


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot), to tell a process from a later one that reuses its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def stop_session(tmux: Tmux, session: str) -> None:
    """Stop everything a job's session started, then the session: tools run in sessions of their own and
    would outlive the pane."""
    pane = tmux.panes().get(session)
    groups = process_groups_below(pane.pid) if pane is not None and pane.pid else set()
    if pane is not None and pane.pid and not pane.dead:
        groups.add(pane.pid)  # tmux makes the pane's process a group leader
    signal_groups(groups, signal.SIGTERM)
    tmux.kill_session(session)
    signal_groups(groups, signal.SIGKILL)  # whatever ignored SIGTERM
