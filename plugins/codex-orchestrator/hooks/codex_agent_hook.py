"""Claude Code hooks of the codex-orchestrator plugin. Standard library only: it runs under any python3.

    session-start   (SessionStart, after a compaction or a resume) print `codex-agent context` for the
                    session's project: Claude Code adds what this hook prints to the model's context.
    session-end     (SessionEnd) if agents are still live, note in agents.log that the orchestrator left.

Claude Code sends the hook's JSON payload on stdin; its `cwd` names the project. A hook never fails the
session: every problem becomes one line of output (session-start) or nothing (session-end), and exit 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

PAYLOAD_LIMIT = 1 << 20
TIMEOUT_S = 20
LIVE_GROUPS = ("needs_input", "running", "idle", "queued")


def payload() -> dict[str, Any]:
    try:
        data = json.loads(sys.stdin.read(PAYLOAD_LIMIT) or "{}")
    except (ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def project_dir(data: dict[str, Any]) -> str:
    for candidate in (data.get("cwd"), os.environ.get("CLAUDE_PROJECT_DIR"), os.getcwd()):
        if isinstance(candidate, str) and candidate and os.path.isdir(candidate):
            return candidate
    return os.getcwd()


def codex_agent(*args: str) -> subprocess.CompletedProcess[str] | None:
    exe = shutil.which("codex-agent")
    if exe is None:
        return None
    try:
        return subprocess.run(
            [exe, *args],
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def summary(directory: str) -> dict[str, Any] | None:
    result = codex_agent("context", "--json", "--dir", directory)
    if result is None or result.returncode != 0:
        return None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def session_start(data: dict[str, Any]) -> int:
    directory = project_dir(data)
    if shutil.which("codex-agent") is None:
        print(
            "codex-orchestrator: codex-agent is not on PATH, so its jobs cannot be listed "
            "(see the plugin README)."
        )
        return 0
    found = summary(directory)
    if found is None:
        print(f"codex-orchestrator: `codex-agent context --dir {directory}` failed; run it to see why.")
        return 0
    if not found.get("total_jobs"):
        return 0  # no codex-agent jobs in this project: nothing to put back
    text = codex_agent("context", "--dir", directory)
    if text is None or text.returncode != 0:
        return 0
    source = data.get("source") if data.get("source") in ("compact", "resume") else "a restart"
    print(
        f"codex-orchestrator (after {source}): the Codex agents of this project, from `codex-agent context`. "
        "Do not restart jobs that are still live; their next events arrive by themselves from the "
        "codex-agent-events monitor."
    )
    sys.stdout.write(text.stdout)
    return 0


def session_end(data: dict[str, Any]) -> int:
    directory = project_dir(data)
    found = summary(directory)
    if found is None:
        return 0
    groups = found.get("groups")
    if not isinstance(groups, dict):
        return 0
    live = [
        str(job.get("id"))
        for key in LIVE_GROUPS
        for job in groups.get(key) or []
        if isinstance(job, dict) and job.get("id")
    ]
    if not live:
        return 0
    reason = data.get("reason")
    if not isinstance(reason, str):
        reason = "unknown"
    note = (
        f"A Claude Code orchestrator session ended ({reason[:40]}) while these jobs were live: "
        f"{', '.join(live[:20])}. Whoever picks up: codex-agent context."
    )
    codex_agent("log", "add", "--kind", "note", "--dir", directory, note)
    return 0


def main(argv: list[str]) -> int:
    commands = {"session-start": session_start, "session-end": session_end}
    if len(argv) != 2 or argv[1] not in commands:
        print(f"usage: {os.path.basename(argv[0])} session-start|session-end", file=sys.stderr)
        return 0
    return commands[argv[1]](payload())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
