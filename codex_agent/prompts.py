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

from wcmatch import glob as wcglob

from codex_agent import git
from codex_agent.errors import UsageError
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


# --- choosing files ---------------------------------------------------------------------------------------

MAX_FILE_BYTES = 256 * 1024
MAX_MATCHED_FILES = 2000
# `**` crosses directories; `{a,b}` alternates; `*` and `**` skip dot-files unless the pattern names the dot.
GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE
# Lockfiles and dependency manifests: long, generated or noisy, rarely what a worker should read in full.
DEPENDENCY_FILES = frozenset(
    {
        "package-lock.json", "package.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
        "bun.lockb", "bun.lock", "deno.lock", "uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock",
        "Cargo.lock", "go.sum", "composer.lock", "Gemfile.lock", "mix.lock", "pubspec.lock",
        "Package.resolved", "packages.lock.json", "flake.lock", "gradle.lockfile",
    }
)  # fmt: skip
# Never part of a prompt: version-control internals and codex-agent's own state.
ALWAYS_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", ".codex-agent"})
# Outside a git repository nothing says what is generated; these are by convention.
WALK_SKIPPED_DIRS = ALWAYS_SKIPPED_DIRS | {
    "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".cache", ".idea", ".vscode",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChosenFile:
    path: str  # relative to the directory the patterns were matched in, with forward slashes
    text: str


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(slots=True)
class FileSelection:
    files: list[ChosenFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    listing: str = "git"  # "git" (tracked + untracked, .gitignore respected) or "walk"


def list_project_files(base: Path) -> tuple[list[str], str]:
    """Every file under `base` a person would call part of the project, relative and sorted.

    In a git work tree: tracked files plus untracked ones that .gitignore does not exclude. Elsewhere: a walk
    that leaves out version-control folders, virtualenvs, caches and node_modules.
    """
    listed = git.listed_files(base)
    if listed is not None:
        kept = [
            name
            for name in listed
            if not ALWAYS_SKIPPED_DIRS.intersection(PurePosixPath(name).parts[:-1])
            and (base / name).is_file()
        ]
        return kept, "git"
    found: list[str] = []
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(name for name in dirs if name not in WALK_SKIPPED_DIRS)
        relative = Path(folder).relative_to(base)
        for name in names:
            path = relative / name
            if (base / path).is_file():
                found.append(path.as_posix())
    return sorted(found), "walk"


def _split_patterns(patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    includes: list[str] = []
    excludes: list[str] = []
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        pattern = pattern.strip()
        while pattern.startswith("./"):
            pattern = pattern[2:]
        if not pattern:
            raise UsageError(f"empty file pattern {raw!r}", "give a glob such as 'src/**/*.py'")
        if pattern.startswith("/") or ".." in PurePosixPath(pattern).parts:
            raise UsageError(
                f"file pattern {raw!r} reaches outside the directory",
                "patterns are relative to --dir: pass a --dir that contains the files",
            )
        (excludes if negated else includes).append(pattern)
    if not includes:
        raise UsageError(
            "every -f pattern excludes (starts with !)", "add one that includes, e.g. -f '**/*.py'"
        )
    return includes, excludes


def _expand_directory(base: Path, pattern: str) -> str:
    """A pattern naming a directory stands for everything under it."""
    if not wcglob.is_magic(pattern, flags=GLOB_FLAGS) and (base / pattern).is_dir():
        return pattern.rstrip("/") + "/**"
    return pattern


def select_files(base: Path, patterns: Sequence[str]) -> FileSelection:
    """The files under `base` that match any include pattern and no `!` pattern, in path order.

    Lockfiles and dependency manifests are left out unless a pattern names one exactly. Binary, non-UTF-8
    and very large files are left out with a reason. An include pattern that matches nothing is an error:
    it is almost always a typo.
    """
    includes, excludes = _split_patterns(patterns)
    includes = [_expand_directory(base, pattern) for pattern in includes]
    excludes = [_expand_directory(base, pattern) for pattern in excludes]
    names, listing = list_project_files(base)
    exact = {pattern.rstrip("/") for pattern in includes if not wcglob.is_magic(pattern, flags=GLOB_FLAGS)}
    # A file named exactly is taken even when .gitignore hides it: someone asked for it by name.
    extra = sorted(name for name in exact if name not in names and (base / name).is_file())
    names = sorted({*names, *extra})
    matchers = [wcglob.compile([pattern], flags=GLOB_FLAGS) for pattern in includes]
    exclude = wcglob.compile(excludes, flags=GLOB_FLAGS) if excludes else None
    used = [False] * len(includes)
    selection = FileSelection(listing=listing)
    chosen: list[str] = []
    for name in names:
        hits = [index for index, matcher in enumerate(matchers) if matcher.match(name)]
        if not hits:
            continue
        for index in hits:
            used[index] = True
        if exclude is not None and exclude.match(name):
            continue
        if PurePosixPath(name).name in DEPENDENCY_FILES and name not in exact:
            selection.skipped.append(SkippedFile(name, "lockfile or dependency manifest (name it exactly)"))
            continue
        chosen.append(name)
    unused = [pattern for pattern, hit in zip(includes, used, strict=True) if not hit]
    if unused:
        where = "tracked or unignored files" if listing == "git" else "files"
        raise UsageError(
            f"no {where} under {base} match {', '.join(repr(p) for p in unused)}",
            "check the pattern (it is relative to --dir; `**` crosses folders)",
        )
    if len(chosen) > MAX_MATCHED_FILES:
        raise UsageError(
            f"the -f patterns match {len(chosen)} files (more than {MAX_MATCHED_FILES})",
            "narrow them, or exclude some with '!GLOB'",
        )
    for name in chosen:
        text, reason = _read_text_file(base / name)
        if text is None:
            selection.skipped.append(SkippedFile(name, reason))
        else:
            selection.files.append(ChosenFile(name, text))
    return selection


def _read_text_file(path: Path) -> tuple[str | None, str]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, f"too large ({size // 1024} KiB; the limit is {MAX_FILE_BYTES // 1024} KiB)"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable ({exc.strerror})"
    if b"\0" in data[:8192]:
        return None, "binary"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


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


# --- roles ------------------------------------------------------------------------------------------------


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
