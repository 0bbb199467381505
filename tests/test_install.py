"""scripts/install.sh in a throwaway HOME: installs, is idempotent, and names what is missing precisely.

The install itself (a private venv: the method used when neither pipx nor uv is present) happens once per
session; the other tests run the script again over it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from codex_agent import __version__
from tests.conftest import network_isolation_problem
from tests.helpers import REPO_ROOT

INSTALL = REPO_ROOT / "scripts" / "install.sh"
FAKE_CODEX = REPO_ROOT / "tests" / "fakes" / "codex"
# Resolved at import, before the per-test fixtures replace PATH-related variables.
_PATH = os.environ.get("PATH", "/usr/bin:/bin")
_PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or os.path.expanduser("~/.cache/pip")


@dataclass
class Install:
    home: Path
    env: dict[str, str]
    first: subprocess.CompletedProcess[str]

    @property
    def bin_dir(self) -> Path:
        return self.home / ".local" / "bin"

    @property
    def data_dir(self) -> Path:
        return self.home / ".local" / "share" / "codex-agent"

    def run(self, **changes: str | None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return subprocess.run(
            ["bash", str(INSTALL)], cwd=self.home, env=env, capture_output=True, text=True, timeout=600
        )


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    if shutil.which("tmux") is None or shutil.which("git") is None:
        pytest.skip("needs tmux and git on PATH")
    home = tmp_path_factory.mktemp("install-home")
    env = {
        "HOME": str(home),
        "PATH": _PATH,
        "SHELL": "/bin/bash",
        "CODEX_AGENT_INSTALL_METHOD": "venv",
        "CODEX_AGENT_CODEX_BIN": str(FAKE_CODEX),
        "CODEX_AGENT_TMUX_SOCKET": f"ca-install-{uuid.uuid4().hex[:8]}",
        "NO_COLOR": "1",
        "PIP_CACHE_DIR": _PIP_CACHE,  # the user's own pip cache: the throwaway HOME has none
    }
    wheelhouse = os.environ.get("CODEX_AGENT_WHEELHOUSE")
    if network_isolation_problem() is None:
        # The test run has no network: install from the wheels scripts/test gathered beforehand.
        if not wheelhouse or not Path(wheelhouse).is_dir():
            pytest.skip("no network in this test run and no CODEX_AGENT_WHEELHOUSE: run scripts/test")
        env.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheelhouse})
    else:
        for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CERT", "PIP_CONFIG_FILE"):
            if key in os.environ:
                env[key] = os.environ[key]  # the machine's package index settings, if any
    install = Install(home, env, subprocess.CompletedProcess([], 0, "", ""))
    install.first = install.run()
    return install


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and link under root, with size and modification time (in ns)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return found


def test_first_run_installs_a_working_command(installed: Install) -> None:
    first = installed.first
    assert first.returncode == 0, first.stderr + first.stdout
    assert "installed codex-agent" in first.stdout
    exe = installed.bin_dir / "codex-agent"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"codex-agent {__version__}"
    assert (installed.data_dir / "venv" / "bin" / "python").exists()
    assert "codex ok" in first.stdout and "tmux  ok" in first.stdout  # it ended with `codex-agent health`


def test_second_run_changes_nothing(installed: Install) -> None:
    before = snapshot(installed.home / ".local")
    again = installed.run()
    assert again.returncode == 0, again.stderr + again.stdout
    assert "nothing changed" in again.stdout
    assert "installing" not in again.stdout
    assert snapshot(installed.home / ".local") == before


def test_says_exactly_what_to_add_to_path(installed: Install) -> None:
    line = f"echo 'export PATH=\"{installed.bin_dir}:$PATH\"' >> {installed.home}/.bashrc"
    assert line in installed.first.stdout
    on_path = installed.run(PATH=f"{installed.bin_dir}:{_PATH}")
    assert "not on your PATH" not in on_path.stdout


def _path_without(tmp_path: Path, *names: str) -> str:
    """A PATH with everything of the current one except the named programs."""
    shadow = tmp_path / "bin"
    shadow.mkdir()
    for directory in reversed(_PATH.split(os.pathsep)):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            if entry.name not in names and os.access(entry.path, os.X_OK):
                target = shadow / entry.name
                target.unlink(missing_ok=True)
                target.symlink_to(entry.path)
    return str(shadow)


def _fake_tool(folder: Path, name: str, body: str) -> Path:
    """A stand-in for a system tool: records its argv in FOLDER/NAME.calls, then runs `body` (sh)."""
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{folder}/{name}.calls"\n{body}\n')
    tool.chmod(0o755)
    return folder / f"{name}.calls"


def test_missing_codex_is_installed_with_npm_into_the_user_prefix(installed: Install, tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    # What npm would do with --global --prefix P: put the package's command in P/bin.
    calls = _fake_tool(
        fakes,
        "npm",
        'while [ $# -gt 0 ]; do [ "$1" = --prefix ] && prefix=$2; shift; done\n'
        f'mkdir -p "$prefix/bin" && ln -sf {FAKE_CODEX} "$prefix/bin/codex"',
    )
    shadow = _path_without(tmp_path, "codex", "npm", "sudo")
    codex = installed.home / ".local" / "bin" / "codex"
    try:
        result = installed.run(CODEX_AGENT_CODEX_BIN=None, PATH=f"{fakes}:{shadow}")
        assert result.returncode == 0, result.stderr + result.stdout
        version = (REPO_ROOT / "scripts" / "codex-version").read_text().strip()
        argv = calls.read_text().split()
        assert argv[:3] == ["install", "--global", "--prefix"] and argv[3] == str(installed.home / ".local")
        assert f"@openai/codex@{version}" in argv
        assert codex.is_symlink()
        assert "codex ok" in result.stdout  # health found it, in the bin folder the install names
        assert "run `codex login` once" in result.stderr  # the throwaway HOME has no stored login
    finally:
        codex.unlink(missing_ok=True)


def test_missing_codex_without_npm_is_named_and_the_install_still_succeeds(
    installed: Install, tmp_path: Path
) -> None:
    result = installed.run(CODEX_AGENT_CODEX_BIN=None, PATH=_path_without(tmp_path, "codex", "npm"))
    assert result.returncode == 0, result.stderr + result.stdout  # codex-agent is usable: plain commands
    assert "Install Node.js first" in result.stderr
    assert f"npm install --global --prefix {installed.home}/.local @openai/codex@" in result.stderr
    assert "codex MISSING" in result.stdout


def test_missing_tmux_without_root_gets_this_machines_package_command(
    installed: Install, tmp_path: Path
) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip("the expected hint below is the apt-get one")
    result = installed.run(PATH=_path_without(tmp_path, "tmux", "brew"), CODEX_AGENT_SYSTEM_PACKAGES="no")
    assert "tmux is missing" in result.stderr
    assert "sudo apt-get install -y tmux" in result.stderr
    assert result.returncode == 6


def test_missing_tmux_as_root_is_installed_with_the_package_manager(
    installed: Install, tmp_path: Path
) -> None:
    fakes = tmp_path / "fakes"
    calls = _fake_tool(
        fakes, "apt-get", f'[ "$1" = install ] && ln -sf {shutil.which("tmux")} "{fakes}/tmux"; exit 0'
    )
    shadow = _path_without(tmp_path, "tmux", "apt-get", "dnf", "yum", "zypper", "pacman", "apk", "brew")
    result = installed.run(PATH=f"{fakes}:{shadow}", CODEX_AGENT_SYSTEM_PACKAGES="yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq tmux"]
    assert "tmux is missing" not in result.stderr
    assert "tmux  ok" in result.stdout


def test_missing_venv_support_as_root_is_installed_with_apt_get(installed: Install, tmp_path: Path) -> None:
    """Debian and Ubuntu ship `python3 -m venv` apart: as root the script adds python3-venv and retries."""
    if shutil.which("apt-get") is None:
        pytest.skip("the python3-venv package is an apt-get one")
    fakes = tmp_path / "fakes"
    marker = tmp_path / "venv-support-installed"
    calls = _fake_tool(fakes, "apt-get", f'[ "$1" = install ] && touch "{marker}"; exit 0')
    python = fakes / "python3-without-venv"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = -m ] && [ "$2" = venv ] && [ ! -e "{marker}" ]; then\n'
        '    echo "ensurepip is not available" >&2\n'
        "    exit 1\n"
        "fi\n"
        'exec python3 "$@"\n'
    )
    python.chmod(0o755)
    shadow = _path_without(tmp_path, "apt-get", "dnf", "yum", "zypper", "pacman", "apk", "brew")
    result = installed.run(
        PATH=f"{fakes}:{shadow}",
        PYTHON=str(python),
        CODEX_AGENT_SYSTEM_PACKAGES="yes",
        CODEX_AGENT_HOME=str(tmp_path / "data"),
        CODEX_AGENT_BIN_DIR=str(tmp_path / "bin"),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq python3-venv"]
    assert (tmp_path / "bin" / "codex-agent").exists()


def test_a_changed_checkout_is_installed_again(installed: Install, tmp_path: Path) -> None:
    """Runs last: it replaces the session's install with one from a modified copy of the checkout."""
    copy = tmp_path / "checkout"
    ignore = shutil.ignore_patterns(".git", ".venv*", "__pycache__", "*_cache", ".codex-agent", "*.egg-info")
    shutil.copytree(REPO_ROOT, copy, ignore=ignore)
    marker = f"# changed {uuid.uuid4().hex}\n"
    with (copy / "codex_agent" / "errors.py").open("a") as handle:
        handle.write(marker)
    result = subprocess.run(
        ["bash", str(copy / "scripts" / "install.sh")],
        cwd=installed.home,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"installing codex-agent from {copy}" in result.stdout
    installed_errors = list((installed.data_dir / "venv").rglob("site-packages/codex_agent/errors.py"))
    assert len(installed_errors) == 1 and installed_errors[0].read_text().endswith(marker)
