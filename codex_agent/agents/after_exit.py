"""`python -m codex_agent.agents.after_exit JOB_DIR`: run by a job's pane once its agent has exited and the
exit status is recorded. It records the end (and the agents.log entry), starts queued jobs that were waiting
for this one, and runs the job's notify-on-complete command. No daemon: each job's end drives what follows.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from codex_agent import oncomplete, queue, safefs
from codex_agent.agents.launch import AFTER_EXIT_LOG


def _log_to(path: Path) -> None:
    """Our output goes to the job's after_exit.log: 0600, and never through a link an agent put there."""
    with contextlib.suppress(Exception):  # no log is better than writing through someone's link
        fd = safefs.open_append(path)
        for target in (1, 2):
            os.dup2(fd, target)
        os.close(fd)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m codex_agent.agents.after_exit JOB_DIR", file=sys.stderr)
        return 2
    _log_to(Path(argv[1]) / AFTER_EXIT_LOG)
    status = queue.main(argv)
    oncomplete.main([argv[0], argv[1], "end"])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
