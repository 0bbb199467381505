"""What a new user does, on an install made the way users make one (see conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO_ROOT, wait_for
from tests.remote.sshd import SshHarness, SshHost

from .conftest import (
    SYSTEM_PYTHON,
    FreshUser,
    clean_checkout,
    codex_double_dir,
    fresh_user,
    install_codex_double,
)


def readme_setup_command() -> str:
    """The first command of the README's "Set up" section, exactly as a user would paste it."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("\n## Set up\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "the Set up section has no bash block"
    return block.group(1).strip().splitlines()[0]


def test_the_readme_setup_command_works_pasted_into_a_fresh_shell(tmp_path: Path) -> None:
    command = readme_setup_command()
    home = tmp_path / "home"
    user = fresh_user(home, codex_double_dir(tmp_path))
    checkout = clean_checkout(home / "codex-agent")  # `git clone … && cd codex-agent`, without the network
    result = user.run(["bash", "--noprofile", "--norc", "-c", command], cwd=checkout)
    # Shown in the report of the run (pytest -rP / on failure): what the user sees.
    print(f"$ {command}\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (home / ".local" / "bin" / "codex-agent").exists()
    assert "installed codex-agent" in result.stdout
    assert "run `codex login` once" in result.stderr  # the fresh HOME has no stored login
    job_id = re.search(r"\b([0-9a-f]{8})\b", result.stdout.split("ready:", 1)[1])
    assert job_id is not None, result.stdout
    exe = str(home / ".local" / "bin" / "codex-agent")

    def ended() -> dict[str, object] | None:
        shown = user.run([exe, "status", job_id.group(1), "--json"], cwd=checkout)
        job = json.loads(shown.stdout) if shown.returncode == 0 else None
        return job if job and job["status"] in ("completed", "failed") else None

    job = wait_for(ended, timeout=60, what="the first job to end")
    assert job["status"] == "completed" and job["exit_code"] == 0, job
    again = user.run(["bash", "--noprofile", "--norc", "-c", command], cwd=checkout)
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout + again.stderr


def test_a_wheel_install_runs_a_job(wheel_user: tuple[FreshUser, Path], tmp_path: Path) -> None:
    user, venv = wheel_user
    folder = tmp_path / "work"
    folder.mkdir()
    ran = user.run(["codex-agent", "exec", "run", "--cmd", "echo hello from a wheel"], cwd=folder)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "hello from a wheel"
    site = next((venv / "lib").glob("python3*/site-packages/codex_agent"))
    assert not (site.parent / "codex_agent.pth").exists()  # a real install, not a link to the checkout


def test_an_empty_git_folder_above_does_not_capture_a_wheel_users_jobs(
    wheel_user: tuple[FreshUser, Path], tmp_path: Path
) -> None:
    user, _ = wheel_user
    (tmp_path / ".git").mkdir()  # a stray one, as left in /tmp by some tool
    folder = tmp_path / "scratch"
    folder.mkdir()
    ran = user.run(["codex-agent", "exec", "run", "--cmd", "true"], cwd=folder)
    assert ran.returncode == 0, ran.stderr
    assert (folder / ".codex-agent").is_dir()
    assert not (tmp_path / ".codex-agent").exists() and not (tmp_path / "agents.log").exists()


@dataclass
class Box:
    """A machine added with `--accept-new-host-key` and made ready by `machine up`, from the wheel."""

    user: FreshUser
    env: dict[str, str]
    host: SshHost
    added: subprocess.CompletedProcess[str]
    up: dict[str, Any]


@pytest.fixture(scope="module")
def box(
    wheel_user: tuple[FreshUser, Path], ssh_host: SshHarness, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Box]:
    user, _ = wheel_user
    base = tmp_path_factory.mktemp("box")
    host = ssh_host.hosts[0]
    # The harness's client config, with a known_hosts that does not know the host yet: a new user's.
    config = base / "ssh_config"
    known_hosts = base / "known_hosts"
    config.write_text(ssh_host.client_config.read_text().replace(str(ssh_host.known_hosts), str(known_hosts)))
    control = Path(tempfile.mkdtemp(prefix="ca-up-", dir="/tmp"))  # short: ssh control socket paths
    env = {"CODEX_AGENT_SSH_CONTROL_DIR": str(control), "CODEX_AGENT_CACHE_DIR": str(base / "cache")}
    try:
        added = user.run(
            ["codex-agent", "machine", "add", "box", "--host", host.alias, "--ssh-config", str(config),
             "--accept-new-host-key"],
            extra_env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        up = user.run(["codex-agent", "machine", "up", "box", "--json"], timeout=900, extra_env=env)
        assert up.returncode == 0, up.stderr
        # The test double stands in for codex on the host; the host user's env file says where it is.
        assert host.uid is not None
        codex = install_codex_double(host.home / "bin")
        env_file = host.home / ".config" / "codex-agent" / "env"
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text(f"CODEX_AGENT_CODEX_BIN={codex}\n")
        for path in (
            host.home / "bin",
            *(host.home / "bin").rglob("*"),
            host.home / ".config",
            env_file.parent,
        ):
            os.chown(path, host.uid, host.uid)
        os.chown(env_file, host.uid, host.uid)
        yield Box(user, env, host, added, json.loads(up.stdout))
    finally:
        shutil.rmtree(control, ignore_errors=True)
        ssh_host.close_masters()


def test_machine_add_accept_new_host_key_records_the_key_and_prints_its_fingerprint(box: Box) -> None:
    public = box.host.host_key.with_suffix(".pub")
    expected = subprocess.run(["ssh-keygen", "-lf", str(public)], capture_output=True, text=True, check=True)
    fingerprint = expected.stdout.split()[1]
    assert fingerprint.startswith("SHA256:")
    assert f"host key of {box.host.alias}: {fingerprint}" in box.added.stderr
    assert "added machine box" in box.added.stdout


def test_machine_up_and_check_from_a_wheel_install(box: Box) -> None:
    report = box.up
    assert report["action"] == "installed"
    assert any(name.startswith("codex_agent-") for name in report["sent"])
    # No source tree: the wheel was packed again from this install.
    cache = Path(box.env["CODEX_AGENT_CACHE_DIR"])
    assert list((cache / "wheels").glob("*/codex_agent-*-py3-none-any.whl"))
    check = box.user.run(["codex-agent", "machine", "check", "box", "--json"], extra_env=box.env)
    checked = json.loads(check.stdout)
    assert checked["daemon_ok"] and checked["same_build"] and checked["tmux_ok"], checked
    assert check.returncode == 0 and checked["ready"], checked
    remote = box.user.run(
        ["codex-agent", "exec", "run", "--cmd", "echo on the host", "--machine", "box"], extra_env=box.env
    )
    assert remote.returncode == 0 and remote.stdout.strip() == "on the host", remote.stderr


def test_start_on_a_machine_syncs_the_project_at_a_ref_and_starts_there(box: Box, tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (project / "README.md").write_text("first\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    (project / "README.md").write_text("second\n")
    subprocess.run([*git, "commit", "-qam", "second"], check=True)

    started = box.user.run(
        ["codex-agent", "start", "--machine", "box", "--project", str(project), "--ref", "v1", "--exec",
         "--json", "WRITE made.txt"],
        cwd=project,
        extra_env=box.env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    job = json.loads(started.stdout)
    assert job["kind"] == "codex-exec" and job["cwd"].endswith("/app")

    def ended() -> dict[str, Any] | None:
        shown = box.user.run(
            ["codex-agent", "status", job["id"], "--machine", "box", "--json"], extra_env=box.env
        )
        data: dict[str, Any] = json.loads(shown.stdout) if shown.returncode == 0 else {}
        return data if data.get("status") in ("completed", "failed") else None

    done = wait_for(ended, timeout=60, what="the remote agent's end")
    assert done["status"] == "completed", done
    host_copy = Path(job["cwd"])
    assert (host_copy / "README.md").read_text() == "first\n"  # the project as of --ref v1
    assert (host_copy / "made.txt").exists()
    pulled = box.user.run(
        ["codex-agent", "pull", "--machine", "box", job["id"], "--json"], cwd=project, extra_env=box.env
    )
    assert pulled.returncode == 0, pulled.stderr
    branch = json.loads(pulled.stdout)["branch"]
    files = subprocess.run([*git, "show", "--name-only", "--format=", branch], capture_output=True, text=True)
    assert "made.txt" in files.stdout


def test_the_readme_install_without_codex_and_npm_says_what_to_do(tmp_path: Path) -> None:
    """A machine with neither codex nor npm: the install succeeds and names the next step precisely."""
    home = tmp_path / "home"
    shadow = tmp_path / "bin"
    shadow.mkdir()
    for entry in list(Path("/usr/bin").iterdir()) + list(Path("/bin").iterdir()):
        if entry.name not in ("npm", "node", "codex") and not (shadow / entry.name).exists():
            (shadow / entry.name).symlink_to(entry)
    user = fresh_user(home)
    user.env["PATH"] = str(shadow)
    checkout = clean_checkout(home / "codex-agent")
    install_only = readme_setup_command().split(" && ")[0]
    result = user.run(["bash", "--noprofile", "--norc", "-c", install_only], cwd=checkout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Install Node.js first" in result.stderr and "npm install --global --prefix" in result.stderr


def _kill_processes_of(uid: int) -> None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                owner = entry.stat().st_uid
            except OSError:
                continue
            if owner == uid:
                with contextlib.suppress(OSError):
                    os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture
def unprivileged_user() -> Iterator[tuple[int, int, Path]]:
    """A throwaway Unix user without sudo, and a folder of its own under /tmp to work in."""
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("setpriv") is None:
        pytest.skip("making a user without sudo needs root, useradd and setpriv")
    name = f"ca-np-{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/bash", name], check=True)
    base = Path(tempfile.mkdtemp(prefix="ca-np-", dir="/tmp"))
    try:
        uid, gid = pwd.getpwnam(name).pw_uid, pwd.getpwnam(name).pw_gid
        os.chmod(base, 0o755)
        os.chown(base, uid, gid)
        yield uid, gid, base
    finally:
        _kill_processes_of(pwd.getpwnam(name).pw_uid)  # its tmux server and jobs: all started here
        subprocess.run(["userdel", name], check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_the_readme_setup_command_works_for_a_user_without_sudo(
    unprivileged_user: tuple[int, int, Path],
) -> None:
    uid, gid, base = unprivileged_user
    home = base / "home"
    user = fresh_user(home)
    # Everything this user reads is its own: the checkout, the codex double, the wheels to install from.
    checkout = clean_checkout(home / "codex-agent")
    codex_bin = codex_double_dir(base)  # its files, copied here, become the user's below
    if "PIP_FIND_LINKS" in user.env:
        shutil.copytree(user.env["PIP_FIND_LINKS"], base / "wheels")
        user.env["PIP_FIND_LINKS"] = str(base / "wheels")
    user.env.update(PATH=f"{codex_bin}:{user.env['PATH']}", PIP_CACHE_DIR=str(base / "pip-cache"))
    subprocess.run(["chown", "-R", f"{uid}:{gid}", str(base)], check=True)
    command = readme_setup_command()
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    result = user.run([*as_user, "bash", "--noprofile", "--norc", "-c", command], cwd=checkout)
    print(f"$ {command}   # as uid {uid}, no sudo\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing tmux" not in result.stdout + result.stderr  # nothing system-wide was attempted
    assert re.search(r"started job [0-9a-f]{8}", result.stdout), result.stdout
    exe = home / ".local" / "bin" / "codex-agent"
    assert exe.stat().st_uid == uid or exe.lstat().st_uid == uid


def test_machine_up_from_an_install_without_pip_as_uv_tool_makes_it(
    box: Box, built_wheel: Path, tmp_path: Path
) -> None:
    """A `uv tool` environment has no pip: the wheel is packed from the install, `pip download` runs with
    python3's pip."""
    venv = tmp_path / "tool-env"
    made = box.user.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    put = box.user.run(
        [
            SYSTEM_PYTHON,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            str(built_wheel),
        ]
    )
    assert put.returncode == 0, put.stderr
    assert box.user.run([str(venv / "bin" / "python"), "-c", "import pip"]).returncode != 0
    env = {**box.env, "CODEX_AGENT_CACHE_DIR": str(tmp_path / "cache")}  # nothing cached: pack it again
    up = box.user.run(
        [str(venv / "bin" / "codex-agent"), "machine", "up", "box", "--force", "--json"], extra_env=env
    )
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["action"] == "updated"
    assert list((tmp_path / "cache" / "wheels").glob("*/codex_agent-*-py3-none-any.whl"))
