"""Security: private state even under umask 000, secrets from the environment never written by codex-agent,
a private tmux socket, and no shell string built from user text anywhere in the package."""

from __future__ import annotations

import ast
import contextlib
import itertools
import os
import stat
import subprocess
import sys
from pathlib import Path

from codex_agent import procs
from tests.helpers import CLI, REPO_ROOT, Result
from tests.reliability.support import pane_pid, panes

PACKAGE = REPO_ROOT / "codex_agent"


def run_with_umask_0(cli: CLI, *args: str, env: dict[str, str] | None = None) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "codex_agent", *args],
        cwd=cli.cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        capture_output=True,
        preexec_fn=lambda: os.umask(0),
        check=False,
    )
    return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))


def test_state_is_private_under_umask_000(cli: CLI, project: Path, tmux_socket: str) -> None:
    def ok(*args: str) -> Result:
        result = run_with_umask_0(cli, *args)
        assert result.code == 0, result
        return result

    # The first command also starts the tmux server, so the panes inherit umask 000 too.
    command = ok("exec", "start", "--cmd", "echo hi > made-by-the-command.txt; exit 3").out.strip()
    tui = ok("start", "hello", "--json")
    exec_job = ok("start", "--exec", "hi", "--json")
    cli.wait_status(command, ["failed"])
    cli.wait_status(exec_job.json()["id"], ["completed"])
    cli.wait_status(tui.json()["id"], ["idle"])
    ok("kill", tui.json()["id"])
    ok("jobs", "--json")
    ok("clean", "--older-than", "3650d")
    state_dir = project / ".codex-agent"
    checked = 0
    for path in [state_dir, *state_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        assert mode == wanted, f"{path} has mode {oct(mode)}, wanted {oct(wanted)}"
        checked += 1
    assert checked > 15
    # What the command itself made is the command's business: it got the umask it was started with.
    assert stat.S_IMODE((project / "made-by-the-command.txt").stat().st_mode) == 0o666

    # tmux's socket is private to the user: its folder is 0700 and ours (tmux refuses any other), and the
    # socket itself gives others nothing (tmux leaves group bits on it; the folder keeps the group out).
    socket = Path(f"/tmp/tmux-{os.getuid()}") / tmux_socket
    folder = socket.parent.stat()
    assert stat.S_IMODE(folder.st_mode) == 0o700 and folder.st_uid == os.getuid()
    assert stat.S_IMODE(socket.stat().st_mode) & 0o007 == 0


def test_secrets_in_the_environment_are_never_written(cli: CLI, project: Path, tmux_socket: str) -> None:
    canaries = {
        "OPENAI_API_KEY": "sk-canary-" + os.urandom(8).hex(),
        "ANTHROPIC_API_KEY": "sk-canary-" + os.urandom(8).hex(),
        "GITHUB_TOKEN": "ghp-canary-" + os.urandom(8).hex(),
        "MY_SERVICE_TOKEN": "tok-canary-" + os.urandom(8).hex(),
    }
    outputs: list[str] = []

    def ok(*args: str) -> Result:
        result = cli.run(*args, env=canaries)
        assert result.code == 0, result
        outputs.extend([result.out, result.err])
        return result

    tui = ok("start", "hello", "--json").json()["id"]
    exec_job = ok("start", "--exec", "hello", "--json").json()["id"]
    command = ok("exec", "start", "--cmd", "env > seen-by-the-command.txt", "--json").json()["exec_id"]
    ok("exec", "run", "--cmd", "echo done", "--json")
    ok("start", "--dry-run", "--json", "x")
    cli.wait_status(tui, ["idle"])
    cli.wait_status(exec_job, ["completed"])
    cli.wait_status(command, ["completed"])
    for args in (("jobs", "--json", "--all"), ("status", tui, "--json"), ("sessions", "--json"), ("health",)):
        result = cli.run(*args, env=canaries)
        outputs.extend([result.out, result.err])
    ok("kill", tui, "--json")
    ok("clean", "--older-than", "3650d", "--json")

    # The agent did get them (through the FIFO, never a file)...
    seen = (project / "seen-by-the-command.txt").read_text()
    assert all(f"{name}={value}" in seen for name, value in canaries.items())
    # ...and codex-agent wrote them nowhere: not its outputs, not its state, not its logs.
    state_dir = project / ".codex-agent"
    files = [
        path
        for path in state_dir.rglob("*")
        if path.is_file() and path.name != "output.log"  # the agent's own output is the agent's business
    ]
    assert any(path.name == "state.db" for path in files) and any(p.name == "launch.json" for p in files)
    for value in canaries.values():
        assert all(value not in text for text in outputs), value
        for path in files:
            assert value.encode() not in path.read_bytes(), f"{path} holds a secret"
    assert not list(state_dir.rglob("env.fifo")), "an environment hand-over was left behind"


# --- no shell strings -------------------------------------------------------------------------------------

# Deliberate shell use, each with its reason. The test fails if one of these disappears (keep this list true).
ALLOWED_SHELL = {
    ("tmux.py", "new_session"): "pipe-pane only takes a shell command; its one variable part is our own "
    "log path, shlex-quoted and escaped for tmux's format expansion",
    ("jobs.py", "plan_start"): "`exec --cmd` jobs run the user's own command line with their own $SHELL "
    "by design (the option's documented meaning); codex-agent adds nothing to that text",
    (
        "oncomplete.py",
        "notify",
    ): "`--notify-on-complete CMD` is the user's own command line, run by their $SHELL "
    "like `exec --cmd`; the job's facts reach it only as environment variables",
    # Argument lists held in a variable (the checker cannot see through the name): each is built as a list.
    ("agents/streams.py", "relay"): "the command's argument list from the launch spec",
    ("dashboard/actions.py", "action_attach"): "Tmux.attach_argv(): [tmux, (-L socket), attach, -t, session]",
    ("remote/host_agent.py", "_version_of"): "a fixed [program, --version] list",
    (
        "remote/host_agent.py",
        "_step",
    ): "fixed pip/venv argument lists; the remote call's JSON arrives on stdin",
    (
        "remote/ssh.py",
        "run",
    ): "[ssh, options..., destination, --, fixed remote command]; user text goes on stdin",
    ("remote/ssh.py", "_effective_config"): "base_argv() with -G: [ssh, options..., destination]",
    ("remote/ssh.py", "control"): "[ssh, -O, check|exit, options..., destination]",
}
SUBPROCESS_FUNCTIONS = {"run", "Popen", "call", "check_call", "check_output"}
ALWAYS_SHELL = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
}


def _shell_uses(path: Path) -> list[tuple[str, int, str]]:
    """(enclosing function, line, what) for every shell invocation or shell-looking command in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
            if isinstance(child, ast.Call):
                func = child.func
                owner = (
                    func.value.id
                    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    else ""
                )
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if (owner, name) in ALWAYS_SHELL or (name.startswith("spawn") and owner == "os"):
                    found.append((scope, child.lineno, f"{owner}.{name}"))
                if name == "create_subprocess_shell":
                    found.append((scope, child.lineno, name))
                for keyword in child.keywords:
                    if keyword.arg == "shell" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                    ):
                        found.append((scope, child.lineno, "shell=True"))
                if owner == "subprocess" and name in SUBPROCESS_FUNCTIONS and child.args:
                    first = child.args[0]
                    if not isinstance(first, (ast.List, ast.Tuple)):
                        found.append((scope, child.lineno, f"subprocess.{name} with a non-list command"))
            if isinstance(child, (ast.List, ast.Tuple)):
                items = child.elts
                for before, item in itertools.pairwise(items):
                    is_c = isinstance(item, ast.Constant) and item.value == "-c"
                    shell_name = (
                        isinstance(before, ast.Constant)
                        and isinstance(before.value, str)
                        and Path(before.value).name in ("sh", "bash", "zsh", "dash")
                    ) or (isinstance(before, ast.Name) and before.id == "shell")
                    if is_c and shell_name:
                        found.append((scope, child.lineno, "a shell with -c"))
                if any(isinstance(item, ast.Constant) and item.value == "pipe-pane" for item in items):
                    found.append((scope, child.lineno, "tmux pipe-pane (runs a shell command)"))
            visit(child, inner)

    visit(tree, "<module>")
    return found


def test_no_shell_string_is_built_from_user_text() -> None:
    uses: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = str(path.relative_to(PACKAGE))
        for scope, line, what in _shell_uses(path):
            uses.setdefault((relative, scope), []).append(f"line {line}: {what}")
    unexpected = {key: value for key, value in uses.items() if key not in ALLOWED_SHELL}
    assert not unexpected, f"shell use outside the allow-list: {unexpected}"
    stale = set(ALLOWED_SHELL) - set(uses)
    assert not stale, f"allow-list entries with no shell use any more (remove them): {stale}"


def test_the_shell_detector_detects(tmp_path: Path) -> None:
    """The checker itself finds each forbidden form (so a clean result means something)."""
    sample = tmp_path / "shell_sample.py"
    sample.write_text(
        "import os, subprocess\n"
        "def f(text, shell):\n"
        "    subprocess.run(f'echo {text}', shell=True)\n"
        "    subprocess.check_output('ls ' + text)\n"
        "    os.system(text)\n"
        "    os.popen(text)\n"
        "    subprocess.Popen(['/bin/sh', '-c', text])\n"
        "    subprocess.run([shell, '-c', text])\n"
        "    subprocess.run(['ls', text])\n"
    )
    whats = [what for _scope, _line, what in _shell_uses(sample)]
    assert whats.count("shell=True") == 1
    assert whats.count("subprocess.run with a non-list command") == 1
    assert whats.count("subprocess.check_output with a non-list command") == 1
    assert "os.system" in whats and "os.popen" in whats
    assert whats.count("a shell with -c") == 2
    assert len(whats) == 7


def test_pane_processes_never_see_a_shell_built_from_the_prompt(
    cli: CLI, project: Path, tmux_socket: str
) -> None:
    """The pane runs the keeper with an argument list, and no process of the job (the keeper, codex's
    app-server, the TUI) has the prompt in its command line: it goes to codex through the protocol."""
    job = cli.start("$(touch pwned) ; `touch pwned` #(touch pwned)")
    cli.wait_status(job["id"], ["idle"])
    keeper = pane_pid(panes(tmux_socket)[f"codex-agent-{job['id']}"])
    cmdline = Path(f"/proc/{keeper}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-m", b"codex_agent.keeper"], cmdline
    for pid in [keeper, *procs.descendants(keeper)]:
        with contextlib.suppress(OSError):
            assert b"touch" not in Path(f"/proc/{pid}/cmdline").read_bytes(), pid
    assert not (project / "pwned").exists() and not Path("pwned").exists()
