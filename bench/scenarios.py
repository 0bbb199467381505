"""What is measured. Each scenario builds its state in a BenchEnv and returns rows of figures."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.commands import commands
from bench.measure import (
    CLK_TCK,
    Memory,
    Series,
    Stats,
    cpu_ticks,
    descendants,
    fd_target,
    has_inotify,
    memory_of,
    process_table,
    repeat,
    run_process,
    wait_until,
)
from bench.report import Row, Target, series_row, skipped, stats_row
from bench.state import BenchEnv, Project, python_argv
from codex_agent.store import Store

MIB = 1024
# The tool orchestrators use today answers `jobs --json` for 100 finished jobs in about 44 ms on this machine.
TODAY_JOBS_100_MS = 44.0


@dataclass(slots=True)
class Settings:
    repeat: int = 15
    sizes: tuple[int, ...] = (100, 1_000, 10_000)
    live: tuple[int, ...] = (0, 50)
    start_repeat: int = 10
    wait_repeat: int = 15
    concurrent: int = 100
    idle_s: float = 30.0


# --- context: what a Python process costs before it does anything ------------------------------------------


def baseline(env: BenchEnv, settings: Settings) -> list[Row]:
    section = "Floor: what any Python process costs here"
    project = env.project(0)
    rows = []
    for what, argv in (
        ("python -c pass", python_argv("pass")),
        ("python -c 'import typer'", python_argv("import typer")),
    ):
        series = repeat(partial(run_process, argv, env=env.env, cwd=project.path), settings.repeat)
        rows.append(series_row(section, what, series))
    series = repeat(partial(env.run, project, "--version"), settings.repeat)
    rows.append(series_row(section, "codex-agent --version", series))
    return rows


# --- 1. read commands ---------------------------------------------------------------------------------------


def _read_target(recorded: int, live: int) -> Target | None:
    if recorded == 1_000 and live == 50:
        return Target(100, "< 100 ms")
    if recorded == 100 and live == 0:
        return Target(
            TODAY_JOBS_100_MS * 1.2, f"<= 1.2 x {TODAY_JOBS_100_MS:.0f} ms = {TODAY_JOBS_100_MS * 1.2:.0f} ms"
        )
    return None


def _check_jobs(run_: object, expected: int) -> None:
    # A benchmark of wrong output is worthless: check the answer once per series.
    assert isinstance(run_, Series) and run_.last is not None
    found = len(json.loads(run_.last.stdout)["jobs"])
    if found != expected:
        raise RuntimeError(f"jobs --json listed {found} jobs, expected {expected}")


def reads(env: BenchEnv, settings: Settings) -> list[Row]:
    section = "1. Read commands (N recorded jobs, K live jobs)"
    rows = []
    for recorded in settings.sizes:
        project = env.project(recorded)
        for live in settings.live:
            if live > len(project.live):
                env.start_live(project, live - len(project.live))
            total = recorded + live
            label = f"N={recorded:,} K={live}"

            series = repeat(partial(env.run, project, "jobs", "--json"), settings.repeat)
            _check_jobs(series, min(20, total))
            rows.append(
                series_row(section, f"jobs --json ({label})", series, target=_read_target(recorded, live))
            )

            series = repeat(partial(env.run, project, "jobs", "--json", "--all"), settings.repeat)
            _check_jobs(series, total)
            size = len(series.last.stdout) // 1024 if series.last else 0
            rows.append(
                series_row(section, f"jobs --json --all ({label})", series, note=f"{size:,} KiB of JSON")
            )

            finished = project.recorded[len(project.recorded) // 2] if project.recorded else None
            if finished:
                series = repeat(partial(env.run, project, "status", finished, "--json"), settings.repeat)
                rows.append(series_row(section, f"status ID --json, a finished job ({label})", series))
            if live:
                job_id = project.live[0]
                series = repeat(partial(env.run, project, "status", job_id, "--json"), settings.repeat)
                rows.append(series_row(section, f"status ID --json, a live job ({label})", series))
        env.kill_live()
    return rows


# --- 2. start -----------------------------------------------------------------------------------------------


def start(env: BenchEnv, settings: Settings) -> list[Row]:
    section = "2. start: until the job is live"
    project = env.project(100)
    returned = Series()
    running = Stats()
    for index in range(settings.start_repeat + 1):
        marker = project.path / f"started-{index}"
        command = f"date +%s%N > {shlex.quote(str(marker))}; exec sleep 600"
        begin = time.time()
        result = env.ok(project, "exec", "start", "--cmd", command, "--json", peak=index == 0)
        wait_until(partial(_lines_in, marker, 1), timeout=30, what="the command to run")
        ran_at = int(marker.read_text()) / 1e9
        job_id = json.loads(result.stdout)["exec_id"]
        env.tmux("kill-session", "-t", f"codex-agent-{job_id}")
        if index == 0:
            returned.maxrss_kib = result.maxrss_kib  # the warm-up run, under GNU time
            continue
        returned.add(result)
        running.samples.append(ran_at - begin)
    rows = [
        series_row(section, "exec start --cmd … (plain command): the command returns", returned),
        stats_row(section, "exec start --cmd …: until the command itself runs", running),
    ]

    returned = Series()
    answered = Stats()
    for index in range(settings.start_repeat + 1):
        begin = time.time()
        result = env.ok(project, "start", "say hello", "--json", peak=index == 0)
        job_id = json.loads(result.stdout)["id"]
        env.ok(project, "wait", job_id, "--until", "idle", "--timeout", "30s")
        done_at = (_turn_at(project, job_id, 1) or 0) / 1000
        env.tmux("kill-session", "-t", f"codex-agent-{job_id}")
        if index == 0:
            returned.maxrss_kib = result.maxrss_kib
            continue
        returned.add(result)
        answered.samples.append(done_at - begin)
    rows += [
        series_row(section, "start PROMPT (codex test double, TUI): the command returns", returned),
        stats_row(
            section,
            "start PROMPT (test double): until its first turn is recorded",
            answered,
            note="includes the double's own start-up and reply",
        ),
    ]
    env.kill_live()
    return rows


def _turn_at(project: Project, job_id: str, number: int) -> int | None:
    """When the job's keeper recorded its `number`-th completed turn (ms since the epoch), if it has."""
    store = Store.open(project.state_dir, create=False)
    try:
        events = store.events_after(0, job_ids=[job_id], kinds=["turn_completed"], limit=number)
    finally:
        store.close()
    return events[number - 1][1] if len(events) >= number else None


def _lines_in(path: Path, count: int) -> bool:
    """Whether `path` holds at least `count` whole lines."""
    try:
        return path.read_bytes().count(b"\n") >= count
    except FileNotFoundError:
        return False


# --- 3. wait and watch ------------------------------------------------------------------------------------

# Runs the wait primitive the CLI uses, in a process of its own, and prints the moment it returned.
WAITER = """
import sys, time
from pathlib import Path
from codex_agent import jobs, waiting
with jobs.opened(Path(sys.argv[1])) as project:
    job = waiting.wait_for_end(project, sys.argv[2], timeout_s=60)
    print(repr(time.time()), job.status.value if job else "timeout", flush=True)
"""


def _gated_job(env: BenchEnv, project: Project, name: str, then: str = "") -> tuple[str, Path]:
    """A live job that blocks reading a FIFO until the bench writes to it, then ends (or does `then`)."""
    fifo = env.root / f"{name}.fifo"
    os.mkfifo(fifo)
    command = f"read line < {shlex.quote(str(fifo))}{'; ' + then if then else ''}"
    result = env.ok(project, "exec", "start", "--cmd", command, "--json")
    return json.loads(result.stdout)["exec_id"], fifo


def _release(fifo: Path) -> float:
    released = time.time()
    with open(fifo, "w") as handle:  # the job already holds the read end open
        handle.write("go\n")
    return released


def _waiting_process(argv: list[str], env: BenchEnv, project: Project) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        argv, cwd=project.path, env=env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_until(
        lambda: has_inotify(proc.pid) or proc.poll() is not None, timeout=30, what="the waiter to watch"
    )
    if proc.poll() is not None:
        raise RuntimeError(f"{argv} ended before the job did: {proc.stderr.read() if proc.stderr else ''!r}")
    return proc


def _latency_series(count: int, sample: Callable[[int], float]) -> Stats:
    stats = Stats()
    for index in range(count + 1):
        value = sample(index)
        if index:
            stats.samples.append(value)
    return stats


def wait(env: BenchEnv, settings: Settings) -> list[Row]:
    section = "3. wait: wake-up after a job ends"
    project = env.project(1_000)
    target = Target(50, "< 50 ms")
    rows = []

    def primitive(index: int) -> float:
        job_id, fifo = _gated_job(env, project, f"primitive-{index}")
        proc = _waiting_process([sys.executable, "-c", WAITER, str(project.path), job_id], env, project)
        released = _release(fifo)
        out, err = proc.communicate(timeout=60)
        woke, status = out.decode().split()
        if status != "completed":
            raise RuntimeError(f"the job ended as {status}: {err.decode(errors='replace')}")
        return float(woke) - released

    rows.append(
        stats_row(
            section,
            "waiting.wait_for_end in a process: release → returns",
            _latency_series(settings.wait_repeat, primitive),
            target=target,
            note="the primitive `wait` builds on",
        )
    )

    def whole_process(args: list[str]) -> Callable[[int], float]:
        def sample(index: int) -> float:
            job_id, fifo = _gated_job(env, project, f"{args[0]}-{index}")
            argv = [*env.cli, *[job_id if arg == "{id}" else arg for arg in args]]
            proc = _waiting_process(argv, env, project)
            released = _release(fifo)
            proc.communicate(timeout=60)
            return time.time() - released

        return sample

    if env.has_command("wait"):
        stats = _latency_series(settings.wait_repeat, whole_process(["wait", "{id}"]))
        rows.append(stats_row(section, "codex-agent wait ID: release → process exits", stats, target=target))
    else:
        rows.append(skipped(section, "codex-agent wait ID", "this codex-agent has no `wait` command yet"))
    stats = _latency_series(settings.wait_repeat, lambda i: _exec_run_sample(env, project, i))
    rows.append(
        stats_row(
            section, "codex-agent exec run: release → process exits", stats, note="prints the output too"
        )
    )
    rows.append(watch(env, project, settings))
    env.kill_live()
    return rows


def _exec_run_sample(env: BenchEnv, project: Project, index: int) -> float:
    fifo = env.root / f"run-{index}.fifo"
    os.mkfifo(fifo)
    argv = [*env.cli, "exec", "run", "--cmd", f"read line < {shlex.quote(str(fifo))}"]
    proc = _waiting_process(argv, env, project)
    released = _release(fifo)
    proc.communicate(timeout=60)
    return time.time() - released


def watch(env: BenchEnv, project: Project, settings: Settings) -> Row:
    section = "3. wait: wake-up after a job ends"
    if not env.has_command("watch"):
        return skipped(
            section,
            "codex-agent watch ID: a write → on screen",
            "this codex-agent has no `watch` command yet",
        )

    def sample(index: int) -> float:
        marker = f"bench-marker-{index}-{os.getpid()}"
        job_id, fifo = _gated_job(env, project, f"watch-{index}", then=f"echo {marker}; exec sleep 600")
        proc = subprocess.Popen(
            [*env.cli, "watch", job_id],
            cwd=project.path,
            env=env.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        seen = threading.Event()
        first_output = threading.Event()
        seen_at: list[float] = []

        def reader() -> None:
            assert proc.stdout is not None
            data = b""
            while chunk := os.read(proc.stdout.fileno(), 65536):
                first_output.set()
                data += chunk
                if marker.encode() in data and not seen_at:
                    seen_at.append(time.time())
                    seen.set()

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        # Released once the watcher shows its first screen (or is watching files).
        wait_until(lambda: first_output.is_set() or has_inotify(proc.pid), timeout=30, what="watch to start")
        released = _release(fifo)
        if not seen.wait(30):
            proc.kill()
            raise RuntimeError("watch never showed the job's new output")
        proc.kill()
        proc.wait()
        env.tmux("kill-session", "-t", f"codex-agent-{job_id}")
        return seen_at[0] - released

    stats = _latency_series(settings.wait_repeat, sample)
    return stats_row(section, "codex-agent watch ID: a write → on its output", stats)


# --- 4. send ------------------------------------------------------------------------------------------------


def send(env: BenchEnv, settings: Settings) -> list[Row]:
    section = "4. send: until delivery is confirmed"
    if not env.has_command("send"):
        return [
            skipped(
                section,
                "codex-agent send ID TEXT (test double)",
                "this codex-agent has no `send` command yet",
            )
        ]
    project = env.project(100)
    series = Series()
    answered = Stats()
    for index in range(settings.start_repeat + 1):
        job_id = json.loads(env.ok(project, "start", "say hello", "--json").stdout)["id"]
        env.ok(project, "wait", job_id, "--until", "idle", "--timeout", "30s")
        begin = time.time()
        result = env.ok(project, "send", job_id, f"follow-up number {index}", peak=index == 0)
        wait_until(partial(_turn_at, project, job_id, 2), timeout=30, what="the reply")
        replied = (_turn_at(project, job_id, 2) or 0) / 1000
        env.tmux("kill-session", "-t", f"codex-agent-{job_id}")
        if index == 0:
            series.maxrss_kib = result.maxrss_kib
            continue
        series.add(result)
        answered.samples.append(replied - begin)
    env.kill_live()
    return [
        series_row(section, "codex-agent send ID TEXT (test double): the command returns", series),
        stats_row(section, "send: until the double's reply is recorded", answered),
    ]


# --- 5. many live jobs --------------------------------------------------------------------------------------


@dataclass(slots=True)
class LiveJobCost:
    keeper: Memory  # the pane's first process: the job's keeper (python -m codex_agent.keeper)
    log_writer: Memory  # tmux's pipe-pane process that appends the pane's output to the job's log
    pane_tree: list[int]  # the keeper and everything under it (the agent)


def _live_job_costs(env: BenchEnv, project: Project) -> tuple[dict[str, LiveJobCost], list[int]]:
    table = process_table()
    server = env.tmux_server_pid()
    assert server is not None
    cats = {}
    for pid, (parent, name) in table.items():
        target = fd_target(pid, 1) if parent == server and name in ("cat", "dd") else None
        if target:
            cats[Path(target).parent.name] = pid
    costs = {}
    ours: list[int] = []
    for session, pane_pid in env.pane_pids().items():
        job_id = session.removeprefix("codex-agent-")
        if job_id not in project.live or job_id not in cats:
            continue
        below = descendants(pane_pid, table)
        if not any(table[pid][1] == "sleep" for pid in below):
            continue  # its keeper has not started the command yet
        costs[job_id] = LiveJobCost(memory_of(pane_pid), memory_of(cats[job_id]), [pane_pid, *below])
        ours += [pane_pid, cats[job_id]]
    return costs, ours


def concurrent(env: BenchEnv, settings: Settings) -> list[Row]:
    section = f"5. {settings.concurrent} live jobs: what codex-agent adds per job"
    project = env.project(0)
    env.start_live(project, 1)
    server = env.tmux_server_pid()
    assert server is not None
    server_one = memory_of(server)
    env.start_live(project, settings.concurrent - 1)
    wait_until(
        lambda: len(_live_job_costs(env, project)[0]) == settings.concurrent,
        timeout=60,
        what="all jobs to run",
    )
    costs, ours = _live_job_costs(env, project)
    server_all = memory_of(server)
    per_session = (server_all.pss - server_one.pss) / max(1, settings.concurrent - 1)

    table = process_table()
    python_left = [
        pid for cost in costs.values() for pid in cost.pane_tree if "python" in table.get(pid, (0, ""))[1]
    ]
    rows = []
    for label in ("PSS", "USS", "RSS"):
        values = Stats(
            [getattr(cost.keeper + cost.log_writer, label.lower()) / MIB for cost in costs.values()]
        )
        target = None  # one Python keeper per job is the design: this row says what it costs
        note = "the job's keeper (the pane's first process, here relaying a plain command) + the log writer"
        if label == "PSS":
            note += f"; plus {per_session / MIB:.2f} MiB of tmux server PSS per session"
            values = Stats([value + per_session / MIB for value in values.samples])
        rows.append(
            stats_row(
                section,
                f"memory added per live job, {label}",
                values,
                unit="MiB",
                scale=1,
                target=target,
                note=note,
            )
        )
    rows.append(
        Row(
            section,
            "Python processes left in job panes",
            "",
            float(len(python_left)),
            note="one keeper per job, by design: the only writer of the job's state",
        )
    )

    before = {pid: cpu_ticks(pid) for pid in [server, *ours]}
    began = time.monotonic()
    time.sleep(settings.idle_s)  # the measurement window: nothing happens in it
    elapsed = time.monotonic() - began
    used = sum(cpu_ticks(pid) - ticks for pid, ticks in before.items())
    server_used = cpu_ticks(server) - before[server]
    percent = 100 * used / CLK_TCK / elapsed
    rows.append(
        Row(
            section,
            f"CPU while idle, over {elapsed:.0f} s: tmux server + keepers + log writers",
            "%",
            percent,
            target=Target(0.5, "about 0 (< 0.5 % of one core)"),
            note=f"tmux server alone {100 * server_used / CLK_TCK / elapsed:.2f} %",
        )
    )
    series = repeat(partial(env.run, project, "jobs", "--json"), settings.repeat)
    rows.append(series_row(section, f"jobs --json with {settings.concurrent} live jobs", series))
    env.kill_live()
    return rows


# --- 6. peak memory ----------------------------------------------------------------------------------------


def memory(env: BenchEnv, settings: Settings) -> list[Row]:
    """Peak RSS of every command once, under GNU time (N=1,000 recorded jobs, one live job, one finished)."""
    section = "6. Peak memory of each command (N=1,000 recorded, 1 live)"
    project = env.project(1_000)
    finished = project.recorded[0]
    live = env.start_live(project, 1)[0]
    doomed = env.start_live(project, 1)[0]
    commands: list[tuple[str, ...]] = [
        ("--version",),
        ("jobs", "--json"),
        ("jobs", "--json", "--all"),
        ("jobs",),
        ("status", finished, "--json"),
        ("status", live),
        ("sessions", "--json"),
        ("capture", live),
        ("output", finished),
        ("exec", "start", "--cmd", "true"),
        ("exec", "run", "--cmd", "true"),
        ("start", "say hello", "--json"),
        ("health", "--json"),
        ("kill", doomed),
        ("clean", "--older-than", "365d"),
    ]
    if env.has_command("wait"):
        commands.append(("wait", finished))
    rows = []
    for args in commands:
        result = env.run(project, *args, peak=True)
        if result.code not in (0, 6):  # `health` exits 6 when codex is missing; its memory still counts
            raise RuntimeError(
                f"codex-agent {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
            )
        peak = None if result.maxrss_kib is None else result.maxrss_kib / MIB
        rows.append(Row(section, "codex-agent " + " ".join(_short(arg) for arg in args), "MiB", peak))
    env.kill_live()
    return rows


def _short(arg: str) -> str:
    return "ID" if len(arg) == 8 and all(c in "0123456789abcdef" for c in arg) else shlex.quote(arg)


# --- instructions: a load-independent measure -----------------------------------------------------------


def _instructions(env: BenchEnv, project: Project, argv: list[str]) -> float:
    """Millions of instructions a command executes, its child processes (tmux clients) included."""
    out = Path(tempfile.mkdtemp(prefix="callgrind-", dir=env.root))
    valgrind = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}/%p.out"]
    # Each process logs to its own file: a child's stderr is read by its parent, not by us.
    result = subprocess.run(
        [*valgrind, f"--log-file={out}/%p.log", *argv], cwd=project.path, env=env.env, capture_output=True
    )
    counts = [
        int(count) for log in out.glob("*.log") for count in re.findall(r"Collected : (\d+)", log.read_text())
    ]
    shutil.rmtree(out, ignore_errors=True)
    if result.returncode != 0 or not counts:
        raise RuntimeError(
            f"valgrind {' '.join(argv)} failed: {result.stderr.decode(errors='replace')[-2000:]}"
        )
    return sum(counts) / 1e6


def instructions(env: BenchEnv, settings: Settings) -> list[Row]:
    """Instruction counts do not change with the machine's load, unlike times on a shared machine."""
    section = "Instructions executed (valgrind; independent of load)"
    if shutil.which("valgrind") is None:
        return [skipped(section, "instruction counts", "valgrind is not installed")]
    small = env.project(100)
    large = env.project(1_000)
    env.start_live(large, max(settings.live))
    live = max(settings.live)
    cases = [
        ("python -c pass", small, list(python_argv("pass"))),
        ("codex-agent --version", small, [*env.cli, "--version"]),
        ("jobs --json (N=100 K=0)", small, [*env.cli, "jobs", "--json"]),
        ("status ID --json (N=100 K=0)", small, [*env.cli, "status", small.recorded[0], "--json"]),
        (f"jobs --json (N=1,000 K={live})", large, [*env.cli, "jobs", "--json"]),
        (
            f"status ID --json, a live job (N=1,000 K={live})",
            large,
            [*env.cli, "status", large.live[0], "--json"],
        ),
    ]
    rows = []
    floor = None
    for what, project, argv in cases:
        count = _instructions(env, project, argv)
        floor = floor or count
        rows.append(Row(section, what, "M", count, note=f"{count / floor:.1f} x python -c pass"))
    env.kill_live()
    return rows


SCENARIOS: dict[str, Callable[[BenchEnv, Settings], list[Row]]] = {
    "floor": baseline,
    "commands": commands,
    "reads": reads,
    "start": start,
    "wait": wait,
    "send": send,
    "concurrent": concurrent,
    "memory": memory,
    "instructions": instructions,
}
