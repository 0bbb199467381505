"""Start-up of every command in docs/cli.md, against `python -c pass` measured alongside it.

Each command of the CLI has an entry here; tests/test_bench.py fails when a command has none. Commands that
act are measured on a path that leaves the state as it was: a dry run, or the refusal the command gives
after it has parsed its arguments and looked at the state (the `path` of each case says which).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from bench.measure import Run, Series, Stats, run_process
from bench.report import Row, Target, series_row, stats_row
from bench.state import BenchEnv, Project, python_argv

if TYPE_CHECKING:
    from bench.scenarios import Settings

# The bar: every command within 5 x the interpreter's own start-up, measured in the same run.
FLOOR_FACTOR = 5.0


@dataclass(frozen=True, slots=True)
class Case:
    """One measured invocation. `{finished}`, `{tui}`, `{command}`, `{live}` are filled from the state."""

    args: tuple[str, ...]
    path: str = "real"
    codes: tuple[int, ...] = (0,)


CASES: dict[tuple[str, ...], tuple[Case, ...]] = {
    (): (Case(("--version",)), Case(("--help",), "help")),
    ("start",): (Case(("start", "say hello", "--dry-run"), "dry run: prints the plan"),),
    ("status",): (Case(("status", "{finished}")), Case(("status", "{live}"), "real, a live job")),
    ("jobs",): (Case(("jobs",)), Case(("jobs", "--json"), "real, the lean path")),
    ("sessions",): (Case(("sessions",)),),
    ("capture",): (Case(("capture", "{live}"), "real, a live job"),),
    ("output",): (Case(("output", "{command}")),),
    ("attach",): (Case(("attach", "{live}"), "real: no terminal, prints the command"),),
    ("kill",): (Case(("kill", "{finished}"), "an ended job: nothing to stop"),),
    ("delete",): (Case(("delete", "ffffffff"), "refusal: no such job", (3,)),),
    ("clean",): (Case(("clean", "--older-than", "3650d"), "real: nothing that old"),),
    ("health",): (Case(("health",)),),
    ("trust",): (Case(("trust",), "real: writes the bench HOME's codex config"),),
    ("map",): (Case(("map", "--stdout")),),
    ("config",): (Case(("config",)),),
    ("dashboard",): (Case(("dashboard", "--once"), "real: one snapshot"),),
    ("send",): (Case(("send", "{tui}", "hello"), "refusal: the agent has ended", (5,)),),
    ("events",): (Case(("events", "--json")),),
    ("watch",): (Case(("watch", "{finished}"), "real: an ended job"),),
    ("wait",): (Case(("wait", "{finished}"), "real: an ended job"),),
    ("resume",): (Case(("resume", "{command}"), "refusal: not a codex TUI job", (5,)),),
    ("context",): (Case(("context",)),),
    ("report",): (Case(("report", "{finished}")),),
    ("pull",): (Case(("pull", "{finished}"), "refusal: needs --machine", (2,)),),
    ("claims",): (Case(("claims",)),),
    ("claims", "release"): (Case(("claims", "release", "{finished}"), "real: it holds none"),),
    ("log",): (Case(("log",)),),
    ("log", "add"): (Case(("log", "add", "a bench note"), "real: appends to agents.log"),),
    ("machine",): (Case(("machine", "--help"), "help"),),
    ("machine", "add"): (Case(("machine", "add", "box", "--host", "box.invalid", "--replace")),),
    ("machine", "list"): (Case(("machine", "list")),),
    ("machine", "remove"): (Case(("machine", "remove", "nobox"), "refusal: unknown machine", (3,)),),
    ("machine", "check"): (Case(("machine", "check", "nobox"), "refusal: unknown machine", (3,)),),
    ("machine", "up"): (Case(("machine", "up", "nobox"), "refusal: unknown machine", (3,)),),
    ("machine", "disconnect"): (Case(("machine", "disconnect", "nobox"), "refusal: unknown machine", (3,)),),
    ("exec",): (Case(("exec", "--help"), "help"),),
    ("exec", "start"): (
        Case(("exec", "start", "--cmd", "true", "--machine", "nobox"), "refusal: unknown machine", (3,)),
    ),
    ("exec", "run"): (
        Case(("exec", "run", "--cmd", "true", "--machine", "nobox"), "refusal: unknown machine", (3,)),
    ),
    ("exec", "result"): (Case(("exec", "result", "--id", "{command}")),),
    ("exec", "logs"): (Case(("exec", "logs", "--id", "{command}")),),
}

SECTION = "Every command's start-up (20 recorded jobs, 1 live)"


def _ids(env: BenchEnv, project: Project) -> dict[str, str]:
    """A job of each kind the cases name, from the recorded history, plus one live plain command."""
    from codex_agent.store import Store

    store = Store.open(project.state_dir, create=False)
    try:
        recorded = store.list_jobs()
    finally:
        store.close()

    def first(kind: str) -> str:
        return next(job.id for job in recorded if job.kind.value == kind and job.status.value == "completed")

    return {
        "finished": first("codex-exec"),
        "tui": first("codex"),
        "command": first("command"),
        "live": env.start_live(project, 1)[0],
    }


def _check(case: Case, argv: Sequence[str], result: Run) -> None:
    # A benchmark of a failing command is worthless: every sample must end as the case expects.
    if result.code not in case.codes:
        message = result.stderr.decode(errors="replace")
        raise RuntimeError(
            f"codex-agent {' '.join(argv)} exited {result.code}, expected {case.codes}: {message}"
        )


def _measure(
    env: BenchEnv, project: Project, case: Case, ids: dict[str, str], repeat: int
) -> tuple[Row, list[float]]:
    """The command and `python -c pass` one after the other, `repeat` times, after an unmeasured run each."""
    argv = [arg.format(**ids) for arg in case.args]
    floor_run = partial(run_process, python_argv("pass"), env=env.env, cwd=project.path)
    warmup = env.run(project, *argv, peak=True)
    _check(case, argv, warmup)
    floor_run()
    series = Series(maxrss_kib=warmup.maxrss_kib)
    floor: list[float] = []
    for _ in range(repeat):
        floor.append(floor_run().wall_s * 1000)
        result = env.run(project, *argv)
        _check(case, argv, result)
        series.wall.samples.append(result.wall_s)
        series.cpu.samples.append(result.cpu_s)
    floor_ms = statistics.median(floor)
    ratio = series.wall.median * 1000 / floor_ms
    label = "codex-agent " + " ".join(_short(arg, ids) for arg in case.args)
    target = Target(FLOOR_FACTOR * floor_ms, f"<= {FLOOR_FACTOR:.0f} x floor ({floor_ms:.1f} ms)")
    row = series_row(SECTION, label, series, target=target, note=f"{ratio:.1f} x floor; {case.path}")
    return row, floor


def _short(arg: str, ids: dict[str, str]) -> str:
    return "ID" if "{" in arg and arg.strip("{}") in ids else (f"'{arg}'" if " " in arg else arg)


def commands(env: BenchEnv, settings: Settings) -> list[Row]:
    """Every case of CASES on a project with 20 recorded jobs and one live job; the floor row first."""
    project = env.project(20)
    ids = _ids(env, project)
    rows = []
    floor = Stats()
    for cases in CASES.values():
        for case in cases:
            row, samples = _measure(env, project, case, ids, settings.repeat)
            rows.append(row)
            floor.samples += [sample / 1000 for sample in samples]
    env.kill_live()
    note = "run before each command's every sample; each row's target uses the floor of its own samples"
    return [stats_row(SECTION, "python -c pass", floor, note=note), *rows]
