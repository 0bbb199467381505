"""File claims: which files a job means to write, so that two jobs never set out to write the same ones.

A claim is a glob pattern relative to the project root (`src/auth/**`, `docs/*.md`, `{a,b}/x.py`), matched
with wcmatch's GLOBSTAR, DOTGLOB and BRACE semantics: `*` and `?` stay inside one path segment, `**` as a
whole segment crosses any number of them (at least one when it ends the pattern), dot-files are not special.

Two patterns overlap when some path matches both. That is decided in two ways, and either one is enough:
  1. a file the project has (tracked by git, or untracked and not ignored) matches both patterns;
  2. the patterns themselves admit a common path, even one that does not exist yet: both are taken apart
     into segments and characters and their intersection is searched directly (`overlap_example`), which
     also yields an example path, checked against wcmatch.
A claim is live while its job is not in a terminal status and the claim was not released.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from codex_agent import git
from codex_agent.errors import ConflictError, UsageError
from codex_agent.models import Job, iso
from codex_agent.store import Store

# wcmatch and bracex are imported when a claim is first matched: most commands never match one.
_EXAMPLE_CHARS = "xyzabcdefghijklmnopqrstuvw0123456789_-"
MAX_EXPANSIONS = 64


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    job_id: str
    pattern: str
    created_at: int
    job_status: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_id": self.job_id,
            "pattern": self.pattern,
            "created_at": iso(self.created_at),
            "job_status": self.job_status,
        }


# --- patterns ---------------------------------------------------------------------------------------------


def normalize(pattern: str, root: Path) -> str:
    """The pattern relative to the project root, with `./`, empty segments and a trailing `/` tidied."""
    text = pattern.strip()
    if not text:
        raise UsageError("an empty --claim pattern", "claim files with a glob, e.g. --claim 'src/auth/**'")
    if text.startswith("!"):
        raise UsageError(
            f"claim {pattern!r}: negated patterns are not supported", "claim what will be written"
        )
    if "\x00" in text:
        raise UsageError("a claim pattern contains a NUL character")
    if text.startswith("/"):
        try:
            text = str(PurePosixPath(text).relative_to(root.as_posix()))
        except ValueError:
            raise UsageError(
                f"claim {pattern!r} is outside the project {root}", "claims are paths inside the project"
            ) from None
    directory = text.endswith("/")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"claim {pattern!r} does not name files inside the project")
    text = "/".join(parts)
    if directory or (not _is_magic(text) and (root / text).is_dir()):
        text += "/**"  # a folder claims everything under it
    return text


def _flags() -> int:
    from wcmatch import glob

    return int(glob.GLOBSTAR | glob.DOTGLOB | glob.BRACE)


def _is_magic(pattern: str) -> bool:
    from wcmatch import glob

    return bool(glob.is_magic(pattern, flags=_flags()))


def _expand(pattern: str) -> list[str]:
    import bracex

    try:
        expanded = bracex.expand(pattern, limit=MAX_EXPANSIONS)
    except Exception:  # too many expansions or a malformed brace: read the braces literally
        return [pattern]
    return expanded or [pattern]


# A path segment pattern is a list of tokens: ("c", negated, chars) for one character from a set (a literal
# is a one-element set, `?` is the negated empty set) and ("*",) for any run of characters.
Token = tuple[Any, ...]
Segment = tuple[Token, ...]
GLOBSTAR_SEGMENT: Segment = (("**",),)
_ANY: Token = ("c", True, frozenset())


def _parse_segment(text: str) -> Segment:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            if not tokens or tokens[-1] != ("*",):
                tokens.append(("*",))
            i += 1
        elif char == "?":
            tokens.append(_ANY)
            i += 1
        elif char == "\\" and i + 1 < len(text):
            tokens.append(("c", False, frozenset(text[i + 1])))
            i += 2
        elif char == "[":
            parsed = _parse_class(text, i)
            if parsed is None:
                tokens.append(("c", False, frozenset("[")))
                i += 1
            else:
                token, i = parsed
                tokens.append(token)
        else:
            tokens.append(("c", False, frozenset(char)))
            i += 1
    return tuple(tokens)


def _parse_class(text: str, start: int) -> tuple[Token, int] | None:
    i = start + 1
    negated = i < len(text) and text[i] in "!^"
    if negated:
        i += 1
    chars: set[str] = set()
    first = True
    while i < len(text):
        char = text[i]
        if char == "]" and not first:
            return ("c", negated, frozenset(chars)), i + 1
        if char == "[" and text.startswith("[:", i):
            return ("c", True, frozenset()), len(text)  # a POSIX class: read as "any character" (safe side)
        if char == "\\" and i + 1 < len(text):
            i += 1
            char = text[i]
        if i + 2 < len(text) and text[i + 1] == "-" and text[i + 2] != "]":
            low, high = ord(char), ord(text[i + 2])
            chars.update(chr(code) for code in range(low, min(high, low + 4096) + 1))
            i += 3
        else:
            chars.add(char)
            i += 1
        first = False
    return None


def _parse(pattern: str) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    for part in pattern.split("/"):
        if part == "**":
            if not segments or segments[-1] != GLOBSTAR_SEGMENT:
                segments.append(GLOBSTAR_SEGMENT)
        else:
            segments.append(_parse_segment(part))
    if segments and segments[-1] == GLOBSTAR_SEGMENT:
        # A final `**` stands for at least one more segment: `a/**` is `a/*` then any number more.
        segments[-1:] = [(("*",),), GLOBSTAR_SEGMENT]
    return tuple(segments)


def _common_char(a: Token, b: Token) -> str | None:
    _, a_neg, a_set = a
    _, b_neg, b_set = b
    if not a_neg and not b_neg:
        common = sorted(a_set & b_set - {"/"})
    elif not a_neg:
        common = sorted(a_set - b_set - {"/"})
    elif not b_neg:
        common = sorted(b_set - a_set - {"/"})
    else:
        common = [c for c in _EXAMPLE_CHARS if c not in a_set and c not in b_set]
    return common[0] if common else None


def _segment_example(a: Segment, b: Segment) -> str | None:
    """A non-empty segment that both segment patterns match, or None."""

    @functools.cache
    def walk(p: int, q: int) -> str | None:
        if p == len(a) and q == len(b):
            return ""
        a_star = p < len(a) and a[p] == ("*",)
        b_star = q < len(b) and b[q] == ("*",)
        if a_star and b_star:
            # Both stars take an "x" (examples read better than ".py"), then one or both are done.
            for rest in (walk(p + 1, q + 1), walk(p, q + 1), walk(p + 1, q)):
                if rest is not None:
                    return "x" + rest
            return None
        if a_star:
            found = walk(p + 1, q)
            if found is not None:
                return found
            if q < len(b) and not b_star:
                rest = walk(p, q + 1)
                char = _common_char(_ANY, b[q])
                if rest is not None and char is not None:
                    return char + rest
            return None
        if b_star:
            found = walk(p, q + 1)
            if found is not None:
                return found
            if p < len(a):
                rest = walk(p + 1, q)
                char = _common_char(a[p], _ANY)
                if rest is not None and char is not None:
                    return char + rest
            return None
        if p == len(a) or q == len(b):
            return None
        char = _common_char(a[p], b[q])
        if char is None:
            return None
        rest = walk(p + 1, q + 1)
        return None if rest is None else char + rest

    found = walk(0, 0)
    return found or None


def _path_example(a: tuple[Segment, ...], b: tuple[Segment, ...]) -> str | None:
    universal: Segment = (("*",),)

    @functools.cache
    def walk(i: int, j: int) -> tuple[str, ...] | None:
        if i == len(a) and j == len(b):
            return ()
        a_any = i < len(a) and a[i] == GLOBSTAR_SEGMENT
        b_any = j < len(b) and b[j] == GLOBSTAR_SEGMENT
        if a_any or b_any:
            if a_any:
                found = walk(i + 1, j)
                if found is not None:
                    return found
            if b_any:
                found = walk(i, j + 1)
                if found is not None:
                    return found
            if a_any and j < len(b) and not b_any:
                segment = _segment_example(universal, b[j])
                rest = walk(i, j + 1)
                if segment is not None and rest is not None:
                    return (segment, *rest)
            if b_any and i < len(a) and not a_any:
                segment = _segment_example(a[i], universal)
                rest = walk(i + 1, j)
                if segment is not None and rest is not None:
                    return (segment, *rest)
            return None
        if i == len(a) or j == len(b):
            return None
        segment = _segment_example(a[i], b[j])
        if segment is None:
            return None
        rest = walk(i + 1, j + 1)
        return None if rest is None else (segment, *rest)

    found = walk(0, 0)
    return "/".join(found) if found else None


def overlap_example(first: str, second: str) -> str | None:
    """A path both patterns match (it need not exist), or None when they cannot overlap."""
    for a in _expand(first):
        for b in _expand(second):
            example = _path_example(_parse(a), _parse(b))
            if example is not None:
                return example
    return None


def matches(path: str, pattern: str) -> bool:
    from wcmatch import glob

    return bool(glob.globmatch(path, pattern, flags=_flags()))


def project_files(root: Path) -> list[str]:
    """Files of the project that claims are matched against: tracked, and untracked but not ignored."""
    return git.listed_files(root) or []


def find_overlap(first: str, second: str, files: Sequence[str]) -> str | None:
    """An existing file both patterns match, else a possible path both match, else None."""
    for path in files:
        if matches(path, first) and matches(path, second):
            return path
    return overlap_example(first, second)


# --- the claims table -------------------------------------------------------------------------------------


def live_claims(store: Store, job_id: str | None = None) -> list[Claim]:
    return [Claim(*row) for row in store.live_claims(job_id)]


def claims_of(store: Store, job_id: str) -> list[str]:
    """Every pattern a job claimed, live or not (for its report, and for a retry to claim again)."""
    return store.claim_patterns(job_id)


def acquire(
    store: Store,
    tx: sqlite3.Connection,
    job: Job,
    patterns: Sequence[str],
    files: Sequence[str],
    *,
    force: bool,
) -> None:
    """Check the patterns against every live claim and record them, inside the caller's transaction.

    The caller holds the write lock (BEGIN IMMEDIATE) from before this check until after the job's insert,
    so of two starts that claim overlapping files only one can get through.
    """
    if not patterns:
        return
    if not force:
        held = [Claim(*row) for row in store.live_claims(tx=tx)]
        for pattern in patterns:
            for claim in held:
                if claim.job_id == job.id:
                    continue
                example = find_overlap(pattern, claim.pattern, files)
                if example is not None:
                    raise ConflictError(
                        f"claim {pattern!r} overlaps {claim.pattern!r} held by job {claim.job_id} "
                        f"({claim.job_status}), e.g. {example}",
                        f"wait for job {claim.job_id}, release it with `codex-agent claims release "
                        f"{claim.job_id}`, or pass --force",
                    )
    store.insert_claims(tx, job.id, patterns)


def release(store: Store, job_id: str) -> int:
    """End a job's live claims; returns how many were released."""
    return store.release_claims(job_id)


def outside_claims(files: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """Files a job changed that none of its claims covers."""
    if not patterns:
        return []
    return [path for path in files if not any(matches(path, pattern) for pattern in patterns)]
