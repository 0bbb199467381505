"""Hostile input: prompts, messages, job ids, `--dir` paths and the state directory path made of shell
metacharacters, tmux syntax and key names, control characters, invalid UTF-8, NUL and megabytes. Each is
delivered byte-exact (the test double's reply carries the sha256 of what it received) or refused with one
clear line; nothing is ever executed, and no path leaves the state directory."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codex_agent import job_reads, jobs, live
from codex_agent.errors import UsageError
from codex_agent.models import ID_LENGTH
from codex_agent.store import validate_id_prefix
from tests.helpers import CLI, wait_for
from tests.reliability.support import Tally, assert_one_line_refusal, panes

REAL_PROCESSES = settings(
    max_examples=int(os.environ.get("CODEX_AGENT_RELIABILITY_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
CANARY_DIR = Path("/tmp")


def canary_fragments(canary: Path) -> list[str]:
    """Text that a shell, tmux or a careless parser would act on."""
    c = str(canary)
    return [
        f"$(touch {c})", f"`touch {c}`", f"; touch {c}", f"&& touch {c}", f"| touch {c}", f"\ntouch {c}\n",
        f"#(touch {c})", "#{session_name}", "#[fg=red]", "##", "%1", "\\;", ";", "'", '"', "\\", "$HOME",
        "${PATH}", "*", "?", "~", "!!", "--help", "-rf", "Enter", "C-c", "Escape", "C-m", "M-x", "{}", "[]",
        "%b", "%%", "%", "##[x", "#S",
        "\t", "\r", "\r\n", "\x1b[31m", "\x1b]0;title\x07", "\x03", "\x04", "\x1a", "\x7f", "\x1b", "\u202e",
        "\u00e9", "\u4e2d\u6587", "\U0001f600", " ", "  ",
    ]  # fmt: skip


def hostile_text(canary: Path, *, control: bool = True) -> st.SearchStrategy[str]:
    pieces = st.sampled_from(canary_fragments(canary))
    alphabet = st.characters(
        exclude_categories=["Cs"],
        exclude_characters="\x00",
        max_codepoint=0x10FFFF if control else 0x2FFF,
    )
    return st.lists(st.one_of(pieces, st.text(alphabet, max_size=12)), min_size=1, max_size=12).map("".join)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    path = CANARY_DIR / f"pwned-{os.urandom(6).hex()}"
    yield path
    assert not path.exists(), f"hostile input was executed: {path} exists"


# --- job ids ----------------------------------------------------------------------------------------------


@given(st.text(max_size=40))
@settings(max_examples=500, deadline=None)
def test_job_ids_are_hex_or_refused(text: str) -> None:
    try:
        prefix = validate_id_prefix(text)
    except UsageError as exc:
        assert "not a job id" in exc.message
        return
    assert 1 <= len(prefix) <= ID_LENGTH and set(prefix) <= set("0123456789abcdef"), prefix


def test_hostile_job_ids_are_refused_by_every_command(cli: CLI, project: Path) -> None:
    cli.ok("exec", "start", "--cmd", "true")
    for text in ("../x", "../../etc/passwd", "/etc", "a/b", ".", "..", "-rf", "--all", "a;b", "a\nb", "$(id)",
                 "#(id)", "abc ", "\u0661\u0662", "ABCDEFGHI", "0123456789"):  # fmt: skip
        for command in (
            ("status", "kill") if text != "../x" else ("status", "kill", "delete", "capture", "output")
        ):
            result = cli.run(command, "--", text) if text.startswith("-") else cli.run(command, text)
            assert result.code in (2, 3), (command, text, result)
            assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert [p.name for p in (project / ".codex-agent" / "jobs").iterdir()] != []


# --- prompts through `start` ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["codex", "codex-exec"])
def test_hostile_prompts_arrive_byte_exact(kind: str, cli: CLI, project: Path, canary: Path) -> None:
    tally = Tally(f"hostile-prompts[{kind}]")

    @REAL_PROCESSES
    @given(text=hostile_text(canary))
    def check(text: str) -> None:
        assume(text.strip())
        data = text.encode()
        args = ["start", "-", "--json"] + (["--exec"] if kind == "codex-exec" else [])
        job = cli.ok(*args, input=data).json()
        assert job["prompt"] == text[:100] and job["prompt_bytes"] == len(data)  # the file has it all
        assert (project / ".codex-agent" / "jobs" / job["id"] / "prompt.txt").read_bytes() == data
        wanted = ["idle"] if kind == "codex" else ["completed", "failed"]
        done = cli.wait_status(job["id"], wanted, timeout=30)
        assert done["status"] in ("idle", "completed"), done
        assert f"sha256={sha(data)}]" in (done["summary"] or ""), (text, done["summary"])
        cli.ok("kill", job["id"])
        tally.add("prompts")
        tally.add("bytes", len(data))

    check()
    tally.report()


def test_prompt_refusals(cli: CLI, project: Path) -> None:
    cases = [
        (b"before\x00after", "NUL"),
        (b"caf\xe9 au lait", "not valid UTF-8"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"ok \xed\xa0\x80 surrogate", "not valid UTF-8"),
    ]
    for data, fragment in cases:
        for extra in ([], ["--exec"]):
            assert_one_line_refusal(cli.run("start", "-", *extra, input=data), 2, fragment)
        (project / "prompt.bin").write_bytes(data)
        assert_one_line_refusal(cli.run("start", "@prompt.bin"), 2, fragment)
    assert not (project / ".codex-agent").exists()  # nothing was recorded


@pytest.mark.parametrize("kind", ["codex", "codex-exec"])
def test_one_megabyte_prompt_arrives_byte_exact(kind: str, cli: CLI) -> None:
    accents = "\u00e9" * 20
    lines = (f"line {n}: {accents} $(touch x) #(y) ;\t'\"\n" for n in itertools.count())
    text = ""
    while len(text.encode()) < 1_000_000:
        text += next(lines)
    data = text.encode()
    args = ["start", "-", "--json"] + (["--exec"] if kind == "codex-exec" else [])
    job = cli.ok(*args, input=data, timeout=120).json()
    wanted = ["idle"] if kind == "codex" else ["completed"]
    done = cli.wait_status(job["id"], wanted, timeout=90)
    assert f"sha256={sha(data)}]" in done["summary"], done["summary"][:200]
    assert done["prompt"] == text[:100] and done["prompt_bytes"] == len(data)


# --- messages through the delivery primitive -------------------------------------------------------------


def test_hostile_messages_arrive_byte_exact(cli: CLI, project: Path, canary: Path) -> None:
    tally = Tally("hostile-messages")
    job_id = cli.start("ready")["id"]
    cli.wait_status(job_id, ["idle"])
    counter = itertools.count(1)

    @REAL_PROCESSES
    @given(text=hostile_text(canary))
    def check(text: str) -> None:
        # A numbered prefix makes every message distinct, so each reply is told apart from the last.
        message = f"m{next(counter)} {text}"
        with jobs.opened(project) as opened:
            live.send_message(opened, job_id, message)  # through the keeper: no terminal sees it
        digest = sha(message.encode())

        def replied() -> bool:
            with jobs.opened(project) as opened:
                return f"sha256={digest}]" in (job_reads.get_job(opened, job_id).summary or "")

        wait_for(replied, timeout=30, what=f"the reply to {message!r}")
        tally.add("messages")
        tally.add("bytes", len(message.encode()))

    check()
    with jobs.opened(project) as opened:
        job = opened.store.find_job(job_id)
        refused = (("a\x00b", "NUL"), ("caf\udce9", "not valid UTF-8"))
        for bad, fragment in refused:
            with pytest.raises(UsageError, match=fragment):
                live.send_message(opened, job.id, bad)
        # What would end a bracketed paste early is plain text to the protocol: it arrives as it is.
        live.send_message(opened, job.id, "x\x1b[201~\rid\r")
        cli.wait_status(job_id, ["idle"], timeout=30)
        big = ("\u00e9t\u00e9 $(touch x) #(y)\n" * 60_000)[:1_000_000]
        live.send_message(opened, job.id, big)
    digest = sha(big.encode())
    wait_for(lambda: f"sha256={digest}]" in (cli.job(job_id)["summary"] or ""), timeout=90, what="1 MB reply")
    tally.add("megabyte_messages")
    tally.report()


# --- directories and the state directory path ------------------------------------------------------------


def hostile_name(canary: Path) -> st.SearchStrategy[str]:
    """A directory name: anything but '/' and NUL, at most 100 bytes."""
    text = hostile_text(canary, control=True).map(lambda s: s.replace("/", "_").replace("\x00", ""))
    return text.filter(lambda s: s not in (".", "..") and 0 < len(s.encode()) <= 100)


def test_hostile_directories_and_state_paths(
    cli: CLI, tmp_path: Path, canary: Path, tmux_socket: str
) -> None:
    tally = Tally("hostile-paths")
    base = tmp_path / "dirs"
    base.mkdir()
    where = tmp_path / "where.txt"
    counter = itertools.count()

    @REAL_PROCESSES
    @given(
        name=hostile_name(canary),
        extra=st.sampled_from(["", "-", ";", " ;", "\n", "-x;"]),
        use_env=st.booleans(),
    )
    def check(name: str, extra: str, use_env: bool) -> None:
        n = next(counter)
        directory = base / f"{n}" / (extra + name + extra if extra != "-" else "-" + name)
        directory.mkdir(parents=True)
        (directory / ".git").mkdir()  # the project root is this directory, whatever lies above it
        state_dir = (base / f"{n}" / f"state {name};") if use_env else directory / ".codex-agent"
        env = {"CODEX_AGENT_STATE_DIR": str(state_dir)} if use_env else {}
        where.unlink(missing_ok=True)
        result = cli.ok(
            "exec", "run", "--cmd", f"pwd -P > {where}; echo marker-{n}", "--dir", str(directory), "--json",
            env=env,
        )  # fmt: skip
        data = result.json()
        assert data["exit_code"] == 0, data
        assert f"marker-{n}" in data["output"]
        assert where.read_bytes() == os.fsencode(directory) + b"\n"
        job = cli.ok("status", data["exec_id"], "--json", "--dir", str(directory), env=env).json()
        assert job["cwd"] == str(directory)
        assert (state_dir / "jobs" / data["exec_id"] / "output.log").is_file()
        # The session knows its own state directory exactly, so `clean` treats it as this project's.
        session = panes(tmux_socket)[f"codex-agent-{data['exec_id']}"]
        assert session.state_dir == str(state_dir)
        report = cli.ok("clean", "--older-than", "0s", "--json", "--dir", str(directory), env=env).json()
        assert report["removed_jobs"] == [data["exec_id"]] and report["foreign_sessions"] == []
        # Nothing was made outside the state directory but agents.log (at the project root, by design).
        made = sorted(p.name for p in directory.iterdir())
        assert made == ([".git", "agents.log"] if use_env else [".codex-agent", ".git", "agents.log"])
        tally.add("paths")

    check()
    tally.report()


def test_hostile_directory_reaches_codex_exactly(cli: CLI, tmp_path: Path, canary: Path) -> None:
    """The TUI gets `-C DIR` and runs there; the rollout records the directory it was given."""
    name = "-a b;'\"$(touch pwned)`touch pwned`#(touch pwned)#{session_name}##[x%b%%\\;\nEnter;"
    directory = tmp_path / name
    directory.mkdir()
    (directory / ".git").mkdir()  # the project root is this directory, whatever lies above it
    here = CLI(cwd=directory)
    job = here.start("where am I")
    done = here.wait_status(job["id"], ["idle"])
    assert done["cwd"] == str(directory)
    home = Path(os.environ["CODEX_HOME"])
    (rollout,) = home.glob("sessions/*/*/*/rollout-*.jsonl")
    meta = json.loads(rollout.read_text().splitlines()[0])
    assert meta["payload"]["cwd"] == str(directory)
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_non_utf8_paths_are_refused(cli: CLI, tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(raw)
    directory = os.fsdecode(raw)
    result = cli.run("exec", "start", "--cmd", "true", "--dir", directory)
    assert_one_line_refusal(result, 2, "not valid UTF-8")
    result = cli.run("jobs", env={"CODEX_AGENT_STATE_DIR": directory + "/state"})
    assert_one_line_refusal(result, 2, "not valid UTF-8")
