"""The JSON the CLI really prints matches the pydantic models in codex_agent/schema.py, and docs/schema/*.json
is what those models export. pydantic stays off the hot path."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from codex_agent import schema
from codex_agent.models import Job, JobKind, JobStatus, Tokens
from tests.helpers import CLI, REPO_ROOT


def check(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:  # pragma: no cover - the message is the point
        raise AssertionError(f"{model.__name__} does not describe the CLI's output:\n{exc}\n{data}") from None


def test_models_and_records_have_the_same_fields() -> None:
    job = Job(
        id="0123abcd",
        kind=JobKind.CODEX,
        status=JobStatus.IDLE,
        prompt="p",
        cwd="/",
        created_at=1,
        tokens=Tokens(input=1, output=2, context_window=10),
    )
    data = job.to_json()
    assert set(data) == set(schema.Job.model_fields)
    assert set(data["tokens"]) == set(schema.Tokens.model_fields)
    check(schema.Job, data)
    statuses = set(schema.Job.model_fields["status"].annotation.__args__)  # type: ignore[union-attr]
    assert statuses == {status.value for status in JobStatus}
    kinds = set(schema.Job.model_fields["kind"].annotation.__args__)  # type: ignore[union-attr]
    assert kinds == {kind.value for kind in JobKind}


def test_real_cli_output_validates(cli: CLI) -> None:
    tui = cli.start("describe the project")
    check(schema.Job, tui)
    cli.wait_status(tui["id"], ["idle"])
    done = cli.start("--exec", "please WRITE notes.txt")
    cli.wait_status(done["id"], ["completed"])

    idle = check(schema.Job, cli.ok("status", tui["id"], "--json").json())
    assert idle.tokens is not None  # type: ignore[attr-defined]
    finished = check(schema.Job, cli.ok("status", done["id"], "--json").json())
    assert finished.files_modified == ["notes.txt"]  # type: ignore[attr-defined]

    listed = check(schema.JobsList, cli.ok("jobs", "--json").json())
    assert {job.id for job in listed.jobs} == {tui["id"], done["id"]}  # type: ignore[attr-defined]
    check(schema.SessionsList, cli.ok("sessions", "--json").json())
    health = check(schema.Health, cli.ok("health", "--json").json())
    assert [job.id for job in health.live_jobs] == [tui["id"]]  # type: ignore[attr-defined]
    check(schema.StartPlan, cli.ok("start", "plan only", "--dry-run", "--json").json())

    started = check(schema.ExecStart, cli.ok("exec", "start", "--cmd", "echo hi", "--json").json())
    assert started.job.kind == "command"  # type: ignore[attr-defined]
    ran = check(schema.ExecRun, cli.ok("exec", "run", "--cmd", "echo ran", "--json").json())
    assert "ran" in ran.output  # type: ignore[attr-defined]

    check(schema.Job, cli.ok("kill", tui["id"], "--json").json())
    report = check(schema.CleanReport, cli.ok("clean", "--older-than", "0s", "--json").json())
    assert tui["id"] in report.removed_jobs  # type: ignore[attr-defined]


def test_models_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        schema.CleanReport.model_validate(
            {"removed_jobs": [], "killed_orphan_sessions": [], "foreign_sessions": [], "new": 1}
        )


def test_exported_schema_files_are_current(tmp_path: Path) -> None:
    assert schema.stale(REPO_ROOT / "docs" / "schema") == [], "run: python -m codex_agent.schema"
    committed = sorted(path.name for path in (REPO_ROOT / "docs" / "schema").glob("*.json"))
    assert committed == sorted(schema.rendered()), "docs/schema has files no model exports"
    assert schema.main([str(tmp_path)]) == 0
    assert schema.main(["--check", str(tmp_path)]) == 0
    (tmp_path / "job.json").write_text("{}\n")
    assert schema.main(["--check", str(tmp_path)]) == 1


def test_pydantic_is_not_imported_on_the_hot_path(cli: CLI) -> None:
    """Our own code imports pydantic only in schema.py and where codex's protocol enters (protocol.py and the
    keeper's tracker, in the long-lived keeper), and no command loads either.

    (typer itself may import pydantic, depending on its version: that is outside this package.)"""
    code = (
        "import sys\n"
        "from codex_agent.cli import run\n"
        "status = run(['jobs', '--json'])\n"
        "assert status == 0, status\n"
        "assert 'codex_agent.schema' not in sys.modules\n"
        "assert 'codex_agent.protocol' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=cli.cwd, check=True, capture_output=True, timeout=60)
    importers = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "codex_agent").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+pydantic\b", path.read_text(), re.MULTILINE)
    ]
    assert sorted(importers) == [
        "codex_agent/keeper/tracker.py",
        "codex_agent/protocol.py",
        "codex_agent/schema.py",
    ]
