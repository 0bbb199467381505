"""The claim overlap rule, checked against wcmatch itself (no tmux needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_agent import claims
from codex_agent.errors import UsageError


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("src/**", "src/*.py"),
        ("src/auth/**", "src/**/*.ts"),  # neither pattern's examples alone show it: src/auth/x.ts
        ("**/*.py", "lib/deep/mod.py"),
        ("a/[bc]/x", "a/[!b]/x"),
        ("{src,lib}/x.py", "lib/*.py"),
        ("a*", "*b"),
        ("new/**", "new/not/yet/there.rs"),
        ("**", "anything/at/all"),
        ("docs/**/index.md", "docs/index.md"),  # a middle ** may match no folder at all
    ],
)
def test_overlapping_patterns_have_an_example_both_match(first: str, second: str) -> None:
    example = claims.overlap_example(first, second)
    assert example is not None
    assert claims.matches(example, first) and claims.matches(example, second), example
    assert claims.overlap_example(second, first) is not None


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("docs/*.md", "src/**"),
        ("*.py", "src/*.py"),  # `*` never crosses a folder
        ("a/[b]/x", "a/[!b]/x"),
        ("src/**", "src"),  # a final ** needs something below src
        ("src/*.ts", "src/*.py"),
        ("{a,b}/x", "c/x"),
    ],
)
def test_disjoint_patterns_do_not_overlap(first: str, second: str) -> None:
    assert claims.overlap_example(first, second) is None
    assert claims.find_overlap(first, second, ["src/a.py", "docs/a.md", "src/x.ts", "a/b/x"]) is None


def test_an_existing_file_is_preferred_as_the_example() -> None:
    files = ["README.md", "src/app/main.py", "src/lib.py"]
    assert claims.find_overlap("src/**", "**/main.py", files) == "src/app/main.py"


def test_normalize(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    assert claims.normalize("./src//a.py", tmp_path) == "src/a.py"
    assert claims.normalize("src", tmp_path) == "src/**"  # an existing folder claims what is in it
    assert claims.normalize("build/", tmp_path) == "build/**"
    assert claims.normalize(str(tmp_path / "src" / "*.py"), tmp_path) == "src/*.py"
    for bad in ("", "!src/**", "../elsewhere/*", "/etc/passwd"):
        with pytest.raises(UsageError):
            claims.normalize(bad, tmp_path)


SEGMENT_PATTERNS = ["a", "b", "ab", "*", "**", "a*", "*b", "?", "[ab]", "[!a]", ".x", "{a,b}"]
PATH_SEGMENTS = ["a", "b", "ab", "ba", "c", ".x", "abc"]
patterns = st.lists(st.sampled_from(SEGMENT_PATTERNS), min_size=1, max_size=4).map("/".join)
paths = st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=5).map("/".join)


@settings(max_examples=250, deadline=None)
@given(first=patterns, second=patterns, candidates=st.lists(paths, min_size=1, max_size=25))
def test_overlap_agrees_with_wcmatch(first: str, second: str, candidates: list[str]) -> None:
    example = claims.overlap_example(first, second)
    if example is not None:  # what it claims is true ...
        assert claims.matches(example, first) and claims.matches(example, second), example
    for path in candidates:  # ... and it misses nothing a real path shows
        if claims.matches(path, first) and claims.matches(path, second):
            assert example is not None, path
