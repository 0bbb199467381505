"""The public JSON shapes, as pydantic models, and their export to JSON Schema files (docs/schema/*.json).

The CLI builds its JSON from the plain records in `models.py` (`Job.to_json` and friends) and never imports
this module: pydantic is too slow to import on the hot path. The models here describe the same shapes for
people and tools; `tests/test_schema.py` validates real CLI output against them, so the two stay in step.
Every model forbids unknown fields: a field added to the output must be added here too.

    python -m codex_agent.schema            # write docs/schema/*.json
    python -m codex_agent.schema --check    # exit 1 when a committed file differs from the models
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from codex_agent.models import ID_LENGTH, SESSION_PREFIX

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "docs" / "schema"

JobStatusName = Literal[
    "pending", "running", "idle", "needs_input", "stalled", "completed", "failed", "killed", "lost"
]
JobKindName = Literal["codex", "codex-exec", "command"]
Timestamp = str  # ISO 8601 in UTC with milliseconds, e.g. "2026-01-21T10:45:00.000Z"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tokens(_Shape):
    """Token counts of a Codex agent's conversation so far (from its session file)."""

    input: int = Field(description="Input tokens of the whole conversation.")
    output: int
    cached_input: int
    reasoning_output: int
    context_window: int | None = Field(description="The model's context window, when codex reports it.")
    context_used_pct: float | None = Field(description="input / context_window in percent, one decimal.")


class Job(_Shape):
    """One job: `status --json`, `start --json`, `kill --json`, and each entry of `jobs --json`."""

    id: str = Field(pattern="^[0-9a-f]{8}$", description="8 hex characters; any unique prefix is accepted.")
    status: JobStatusName
    kind: JobKindName = Field(description="codex: interactive TUI; codex-exec: one task; command: plain.")
    prompt: str = Field(
        description="The task's first 100 characters (the command line for kind=command); the whole of it "
        "is the job folder's prompt.txt."
    )
    prompt_bytes: int = Field(description="The size of the whole prompt (or command line), in UTF-8 bytes.")
    model: str | None
    reasoning: str | None
    sandbox: str | None
    cwd: str = Field(description="The directory the job runs in.")
    elapsed_ms: int = Field(description="From start to end, or to now while the job is live.")
    created_at: Timestamp | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    exit_code: int | None
    tmux_session: str = Field(pattern=f"^{SESSION_PREFIX}[0-9a-f]{{{ID_LENGTH}}}$")
    thread_id: str | None = Field(description="Codex's conversation (thread) id, once known.")
    error: str | None
    parent_session: str | None
    tokens: Tokens | None
    files_modified: list[str] | None
    summary: str | None = Field(description="The agent's last message.")
    status_basis: str | None = Field(
        description="What the status is based on: exit record, tmux, notify hook, rollout file, send, "
        "output log, screen, start or kill request (see docs/statuses.md)."
    )
    attention: str | None = Field(
        description="What the agent is waiting for when it needs a person (needs_input), and what to do."
    )


class JobsList(_Shape):
    """`jobs --json`: newest first."""

    version: Literal[1]
    generated_at: Timestamp
    jobs: list[Job]


class Session(_Shape):
    session: str
    job_id: str
    alive: bool
    this_project: bool = Field(description="Made by this project's state directory.")
    attach: str = Field(description="The tmux command that attaches to it.")


class SessionsList(_Shape):
    """`sessions --json`."""

    version: Literal[1]
    generated_at: Timestamp
    sessions: list[Session]


class TmuxCheck(_Shape):
    ok: bool
    version: str | None
    hint: str | None


class CodexCheck(_Shape):
    ok: bool
    path: str | None
    version: str | None
    hint: str | None


class LiveJob(_Shape):
    id: str
    status: JobStatusName
    status_basis: str | None
    attention: str | None
    elapsed_ms: int
    process_alive: bool = Field(description="The job's pane process is alive.")
    pid: int | None
    last_output_at: str | None = Field(description="Last write to its terminal (ISO time).")
    last_progress_at: str | None = Field(description="Last progress: codex records, or output for commands.")
    last_turn_at: str | None = Field(description="When its last turn finished (TUI agents).")


class Health(_Shape):
    """`health --json` (exit status 6 when ok is false)."""

    ok: bool
    tmux: TmuxCheck
    codex: CodexCheck
    state_dir: str
    live_jobs: list[LiveJob]


class CleanReport(_Shape):
    """`clean --json`."""

    removed_jobs: list[str]
    killed_orphan_sessions: list[str]
    foreign_sessions: list[str] = Field(description="Sessions named like ours but not made by codex-agent.")
    worktrees: list[str] = Field(description="What happened to each removed job's worktree, in words.")
    stopped_leftover_sessions: list[str] = Field(
        description="Sessions of ended jobs whose agent was still running (an interrupted kill), now stopped."
    )
    removed_orphan_folders: list[str] = Field(
        description="Job folders without a record (an interrupted start)."
    )


NextAction = Literal["wait", "done", "fix-config"]


class ExecStart(_Shape):
    """`exec start --json`."""

    version: int
    machine: str = Field(description='The machine it runs on ("local" without --machine).')
    exec_id: str
    status: Literal["running"]
    next_action: NextAction
    job: Job


class ExecResult(_Shape):
    """`exec result --json`: whether a command finished, its exit code and the tails of its two streams."""

    version: int
    machine: str
    exec_id: str
    status: Literal["running", "finished"]
    job_status: JobStatusName
    exit_code: int | None
    error: str | None
    command: str
    cwd: str
    elapsed_ms: int
    stdout_tail: str
    stderr_tail: str
    next_action: NextAction


class ExecRun(ExecResult):
    """`exec run --json` (the exit status is the command's own): the result, and the whole output."""

    output: str


class CutItem(_Shape):
    path: str
    kind: str = Field(description="map or file")
    tokens: int
    action: Literal["shortened", "left_out"]
    kept_lines: int | None
    total_lines: int | None


class SkippedFile(_Shape):
    path: str
    reason: str


class Setting(_Shape):
    value: str | int
    source: str = Field(
        description='Where the value came from, e.g. "default", "pyproject.toml", "flag --model".'
    )
    from_: str = Field(alias="from", description="The kind of source: default, file, profile, role or flag.")


class StartPlan(_Shape):
    """`start --dry-run --json`: what would run. The job's id is a placeholder."""

    job: Job
    argv: list[str]
    prompt_via: Literal["protocol", "none"]  # the prompt is the first turn's input, sent by the keeper
    prompt_bytes: int
    prompt_tokens: int
    token_counter: str = Field(description="How tokens were counted: a real tokenizer, or a stated estimate.")
    token_count_exact: bool
    context_budget: int | None
    role: str | None
    codebase_map: str | None = Field(description="The map file included, if any.")
    files_included: list[str]
    cut: list[CutItem] = Field(description="What was shortened or left out to stay within the budget.")
    cut_listed_in_prompt: str
    files_skipped: list[SkippedFile]
    settings: dict[str, Setting]


class _EventLine(_Shape):
    json_version: Literal[1]
    seq: int = Field(description="The cursor: resume with `events --since SEQ` to lose and repeat nothing.")
    at: Timestamp
    job_id: str | None = Field(description="The job it happened to.")


class StartedData(_Shape):
    kind: JobKindName | None = Field(description="The job's kind.")


class StartedEvent(_EventLine):
    kind: Literal["started"]
    data: StartedData


class TurnCompletedData(_Shape):
    summary: str | None = Field(description="The agent's last message of the turn.")
    turn_id: str | None


class TurnCompletedEvent(_EventLine):
    """An agent finished a turn: an interactive one is now idle and takes a follow-up."""

    kind: Literal["turn_completed"]
    data: TurnCompletedData


class NeedsInputData(_Shape):
    question: str | None = Field(description="What the agent asks.")
    command: str | None = Field(description="The command it asks to run, for an approval.")
    cwd: str | None
    reason: str | None
    answers: list[str] = Field(description="The answers it takes (for `send --key`), when known.")


class NeedsInputEvent(_EventLine):
    kind: Literal["needs_input"]
    data: NeedsInputData


class TurnFailedData(_Shape):
    error: str | None = Field(description="Codex's error text.")
    turn_id: str | None


class TurnFailedEvent(_EventLine):
    kind: Literal["turn_failed"]
    data: TurnFailedData


class StalledData(_Shape):
    quiet_s: float | None = Field(description="Seconds without progress.")


class StalledEvent(_EventLine):
    kind: Literal["stalled"]
    data: StalledData


class EndedData(_Shape):
    status: str = Field(description="completed, failed, killed or lost.")
    exit_code: int | None
    error: str | None


class EndedEvent(_EventLine):
    kind: Literal["ended"]
    data: EndedData


class EventLine(
    RootModel[
        Annotated[
            StartedEvent | TurnCompletedEvent | NeedsInputEvent | TurnFailedEvent | StalledEvent | EndedEvent,
            Field(discriminator="kind"),
        ]
    ]
):
    """One line of `events --json`: a job's transition, oldest first; `data` depends on `kind`."""


# File name (without .json) -> model. The names are part of the public documentation.
SHAPES: dict[str, type[BaseModel]] = {
    "job": Job,
    "jobs": JobsList,
    "sessions": SessionsList,
    "health": Health,
    "clean": CleanReport,
    "exec-start": ExecStart,
    "exec-result": ExecResult,
    "exec-run": ExecRun,
    "start-plan": StartPlan,
    "events": EventLine,
}


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"$schema": SCHEMA_DIALECT, **model.model_json_schema()}


def rendered() -> dict[str, str]:
    """File name -> file text, exactly as committed."""
    return {
        f"{name}.json": json.dumps(json_schema(model), indent=2, sort_keys=True) + "\n"
        for name, model in SHAPES.items()
    }


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def stale(directory: Path) -> list[str]:
    """The schema files in `directory` that differ from the models (or are missing)."""
    out = []
    for name, text in rendered().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codex_agent.schema", description=__doc__.split("\n")[0])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--check", action="store_true", help="Only report files that are out of date.")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.directory)
        for name in outdated:
            print(
                f"out of date: {args.directory / name} (run: python -m codex_agent.schema)", file=sys.stderr
            )
        return 1 if outdated else 0
    for path in export(args.directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
