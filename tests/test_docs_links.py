"""Relative links in the docs, the plugin and the skill point at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PAGES = sorted(
    [
        *(REPO_ROOT / "docs").glob("*.md"),
        *(REPO_ROOT / "plugins").rglob("*.md"),
    ]
)


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO_ROOT)) for page in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = [
        target
        for target in _LINK.findall(page.read_text())
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert broken == [], f"{page.relative_to(REPO_ROOT)} links to missing files: {broken}"


def test_the_documentation_set_is_complete() -> None:
    names = {page.name for page in (REPO_ROOT / "docs").glob("*.md")}
    expected = {"cli.md", "exit-codes.md", "json.md", "orchestrators.md", "state.md", "troubleshooting.md"}
    assert expected <= names
