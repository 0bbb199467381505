"""`python -m codex_agent.agents.after_exit JOB_DIR`: run by a job's pane once its agent has exited and the
exit status is recorded. It records the end (and the agents.log entry), starts queued jobs that were waiting
for this one, and runs the job's notify-on-complete command. No daemon: each job's end drives what follows.
"""

from __future__ import annotations

import sys

from codex_agent import oncomplete, queue


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m codex_agent.agents.after_exit JOB_DIR", file=sys.stderr)
        return 2
    status = queue.main(argv)
    oncomplete.main([argv[0], argv[1], "end"])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
