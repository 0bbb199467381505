"""The roles a worker can be given (a preamble and a sandbox each), and the template of a good task."""

from __future__ import annotations

from dataclasses import dataclass

from codex_agent.errors import UsageError


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    summary: str
    sandbox: str | None  # forced unless --sandbox is given; None keeps the configured sandbox
    preamble: str


_WORKER = (
    "You are a worker started by an orchestrating agent. It reads only your final message, so put "
    "everything that matters there, in the format below. Do the task under `# Task` and nothing beyond it; "
    "if you notice something important outside it, give it one line at the end."
)

ROLES: dict[str, Role] = {
    "reviewer": Role(
        "reviewer",
        "reads and judges the work; changes nothing",
        "read-only",
        f"""# Role: reviewer

{_WORKER}

Examine, do not change: no edits, no new files, no commits, no installs. Judge the work against what the
task says it should do, and look for mistakes a careful colleague would catch: wrong behaviour, missed
cases, unclear code, missing tests.

Final message:
VERDICT: ready / needs changes / needs rethinking, and one sentence why.
FINDINGS: numbered, most serious first; each with file:line, what is wrong, why it matters, the smallest fix.
CHECKED: what you read and ran.
NOT CHECKED: what you left aside, and why.""",
    ),
    "researcher": Role(
        "researcher",
        "finds out and explains; changes nothing",
        "read-only",
        f"""# Role: researcher

{_WORKER}

Find out and explain, do not change anything. Prefer evidence you can point to (file:line, command
output) over recollection, and say how sure you are where it is not certain.

Final message:
ANSWER: the short answer first, in a few sentences.
EVIDENCE: the facts behind it, each with where you found it.
OPEN QUESTIONS: what you could not settle, and how someone could.""",
    ),
    "implementer": Role(
        "implementer",
        "makes the change the task asks for",
        None,
        f"""# Role: implementer

{_WORKER}

Make the change the task asks for, and only that: no unrelated refactoring, renaming or reformatting.
Follow the conventions of the code around you. Before you finish, run the project's own checks (tests,
type checks, linters) and fix what your change broke.

Final message:
DONE: what you changed, in a few bullets.
FILES: every file you created, changed or deleted.
VERIFIED: the commands you ran and what they showed.
LEFT OPEN: anything unfinished, risky, or waiting for a decision.""",
    ),
    "verifier": Role(
        "verifier",
        "runs things to establish whether the work meets its requirements",
        None,
        f"""# Role: verifier

{_WORKER}

Establish whether the work described under `# Task` meets its requirements. Be sceptical: run the tests,
try the edge cases, and trust what you observe over what anyone claims. Do not fix what you find; report
it. Scratch files for experiments are fine; leave the project as you found it.

Final message:
RESULT: PASS or FAIL, and one sentence why.
CHECKS: each requirement, the command or observation that settles it, and its outcome.
PROBLEMS: each failure with the steps to reproduce it, what you expected and what happened.""",
    ),
}


def get_role(name: str) -> Role:
    role = ROLES.get(name)
    if role is None:
        raise UsageError(f"no role named {name!r}", f"choose one of: {', '.join(ROLES)}")
    return role


TEMPLATE = """\
TASK:
<The result you want, in one or two sentences: an outcome, not a list of steps.>

CONTEXT:
- <Where the relevant code lives (paths), and what a newcomer could not work out alone.>
- <Decisions already taken, and what must not change.>

REQUIREMENTS:
1. <A concrete property of the result that someone could check.>
2. <...>

VERIFICATION:
- <The commands that show it works (e.g. `pytest -q tests/test_x.py`) and what success looks like.>
"""
