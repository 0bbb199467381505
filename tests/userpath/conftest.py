"""The user-path tier: codex-agent installed the way users install it, never the editable checkout.

Each install lives in a fresh HOME with a minimal PATH (/usr/bin:/bin plus what the install adds), from a
wheel built here (`pip wheel .`) or by the README's own set-up command. Packages come from the wheelhouse
scripts/test gathers (PIP_FIND_LINKS, PIP_NO_INDEX): the run itself has no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import network_isolation_problem
from tests.helpers import REPO_ROOT
from tests.remote.sshd import (
    HarnessConfig,
    HarnessError,
    HarnessUnavailable,
    SshHarness,
    availability,
    provision,
    sweep_stale,
)

_HERE = Path(__file__).parent
FAKE_CODEX = REPO_ROOT / "tests" / "fakes" / "codex"
MINIMAL_PATH = "/usr/bin:/bin"
SYSTEM_PYTHON = "/usr/bin/python3"
_PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or os.path.expanduser("~/.cache/pip")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.userpath)


@dataclass
class FreshUser:
    """A HOME nobody has used, and the environment a new login shell there would have."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self,
        argv: list[str],
        *,
        cwd: Path | None = None,
        timeout: float = 600,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=cwd or self.home,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _package_index_env() -> dict[str, str]:
    wheelhouse = os.environ.get("CODEX_AGENT_WHEELHOUSE")
    if network_isolation_problem() is None:
        if not wheelhouse or not Path(wheelhouse).is_dir():
            pytest.skip("no network in this test run and no CODEX_AGENT_WHEELHOUSE: run scripts/test")
        return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheelhouse}
    keys = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CERT", "PIP_CONFIG_FILE")
    return {key: os.environ[key] for key in keys if key in os.environ}


def _same_python_as_the_wheelhouse() -> None:
    """Offline, installs come from wheels gathered for this python version: the system one must match."""
    if network_isolation_problem() is not None:
        return
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True
    )
    if probe.stdout.split() != [str(sys.version_info[0]), str(sys.version_info[1])]:
        pytest.skip(
            f"{SYSTEM_PYTHON} is {'.'.join(probe.stdout.split())}, the wheelhouse holds wheels for "
            f"{sys.version_info[0]}.{sys.version_info[1]}: run scripts/test with that python3"
        )


def fresh_user(home: Path, *path_before: Path) -> FreshUser:
    for tool in ("tmux", "git"):
        if not Path("/usr/bin", tool).exists():
            pytest.skip(f"the user-path tier needs {tool} in /usr/bin")
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"the user-path tier needs {SYSTEM_PYTHON}")
    _same_python_as_the_wheelhouse()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "PATH": os.pathsep.join([*map(str, path_before), MINIMAL_PATH]),
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "CODEX_AGENT_TMUX_SOCKET": f"ca-user-{uuid.uuid4().hex[:8]}",
        "PIP_CACHE_DIR": _PIP_CACHE,  # the throwaway HOME has no cache of its own
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHON": SYSTEM_PYTHON,  # python3 as a fresh machine has it, not a developer's pyenv shim
        **_package_index_env(),
    }
    return FreshUser(home, env)


def install_codex_double(folder: Path) -> Path:
    """`folder/codex`: the test double, with its modules beside it in `folder/fakes`. Its app-server speaks
    WebSocket, so it runs with a Python that has `websockets`: the user's own codex-agent's (a dependency),
    found where the installer or a wheel install put it, else this run's."""
    folder.mkdir(parents=True, exist_ok=True)
    fakes = folder / "fakes"
    shutil.rmtree(fakes, ignore_errors=True)
    shutil.copytree(FAKE_CODEX.parent, fakes, ignore=shutil.ignore_patterns("__pycache__"))
    candidates = f'"$HOME/.local/share/codex-agent/venv/bin/python" "$HOME/venv/bin/python" {sys.executable}'
    codex = folder / "codex"
    codex.unlink(missing_ok=True)
    codex.write_text(
        "#!/bin/sh\n"
        f"for py in {candidates}; do\n"
        f'  if "$py" -c "import websockets" 2>/dev/null; then exec "$py" {fakes / "codex"} "$@"; fi\n'
        "done\n"
        f'exec python3 {fakes / "codex"} "$@"\n'
    )
    codex.chmod(0o755)
    return codex


def codex_double_dir(base: Path) -> Path:
    """A folder holding `codex`: the test double, where a user's npm would have put the real one."""
    folder = base / "codex-bin"
    install_codex_double(folder)
    return folder


def clean_checkout(target: Path) -> Path:
    """A copy of this checkout as a clone would have it: no venvs, caches, state or build output."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv*", "__pycache__", "*_cache", ".codex-agent", "*.egg-info", "build", "dist"
    )
    shutil.copytree(REPO_ROOT, target, ignore=ignore)
    return target


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel .` of a clean copy of this checkout, as a user building one would get it."""
    base = tmp_path_factory.mktemp("wheel")
    source = clean_checkout(base / "source")
    env = {**os.environ, **_package_index_env()}
    result = subprocess.run(
        [SYSTEM_PYTHON, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "out"), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (base / "out").glob("codex_agent-*.whl")
    return wheel


@pytest.fixture(scope="session")
def wheel_user(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[FreshUser, Path]:
    """A fresh user who ran `python3 -m venv ~/venv && ~/venv/bin/pip install codex_agent-*.whl`.

    Returns the user (with the venv's bin folder and the codex double on PATH) and the venv folder."""
    home = tmp_path_factory.mktemp("wheel-user")
    venv = home / "venv"
    user = fresh_user(home, venv / "bin", codex_double_dir(home))
    made = user.run([SYSTEM_PYTHON, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    installed = user.run([str(venv / "bin" / "pip"), "install", "-q", str(built_wheel)])
    assert installed.returncode == 0, installed.stderr
    return user, venv


@pytest.fixture(scope="session")
def ssh_host() -> Iterator[SshHarness]:
    """One real sshd host in its own network namespace, with its own user and HOME (tests/remote/sshd.py)."""
    layout, reason = availability()
    if layout is None:
        pytest.skip(f"real OpenSSH hosts unavailable: {reason}")
    if layout != "netns":
        pytest.skip("installing on a host would touch this user's own HOME in loopback mode")
    sweep_stale()
    try:
        harness = provision(HarnessConfig(hosts=1))
    except HarnessUnavailable as exc:
        pytest.skip(f"real OpenSSH hosts unavailable: {exc}")
    except HarnessError as exc:
        pytest.fail(f"could not provision the OpenSSH test hosts: {exc}", pytrace=False)
    try:
        yield harness
    finally:
        harness.teardown()
