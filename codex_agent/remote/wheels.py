"""The wheels `machine up` sends: one of the running codex-agent (CODEX_AGENT_WHEEL if set; built from a
source checkout; else packed again from the installed files and their dist-info), cached by build, and its
dependencies downloaded locally for the host's python and platform (`pip download`, cached)."""

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
import zipfile
from pathlib import Path
from typing import Any

from codex_agent import __version__
from codex_agent.errors import MissingDependencyError, RemoteError, UsageError
from codex_agent.remote.protocol import build_id

WHEEL_ENV = "CODEX_AGENT_WHEEL"
CACHE_ENV = "CODEX_AGENT_CACHE_DIR"
PIP_TIMEOUT_S = 600


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "codex-agent"


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
