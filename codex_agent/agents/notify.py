"""Codex's turn-complete hook: `python -m codex_agent.agents.notify JOB_DIR PAYLOAD_JSON`.

Codex runs it after every turn with one JSON argument. It appends one line to the job's `turns.jsonl` with a
single write (atomic for lines of this size on a local filesystem), then runs the user's own notify program if
they had one, since our `-c notify=` override replaces it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TURNS_FILE = "turns.jsonl"
QUEUED_SQL = "SELECT 1 FROM jobs WHERE status = 'pending' AND attrs LIKE '%\"queued\": true%' LIMIT 1"


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        return 2
    job_dir = Path(argv[1])
    payload_text = argv[-1]
    try:
        payload = json.loads(payload_text)
    except ValueError:
        payload = {"raw": payload_text}
    line = json.dumps({"at": int(time.time() * 1000), "payload": payload}, ensure_ascii=True) + "\n"
    fd = os.open(job_dir / TURNS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    try:
        spec = json.loads((job_dir / "launch.json").read_text())
    except (OSError, ValueError):
        spec = {}
    chain = spec.get("notify_chain") or []
    if spec.get("notify_on_complete"):
        # The job has a notify-on-complete command: it runs if this turn left the agent idle. Started in the
        # background so codex is not held up.
        subprocess.Popen(
            [sys.executable, "-m", "codex_agent.oncomplete", str(job_dir), "turn"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    if chain:
        subprocess.run([*map(str, chain), payload_text], check=False, timeout=60)
    _wake_queue(job_dir)
    return 0


def _wake_queue(job_dir: Path) -> None:
    """A finished turn may free a slot or satisfy `--after`: let the queue look (in the background)."""
    try:
        from codex_agent.store import Store

        store = Store.open(job_dir.parent.parent, create=False)
        try:
            waiting = store.query(QUEUED_SQL)
        finally:
            store.close()
        if waiting:
            from codex_agent import safefs

            log = safefs.open_append(job_dir / "after_exit.log")  # 0600 whatever the umask, never a link
            try:
                subprocess.Popen(
                    [sys.executable, "-m", "codex_agent.queue", str(job_dir)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            finally:
                os.close(log)
    except Exception as exc:  # never let this get in codex's way
        print(f"codex-agent notify: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
