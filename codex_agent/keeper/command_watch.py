"""What a plain command's keeper can tell from the command's own output, which it relays: a prompt waiting
for an answer at the end of the output (`needs_input`), or no output for the stall threshold (`stalled`).

Codex jobs never come here: their state is codex's protocol. A command has no protocol, so its output is the
evidence, and only its last lines count: a prompt that has scrolled up past later output is no question.
"""

from __future__ import annotations

import re
import time

from codex_agent.keeper.record import Recorder
from codex_agent.models import Job, JobStatus

QUIET_BEFORE_QUESTION_S = 2.0  # a prompt is a question once the output has been quiet this long
TAIL_BYTES = 4096
QUESTION_TAIL_ROWS = 3
ATTENTION_MAX_CHARS = 500
BASIS = "output"
CHECK_MARGIN_S = 0.01  # look just after a threshold, never just before it

_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_PROMPT = re.compile(
    r"\[[yY]/[nN]\]|\([yY]/[nN]\)|\(yes/no\)|\[yes/no\]|Press enter to confirm|"
    r"(?:^|\s)(?:[Pp]assword|[Pp]assphrase)[^:]*:\s*$|\?\s*$"
)


def find_question(text: str) -> str | None:
    """A prompt on the last rows of `text`, as one line; else None."""
    rows = [row.rstrip() for row in text.replace("\r", "\n").splitlines() if row.strip()]
    for index in range(len(rows) - 1, max(-1, len(rows) - 1 - QUESTION_TAIL_ROWS), -1):
        if _PROMPT.search(rows[index]) and index == len(rows) - 1:
            return " ".join(rows[index].split())[:ATTENTION_MAX_CHARS]
    return None


class CommandWatch:
    """Fed every chunk the command writes, and an empty one when a quiet threshold it named comes due."""

    def __init__(self, recorder: Recorder, stall_after_s: float) -> None:
        self.recorder = recorder
        self.stall_after_s = stall_after_s
        self.tail = b""
        self.last_output = time.monotonic()
        self.state: tuple[JobStatus, str | None] = (JobStatus.RUNNING, None)

    def __call__(self, data: bytes) -> None:
        now = time.monotonic()
        if data:
            self.tail = (self.tail + data)[-TAIL_BYTES:]
            self.last_output = now
        quiet = now - self.last_output
        question = None
        if quiet >= QUIET_BEFORE_QUESTION_S:
            question = find_question(_ESCAPES.sub(b"", self.tail).decode("utf-8", "replace"))
        if question is not None:
            self._set(JobStatus.NEEDS_INPUT, question)
        elif quiet >= self.stall_after_s:
            self._set(JobStatus.STALLED, f"no output for {int(quiet)}s")
        else:
            self._set(JobStatus.RUNNING, None)

    def next_check_in(self) -> float | None:
        """Seconds until the quiet output crosses a threshold not yet looked at (question, then stall)."""
        quiet = time.monotonic() - self.last_output
        ahead = [limit - quiet for limit in (QUIET_BEFORE_QUESTION_S, self.stall_after_s) if limit > quiet]
        return min(ahead) + CHECK_MARGIN_S if ahead else None

    def _set(self, status: JobStatus, attention: str | None) -> None:
        if (status, attention is None) == (self.state[0], self.state[1] is None):
            return
        before = self.state[0]
        self.state = (status, attention)
        text = attention

        def change(job: Job) -> None:
            if job.status.is_terminal:
                return
            job.status = status
            job.attrs["status_basis"] = BASIS
            job.attrs["attention"] = text

        self.recorder.update(change)
        if status is JobStatus.NEEDS_INPUT:
            self.recorder.event("needs_input", {"question": text, "answers": ["y", "n", "Enter"]})
        elif status is JobStatus.STALLED and before is not JobStatus.STALLED:
            self.recorder.event("stalled", {"quiet_s": int(self.stall_after_s)})
