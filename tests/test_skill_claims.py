"""What the plugin skill (SKILL.md) and docs/orchestrators.md claim, checked one claim per test.

tests/test_skill_examples.py runs every example line of the skill for exit 0; this file checks that what the
prose says those commands do is what they do. Each test is named after the claim it checks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.helpers import CLI, REPO_ROOT, wait_for

SKILL = REPO_ROOT / "plugins" / "codex-orchestrator" / "skills" / "codex-orchestrator" / "SKILL.md"
ORCHESTRATORS = REPO_ROOT / "docs" / "orchestrators.md"


def _finished(cli: CLI, *args: str) -> dict[str, object]:
    job = cli.start("--exec", *args)
    return cli.wait_status(str(job["id"]), ["completed", "failed"], timeout=30)


# --- setting up ---------------------------------------------------------------------------------------------


def test_health_exits_6_when_codex_is_missing_and_says_what_to_install(cli: CLI) -> None:
    result = cli.run("health", env={"CODEX_AGENT_CODEX_BIN": "/nonexistent/codex"})
    assert result.code == 6
    assert "codex MISSING" in result.out and "npm" in result.out + result.err


# --- ground rules -------------------------------------------------------------------------------------------


def test_read_commands_print_json_on_stdout_and_messages_on_stderr(cli: CLI) -> None:
    result = cli.ok("jobs", "--json")
    assert json.loads(result.out)["jobs"] == []
    assert result.err == "" or not result.err.lstrip().startswith("{")


def test_a_refusal_is_one_line_on_stderr_with_its_documented_code(cli: CLI) -> None:
    missing = cli.run("status", "deadbeef")
    assert missing.code == 3 and len(missing.err.strip().splitlines()) == 1 and missing.out == ""
    ids = [str(cli.start("--exec", f"job {n}")["id"]) for n in range(20)]
    firsts = [job_id[0] for job_id in ids]
    shared = next((char for char in firsts if firsts.count(char) > 1), None)
    assert shared is not None  # 20 random hex ids without a shared first character: p < 1e-6
    ambiguous = cli.run("status", shared)
    assert ambiguous.code == 4 and len(ambiguous.err.strip().splitlines()) == 1


def test_jobs_json_wraps_the_list_with_prompts_cut_to_100_characters(cli: CLI) -> None:
    cli.start("--exec", "x" * 300)
    listed = cli.ok("jobs", "--json").json()
    assert listed["version"] == 1 and "generated_at" in listed
    assert len(listed["jobs"][0]["prompt"]) <= 100


def test_a_job_object_carries_the_fields_the_skill_names(cli: CLI) -> None:
    job = _finished(cli, "say something")
    for key in ("id", "status", "kind", "summary", "tokens", "files_modified", "exit_code", "error"):
        assert key in job, key
    for key in ("elapsed_ms", "tmux_session", "created_at", "completed_at"):
        assert key in job, key
    assert job["kind"] == "codex-exec" and len(str(job["id"])) == 8


# --- starting -----------------------------------------------------------------------------------------------


def test_the_prompt_can_be_a_file_or_standard_input(cli: CLI, project: Path) -> None:
    (project / "task.md").write_text("from a file\n")
    from_file = cli.ok("start", "@task.md", "--dry-run", "--json").json()
    assert from_file["job"]["prompt"].strip() == "from a file"
    from_stdin = cli.ok("start", "-", "--dry-run", "--json", input=b"from stdin\n").json()
    assert from_stdin["job"]["prompt"].strip() == "from stdin"


def test_an_exec_job_ends_by_itself_as_completed(cli: CLI) -> None:
    assert _finished(cli, "a one-shot task")["status"] == "completed"


def test_the_defaults_are_the_documented_model_reasoning_and_sandbox(cli: CLI) -> None:
    job = cli.ok("start", "x", "--dry-run", "--json").json()["job"]
    assert (job["model"], job["reasoning"], job["sandbox"]) == ("gpt-5.3-codex", "xhigh", "workspace-write")
    text = SKILL.read_text()
    assert "model `gpt-5.3-codex`" in text and "reasoning `xhigh`" in text


def test_dry_run_shows_the_command_and_prompt_and_starts_nothing(cli: CLI, project: Path) -> None:
    plan = cli.ok("start", "add retries", "--dry-run", "--json").json()
    assert plan["argv"] and plan["job"]["prompt"] == "add retries"
    assert cli.ok("jobs", "--json").json()["jobs"] == []


def test_map_writes_the_codebase_map_when_there_is_none(cli: CLI, project: Path) -> None:
    target = project / "docs" / "CODEBASE_MAP.md"
    assert not target.exists()
    cli.ok("map")
    assert target.is_file() and target.read_text().strip()


def test_map_adds_the_codebase_map_to_the_prompt(cli: CLI, project: Path) -> None:
    (project / "docs").mkdir()
    (project / "docs" / "CODEBASE_MAP.md").write_text("# Map\n\nUNIQUE-MAP-MARKER\n")
    plan = cli.ok("start", "task", "--map", "--dry-run", "--json").json()
    assert "UNIQUE-MAP-MARKER" in plan["job"]["prompt"]


def test_context_budget_keeps_the_prompt_within_it_and_says_what_was_cut(cli: CLI, project: Path) -> None:
    for n in range(5):
        (project / f"big{n}.txt").write_text(f"file {n} " * 3000)
    plan = cli.ok("start", "task", "-f", "big*.txt", "--context-budget", "2000", "--dry-run", "--json").json()
    assert plan["prompt_tokens"] <= 2000
    assert plan["cut"]


def test_the_reviewer_role_runs_read_only_unless_a_sandbox_is_given(cli: CLI) -> None:
    plain = cli.ok("start", "review", "--role", "reviewer", "--dry-run", "--json").json()["job"]
    assert plain["sandbox"] == "read-only"
    chosen = cli.ok(
        "start", "review", "--role", "reviewer", "-s", "workspace-write", "--dry-run", "--json"
    ).json()["job"]
    assert chosen["sandbox"] == "workspace-write"


def test_a_profile_is_a_preset_of_model_and_reasoning(cli: CLI) -> None:
    job = cli.ok("start", "x", "--profile", "quick", "--dry-run", "--json").json()["job"]
    default = cli.ok("start", "x", "--dry-run", "--json").json()["job"]
    assert (job["model"], job["reasoning"]) != (default["model"], default["reasoning"])
    assert "quick" in cli.ok("config", "--profile", "quick").out


def test_template_takes_no_value_prints_a_skeleton_and_starts_nothing(cli: CLI) -> None:
    result = cli.ok("start", "--template")
    for heading in ("TASK:", "CONTEXT:", "REQUIREMENTS:", "VERIFICATION:"):
        assert heading in result.out
    assert cli.ok("jobs", "--json").json()["jobs"] == []
    assert "--template NAME" not in SKILL.read_text() and "--template NAME" not in ORCHESTRATORS.read_text()


def test_notify_on_complete_runs_the_command_with_the_jobs_details(cli: CLI, project: Path) -> None:
    done = project / "done.txt"
    command = 'printf "%s %s %s\\n" "$CODEX_AGENT_JOB_ID" "$CODEX_AGENT_STATUS" "$CODEX_AGENT_EXIT_CODE"'
    command += " >> done.txt"
    job = cli.start("--exec", "finish", "--notify-on-complete", command)
    wait_for(lambda: done.exists() and done.read_text().strip(), timeout=30, what="the notify command")
    assert done.read_text().split() == [job["id"], "completed", "0"]


# --- waiting ------------------------------------------------------------------------------------------------


def test_wait_exits_0_for_an_idle_agent_10_for_a_failed_job_124_on_timeout(cli: CLI) -> None:
    idle = cli.start("look around")
    assert cli.run("wait", idle["id"], "--timeout", "30s").code == 0
    assert cli.job(idle["id"])["status"] == "idle"
    failed = cli.start("--exec", "FAIL the tests broke")
    assert cli.run("wait", failed["id"], "--timeout", "30s").code == 10
    slow = cli.start("--exec", "SLEEP 30")
    assert cli.run("wait", slow["id"], "--until", "done", "--timeout", "1s").code == 124
    cli.ok("kill", slow["id"])


# --- talking ------------------------------------------------------------------------------------------------


def test_resume_refuses_an_exec_job_with_exit_5(cli: CLI) -> None:
    job = _finished(cli, "one-shot")
    refused = cli.run("resume", str(job["id"]), "more")
    assert refused.code == 5 and "start a new job" in refused.err
    assert len(cli.ok("jobs", "--json").json()["jobs"]) == 1  # nothing new was started


def test_resume_continues_a_killed_interactive_agent_under_the_same_id(cli: CLI) -> None:
    job = cli.start("first turn")
    cli.wait_status(job["id"], ["idle"])
    cli.ok("kill", job["id"])
    resumed = cli.ok("resume", job["id"], "second turn", "--json").json()
    assert resumed["id"] == job["id"]
    back = cli.wait_status(job["id"], ["idle"], timeout=30)
    assert back["status"] == "idle"


# --- results ------------------------------------------------------------------------------------------------


def test_report_lists_the_files_the_job_changed_with_line_counts(cli: CLI) -> None:
    job = _finished(cli, "WRITE notes.txt")
    report = cli.ok("report", str(job["id"]), "--json").json()
    assert "notes.txt" in json.dumps(report)


def test_jobs_lists_the_newest_20_and_all_or_n_on_request(cli: CLI) -> None:
    ids = [cli.start("--exec", f"task {n}")["id"] for n in range(22)]
    assert len(cli.ok("jobs", "--json").json()["jobs"]) == 20
    assert len(cli.ok("jobs", "--all", "--json").json()["jobs"]) == 22
    assert len(cli.ok("jobs", "-n", "5", "--json").json()["jobs"]) == 5
    assert cli.ok("jobs", "-n", "1", "--json").json()["jobs"][0]["id"] == ids[-1]


# --- parallel writers ---------------------------------------------------------------------------------------


def test_a_start_whose_claim_overlaps_a_live_jobs_is_refused_with_exit_5(cli: CLI) -> None:
    holder = cli.start("hold src", "--claim", "src/export/**")
    cli.wait_status(holder["id"], ["idle"])
    refused = cli.run("start", "--exec", "also src", "--claim", "src/export/csv/**")
    assert refused.code == 5
    cli.ok("claims", "release", holder["id"])
    cli.ok("start", "--exec", "now free", "--claim", "src/export/csv/**")


def test_worktree_runs_the_job_on_its_own_branch_which_the_report_names(cli: CLI, project: Path) -> None:
    job = _finished(cli, "WRITE feature.txt", "--worktree")
    assert Path(str(job["cwd"])).resolve() != project.resolve()
    report = json.dumps(cli.ok("report", str(job["id"]), "--json").json())
    assert f"codex-agent/{job['id']}" in report


def test_after_starts_a_job_only_once_the_other_has_completed(cli: CLI) -> None:
    first = cli.start("--exec", "SLEEP 2")
    second = cli.start("--exec", "then this", "--after", first["id"])
    assert second["status"] == "pending"
    done = cli.wait_status(second["id"], ["completed", "failed"], timeout=40)
    assert done["status"] == "completed", (done, cli.job(first["id"]))
    assert str(done["started_at"]) >= str(cli.job(first["id"])["completed_at"])


def test_after_a_failed_job_the_waiting_job_fails_without_starting(cli: CLI) -> None:
    first = cli.start("--exec", "FAIL the build broke")
    second = cli.start("--exec", "never", "--after", first["id"])
    ended = cli.wait_status(second["id"], ["failed"], timeout=40)
    assert ended["started_at"] is None and "never started" in str(ended["error"])


def test_max_parallel_holds_a_job_while_n_jobs_of_the_project_run(cli: CLI) -> None:
    running = cli.start("--exec", "SLEEP 30")
    held = cli.start("--exec", "later", "--max-parallel", "1")
    assert held["status"] == "pending"
    cli.ok("kill", running["id"])
    cli.wait_status(held["id"], ["completed"], timeout=40)


def test_retry_retries_a_run_that_failed_up_to_n_times(cli: CLI) -> None:
    first = cli.start("--exec", "FAIL the model gave up", "--retry", "2")["id"]

    def attempts() -> list[dict[str, Any]] | None:
        chain = [cli.ok("report", first, "--json").json()]
        while chain[-1]["retry"] and chain[-1]["retry"].get("retried_as"):
            chain.append(cli.ok("report", chain[-1]["retry"]["retried_as"], "--json").json())
        return chain if len(chain) == 3 and all(item["status"] == "failed" for item in chain) else None

    chain = wait_for(attempts, timeout=60, what="two retries of the failed run")
    assert [item["retry"]["attempt"] for item in chain] == [1, 2, 3]
    assert len(cli.ok("jobs", "--all", "--json").json()["jobs"]) == 3  # and no fourth


def test_retry_on_failure_gives_the_next_attempt_the_failures_error_and_last_output(
    cli: CLI, project: Path
) -> None:
    job = cli.start("--exec", "FAIL the model gave up", "--retry", "1", "--retry-on-failure")
    cli.wait_status(job["id"], ["failed"], timeout=30)
    retried = wait_for(
        lambda: cli.ok("report", job["id"], "--json").json()["retry"].get("retried_as"),
        timeout=30,
        what="the retry",
    )  # the attempt before names the next one
    given = project / ".codex-agent" / "jobs" / str(retried) / "prompt.txt"
    wait_for(given.exists, timeout=30, what="the next attempt to be recorded")
    prompt = given.read_text()
    assert prompt.startswith("FAIL the model gave up\n")
    assert f"(job {job['id']}) failed: the model gave up" in prompt
    assert "The last lines it printed:" in prompt


# --- the shared log, plain commands, housekeeping -----------------------------------------------------------


def test_log_add_records_a_decision_that_context_shows(cli: CLI, project: Path) -> None:
    cli.ok("log", "add", "Auth research done: rotating next")
    assert "rotating next" in (project / "agents.log").read_text()
    assert "rotating next" in cli.ok("context").out


def test_exec_run_exits_with_the_commands_own_exit_code(cli: CLI) -> None:
    assert cli.run("exec", "run", "--cmd", "exit 7").code == 7


def test_exec_start_result_and_logs_give_the_documented_shapes(cli: CLI) -> None:
    started = cli.ok("exec", "start", "--cmd", "echo out; echo err >&2", "--json").json()
    assert {"exec_id", "status", "next_action", "job"} <= set(started)
    exec_id = started["exec_id"]
    wait_for(
        lambda: cli.ok("exec", "result", "--id", exec_id, "--json").json()["status"] != "running",
        timeout=30,
        what="the command's end",
    )
    assert cli.ok("exec", "result", "--id", exec_id).out.strip() == "finished exit_code=0"
    lines = cli.ok("exec", "logs", "--id", exec_id, "--stream", "stderr").out.splitlines()
    record = json.loads(lines[0])
    assert set(record) == {"stream", "time", "text"} and record["text"].strip() == "err"


def test_attach_without_a_terminal_prints_the_tmux_command(cli: CLI, tmux_socket: str) -> None:
    job = cli.start("look")
    printed = cli.ok("attach", job["id"]).out
    assert f"tmux -L {tmux_socket} attach -t codex-agent-{job['id']}" in printed


def test_claims_end_with_the_job(cli: CLI) -> None:
    job = _finished(cli, "brief", "--claim", "docs/**")
    cli.ok("jobs", "--json")
    claims = cli.ok("claims", "--json").json()
    assert str(job["id"]) not in json.dumps(claims)
    cli.ok("start", "--exec", "next", "--claim", "docs/**")


def test_context_shows_live_jobs_recent_results_claims_and_the_log(cli: CLI) -> None:
    done = _finished(cli, "finished work")
    live = cli.start("still working", "--claim", "src/**")
    cli.wait_status(live["id"], ["idle"])
    cli.ok("log", "add", "decided: keep going")
    context = json.dumps(cli.ok("context", "--json").json())
    for expected in (str(done["id"]), live["id"], "src/**", "decided: keep going"):
        assert expected in context, expected


def test_exec_result_gives_the_exit_code_and_the_tails_of_both_streams(cli: CLI) -> None:
    exec_id = cli.ok("exec", "start", "--cmd", "echo to-out; echo to-err >&2; exit 4").out.strip()
    result = wait_for(
        lambda: (lambda data: data if data["status"] == "finished" else None)(
            cli.ok("exec", "result", "--id", exec_id, "--json").json()
        ),
        timeout=30,
        what="the command's end",
    )
    assert result["exit_code"] == 4
    assert "to-out" in result["stdout_tail"] and "to-err" in result["stderr_tail"]


def test_clean_removes_ended_jobs_older_than_the_cutoff(cli: CLI) -> None:
    old = _finished(cli, "old work")
    live = cli.start("keep me")
    cli.wait_status(live["id"], ["idle"])
    cli.ok("clean", "--older-than", "0s")
    assert cli.run("status", str(old["id"])).code == 3
    assert cli.job(live["id"])["status"] == "idle"


def test_delete_force_removes_a_jobs_record_and_files(cli: CLI, project: Path) -> None:
    job = _finished(cli, "gone soon")
    cli.ok("delete", str(job["id"]), "--force")
    assert cli.run("status", str(job["id"])).code == 3
    assert not (project / ".codex-agent" / "jobs" / str(job["id"])).exists()


def test_the_skill_names_no_option_value_the_cli_refuses() -> None:
    """The five claims issue 16 found wrong stay gone from both documents."""
    for path in (SKILL, ORCHESTRATORS):
        text = path.read_text()
        assert "`codex-agent map` shows it" not in text
        assert "restarts a failed exec job" not in text
        assert "--role review " not in text
        assert os.linesep.join(["an `--exec` job, a killed or lost one"]) not in text
