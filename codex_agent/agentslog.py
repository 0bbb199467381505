"""agents.log: the project's append-only coordination log, in Markdown, at the project root.

codex-agent writes a `### Spawned:` entry when a job is recorded and a `### Complete:` entry when its end is
first recorded, each exactly once (a row in the `marks` table decides which process writes it). Orchestrators
add `### Synthesis` and `### Note` entries with `codex-agent log add`. Entries are grouped under
`## Session: <ISO time>` headings; a new session starts when the file is new, when the UTC date changes, after
SESSION_GAP_S without entries, or when a job names a different orchestrator session (--parent-session).

Every entry is one write(2) to a file opened with O_APPEND, made while holding an exclusive flock on the
file, so entries from many processes never interleave.

An agent can write into the project, and its words (a summary, a file name) go into entries: every field is
written on one line (control characters, newlines and backslashes escaped as `\n`, `\x1b`, `\\`; file names
and claim patterns quoted when they hold more than plain path characters), so no field can start a line, an
entry or a session. The file is opened without following a symlink and must be a regular file of the user's
(safefs): a link to ~/.bashrc is refused, never appended to. The parser reads only what the writer writes:
the known headings, the known fields of each kind, lines split at newlines only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from codex_agent import safefs
from codex_agent.git import AGENTS_LOG
from codex_agent.models import Job, JobKind, iso, now_ms
from codex_agent.store import Store

FILE_HEADER = (
    "# Agents Log\n\n"
    "Spawned and Complete entries are written by codex-agent; Synthesis and Note entries by orchestrators\n"
    "(`codex-agent log add`). Append only.\n"
)
SESSION_GAP_S = 2 * 3600
TAIL_BYTES = 16_384
LINE_LIMIT = 300
FINDINGS_LIMIT = 15
NOTE_KINDS = ("synthesis", "note")
JOB_KINDS = ("spawned", "complete")
_HEADING = re.compile(
    r"^### (?:(?P<title>Spawned|Complete): (?P<job>[0-9a-f]{8})|(?P<note>Synthesis|Note))"
    r" - (?P<time>\d\d:\d\d)$"
)
_SESSION = re.compile(r"^## Session: (?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$")
_FIELD = re.compile(r"^(?P<key>[A-Z][a-z]*): (?P<value>[^\x00-\x1f\x7f]*)$")
# The fields each kind of entry has, as the writer below writes them; nothing else is read as a field.
FIELDS = {
    "spawned": frozenset(
        {"type", "prompt", "command", "reasoning", "sandbox", "model", "directory", "claims", "worktree",
         "after", "retry"}
    ),
    "complete": frozenset({"status", "error", "summary", "findings", "files"}),
}  # fmt: skip
# What could end a line for some reader (str.splitlines splits at more than newlines), or drive a terminal.
_UNSAFE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_PLAIN_NAME = re.compile(r"[\w./@+=:~%-]+")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def log_path(root: Path) -> Path:
    return root / AGENTS_LOG


# --- writing ---------------------------------------------------------------------------------------------


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H:%M")


def escape(text: str) -> str:
    """`text` with nothing that could end its line: backslashes, control characters and line separators
    become visible escapes (`\\`, `\n`, `\x1b`, `\u2028`)."""

    def one(match: re.Match[str]) -> str:
        char = match.group(0)
        return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")

    return _UNSAFE.sub(one, text)


def quote_name(name: str) -> str:
    """A file name or claim pattern for a list: as is when it is plain path characters, else in double quotes
    with `"` and everything `escape` escapes escaped (so ", " inside a name cannot split the list)."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    return '"' + escape(name).replace('"', '\\"') + '"'


def _names(names: Sequence[str]) -> str:
    return ", ".join(quote_name(name) for name in names)


def _line(text: str | None, limit: int = LINE_LIMIT) -> str:
    """Free text as one field value: whitespace runs (newlines too) folded, cut to `limit`, then escaped."""
    flat = " ".join((text or "").split())
    return escape(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _field(key: str, value: object) -> str:
    """One `Key: value` line; the value is escaped whatever it is (an option, a path, an agent's words)."""
    return f"{key}: {escape(str(value))}"


def _safe_block(text: str) -> list[str]:
    """Free text as entry lines: each line escaped, and headings inside it escaped so they cannot end the
    entry."""
    lines = [escape(line.rstrip()) for line in text.strip().split("\n")]
    return ["\\" + line if line.startswith("#") else line for line in lines]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """The log opened for appending and locked; reopened if someone replaced the file meanwhile."""
    while True:
        # Never through a link (an agent's ln -s ~/.bashrc agents.log), never a FIFO; 0644: it is committed.
        fd = safefs.open_file(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode=0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.lstat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield fd
                return
        finally:
            os.close(fd)  # closing releases the lock


def _session_state(fd: int) -> tuple[int, str | None, str | None]:
    """Size of the log, and the current session's start and orchestrator (from the log's tail)."""
    size = os.fstat(fd).st_size
    tail = os.pread(fd, TAIL_BYTES, max(0, size - TAIL_BYTES)).decode(errors="replace")
    lines = tail.split("\n")
    for index in range(len(lines) - 1, -1, -1):
        match = _SESSION.match(lines[index])
        if match:
            following = lines[index + 1] if index + 1 < len(lines) else ""
            owner = following[len("Orchestrator: ") :] if following.startswith("Orchestrator: ") else None
            return size, match.group("at"), owner
    return size, None, None


def append(
    root: Path, lines: Sequence[str], *, orchestrator: str | None = None, at: int | None = None
) -> None:
    """Append one entry (its heading first), starting a new session first when the rule says so."""
    at = now_ms() if at is None else at
    path = log_path(root)
    with _locked(path) as fd:
        size, session_at, owner = _session_state(fd)
        parts: list[str] = []
        if size == 0:
            parts.append(FILE_HEADER)
        last_write_s = os.fstat(fd).st_mtime if size else 0.0
        new_day = session_at is None or session_at[:10] != (iso(at) or "")[:10]
        if (
            session_at is None
            or new_day
            or at / 1000 - last_write_s > SESSION_GAP_S
            or (orchestrator is not None and escape(orchestrator) != owner)  # the file holds it escaped
        ):
            heading = f"\n## Session: {iso(at)}\n"
            if orchestrator:
                heading += _field("Orchestrator", orchestrator) + "\n"
            parts.append(heading)
        parts.append("\n" + "\n".join(lines) + "\n")
        data = "".join(parts).encode("utf-8", errors="backslashreplace")
        safefs.write_all(fd, data, path)  # a short write: the rest, still under the lock


def spawn_lines(job: Job, *, claims: Sequence[str] = ()) -> list[str]:
    lines = [f"### Spawned: {job.id} - {_clock(job.created_at)}", _field("Type", job.kind.value)]
    lines.append(f"{'Command' if job.kind is JobKind.COMMAND else 'Prompt'}: {_line(job.prompt)}")
    if job.kind.is_codex:
        lines += [
            _field("Reasoning", job.reasoning),
            _field("Sandbox", job.sandbox),
            _field("Model", job.model),
        ]
    lines.append(_field("Directory", job.cwd))
    if claims:
        lines.append(f"Claims: {_names(claims)}")
    worktree = job.attrs.get("worktree")
    if isinstance(worktree, dict):
        lines.append(
            _field("Worktree", f"{worktree.get('branch')} from {str(worktree.get('base', ''))[:12]}")
        )
    if job.attrs.get("after"):
        lines.append(f"After: {_names([str(item) for item in job.attrs['after']])}")
    retry = job.attrs.get("retry")
    if isinstance(retry, dict) and retry.get("attempt", 1) > 1:
        reason = retry.get("reason", "failed")
        lines.append(
            _field(
                "Retry",
                f"attempt {retry['attempt']} of {retry.get('max_retries', 0) + 1}, "
                f"first job {retry.get('first')}, after job {retry.get('previous')} {reason}",
            )
        )
    return lines


def completion_lines(job: Job) -> list[str]:
    at = job.completed_at or now_ms()
    status = job.status.value
    if job.exit_code is not None:
        status += f", exit {job.exit_code}"
    status += f", after {_duration(job.elapsed_ms(at))}"
    lines = [f"### Complete: {job.id} - {_clock(at)}", _field("Status", status)]
    if job.error:
        lines.append(f"Error: {_line(job.error)}")
    summary = [line for line in (job.summary or "").strip().split("\n") if line.strip()]
    lines.append(f"Summary: {_line(summary[0]) if summary else '(none)'}")
    if len(summary) > 1:
        lines.append("Findings:")
        for line in summary[1 : FINDINGS_LIMIT + 1]:
            text = _line(line.lstrip("-*• ").strip())
            lines.append(f"- {text}")
        if len(summary) > FINDINGS_LIMIT + 1:
            lines.append(f"- … {len(summary) - FINDINGS_LIMIT - 1} more line(s): codex-agent report {job.id}")
    files = job.files_modified or []
    shown = _names(files[:20]) + (f" and {len(files) - 20} more" if len(files) > 20 else "")
    lines.append(f"Files: {shown or 'none'}")
    return lines


def _duration(ms: int) -> str:
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _once(store: Store, job: Job, kind: str, root: Path, lines: list[str], at: int | None) -> bool:
    if not store.mark_once(job.id, kind):
        return False
    try:
        append(root, lines, orchestrator=job.parent_session, at=at)
    except BaseException:
        store.unmark(job.id, kind)
        raise
    return True


def record_spawn(store: Store, root: Path, job: Job, *, claims: Sequence[str] = ()) -> bool:
    """The job's Spawned entry, written once. True when this call wrote it."""
    return _once(store, job, "log:spawned", root, spawn_lines(job, claims=claims), job.created_at)


def record_completion(store: Store, root: Path, job: Job) -> bool:
    """The job's Complete entry, written once, when its terminal status is first recorded."""
    return _once(store, job, "log:complete", root, completion_lines(job), None)


def add_note(root: Path, text: str, *, kind: str = "note") -> None:
    from codex_agent.errors import UsageError

    if kind not in NOTE_KINDS:
        raise UsageError(f"--kind must be one of {', '.join(NOTE_KINDS)}, not {kind!r}")
    body = _safe_block(text)
    if not any(line.strip() for line in body):
        raise UsageError("the log entry is empty", "say what to record")
    append(root, [f"### {kind.capitalize()} - {_clock(now_ms())}", *body])


# --- reading ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    kind: str  # "spawned", "complete", "synthesis", "note", or another heading's first word, lower-cased
    title: str
    job_id: str | None
    time: str
    session: str | None
    fields: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    # Spawned/Complete only: whether this project's state recorded writing the entry (the `marks` table).
    # An agent can append to the file directly, in the very format of the writer; this tells those apart.
    verified: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "job_id": self.job_id,
            "time": self.time,
            "session": self.session,
            "fields": self.fields,
            "findings": self.findings,
            "text": "\n".join(self.text).strip(),
            "verified": self.verified,
        }


def read_text(root: Path, *, tail_bytes: int | None = None) -> str:
    """The log's text (its last `tail_bytes` only, when given: from the first whole line in them); empty when
    there is none. A link, FIFO, folder or someone else's file in its place is refused (safefs)."""
    path = log_path(root)
    if tail_bytes is None:
        data = safefs.read_bytes(path)
    else:
        data = safefs.read_tail(path, tail_bytes)
        if data is not None and len(data) == tail_bytes:
            data = data[data.find(b"\n") + 1 :]  # the first line may be cut in two
    return (data or b"").decode("utf-8", errors="replace")


def parse(text: str) -> list[Entry]:
    """The entries, read as the writer writes them: lines end at newlines only; an entry starts at a known
    heading; only the known fields of its kind are fields; anything else ends no entry and adds no field."""
    entries: list[Entry] = []
    session: str | None = None
    current: Entry | None = None
    in_findings = False
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        session_match = _SESSION.match(line)
        if session_match:
            session, current = session_match.group("at"), None
            continue
        heading = _HEADING.match(line)
        if heading:
            title = heading.group("title") or heading.group("note")
            current = Entry(
                kind=title.lower(),
                title=title,
                job_id=heading.group("job"),
                time=heading.group("time"),
                session=session,
                raw=[line],
            )
            entries.append(current)
            in_findings = False
            continue
        if current is None:
            continue
        if line.startswith("#"):
            current = None  # a heading the writer does not write: not part of the entry before it
            continue
        current.raw.append(line)
        if current.kind in NOTE_KINDS:
            current.text.append(line)
            continue
        if in_findings and line.startswith("- "):
            current.findings.append(line[2:])
            continue
        in_findings = False
        match = _FIELD.match(line)
        if match is None:
            continue
        key = match.group("key").lower()
        if key not in FIELDS[current.kind] or key in current.fields:
            continue  # not a field of this kind, or a second copy: the writer writes each once
        if key == "findings":
            in_findings = not match.group("value")
        else:
            current.fields[key] = match.group("value")
    for entry in entries:
        while entry.raw and not entry.raw[-1].strip():
            entry.raw.pop()
    return entries


def verify(store: Store, entries: Sequence[Entry]) -> None:
    """Set `verified` on Spawned and Complete entries: True for those codex-agent recorded writing here."""
    ids = sorted({entry.job_id for entry in entries if entry.kind in JOB_KINDS and entry.job_id})
    written = store.marks_of(ids)
    for entry in entries:
        if entry.kind in JOB_KINDS and entry.job_id:
            entry.verified = (entry.job_id, f"log:{entry.kind}") in written


def tail_text(entries: Sequence[Entry]) -> str:
    """The entries as Markdown, each session heading shown once before its first entry."""
    out: list[str] = []
    session: str | None = None
    for entry in entries:
        if entry.session != session and entry.session:
            out.append(f"## Session: {entry.session}")
            out.append("")
            session = entry.session
        out.extend(entry.raw)
        out.append("")
    return "\n".join(out).rstrip() + "\n" if out else ""
