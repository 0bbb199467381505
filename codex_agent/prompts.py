"""Assembling what a worker is told: a role preamble, the codebase map, chosen files and the task, kept
within a token budget when one is given.

Reads files, prints nothing. The assembled text is handed to `jobs.start` like any other prompt. With no
role, map or files the prompt is the task itself, byte for byte.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from codex_agent.errors import UsageError
from codex_agent.prompt_files import ChosenFile, SkippedFile
from codex_agent.prompt_roles import Role
from codex_agent.store import find_project_root

# --- the codebase map -------------------------------------------------------------------------------------

MAP_CANDIDATES = ("docs/CODEBASE_MAP.md", "CODEBASE_MAP.md", "docs/ARCHITECTURE.md", "ARCHITECTURE.md")


def find_codebase_map(directory: Path) -> Path | None:
    """The first of MAP_CANDIDATES in `directory`, then in each parent up to the project root."""
    directory = directory.resolve()
    root = find_project_root(directory)
    places = [directory]
    if root != directory and root in directory.parents:
        places += [parent for parent in directory.parents if parent == root or root in parent.parents]
    for place in places:
        for name in MAP_CANDIDATES:
            candidate = place / name
            if candidate.is_file():
                return candidate
    return None


# --- counting tokens --------------------------------------------------------------------------------------

TOKENIZER_ENV = "CODEX_AGENT_TOKENIZER"
ESTIMATE_NAME = "estimate (UTF-8 bytes / 4, rounded up)"


@dataclass(frozen=True, slots=True)
class TokenCounter:
    name: str
    exact: bool
    count: Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """About four bytes of UTF-8 per token: close for English and code, cautious for other scripts."""
    return math.ceil(len(text.encode("utf-8", errors="surrogateescape")) / 4)


_COUNTER: TokenCounter | None = None


def token_counter() -> TokenCounter:
    """The o200k_base tokenizer when the optional `bpe-openai` package is installed (it ships its vocabulary,
    so nothing is downloaded), else an estimate. CODEX_AGENT_TOKENIZER=estimate forces the estimate."""
    global _COUNTER
    if _COUNTER is not None:
        return _COUNTER
    counter = TokenCounter(ESTIMATE_NAME, False, estimate_tokens)
    if os.environ.get(TOKENIZER_ENV, "auto") != "estimate":
        try:
            import bpe_openai

            encoding = bpe_openai.get_encoding("o200k_base")

            def count(text: str) -> int:
                clean = text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
                return len(encoding.encode_ordinary(clean))

            counter = TokenCounter("o200k_base (bpe-openai)", True, count)
        except Exception:  # not installed, or unusable here: the estimate is stated as such
            pass
    _COUNTER = counter
    return counter


# --- assembling -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class CutItem:
    path: str
    kind: str  # "map" or "file"
    tokens: int  # what it would have cost, whole
    kept_lines: int | None = None  # set when shortened rather than left out
    total_lines: int | None = None

    @property
    def shortened(self) -> bool:
        return self.kept_lines is not None

    def describe(self) -> str:
        if self.kept_lines is not None:
            return f"{self.path}: shortened to its first {self.kept_lines} of {self.total_lines} lines"
        return f"{self.path}: left out (about {self.tokens} tokens)"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "tokens": self.tokens,
            "action": "shortened" if self.shortened else "left_out",
            "kept_lines": self.kept_lines,
            "total_lines": self.total_lines,
        }


@dataclass(slots=True)
class AssembledPrompt:
    text: str
    tokens: int
    counter: str
    exact_count: bool
    budget: int | None = None
    role: str | None = None
    map_path: str | None = None
    included: list[str] = field(default_factory=list)
    cut: list[CutItem] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    cut_list: str = "items"  # how the prompt itself mentions the cuts: one of CUT_LISTS

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.tokens,
            "token_counter": self.counter,
            "token_count_exact": self.exact_count,
            "context_budget": self.budget,
            "role": self.role,
            "codebase_map": self.map_path,
            "files_included": self.included,
            "cut": [item.to_json() for item in self.cut],
            "cut_listed_in_prompt": self.cut_list,
            "files_skipped": [item.to_json() for item in self.skipped],
        }


@dataclass(slots=True)
class _Part:
    path: str
    kind: str
    body: str
    language: str = ""
    tokens: int = 0


_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "jsx", ".ts": "typescript", ".tsx": "tsx", ".json": "json", ".toml": "toml", ".yaml": "yaml",
    ".yml": "yaml", ".md": "markdown", ".sh": "sh", ".bash": "bash", ".rs": "rust", ".go": "go",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".java": "java", ".kt": "kotlin",
    ".rb": "ruby", ".php": "php", ".sql": "sql", ".html": "html", ".css": "css", ".swift": "swift",
    ".cs": "csharp", ".lua": "lua", ".ini": "ini", ".cfg": "ini", ".xml": "xml",
}  # fmt: skip
_BACKTICKS = re.compile(r"`{3,}")


def _fenced(body: str, language: str) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    newline = "" if body.endswith("\n") or not body else "\n"
    return f"{fence}{language}\n{body}{newline}{fence}"


def _render_part(part: _Part) -> str:
    heading = "## Codebase map: " if part.kind == "map" else "## File: "
    return f"{heading}{part.path}\n\n{_fenced(part.body, part.language)}"


# How the prompt tells the worker what was cut: each item, one summary sentence, or (when not even that
# fits the budget) nothing.
CUT_LISTS = ("items", "summary", "none")


def _render(
    role: Role | None,
    task: str,
    parts: Iterable[_Part],
    cut: Sequence[CutItem],
    budget: int | None,
    cut_list: str = "items",
) -> str:
    parts = list(parts)
    mention_cut = bool(cut) and cut_list != "none"
    if role is None and not parts and not mention_cut:
        return task
    blocks: list[str] = []
    if role is not None:
        blocks.append(role.preamble)
    if parts or mention_cut:
        blocks.append(
            "# Context\n\nCopies made when this task was written; the working tree is the truth if they "
            "differ."
        )
        blocks.extend(_render_part(part) for part in parts)
    if mention_cut:
        intro = f"## Not included\n\nTo keep this prompt within {budget} tokens,"
        if cut_list == "items":
            lines = "\n".join(f"- {item.describe()}" for item in cut)
            blocks.append(
                f"{intro} these were cut; read them from the working tree if you need them:\n{lines}"
            )
        else:
            blocks.append(
                f"{intro} {len(cut)} of the requested files (or the codebase map) were cut; read the working "
                "tree if you need more."
            )
    blocks.append(f"# Task\n\n{task}")
    return "\n\n".join(blocks)


def assemble(
    task: str,
    *,
    role: Role | None = None,
    codebase_map: tuple[str, str] | None = None,
    files: Sequence[ChosenFile] = (),
    skipped: Sequence[SkippedFile] = (),
    budget: int | None = None,
    counter: TokenCounter | None = None,
) -> AssembledPrompt:
    """The prompt: role preamble, then context (map first, then files in path order), then the task last,
    where a model weighs it most. With a budget, the map is shortened and files are left out (whole, in
    order, smaller later ones still taken when they fit) until the whole prompt fits; what was cut is
    listed in the prompt itself, so the worker knows to read it from disk."""
    if counter is None:
        counter = (
            token_counter() if budget is not None else TokenCounter(ESTIMATE_NAME, False, estimate_tokens)
        )
    parts: list[_Part] = []
    if codebase_map is not None:
        parts.append(_Part(codebase_map[0], "map", codebase_map[1], "markdown"))
    for item in files:
        parts.append(_Part(item.path, "file", item.text, _LANGUAGES.get(PurePosixPath(item.path).suffix, "")))
    result = AssembledPrompt(
        text="",
        tokens=0,
        counter=counter.name,
        exact_count=counter.exact,
        budget=budget,
        role=role.name if role else None,
        map_path=codebase_map[0] if codebase_map else None,
        skipped=list(skipped),
    )
    cut: list[CutItem] = []
    cut_list = "items"
    if budget is None:
        kept = parts
    else:
        kept, cut, cut_list = _fit(role, task, parts, budget, counter)
    result.text = _render(role, task, kept, cut, budget, cut_list)
    result.cut_list = cut_list
    result.tokens = counter.count(result.text)
    result.included = [part.path for part in kept if part.kind == "file"]
    result.cut = cut
    return result


def _fit(
    role: Role | None, task: str, parts: list[_Part], budget: int, counter: TokenCounter
) -> tuple[list[_Part], list[CutItem], str]:
    bare = counter.count(_render(role, task, [], [], budget))
    if bare > budget:
        raise UsageError(
            f"the task{' and role preamble' if role else ''} alone take {bare} tokens, over the context "
            f"budget of {budget}",
            "raise --context-budget, or shorten the task",
        )
    # The frame around the context (its heading, the "not included" heading) is counted once, up front.
    frame = counter.count(_render(role, task, [], [CutItem("x", "file", 0)], budget)) - bare
    used = bare + frame
    kept: list[_Part] = []
    cut: list[CutItem] = []
    for part in parts:
        part.tokens = counter.count(_render_part(part)) + 1
        line_cost = counter.count(f"- {CutItem(part.path, part.kind, part.tokens).describe()}\n") + 1
        if used + part.tokens + line_cost <= budget:
            kept.append(part)
            used += part.tokens
            continue
        if part.kind == "map":
            shortened = _shorten(part, budget - used - line_cost, counter)
            if shortened is not None:
                kept.append(shortened[0])
                used += shortened[0].tokens
                cut.append(shortened[1])
                used += line_cost
                continue
        cut.append(CutItem(part.path, part.kind, part.tokens))
        used += line_cost
    # Token counts of the pieces need not add up exactly to the count of the whole: check the whole, with
    # the cuts listed item by item or else summed up in a sentence, and give up the last kept item until it
    # fits. The bare task fits, so this ends.
    order = {(part.path, part.kind): index for index, part in enumerate(parts)}
    while True:
        cut.sort(key=lambda item: order.get((item.path, item.kind), len(order)))
        for cut_list in CUT_LISTS[:2]:
            if counter.count(_render(role, task, kept, cut, budget, cut_list)) <= budget:
                return kept, cut, cut_list
        if not kept:
            return [], cut, "none"
        dropped = kept.pop()
        cut = [item for item in cut if item.path != dropped.path or item.kind != dropped.kind]
        cut.append(CutItem(dropped.path, dropped.kind, dropped.tokens))


MIN_MAP_LINES = 10


def _shorten(part: _Part, room: int, counter: TokenCounter) -> tuple[_Part, CutItem] | None:
    """The longest head of the map (whole lines) that fits in `room` tokens, or None if too little fits."""
    lines = part.body.splitlines(keepends=True)
    marker = "\n[... shortened to fit the context budget ...]\n"

    def candidate(count: int) -> _Part:
        shortened = _Part(part.path, part.kind, "".join(lines[:count]) + marker, part.language)
        shortened.tokens = counter.count(_render_part(shortened)) + 1
        return shortened

    low, high, best = MIN_MAP_LINES, len(lines) - 1, None
    while low <= high:
        middle = (low + high) // 2
        trial = candidate(middle)
        if trial.tokens <= room:
            best, low = (trial, middle), middle + 1
        else:
            high = middle - 1
    if best is None:
        return None
    return best[0], CutItem(part.path, part.kind, part.tokens, best[1], len(lines))


def read_codebase_map(path: Path, base: Path) -> tuple[str, str]:
    """The map's display path (relative to `base` where possible) and its text."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read the codebase map {path}: {exc.strerror}") from exc
    try:
        shown = os.path.relpath(path, base)
    except ValueError:
        shown = str(path)
    return Path(shown).as_posix(), text
