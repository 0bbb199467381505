"""`codex-agent map`: a first codebase map, read from the repository itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from codex_agent import codemap
from tests.helpers import CLI, REPO_ROOT


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def commit_all(root: Path) -> None:
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "files"], check=True)


@pytest.fixture
def sample(project: Path) -> Path:
    write(
        project,
        {
            "pyproject.toml": (
                '[project]\nname = "shop"\ndescription = "A tiny shop."\n'
                '[project.scripts]\nshop = "shop.cli:main"\n[tool.pytest.ini_options]\n'
            ),
            "src/shop/__init__.py": '"""The shop package: carts and prices."""\n',
            "src/shop/__main__.py": "from shop.cli import main\nmain()\n",
            "src/shop/cli.py": '"""Command line of the shop.\n\nMore text."""\nfrom . import cart\n',
            "src/shop/cart.py": '"""Carts hold items."""\nfrom shop.prices import total\nimport os\n',
            "src/shop/prices.py": "# Price arithmetic, in cents.\n\ndef total(xs):\n    return sum(xs)\n",
            "src/shop/pay/__init__.py": "",
            "src/shop/pay/card.py": "from ..prices import total\nfrom .. import cart\n",
            "tools/report.py": '"""Print a sales report."""\nif __name__ == "__main__":\n    print(1)\n',
            "tests/test_cart.py": "from shop.cart import total\n",
            "web/package.json": json.dumps(
                {"name": "web", "description": "Shop front end.", "bin": {"shopweb": "bin/cli.js"},
                 "main": "src/index.ts", "scripts": {"test": "vitest", "build": "tsc"}}
            ),
            "web/src/index.ts": "/** Front-end entry: mounts the app. */\nimport { api } from './api';\n"
            "import React from 'react';\nexport * from \"./util/format\";\n",
            "web/src/api.ts": "// Talks to the shop API.\nconst x = require('../lib/thing.js');\n",
            "web/src/util/format.ts": "export const f = 1;\n",
            "web/lib/thing.js": "module.exports = 1;\n",
            "web/src/index.test.ts": "import './index';\n",
            "Makefile": "all: build\n.PHONY: test\ntest:\n\tpytest\nlint: \n\truff check\n%.o: %.c\n\tcc\n",
            ".github/workflows/ci.yml": "name: ci\n",
            "docs/guide.md": "Intro line\n\n# The shop guide\n",
        },
    )  # fmt: skip
    commit_all(project)
    return project


def test_map_describes_files_entry_points_tests_and_imports(sample: Path) -> None:
    text = codemap.build_map(sample)
    assert text.startswith("# Codebase map: project\n")
    for expected in [
        # entry points
        "- `shop` → `shop.cli:main` (pyproject.toml [project.scripts])",
        "- `shopweb` → `bin/cli.js` (web/package.json bin)",
        "- main: `src/index.ts` (web/package.json)",
        "- `npm run <script>` (web/package.json): `build`, `test`",
        "- `python -m shop` → `src/shop/__main__.py`",
        "`tools/report.py`",
        "- `make <target>` (Makefile): `all`, `test`, `lint`",
        # tests
        "- Run them with: `pytest`, `make test`, `make lint`.",
        "`.github/workflows/ci.yml`",
        # python imports, src layout and relative imports resolved
        "- `shop.cart` → `shop.prices`",
        "- `shop.cli` → `shop.cart`",
        "- `shop.pay.card` → `shop.cart`, `shop.prices`",
        # JS/TS relative imports resolved to files, packages left out
        "- `web/src/api.ts` → `web/lib/thing.js`",
        "- `web/src/index.ts` → `web/src/api.ts`, `web/src/util/format.ts`",
        # layout descriptions
        "### `src/shop/` — The shop package: carts and prices.",
        "- `cli.py` — Command line of the shop.",
        "- `prices.py` — Price arithmetic, in cents.",
        "- `index.ts` — Front-end entry: mounts the app.",
        "- `api.ts` — Talks to the shop API.",
        "- `guide.md` — The shop guide",
        "- `pyproject.toml` — A tiny shop.",
        "- `package.json` — Shop front end.",
    ]:
        assert expected in text, expected
    assert "tests.test_cart" not in text.split("## Layout")[0]  # tests stay out of the import graph
    assert "web/src/index.test.ts` →" not in text
    assert "More text" not in text  # only the first paragraph of a docstring
    assert text == codemap.build_map(sample)  # deterministic


def test_map_stays_bounded_for_large_repositories(project: Path) -> None:
    files = {f"pkg{d}/mod{i:03d}.py": f'"""Module {d}.{i}."""\n' for d in range(12) for i in range(120)}
    files.update({f"pkg{d}/__init__.py": "" for d in range(12)})
    write(project, files)
    commit_all(project)
    text = codemap.build_map(project)
    layout = text.split("## Layout", 1)[1]
    listed = [line for line in layout.splitlines() if line.startswith("- `") and " — Module " in line]
    assert len(listed) <= codemap.MAX_LAYOUT_FILES
    assert "- … and 81 more: 81 .py" in layout  # a folder past MAX_FILES_PER_DIR is summed up
    assert "### Further folders (not listed file by file)" in layout
    assert "`pkg9/` — 121 files: 121 .py" in layout
    assert len(text.splitlines()) < 700


def test_map_command_writes_once_and_refuses_to_overwrite(sample: Path, cli: CLI) -> None:
    result = cli.ok("map")
    target = sample / "docs" / "CODEBASE_MAP.md"
    assert result.out.strip() == str(target)
    assert "wrote docs/CODEBASE_MAP.md" in result.err
    first = target.read_text()
    assert "## Entry points" in first and "docs/CODEBASE_MAP.md" not in first.split("## Layout")[1]

    target.write_text("# edited by hand\n")
    refused = cli.run("map")
    assert refused.code == 5
    assert refused.err.strip() == (
        f"codex-agent: {target} already exists — edit it, or pass --force to write a new one over it"
    )
    assert target.read_text() == "# edited by hand\n"
    cli.ok("map", "--force")
    assert target.read_text() == first
    assert cli.ok("map", "--stdout").out == first


def test_map_of_this_repository(tmp_path: Path) -> None:
    text = codemap.build_map(REPO_ROOT)
    for expected in [
        "- `codex-agent` → `codex_agent.cli:main`",
        "- `python -m codex_agent` → `codex_agent/__main__.py`",
        "- `codex_agent.jobs` → ",
        "- `codex_agent.codemap` → `codex_agent.codemap_sources`, `codex_agent.errors`, "
        "`codex_agent.prompt_files`",
        "### `codex_agent/cli/` — The command line: parse, call the services, render.",
        "- `prompts.py` — Assembling what a worker is told",
    ]:
        assert expected in text, expected
    # The bottom of the stack is what most modules import (which of the two leads changes with any import).
    assert "Most imported: `codex_agent.errors`" in text or "Most imported: `codex_agent.models`" in text
