"""Pieces every command module shares: option types, reading text arguments, and output helpers."""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

# Re-exported for the command modules; they live in cli.output, which the lean read path shares.
from codex_agent.cli.output import envelope as envelope
from codex_agent.cli.output import print_json as print_json
from codex_agent.cli.output import print_json_line as print_json_line
from codex_agent.display import TerminalFilter, plain
from codex_agent.errors import CodexAgentError, UsageError
from codex_agent.models import Job

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
DirOption = Annotated[
    Path | None,
    typer.Option("--dir", "-d", help="Project directory (default: the current one).", show_default=False),
]
RawOption = Annotated[
    bool,
    typer.Option(
        "--raw",
        help="The bytes as the job wrote them, terminal escapes included (default: none when stdout is not "
        "a terminal, colours only on a terminal).",
    ),
]
StripAnsiOption = Annotated[bool, typer.Option("--strip-ansi", help="Remove colours and escapes.")]
JobIdArgument = Annotated[str, typer.Argument(help="Job id, or a unique prefix of one.", show_default=False)]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration_ms(text: str, *, default_unit: str = "s") -> int:
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"not a duration: {text!r}", "use a number with a unit, e.g. 90s, 5m, 2h, 7d")
    return int(float(match.group(1)) * _UNIT_MS[match.group(2) or default_unit])


def read_text_argument(value: str, *, what: str = "prompt") -> str:
    """TEXT as given, `-` for standard input, or `@FILE` for a file's contents (byte-exact, any size)."""
    if value == "-":
        data = sys.stdin.buffer.read()
    elif value.startswith("@") and len(value) > 1:
        path = Path(value[1:]).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
    else:
        return value
    return data.decode("utf-8", errors="surrogateescape")


def echo(text: str = "") -> None:
    """Human output. Much of it comes from agents and files: terminal control sequences never get through."""
    sys.stdout.write(plain(text) + "\n")


def note(text: str) -> None:
    """Diagnostics for people go to stderr, so stdout stays machine-readable."""
    sys.stderr.write(plain(text) + "\n")


@dataclass(frozen=True, slots=True)
class Output:
    """What a command prints: `data` with --json (a record's `to_json()`, or what print_json takes), else
    `human()`. Once it is printed, a non-zero `exit_code` (an outcome, not an error: `wait`, `exec run`)
    becomes the command's exit status, or `error` is raised (a report that says something is wrong, as
    `health` does, is printed all the same)."""

    data: Any
    human: Callable[[], None]
    exit_code: int = 0
    error: CodexAgentError | None = None

    @classmethod
    def listing(cls, key: str, items: list[Any], human: Callable[[], None]) -> Output:
        """A list of records: with --json, the versioned envelope {"version", "generated_at", key: items}
        (docs/json.md)."""
        return cls(envelope(key, items), human)


def show(output: Output | None, *, json_output: bool) -> None:
    """Print one command's result the one way every command does: JSON on stdout, or its human form."""
    if output is None:  # the command printed as it went (a stream, a file's bytes)
        return
    if json_output:
        to_json = getattr(output.data, "to_json", None)
        print_json(to_json() if callable(to_json) else output.data)
    else:
        output.human()
    if output.error is not None:
        raise output.error
    if output.exit_code:
        raise typer.Exit(output.exit_code)


def warn_about_log(job: Job) -> None:
    """A job started without its agents.log entry (the file is a link, read-only, ...): say so, once."""
    if job.attrs.get("log_warning"):
        note(f"codex-agent: warning: {job.attrs['log_warning']}")


class AgentOutput:
    """Writes what a job printed to stdout: the bytes as they are with `raw`; otherwise text with terminal
    control removed (colours kept on a terminal, unless `strip`), so an agent cannot move the cursor, clear
    the screen, retitle the window or write the clipboard (OSC 52) of whoever reads it."""

    def __init__(self, *, raw: bool, strip: bool) -> None:
        self.raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._filter = TerminalFilter(keep_sgr=not strip and sys.stdout.isatty())

    def write_bytes(self, data: bytes) -> None:
        if self.raw:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(self._filter.feed(self._decoder.decode(data)))

    def write_text(self, text: str) -> None:
        if self.raw:
            sys.stdout.write(text)
        else:
            sys.stdout.write(self._filter.feed(text))

    def close(self) -> None:
        if not self.raw:
            sys.stdout.write(self._filter.feed(self._decoder.decode(b"", final=True)) + self._filter.end())
        sys.stdout.flush()


def write_agent_text(text: str, *, raw: bool, strip: bool) -> None:
    out = AgentOutput(raw=raw, strip=strip)
    out.write_text(text)
    out.close()


def write_agent_output(chunks: Iterable[bytes], *, raw: bool, strip: bool) -> None:
    out = AgentOutput(raw=raw, strip=strip)
    for chunk in chunks:
        out.write_bytes(chunk)
    out.close()
