"""Coordination across many processes: claims, agents.log, reports, worktrees, queues and retries.

Real parts throughout: the CLI as separate processes, a real tmux server, real git, the codex test double.
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codex_agent import agentslog
from codex_agent.store import Store
from tests.helpers import CLI, REPO_ROOT, wait_for


def spawn_many(cli: CLI, argv_list: list[list[str]], timeout: float = 180) -> list[tuple[int, str, str]]:
    """Start every command at once, then collect (exit code, stdout, stderr) of each."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "codex_agent", *argv],
            cwd=cli.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for argv in argv_list
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out.decode(), err.decode()))
    return results


def log_entries(project: Path) -> list[agentslog.Entry]:
    return agentslog.parse((project / "agents.log").read_text() if (project / "agents.log").exists() else "")


def entries_of(project: Path, kind: str) -> list[agentslog.Entry]:
    return [entry for entry in log_entries(project) if entry.kind == kind]


def gate(tmp_path: Path, name: str = "gate") -> Path:
    """A FIFO a job's command blocks on (`cat GATE`) until the test opens it: no sleeping on either side."""
    path = tmp_path / name
    os.mkfifo(path)
    return path


def open_gate(path: Path) -> None:
    def opened() -> bool:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False  # the job has not opened its end yet
        os.close(fd)
        return True

    wait_for(opened, what=f"a reader on {path}")


def git(project: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(project), *args], capture_output=True, check=True)
    return result.stdout.decode()


# --- claims ------------------------------------------------------------------------------------------------


def test_twenty_simultaneous_overlapping_claims_give_exactly_one_job(cli: CLI, project: Path) -> None:
    patterns = ["src/**", "src/*.py", "src/main.py", "**/*.py"]  # each overlaps every other
    argv = [["start", "--claim", patterns[n % 4], "--json", "SLEEP 60"] for n in range(20)]
    results = spawn_many(cli, argv)

    winners = [out for code, out, _ in results if code == 0]
    assert len(winners) == 1, [(code, err) for code, _, err in results]
    refused = [(argv[n][2], err) for n, (code, _, err) in enumerate(results) if code != 0]
    assert all(code in (0, 5) for code, _, _ in results)
    listing = cli.ok("jobs", "--all", "--json").json()["jobs"]
    assert len(listing) == 1
    holder = listing[0]["id"]
    held = cli.ok("claims", "--json").json()["claims"]
    assert [(claim["job_id"], claim["job_status"]) for claim in held] == [(holder, "running")]
    for pattern, err in refused:
        line = err.strip()
        assert "\n" not in line
        assert f"held by job {holder}" in line and repr(pattern) in line and repr(held[0]["pattern"]) in line
    # The refused starts left nothing behind.
    assert sorted(path.name for path in (project / ".codex-agent" / "jobs").iterdir()) == [holder]


def test_claims_listing_release_force_and_end(cli: CLI, project: Path) -> None:
    first = cli.start("--claim", "docs/", "SLEEP 60")["id"]
    assert [c["pattern"] for c in cli.ok("claims", "--json").json()["claims"]] == ["docs/**"]

    refused = cli.run("start", "--claim", "docs/guide/*.md", "SLEEP 60")  # nothing exists there yet
    assert refused.code == 5
    assert f"job {first}" in refused.err and "docs/guide/" in refused.err

    apart = cli.start("--claim", "src/**", "SLEEP 60")["id"]  # no overlap: fine
    forced = cli.start("--claim", "docs/x.md", "--force", "SLEEP 60")["id"]
    assert len(cli.ok("claims", "--json").json()["claims"]) == 3

    assert "released 1 claim" in cli.ok("claims", "release", first).out
    cli.ok("kill", forced)  # a job that ended holds no claims
    remaining = cli.ok("claims", "--json").json()["claims"]
    assert [(c["job_id"], c["pattern"]) for c in remaining] == [(apart, "src/**")]
    assert cli.start("--claim", "docs/guide/*.md", "SLEEP 60")["status"] == "running"
    assert "PATTERN" in cli.ok("claims").out


# --- agents.log ---------------------------------------------------------------------------------------------


def test_thirty_concurrent_starts_leave_thirty_whole_entries_each_written_once(
    cli: CLI, project: Path
) -> None:
    results = spawn_many(cli, [["start", "--exec", "--json", f"task number {n}"] for n in range(30)])
    assert [code for code, _, _ in results] == [0] * 30, [err for _, _, err in results if err]
    ids = {cli_json["id"] for cli_json in (__import__("json").loads(out) for _, out, _ in results)}
    assert len(ids) == 30

    spawned = entries_of(project, "spawned")
    assert sorted(entry.job_id for entry in spawned if entry.job_id) == sorted(ids)
    for entry in spawned:
        assert list(entry.fields)[:4] == ["type", "prompt", "reasoning", "sandbox"], entry.raw
        assert entry.fields["type"] == "codex-exec" and entry.fields["prompt"].startswith("task number ")
        assert re.fullmatch(r"\d\d:\d\d", entry.time) and entry.session

    # Every job ends by itself; its completion is logged once, by whichever process recorded the end first,
    # even with several readers reconciling at the same time.
    spawn_many(cli, [["jobs", "--json"] for _ in range(6)])
    wait_for(lambda: len(entries_of(project, "complete")) >= 30, timeout=90, what="30 completions")
    spawn_many(cli, [["jobs", "--json"] for _ in range(4)])
    completed = entries_of(project, "complete")
    assert sorted(entry.job_id for entry in completed if entry.job_id) == sorted(ids)
    text = (project / "agents.log").read_text()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert len([h for h in headings if h.startswith("### ")]) == 60  # no torn or merged entries
    assert all(
        re.match(r"^(# Agents Log|## Session: \S+|### (Spawned|Complete): [0-9a-f]{8} - \d\d:\d\d)$", h)
        for h in headings
    )

    tail = cli.ok("log", "--tail", "2", "--json").json()["entries"]
    assert [entry["kind"] for entry in tail] == ["complete", "complete"]
    assert (
        "task number" in cli.ok("log", "--tail", "1").out or "Complete:" in cli.ok("log", "--tail", "1").out
    )


def test_orchestrator_entries_and_refusals(cli: CLI, project: Path) -> None:
    cli.ok("log", "add", "--kind", "synthesis", "Auth has two gaps:\n1. tokens\n# not a heading")
    cli.ok("log", "add", "remember the docs")
    entries = cli.ok("log", "--json").json()["entries"]
    assert [(e["kind"], e["text"]) for e in entries] == [
        ("synthesis", "Auth has two gaps:\n1. tokens\n\\# not a heading"),
        ("note", "remember the docs"),
    ]
    bad = cli.run("log", "add", "--kind", "rumour", "x")
    assert bad.code == 2 and "synthesis" in bad.err
    assert cli.run("log", "add", "  ").code == 2


# --- report -------------------------------------------------------------------------------------------------


def test_report_names_the_files_a_job_created_and_changed_with_line_counts(cli: CLI, project: Path) -> None:
    agent = cli.start("--exec", "please WRITE notes.txt now")["id"]
    cli.wait_status(agent, ["completed"])
    report = cli.ok("report", agent, "--json").json()
    assert report["status"] == "completed" and report["tokens"]["input"] > 0
    assert report["base"]["commit"] == git(project, "rev-parse", "HEAD").strip()
    assert report["base"]["subject"] == "init"
    assert report["files"] == [{"path": "notes.txt", "added": 1, "deleted": 0, "change": "untracked"}]
    assert report["summary"].startswith("ECHO[")
    text = cli.ok("report", agent).out
    assert "notes.txt" in text and "+1" in text and "changes since" in text

    command = cli.ok(
        "exec", "start", "--cmd", "printf 'one\\ntwo\\n' > src.txt; echo more >> README.md"
    ).out.strip()
    cli.wait_status(command, ["completed"])
    files = {f["path"]: f for f in cli.ok("report", command, "--json").json()["files"]}
    assert files["README.md"] == {"path": "README.md", "added": 1, "deleted": 0, "change": "modified"}
    assert files["src.txt"]["added"] == 2
    assert "notes.txt" not in files  # already there when this job started: not its work

    failed = cli.start("--exec", "FAIL the model gave up")["id"]
    cli.wait_status(failed, ["failed"])
    report = cli.ok("report", failed, "--json").json()
    assert report["errors"][0] == "the model gave up" and report["files"] == []


# --- worktrees ----------------------------------------------------------------------------------------------


def test_a_worktree_job_keeps_its_changes_on_its_branch(cli: CLI, project: Path) -> None:
    first_commit = git(project, "rev-parse", "HEAD").strip()
    (project / "README.md").write_text("second\n")
    git(project, "-c", "user.name=t", "-c", "user.email=t@e.invalid", "commit", "-qam", "second")

    job = cli.start("--worktree", "--exec", "WRITE wt.txt")
    job_id = job["id"]
    branch = f"codex-agent/{job_id}"
    worktree = project / ".codex-agent" / "worktrees" / job_id
    assert job["cwd"] == str(worktree)
    cli.wait_status(job_id, ["completed"])

    assert not (project / "wt.txt").exists()  # the main checkout is untouched
    assert git(project, "status", "--porcelain").strip() == "?? agents.log"
    # Committed before the end was recorded: a job that reads as ended has its work on its branch.
    assert git(project, "show", f"{branch}:wt.txt") == "WRITE wt.txt"
    assert "wt.txt" not in git(project, "ls-tree", "--name-only", "main")
    report = cli.ok("report", job_id, "--json").json()
    assert report["worktree"] == {"path": str(worktree), "branch": branch}
    assert [(f["path"], f["added"]) for f in report["files"]] == [("wt.txt", 1)]
    assert branch in cli.ok("report", job_id).out

    # --ref: another base. The job's checkout has the first commit's README.
    old = cli.start("--worktree", "--ref", first_commit, "--exec", "WRITE old.txt")["id"]
    cli.wait_status(old, ["completed"])
    old_tree = project / ".codex-agent" / "worktrees" / old
    assert (old_tree / "README.md").read_text() == "hello\n"
    assert cli.ok("report", old, "--json").json()["base"]["commit"] == first_commit
    assert "old.txt" in git(project, "ls-tree", "--name-only", f"codex-agent/{old}")
    (old_tree / "scratch.txt").write_text("not committed\n")  # someone worked in it after the job

    cleaned = cli.ok("clean", "--older-than", "0s", "--json").json()
    said = " | ".join(cleaned["worktrees"])
    assert f"unmerged work stays on branch {branch}" in said
    assert "uncommitted changes" in said and old in said
    assert not worktree.exists() and old_tree.exists()
    assert git(project, "show", f"{branch}:wt.txt") == "WRITE wt.txt"  # still there under its ref
    assert cli.run("status", job_id).code == 3 and cli.job(old)["status"] == "completed"

    refused = cli.run("start", "--ref", "HEAD", "x")
    assert refused.code == 2 and "--worktree" in refused.err


# --- queues, dependencies, retries -------------------------------------------------------------------------


def test_a_job_reads_as_ended_only_once_its_end_is_logged_its_claims_free_and_its_work_committed(
    cli: CLI, project: Path, tmp_path: Path
) -> None:
    # The project's post-commit hook holds the keeper's closing commit until the test opens the gate.
    fifo, committing = gate(tmp_path), tmp_path / "committing"
    hook = project / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\ntouch '{committing}'\ncat '{fifo}' >/dev/null\n")
    hook.chmod(0o755)
    job_id = cli.start("--worktree", "--claim", "a.txt", "--exec", "WRITE a.txt")["id"]
    wait_for(committing.exists, what="the keeper's closing commit")
    assert cli.job(job_id)["status"] == "running"  # not ended while its work is not on its branch yet
    open_gate(fifo)
    assert cli.run("wait", job_id).code == 0
    assert "a.txt" in git(project, "ls-tree", "-r", "--name-only", f"codex-agent/{job_id}")
    assert cli.ok("claims", "--json").json()["claims"] == []
    assert job_id in [entry.job_id for entry in entries_of(project, "complete")]


def test_a_job_started_after_another_starts_by_itself_when_it_ends(
    cli: CLI, project: Path, tmp_path: Path
) -> None:
    fifo = gate(tmp_path)
    first = cli.ok("exec", "start", "--cmd", f"cat {fifo} > /dev/null").out.strip()
    queued = cli.start("--after", first, "--exec", "WRITE after.txt")
    assert queued["status"] == "pending"
    assert cli.job(queued["id"])["status"] == "pending"  # reconciling does not fail a queued job
    assert "Spawned: " + queued["id"] in (project / "agents.log").read_text()

    open_gate(fifo)
    # No codex-agent command runs from here on: the first job's own end starts the second.
    wait_for(lambda: (project / "after.txt").exists(), timeout=30, what="the queued job to run")
    second = cli.wait_status(queued["id"], ["completed"])
    assert second["started_at"] >= cli.job(first)["completed_at"]


def test_a_job_after_an_interactive_agent_starts_when_its_turn_ends(cli: CLI, project: Path) -> None:
    first = cli.start("Summarise the design. SLEEP 4")["id"]
    queued = cli.start("--after", first, "--exec", "WRITE after-turn.txt")
    assert queued["status"] == "pending"
    # The turn's end (codex's notify hook) wakes the queue: no codex-agent command runs meanwhile.
    wait_for(lambda: (project / "after-turn.txt").exists(), timeout=30, what="the queued job to run")
    assert cli.job(first)["status"] == "idle"


def test_a_failed_predecessor_fails_its_dependents(cli: CLI, tmp_path: Path) -> None:
    fifo = gate(tmp_path)
    first = cli.ok("exec", "start", "--cmd", f"cat {fifo} > /dev/null; exit 3").out.strip()
    second = cli.start("--after", first, "--exec", "never")["id"]
    third = cli.start("--after", second, "--exec", "never either")["id"]
    open_gate(fifo)
    for job_id, waited in ((second, first), (third, second)):
        job = cli.wait_status(job_id, ["failed"])
        assert job["error"] == f"never started: job {waited}, which it waited for, ended failed"
        assert job["started_at"] is None


def test_max_parallel_from_option_and_config(cli: CLI, project: Path) -> None:
    ids = [cli.start("--max-parallel", "1", "--exec", f"SLEEP 0.5 WRITE out{n}.txt")["id"] for n in range(3)]
    jobs = [cli.wait_status(job_id, ["completed"], timeout=40) for job_id in ids]
    for earlier, later in itertools.pairwise(jobs):
        assert later["started_at"] >= earlier["completed_at"], (earlier, later)

    (project / ".codex-agent.toml").write_text("max_parallel = 1\n")
    blocker = cli.start("SLEEP 60")["id"]  # an interactive agent mid-turn holds the only slot
    waiting = cli.start("--exec", "WRITE cfg.txt")
    assert waiting["status"] == "pending"
    cli.ok("kill", blocker)
    cli.wait_status(waiting["id"], ["completed"])
    (project / ".codex-agent.toml").write_text("max_parallel = 0\n")
    assert cli.run("start", "x").code == 2


def test_retry_on_failure_links_every_attempt(cli: CLI, project: Path) -> None:
    first = cli.start("--exec", "--retry", "2", "--retry-on-failure", "FAIL boom")["id"]

    def chain() -> list[dict[str, Any]] | None:
        found = [cli.ok("report", first, "--json").json()]
        while found[-1]["retry"] and found[-1]["retry"].get("retried_as"):
            found.append(cli.ok("report", found[-1]["retry"]["retried_as"], "--json").json())
        done = len(found) == 3 and all(item["status"] == "failed" for item in found)
        return found if done else None

    attempts = wait_for(chain, timeout=40, what="three failed attempts")
    assert [a["retry"]["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["retry"].get("first") for a in attempts[1:]] == [first, first]
    assert attempts[2]["retry"]["previous"] == attempts[1]["id"]
    assert attempts[2]["retry"]["retried_as"] is None  # no fourth attempt
    retries = [e.fields["retry"] for e in entries_of(project, "spawned") if "retry" in e.fields]
    assert retries == [
        f"attempt 2 of 3, first job {first}, after job {first} ended failed",
        f"attempt 3 of 3, first job {first}, after job {attempts[1]['id']} ended failed",
    ]
    assert len(cli.ok("jobs", "--all", "--json").json()["jobs"]) == 3


def test_retry_after_a_failed_launch(cli: CLI, project: Path, tmp_path: Path) -> None:
    # A tmux that refuses the first new-session, then behaves: the second attempt must run.
    real = (
        subprocess.run(["sh", "-c", "command -v tmux"], capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "refused-once"
    wrapper = bin_dir / "tmux"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do\n'
        f'  if [ "$arg" = new-session ] && [ ! -e {marker} ]; then\n'
        f"    : > {marker}; echo 'no room' >&2; exit 1\n"
        "  fi\n"
        "done\n"
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    started = cli.ok("start", "--exec", "--retry", "1", "--json", "hello", env=env).json()
    assert marker.exists()
    listing = cli.ok("jobs", "--all", "--json").json()["jobs"]
    assert len(listing) == 2
    failed = next(job for job in listing if job["status"] == "failed")
    assert failed["error"].startswith("failed to start") and failed["started_at"] is None
    assert started["id"] != failed["id"]
    assert cli.wait_status(started["id"], ["completed"])["summary"].startswith("ECHO[")
    assert cli.ok("report", failed["id"], "--json").json()["retry"]["retried_as"] == started["id"]


# --- context -----------------------------------------------------------------------------------------------


def test_context_summarises_a_dozen_jobs_in_mixed_states(
    cli: CLI, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = gate(tmp_path)
    build = cli.ok("exec", "start", "--cmd", f"cat {fifo} > /dev/null").out.strip()
    running = [
        cli.start("--claim", "src/parser/**", "Implement the parser. SLEEP 120")["id"],
        cli.start("--claim", "docs/**", "Write the user guide. SLEEP 120")["id"],
    ]
    idle = [cli.start("Review the error handling in src/")["id"], cli.start("Audit the auth flow")["id"]]
    queued = [
        cli.start("--after", build, "--exec", "Run the benchmarks once the build is done")["id"],
        cli.start("--after", running[0], "--exec", "Write parser tests")["id"],
    ]
    done = [cli.start("--exec", f"please WRITE result{n}.txt now")["id"] for n in range(3)]
    failed = cli.start("--exec", "Migrate the schema FAIL no database")["id"]
    lost_cause = cli.start("Refactor the CLI. SLEEP 120")["id"]
    for job_id in done:
        cli.wait_status(job_id, ["completed"])
    cli.wait_status(failed, ["failed"])
    for job_id in idle:
        cli.wait_status(job_id, ["idle"])
    cli.ok("kill", lost_cause)
    cli.ok("log", "add", "--kind", "synthesis", "Parser and docs under way; benchmarks wait for the build.")

    data = cli.ok("context", "--json").json()
    groups = {key: [job["id"] for job in members] for key, members in data["groups"].items()}
    assert data["total_jobs"] == 12
    assert sorted(groups["running"]) == sorted([build, *running])
    assert sorted(groups["idle"]) == sorted(idle)
    assert sorted(groups["queued"]) == sorted(queued)
    assert sorted(groups["completed"]) == sorted(done)
    assert sorted(groups["failed"]) == sorted([failed, lost_cause])
    parser = next(job for job in data["groups"]["running"] if job["id"] == running[0])
    assert parser["claims"] == ["src/parser/**"] and parser["prompt"].startswith("Implement the parser")
    assert next(j for j in data["groups"]["queued"] if j["id"] == queued[1])["after"] == [running[0]]
    assert data["log"]["recent"][-1]["kind"] == "synthesis"

    text = cli.ok("context").out
    for title in (
        "RUNNING (3)",
        "IDLE",
        "QUEUED",
        "RECENTLY COMPLETED (3)",
        "RECENTLY FAILED",
        "LIVE CLAIMS (2)",
        "AGENTS.LOG",
    ):
        assert title in text, title
    for job_id in [build, *running, *idle, *queued, *done, failed, lost_cause]:
        assert job_id in text
    assert "no database" in text and "ECHO[" in text
    assert len(text.splitlines()) < 70  # one screen
    with capsys.disabled():
        print("\n" + text)
    open_gate(fifo)


def test_migration_from_the_first_schema_keeps_jobs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "state.db") as db:
        from codex_agent.store_schema import MIGRATIONS

        MIGRATIONS[0](db)
        db.execute(
            "INSERT INTO jobs (id, kind, status, prompt, cwd, created_at, updated_at) "
            "VALUES ('0123abcd', 'command', 'completed', 'true', '/tmp', 1, 1)"
        )
        db.execute("PRAGMA user_version = 1")
    store = Store.open(state, create=False)
    assert store.get_job("0123abcd").prompt == "true"
    assert store.claim_patterns("0123abcd") == [] and store.live_claims() == []
    assert store.mark_once("0123abcd", "x") and not store.mark_once("0123abcd", "x")


def test_coordination_refusals_create_nothing(cli: CLI, project: Path) -> None:
    for args, code, words in (
        (["--claim", "!src/**"], 2, "negated"),
        (["--claim", "../other/*"], 2, "inside the project"),
        (["--worktree", "--ref", "no-such-branch"], 2, "not a commit"),
        (["--after", "abcdef12"], 3, "no job"),
        (["--max-parallel", "0"], 2, "max-parallel"),
    ):
        result = cli.run("start", *args, "task")
        assert result.code == code and words in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1
    assert not (project / ".codex-agent").exists()
    assert not (project / "agents.log").exists()
