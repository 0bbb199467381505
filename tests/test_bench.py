"""The benchmark's state builder and one measurement run end to end at a tiny size (structure, not times)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import BEGIN_MARK, END_MARK, markdown, write_markdown
from bench.scenarios import Settings, reads
from bench.state import BenchEnv
from codex_agent.models import JobKind
from codex_agent.store import Store


def test_the_state_builder_and_a_read_measurement(tmp_path: Path) -> None:
    env = BenchEnv(base=tmp_path)
    try:
        project = env.project(6)
        store = Store.open(project.state_dir, create=False)
        try:
            recorded = store.list_jobs()
        finally:
            store.close()
        assert sorted(job.id for job in recorded) == project.recorded
        assert all(job.status.is_terminal and job.completed_at for job in recorded)
        codex_jobs = [job for job in recorded if job.kind is not JobKind.COMMAND]
        assert all(job.tokens and job.summary and job.thread_id for job in codex_jobs)

        rows = reads(env, Settings(repeat=1, sizes=(6,), live=(0, 1)))
        assert env.pane_pids() == {}  # the live jobs it started are gone
    finally:
        env.close()
    assert not env.root.exists()

    names = [row.what for row in rows]
    assert names == [
        "jobs --json (N=6 K=0)",
        "jobs --json --all (N=6 K=0)",
        "status ID --json, a finished job (N=6 K=0)",
        "jobs --json (N=6 K=1)",
        "jobs --json --all (N=6 K=1)",
        "status ID --json, a finished job (N=6 K=1)",
        "status ID --json, a live job (N=6 K=1)",
    ]
    for row in rows:
        assert row.unit == "ms"
        assert row.min is not None and row.median is not None and row.max is not None
        assert 0 < row.min <= row.median <= row.max
        assert row.cpu_ms is not None and row.cpu_ms > 0
        json.dumps(row.to_json())

    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nby hand\n\n{BEGIN_MARK}\nold\n{END_MARK}\n\nalso by hand\n")
    box = {"date": "d", "commit": "c", "cpu": "x", "cores": "2", "memory": "1 GiB", "kernel": "k"}
    box.update(python="3", tmux="tmux 3", load="0", load_before="0")
    write_markdown(doc, markdown(rows, box, "python -m bench"))
    text = doc.read_text()
    assert "by hand" in text and "also by hand" in text and "\nold\n" not in text
    assert "| jobs --json (N=6 K=0) |" in text


def test_every_command_of_the_cli_has_a_start_up_measurement() -> None:
    from bench.commands import CASES
    from codex_agent.cli.app import click_command

    def paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        found = [path]
        list_commands = getattr(command, "list_commands", None)
        if list_commands is None:
            return found
        for name in list_commands(None):
            sub = command.get_command(None, name)  # type: ignore[attr-defined]
            if sub is not None and not sub.hidden:
                found += paths(sub, (*path, name))
        return found

    in_cli = set(paths(click_command()))
    measured = set(CASES)
    assert in_cli - measured == set(), "add a case for each new command to bench/commands.py"
    assert measured - in_cli == set(), "bench/commands.py measures commands the CLI no longer has"
    assert all(CASES[path] for path in CASES)
