"""`machine up`: make a host ready, without the host needing any network of its own.

1. Look at the host (python3 version and platform, tmux, git, what is installed) with host_agent.py, sent
   through a fixed bootstrap command.
2. If the host already runs this version and build of codex-agent: nothing to do.
3. Otherwise take a wheel of the running codex-agent (cached by build): CODEX_AGENT_WHEEL if set; built with
   `pip wheel --no-deps` from a source checkout; else, for any installed copy (pipx, `uv tool`, a venv, a
   wheel installed with pip), packed again from the installed files and their dist-info. Then download its
   dependencies locally as wheels for the host's python and platform (`pip download`, cached), send the
   wheels the host does not have yet, and install them in a per-user venv on the host
   (`~/.local/share/codex-agent/venv`, `pip install --no-index --find-links`).
4. Call the installed codex-agent once to prove it answers with the expected version and build.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codex_agent import __version__
from codex_agent.errors import MissingDependencyError, RemoteError, UsageError
from codex_agent.remote import forward, ssh, ssh_errors, ssh_options
from codex_agent.remote.machines import Machine
from codex_agent.remote.protocol import build_id

# The one command line used before codex-agent exists on the host: read a length, then that much Python.
BOOTSTRAP_COMMAND = "python3 -c 'import sys;exec(sys.stdin.buffer.read(int(sys.stdin.buffer.readline())))'"
WHEEL_ENV = "CODEX_AGENT_WHEEL"
CACHE_ENV = "CODEX_AGENT_CACHE_DIR"
PIP_TIMEOUT_S = 600


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "codex-agent"


def host_agent(
    machine: Machine, header: dict[str, Any], files: Sequence[Path] = (), timeout_s: float = 60
) -> Any:
    """Run host_agent.py on the machine with `header` (and the files after it); return its JSON answer."""
    source = (Path(__file__).parent / "host_agent.py").read_bytes()
    parts = [str(len(source)).encode() + b"\n", source, json.dumps(header).encode() + b"\n"]
    parts += [path.read_bytes() for path in files]
    outcome = ssh.run(machine, BOOTSTRAP_COMMAND, stdin=b"".join(parts), timeout_s=timeout_s)
    if outcome.returncode != 0:
        if outcome.returncode == 127 and "python3" in outcome.stderr:
            raise ssh_errors.RemoteNotReadyError(
                f"{machine.name}: python3 is not installed on the host",
                "install python3 (3.10 or newer) there",
            )
        raise ssh_errors.failure(machine, outcome.returncode, outcome.stderr)
    try:
        answer = json.loads(outcome.stdout.decode(errors="replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RemoteError(
            f"{machine.name}: the host's python3 gave no usable answer",
            (outcome.stderr.strip().splitlines() or ["is python3 there 3.10 or newer?"])[-1],
        ) from None
    if not answer.get("ok"):
        raise ssh_errors.RemoteNotReadyError(
            f"{machine.name}: {answer.get('error')}", "see docs/remote.md, `machine up`"
        )
    return answer


def probe(machine: Machine) -> dict[str, Any]:
    answer: dict[str, Any] = host_agent(machine, {"action": "probe"})
    return answer


# --- local wheels ------------------------------------------------------------------------------------------


def _pip_python() -> str:
    """An interpreter that has pip: this one, or (in a `uv tool` environment, which has none) python3."""
    if importlib.util.find_spec("pip") is not None:
        return sys.executable
    for name in ("python3", "python"):
        found = shutil.which(name)
        if (
            found
            and subprocess.run([found, "-c", "import pip"], capture_output=True, check=False).returncode == 0
        ):
            return found
    return sys.executable  # fails below with pip's own message and our hint


def _pip(args: list[str], what: str) -> None:
    python = _pip_python()
    try:
        result = subprocess.run(
            [python, "-m", "pip", *args], capture_output=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"{what}: pip took longer than {PIP_TIMEOUT_S}s") from exc
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        if "No module named pip" in "\n".join(lines):
            raise MissingDependencyError(f"{what}: pip is not available to {python}", "install pip")
        raise UsageError(f"{what} failed: {lines[-1] if lines else 'pip failed'}")


def source_root() -> Path | None:
    root = Path(__file__).resolve().parent.parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "codex-agent"' in pyproject.read_text():
        return root
    return None


def build_wheel() -> Path:
    """A wheel of the running codex-agent, built once per build id."""
    configured = os.environ.get(WHEEL_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise UsageError(f"{WHEEL_ENV}={configured} is not a file")
        return path
    target = cache_dir() / "wheels" / build_id()
    found = sorted(target.glob("codex_agent-*.whl"))
    if found:
        return found[0]
    root = source_root()
    if root is None:
        return wheel_from_installed(target)
    with tempfile.TemporaryDirectory(prefix="codex-agent-wheel-") as tmp:
        isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
        _pip(["wheel", "--no-deps", *isolation, "-q", "-w", tmp, str(root)], "building the codex-agent wheel")
        built = sorted(Path(tmp).glob("codex_agent-*.whl"))
        if not built:
            raise UsageError("building the codex-agent wheel produced no wheel")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], target / built[0].name)
    return target / built[0].name


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _installed_dist_info(package_dir: Path) -> Path:
    """The dist-info folder of the installed distribution that holds the running package."""
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name != "codex-agent" or dist.version != __version__:
            continue
        located = Path(str(dist.locate_file("codex_agent/__init__.py")))
        info = Path(str(dist.locate_file(""))) / f"codex_agent-{__version__}.dist-info"
        if located.resolve() == (package_dir / "__init__.py").resolve() and (info / "METADATA").is_file():
            return info
    raise UsageError(
        f"this codex-agent {__version__} has no installed metadata (dist-info) to make a wheel from",
        f"set {WHEEL_ENV} to a codex-agent wheel of version {__version__}, or reinstall codex-agent",
    )


# What pip writes into a dist-info at install time: not part of the wheel.
_INSTALL_ONLY = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def _wheel_tag(wheel_file: bytes) -> str:
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_file.decode().splitlines() if line.startswith("Tag:")
    ]
    return tags[0] if len(tags) == 1 else "py3-none-any"


def wheel_from_installed(target: Path) -> Path:
    """A wheel packed again from the running, installed codex-agent: its package folder (the files build_id
    digests, so the host's copy reports the same build) plus the dist-info pip kept, with a fresh RECORD."""
    package_dir = Path(__file__).resolve().parent.parent
    info = _installed_dist_info(package_dir)
    entries: list[tuple[str, bytes]] = []
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            entries.append((f"codex_agent/{path.relative_to(package_dir).as_posix()}", path.read_bytes()))
    info_name = info.name
    for path in sorted(info.rglob("*")):
        if path.is_file() and path.name not in _INSTALL_ONLY:
            entries.append((f"{info_name}/{path.relative_to(info).as_posix()}", path.read_bytes()))
    wheel_meta = dict(entries).get(f"{info_name}/WHEEL")
    if wheel_meta is None:
        wheel_meta = b"Wheel-Version: 1.0\nGenerator: codex-agent\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        entries.append((f"{info_name}/WHEEL", wheel_meta))
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    record += f"{info_name}/RECORD,,\n"
    target.mkdir(parents=True, exist_ok=True)
    wheel = target / f"codex_agent-{__version__}-{_wheel_tag(wheel_meta)}.whl"
    partial = wheel.with_name(wheel.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
        archive.writestr(f"{info_name}/RECORD", record)
    partial.replace(wheel)  # a wheel in the cache is always whole
    return wheel


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(item for item in archive.namelist() if item.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    return sorted(
        line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    )


def target_options(info: dict[str, Any]) -> list[str]:
    """pip's target options for the host's interpreter and platform."""
    if info.get("implementation") != "cpython" or info.get("system") != "Linux":
        raise RemoteError(
            f"the host runs {info.get('implementation')} on {info.get('system')}; "
            "machine up supports CPython on Linux",
            "install codex-agent on the host by hand into ~/.local/share/codex-agent/venv",
        )
    arch = str(info.get("machine"))
    libc, libc_version = [*list(info.get("libc") or []), "", ""][:2]
    if libc != "glibc" or not libc_version:
        raise RemoteError(f"the host's C library is {libc or 'unknown'}; machine up supports glibc hosts")
    minor = int(str(libc_version).split(".")[1])
    platforms = [f"manylinux_2_{m}_{arch}" for m in range(minor, 4, -1)]
    platforms += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", f"linux_{arch}"]
    tag = str(info["python_tag"])
    options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", tag, "--abi", f"cp{tag}"]
    for platform_tag in platforms:
        options += ["--platform", platform_tag]
    return options


def dependency_wheels(wheel: Path, info: dict[str, Any]) -> list[Path]:
    """codex-agent's runtime dependencies as wheels for the host, downloaded once into the cache."""
    options = target_options(info)
    key = hashlib.sha256(json.dumps([_requirements(wheel), options]).encode()).hexdigest()[:16]
    target = cache_dir() / "deps" / key
    if not (target / ".complete").exists():
        with tempfile.TemporaryDirectory(prefix="codex-agent-deps-") as tmp:
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text("\n".join(_requirements(wheel)) + "\n")
            _pip(
                ["download", "-q", "-d", tmp, *options, "-r", str(requirements)],
                "downloading dependency wheels",
            )
            target.mkdir(parents=True, exist_ok=True)
            for path in Path(tmp).glob("*.whl"):
                shutil.copy2(path, target / path.name)
        (target / ".complete").write_text("")
    return sorted(target.glob("*.whl"))


# --- up ----------------------------------------------------------------------------------------------------


def up(machine: Machine, *, force: bool = False) -> dict[str, Any]:
    started = time.monotonic()
    info = probe(machine)
    if not info.get("python_ok"):
        raise ssh_errors.RemoteNotReadyError(
            f"{machine.name}: python3 on the host is {info.get('python')}; codex-agent needs 3.10 or newer",
            "install a newer python3 there",
        )
    build = build_id()
    installed = info.get("installed") or {}
    current = installed.get("version") == __version__ and installed.get("build") == build
    report: dict[str, Any] = {
        "machine": machine.name,
        "version": __version__,
        "build": build,
        "python": info.get("python"),
        "tmux": info.get("tmux"),
        "git": info.get("git"),
        "previous": installed or None,
    }
    if current and info.get("venv_ok") and not force:
        report.update(action="none", sent=[], elapsed_ms=int((time.monotonic() - started) * 1000))
        return report
    wheel = build_wheel()
    deps = dependency_wheels(wheel, info)
    have = set(info.get("wheels") or [])
    files = [wheel] + [
        path for path in deps if path.name not in have and not path.name.startswith("codex_agent-")
    ]
    header = {
        "action": "install",
        "version": __version__,
        "build": build,
        "wheel": wheel.name,
        "files": [{"name": path.name, "size": path.stat().st_size} for path in files],
    }
    answer = host_agent(machine, header, files, timeout_s=900)
    result = forward.call(machine, ["--version"], capture=True)
    if result.exit_code != 0 or result.version != __version__ or result.build != build:
        raise RemoteError(
            f"{machine.name}: after installing, the host's codex-agent reports {result.version} "
            f"build {result.build}",
            "run `codex-agent machine up --force` and look at the host's ~/.local/share/codex-agent",
        )
    report.update(
        action="updated" if installed else "installed",
        sent=[path.name for path in files],
        sent_bytes=sum(path.stat().st_size for path in files),
        created_venv=answer.get("created_venv"),
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )
    return report


# --- check -------------------------------------------------------------------------------------------------

RTT_SAMPLES = 5


def round_trip_ms(machine: Machine, samples: int = RTT_SAMPLES) -> float:
    """Median wall time of `ssh DEST -- true` over the shared connection (opened first if needed)."""
    ssh.run(machine, "true", timeout_s=ssh_options.default_timeout())
    times = []
    for _ in range(samples):
        outcome = ssh.run(machine, "true", timeout_s=ssh_options.default_timeout())
        if outcome.returncode != 0:
            raise ssh_errors.failure(machine, outcome.returncode, outcome.stderr)
        times.append(outcome.elapsed_s * 1000)
    times.sort()
    return round(times[len(times) // 2], 1)


def check(machine: Machine) -> dict[str, Any]:
    """Is the machine reachable, is codex-agent there (same version and build), are tmux and codex there."""
    report: dict[str, Any] = {
        "machine": machine.name,
        "host": machine.host,
        "ready": False,
        "ssh_ok": False,
        "daemon_ok": False,
        "tmux_ok": False,
        "codex_ok": False,
        "git_ok": False,
        "python": None,
        "local_version": __version__,
        "remote_version": None,
        "same_build": False,
        "tmux_version": None,
        "codex_version": None,
        "git_version": None,
        "rtt_ms": None,
        "call_ms": None,
        "live_jobs": None,
        "error": None,
        "error_code": None,
        "next_action": "fix-config",
    }
    try:
        info = probe(machine)
        report.update(ssh_ok=True, python=info.get("python"), git_ok=bool(info.get("git")))
        report.update(
            git_version=info.get("git"), tmux_version=info.get("tmux"), tmux_ok=bool(info.get("tmux"))
        )
        report["rtt_ms"] = round_trip_ms(machine)
    except RemoteError as exc:
        report.update(error=exc.one_line(), error_code=exc.code)
        if isinstance(exc, ssh_errors.RemoteNotReadyError):
            report.update(ssh_ok=True, next_action="machine-up")
        return report
    try:
        result = forward.call(machine, ["health", "--json"], capture=True)
        health = result.json()
    except RemoteError as exc:
        report.update(error=exc.one_line(), error_code=exc.code, next_action="machine-up")
        return report
    report.update(
        remote_version=result.version,
        same_build=result.build == build_id(),
        call_ms=round(result.elapsed_s * 1000, 1),
        daemon_ok=result.version == __version__,
        tmux_ok=bool(health.get("tmux", {}).get("ok")),
        tmux_version=health.get("tmux", {}).get("version") or report["tmux_version"],
        codex_ok=bool(health.get("codex", {}).get("ok")),
        codex_version=health.get("codex", {}).get("version"),
        live_jobs=len(health.get("live_jobs") or []),
    )
    if not report["daemon_ok"]:
        report.update(
            error=f"the host runs codex-agent {result.version}, this is {__version__}",
            next_action="machine-up",
        )
    elif not report["tmux_ok"]:
        report.update(error="tmux is not installed on the host", next_action="fix-config")
    else:
        report.update(ready=True, next_action="done")
        if not report["codex_ok"]:
            report["error"] = "codex is not installed on the host: exec works, agents do not"
    return report
