"""Loopback-only network namespaces for tests that run the real Codex CLI.

The real codex must never reach any address but loopback. The end-to-end session moves the test
process itself into a fresh network namespace (:func:`enter_loopback_netns`) before it starts anything,
so the model server, the tmux server and every codex process are born inside it.

Notes on the kernel side:

* Namespaces belong to threads. ``unshare(CLONE_NEWNET)`` moves only the calling thread; threads that
  already exist stay behind. :func:`enter_loopback_netns` therefore refuses when the process has more
  than one thread, and must be called before any server thread is started.
* ``/sys/class/net`` shows the interfaces of the namespace that mounted sysfs, not the caller's, so after
  ``unshare -n`` it still lists the host's interfaces. :func:`network_interfaces` reads
  ``/proc/self/net/dev``, which follows the calling thread's namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import shutil
import socket
import struct
import subprocess
from pathlib import Path

CLONE_NEWNET = 0x40000000
REAL_CODEX_ENV = "CODEX_AGENT_REAL_CODEX"
DEFAULT_CODEX = Path("/root/.cache/codex-agent-ci/codex/node_modules/.bin/codex")

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def network_interfaces() -> list[str]:
    """Names of the network interfaces visible in the calling thread's network namespace."""
    try:
        lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    except OSError:
        return sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else []
    return sorted(line.split(":", 1)[0].strip() for line in lines if ":" in line)


def in_isolated_netns() -> bool:
    """True when loopback is the only network interface this process can use."""
    return network_interfaces() == ["lo"]


def loopback_is_up() -> bool:
    """True when ``lo`` is administratively up (127.0.0.1 is then usable)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            ifreq = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, ifreq))[1]
    except OSError:
        return False
    return bool(flags & _IFF_UP)


def _set_loopback_up() -> str | None:
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)
    if ip is not None:
        proc = subprocess.run(
            [ip, "link", "set", "lo", "up"], capture_output=True, text=True, timeout=10, check=False
        )
        if proc.returncode == 0:
            return None
        ip_error = proc.stderr.strip() or f"exit status {proc.returncode}"
    else:
        ip_error = "ip not found"
    # Without iproute2, raise the interface flag directly.
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            ifreq = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, ifreq))[1]
            fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))
    except OSError as exc:
        return f"cannot bring lo up ({ip_error}; ioctl: {exc})"
    return None


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def enter_loopback_netns() -> str | None:
    """Move this process into a new network namespace with only ``lo``, brought up.

    Returns None on success (or when the process already is in such a namespace), otherwise a one-line
    reason, suitable for ``pytest.skip``. Must be called while the process has a single thread.
    """
    if in_isolated_netns():
        if not loopback_is_up():
            return _set_loopback_up()
        return None
    if os.geteuid() != 0:
        return "needs root to create a network namespace (unshare CLONE_NEWNET)"
    threads = _thread_count()
    if threads != 1:
        return f"process has {threads} threads; enter the namespace before starting any thread"
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
    except OSError as exc:
        return f"cannot load libc: {exc}"
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        return f"unshare(CLONE_NEWNET) failed: {os.strerror(errno)}"
    reason = _set_loopback_up()
    if reason is not None:
        return reason
    if not in_isolated_netns():
        return f"namespace still shows interfaces {network_interfaces()}"
    return None


def loopback_netns_argv(argv: list[str]) -> list[str]:
    """Wrap a command so it runs in a fresh loopback-only namespace: ``unshare -n`` + ``lo`` up."""
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]


def find_codex() -> str | None:
    """Path of the real codex binary: $CODEX_AGENT_REAL_CODEX, the CI install, or ``codex`` on PATH."""
    override = os.environ.get(REAL_CODEX_ENV)
    if override:
        return override if os.access(override, os.X_OK) else None
    if os.access(DEFAULT_CODEX, os.X_OK):
        return str(DEFAULT_CODEX)
    return shutil.which("codex")
