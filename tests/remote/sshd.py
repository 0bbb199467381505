"""Real OpenSSH test hosts for the remote-machine tests.

:func:`provision` starts N hosts, each with its own ``sshd``, and writes one ssh client config so a test
can run ``ssh -F <client_config> h1 <command>`` exactly as codex-agent will.

Two layouts, chosen by :attr:`HarnessConfig.mode`:

``netns`` (needs root and iproute2)
    Every host is a network namespace joined to the root namespace by a veth pair
    (``<prefix>.<k>.1`` root side, ``<prefix>.<k>.2`` host side, a /30 per host), with a dedicated Unix user
    whose HOME lives in the run directory, and its own ``sshd`` listening on port 22 of the host address.
    Hosts can be stopped (connection refused), cut off (packets silently dropped, so clients time out)
    and restored. The root side keeps a permanent neighbour entry for the host address: without it a cut
    link ends in "No route to host" after ARP gives up, instead of the silent loss a real network shows.
    A host namespace has no default route, and the root namespace gets an ``unreachable`` route of low
    priority for each host subnet, so packets for a host never leave by the default route, even while
    its veth is down or already deleted.

``loopback`` (fallback for non-root runs)
    One host, an ``sshd`` on ``127.0.0.1`` with a random free port, logged into as the current user.
    ``stop``/``start`` work; ``cut`` does not.

Every resource the harness creates is recorded in ``state.json`` in the run directory as soon as it
exists, so :meth:`SshHarness.teardown` (idempotent) and :func:`sweep_stale` (for runs whose owning
process died) remove exactly what was created and nothing else. Nothing here talks to any address but the
hosts it created. Every subprocess gets an argument list and a timeout.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

SSHD = Path("/usr/sbin/sshd")
_GUARD_METRIC = 4242
MODE_ENV = "CODEX_AGENT_TEST_SSH_MODE"
RUN_DIR_PREFIX = "codex-agent-ssh-"
CMD_TIMEOUT = 15.0

Mode = Literal["auto", "netns", "loopback"]

# Run on a host by remote_env(); one key=value per line.
_ENV_PROBE = """\
printf 'user=%s\\n' "$(id -un)"
printf 'home=%s\\n' "$HOME"
printf 'shell=%s\\n' "$SHELL"
printf 'path=%s\\n' "$PATH"
printf 'python3=%s\\n' "$(command -v python3)"
printf 'tmux=%s\\n' "$(command -v tmux)"
printf 'python3_version=%s\\n' "$(python3 -c 'import platform; print(platform.python_version())' 2>&1)"
printf 'tmux_version=%s\\n' "$(tmux -V 2>&1)"
"""


class HarnessError(RuntimeError):
    """The test hosts could not be provisioned or driven."""


class HarnessUnavailable(HarnessError):
    """This machine cannot run the test hosts; the message says why (used as a skip reason)."""


@dataclass(frozen=True)
class HarnessConfig:
    hosts: int = 2
    mode: Mode = "auto"
    # Each host gets the /30 ``<subnet_prefix>.<k>.0``; k is the first free value from 1 to 254.
    subnet_prefix: str = "10.213"
    # Names of netns, root-side veth and user: ``<name_prefix>-<tag>-h<i>`` (at most 15 characters).
    name_prefix: str = "cat"
    # Where the run directory is created; None means the system temp dir. In netns mode every parent
    # must be searchable by other users: host users reach their HOME and authorized_keys through it.
    base_dir: Path | None = None
    ready_timeout: float = 15.0
    shell: str = "/bin/bash"


@dataclass
class SshHost:
    """One test host. ``alias`` is the name used with ``ssh -F <client_config>``."""

    alias: str
    address: str
    port: int
    user: str
    home: Path
    dir: Path
    netns: str | None = None
    veth: str | None = None
    root_address: str | None = None
    guard_route: str | None = None
    uid: int | None = None
    created_user: bool = False
    sshd_pid: int | None = None
    sshd_start: str | None = None
    cut_off: bool = False

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "authorized_keys"

    @property
    def pid_file(self) -> Path:
        return self.dir / "sshd.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def known_hosts_name(self) -> str:
        """How the host appears in known_hosts (OpenSSH brackets non-default ports)."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


@dataclass
class _State:
    """What a run created; persisted after every change so a crashed run can be swept."""

    tag: str
    mode: Literal["netns", "loopback"]
    owner_pid: int
    owner_start: str
    run_dir: str
    hosts: list[dict[str, object]] = field(default_factory=list)
    created_privsep_dir: bool = False


# --------------------------------------------------------------------------------------------------
# small helpers


def _run(
    argv: Sequence[str], *, timeout: float = CMD_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise HarnessError(f"{shlex.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``condition`` until it is true; raise :class:`HarnessError` naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def tcp_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _proc_start_time(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def _alive(pid: int, start: str | None = None) -> bool:
    """True if ``pid`` exists, is not a zombie and (when given) started at ``start``."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] != "Z" and (start is None or fields[19] == start)


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid == uid:
                pids.append(int(entry.name))
    return pids


def _terminate(pids: Sequence[int], *, timeout: float = 5.0) -> None:
    """SIGTERM the given processes, then SIGKILL whatever is left at the deadline."""
    pids = [p for p in pids if p != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        try:
            wait_for(lambda: not any(_alive(p) for p in pids), timeout=timeout, what="processes to exit")
            return
        except HarnessError:
            continue


def _host_pids(h: SshHost) -> list[int]:
    """Every process of a host: all processes in its netns and all of the user the harness created."""
    pids: set[int] = set()
    ip = _tool("ip")
    if h.netns is not None and ip is not None and Path(f"/run/netns/{h.netns}").exists():
        out = _run([ip, "netns", "pids", h.netns], check=False).stdout
        pids.update(int(p) for p in out.split() if p.isdigit())
    if h.created_user and h.uid is not None:
        pids.update(_pids_of_uid(h.uid))
    return sorted(pids)


def _tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )


def _resolve_mode(mode: Mode) -> Mode:
    """``auto`` can be pinned with the environment variable named by :data:`MODE_ENV`."""
    pinned = os.environ.get(MODE_ENV, "")
    if mode == "auto" and pinned == "netns":
        return "netns"
    if mode == "auto" and pinned == "loopback":
        return "loopback"
    return mode


def availability(mode: Mode = "auto") -> tuple[Literal["netns", "loopback"] | None, str]:
    """Which layout this machine supports, or ``(None, reason)`` when none does."""
    mode = _resolve_mode(mode)
    if not SSHD.exists():
        return None, f"{SSHD} not found; install openssh-server (apt-get install -y openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return None, f"{tool} not found; install openssh-client"
    can_netns = os.geteuid() == 0 and _tool("ip") is not None and _tool("useradd") is not None
    if mode == "netns" and not can_netns:
        return None, "netns mode needs root, iproute2 (ip) and useradd"
    if mode == "netns" or (mode == "auto" and can_netns):
        return "netns", "per-host network namespaces"
    return "loopback", "single host on 127.0.0.1"


# --------------------------------------------------------------------------------------------------
# the harness


class SshHarness:
    """N running test hosts plus the client side: key, known_hosts and ssh config."""

    def __init__(self, config: HarnessConfig, state: _State) -> None:
        self.config = config
        self._state = state
        self.mode: Literal["netns", "loopback"] = state.mode
        self.tag = state.tag
        self.run_dir = Path(state.run_dir)
        self.client_dir = self.run_dir / "client"
        self.client_key = self.client_dir / "id_ed25519"
        self.known_hosts = self.client_dir / "known_hosts"
        self.client_config = self.client_dir / "ssh_config"
        # ControlPath sockets must fit in sun_path (108 bytes) plus the 17 characters ssh appends while
        # it sets a master up, so they live in a short directory of their own.
        self.control_dir = self.run_dir / "cm"
        self.hosts: list[SshHost] = []
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # ---- lookup and client-side helpers -----------------------------------------------------------

    def host(self, alias: str) -> SshHost:
        for host in self.hosts:
            if host.alias == alias:
                return host
        raise KeyError(alias)

    def _get(self, host: SshHost | str) -> SshHost:
        return host if isinstance(host, SshHost) else self.host(host)

    def control_path(self, host: SshHost | str) -> Path:
        return self.control_dir / self._get(host).alias

    def control_options(self, host: SshHost | str, persist: int = 60) -> list[str]:
        """Options that make ssh share one master connection per host."""
        return [
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self.control_path(host)}",
            "-o", f"ControlPersist={persist}",
        ]  # fmt: skip

    def ssh_argv(
        self, host: SshHost | str, command: Sequence[str] | None = None, *, options: Sequence[str] = ()
    ) -> list[str]:
        """``ssh -F cfg [options] alias -- <command>``.

        The remote side always hands the command to the user's login shell as one string, so the argv
        is quoted with :func:`shlex.join`; ``--`` keeps a command starting with ``-`` from being read as
        an ssh option (ssh parses options again after the host name).
        """
        argv = ["ssh", "-F", str(self.client_config), *options, self._get(host).alias]
        if command:
            argv += ["--", shlex.join(command)]
        return argv

    def ssh(
        self,
        host: SshHost | str,
        command: Sequence[str] | None = None,
        *,
        options: Sequence[str] = (),
        timeout: float = CMD_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the host as its user; stdin is /dev/null, output is captured."""
        return _run(self.ssh_argv(host, command, options=options), timeout=timeout, check=False)

    def control(
        self, host: SshHost | str, operation: str, *, timeout: float = CMD_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """``ssh -O <operation>`` (check, exit, stop) against the host's master socket."""
        argv = [
            "ssh", "-F", str(self.client_config), "-o", f"ControlPath={self.control_path(host)}",
            "-O", operation, self._get(host).alias,
        ]  # fmt: skip
        return _run(argv, timeout=timeout, check=False)

    def set_authorized_keys(self, host: SshHost | str, public_keys: Sequence[str]) -> None:
        """Replace the keys the host accepts (sshd reads the file on every login)."""
        h = self._get(host)
        tmp = h.authorized_keys.with_suffix(".tmp")
        tmp.write_text("".join(k.strip() + "\n" for k in public_keys))
        tmp.chmod(0o644)
        tmp.replace(h.authorized_keys)

    @property
    def client_public_key(self) -> str:
        return self.client_key.with_suffix(".pub").read_text().strip()

    def sshd_log(self, host: SshHost | str) -> str:
        path = self._get(host).log_file
        return path.read_text(errors="replace") if path.exists() else ""

    def accepted_logins(self, host: SshHost | str) -> int:
        """How many connections the host's sshd has authenticated (each master counts once)."""
        return self.sshd_log(host).count("Accepted publickey for ")

    # ---- host lifecycle ------------------------------------------------------------------------------

    def is_running(self, host: SshHost | str) -> bool:
        proc = self._procs.get(self._get(host).alias)
        return proc is not None and proc.poll() is None

    def start(self, host: SshHost | str) -> None:
        """Start the host's sshd (if stopped) and wait until it accepts a login."""
        h = self._get(host)
        if self.is_running(h):
            return
        argv = [str(SSHD), "-D", "-e", "-f", str(h.sshd_config)]
        if h.netns is not None:
            argv = [_ip(), "netns", "exec", h.netns, *argv]
        with h.log_file.open("ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        self._procs[h.alias] = proc
        h.sshd_pid = proc.pid
        h.sshd_start = _proc_start_time(proc.pid)
        self._save()
        self.wait_ready(h)

    def wait_ready(self, host: SshHost | str, timeout: float | None = None) -> None:
        h = self._get(host)
        timeout = self.config.ready_timeout if timeout is None else timeout
        proc = self._procs.get(h.alias)

        def listening() -> bool:
            if proc is not None and proc.poll() is not None:
                raise HarnessError(
                    f"sshd for {h.alias} exited ({proc.returncode}): {self.sshd_log(h)[-2000:]}"
                )
            return tcp_open(h.address, h.port)

        wait_for(listening, timeout=timeout, what=f"sshd of {h.alias} to listen on {h.address}:{h.port}")
        last: list[str] = []

        def login_works() -> bool:
            result = self.ssh(h, ["true"], options=["-o", "ConnectTimeout=2"], timeout=5)
            last[:] = [result.stderr.strip()]
            return result.returncode == 0

        try:
            wait_for(login_works, timeout=timeout, what=f"a login to {h.alias}", interval=0.1)
        except HarnessError as exc:
            raise HarnessError(f"{exc}; last ssh error: {last[0] if last else '?'}") from None

    def stop(self, host: SshHost | str, *, power_off: bool = False) -> None:
        """Stop the host's listening sshd: new connections are refused.

        Sessions already open keep running, as on a real host whose ssh service is stopped. With
        ``power_off`` every process in the host (its sessions, tmux servers, setsid jobs) is killed too.
        """
        h = self._get(host)
        proc = self._procs.pop(h.alias, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        elif proc is None and h.sshd_pid is not None and _alive(h.sshd_pid, h.sshd_start):
            _terminate([h.sshd_pid])
        h.sshd_pid = h.sshd_start = None
        self._save()
        if power_off:
            _terminate(_host_pids(h))
        wait_for(lambda: not tcp_open(h.address, h.port, 0.2), timeout=5, what=f"{h.alias} to stop listening")

    def cut(self, host: SshHost | str) -> None:
        """Drop every packet to and from the host (its link goes down); clients time out."""
        h = self._netns_host(host, "cut")
        _run([_ip(), "netns", "exec", str(h.netns), _ip(), "link", "set", "eth0", "down"])
        h.cut_off = True

    def restore(self, host: SshHost | str) -> None:
        """Undo :meth:`cut`."""
        h = self._netns_host(host, "restore")
        _run([_ip(), "netns", "exec", str(h.netns), _ip(), "link", "set", "eth0", "up"])
        h.cut_off = False
        wait_for(
            lambda: tcp_open(h.address, h.port, 0.2) or not self.is_running(h),
            timeout=10,
            what=f"{h.alias} link",
        )

    def _netns_host(self, host: SshHost | str, operation: str) -> SshHost:
        h = self._get(host)
        if h.netns is None:
            raise HarnessError(f"{operation} needs netns mode; this run uses {self.mode}")
        return h

    def reset(self) -> None:
        """Bring every host back to its provisioned state between tests.

        Closes client masters, restores cut links, restarts stopped sshds, re-authorizes the client key
        and (for users the harness created) kills every process the host user left behind.
        """
        self.close_masters()
        for h in self.hosts:
            if h.cut_off:
                self.restore(h)
            if h.created_user and h.uid is not None:
                _terminate(_pids_of_uid(h.uid))
            self.set_authorized_keys(h, [self.client_public_key])
            if not self.is_running(h):
                self.start(h)

    def close_masters(self) -> None:
        """``ssh -O exit`` every master socket in the harness's control directory."""
        if not self.control_dir.exists():
            return
        for sock in self.control_dir.iterdir():
            if sock.is_socket():
                _run(
                    ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                    check=False,
                    timeout=5,
                )

    # ---- remote environment ------------------------------------------------------------------------

    def remote_env(self, host: SshHost | str) -> dict[str, str]:
        """What a non-interactive ``ssh host cmd`` sees: PATH, HOME, shell, python3 and tmux."""
        result = self.ssh(host, ["sh", "-c", _ENV_PROBE])
        if result.returncode != 0:
            raise HarnessError(
                f"environment probe on {self._get(host).alias} failed: {result.stderr.strip()}"
            )
        return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)

    # ---- teardown ----------------------------------------------------------------------------------

    def teardown(self) -> None:
        """Remove everything this run created. Safe to call twice and after a partial setup."""
        problems: list[str] = []
        for alias in list(self._procs):
            with contextlib.suppress(Exception):
                self._procs[alias].terminate()
        self.close_masters()
        for alias, proc in list(self._procs.items()):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            del self._procs[alias]
        problems += _teardown_state(self._state)
        self.hosts = []
        if problems:
            raise HarnessError("teardown incomplete: " + "; ".join(problems))

    def _save(self) -> None:
        self._state.hosts = [asdict(h) | {"home": str(h.home), "dir": str(h.dir)} for h in self.hosts]
        _write_state(self._state)

    def __enter__(self) -> SshHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()


def _ip() -> str:
    ip = _tool("ip")
    if ip is None:
        raise HarnessError("ip (iproute2) not found")
    return ip


def _write_state(state: _State) -> None:
    path = Path(state.run_dir) / "state.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)


def _teardown_state(state: _State) -> list[str]:
    """Remove the resources listed in ``state``; return what could not be removed."""
    problems: list[str] = []
    ip = _tool("ip")
    for raw in state.hosts:
        h = _host_from_dict(raw)
        if h.sshd_pid is not None and _alive(h.sshd_pid, h.sshd_start):
            _terminate([h.sshd_pid])
        _terminate(_host_pids(h))
        if ip is not None and h.veth is not None and _link_exists(h.veth):
            _run([ip, "link", "del", h.veth], check=False)
        if ip is not None and h.guard_route is not None:
            _run(
                [ip, "route", "del", "unreachable", h.guard_route, "metric", str(_GUARD_METRIC)], check=False
            )
        if ip is not None and h.netns is not None and Path(f"/run/netns/{h.netns}").exists():
            result = _run([ip, "netns", "del", h.netns], check=False)
            if result.returncode != 0:
                problems.append(f"netns {h.netns}: {result.stderr.strip()}")
        if h.created_user:
            if _user_exists(h.user):
                result = _run(["userdel", h.user], check=False)
                if result.returncode != 0:
                    problems.append(f"user {h.user}: {result.stderr.strip()}")
            if h.uid is not None:
                # tmux and other per-uid runtime dirs the user's sessions left in /tmp.
                shutil.rmtree(Path(tempfile.gettempdir()) / f"tmux-{h.uid}", ignore_errors=True)
    state.hosts = []
    run_dir = Path(state.run_dir)
    if state.created_privsep_dir and not _any_sshd_running():
        with contextlib.suppress(OSError):
            Path("/run/sshd").rmdir()
    if run_dir.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        if run_dir.exists():
            problems.append(f"could not remove {run_dir}")
    return problems


def _host_from_dict(raw: dict[str, object]) -> SshHost:
    data = dict(raw)
    data["home"] = Path(str(data["home"]))
    data["dir"] = Path(str(data["dir"]))
    return SshHost(**data)  # type: ignore[arg-type]


def _link_exists(name: str) -> bool:
    """Whether the calling process's network namespace has this interface.

    Asks iproute2 rather than /sys/class/net, which shows the namespace that mounted sysfs and so can
    be wrong for a process that has moved to another network namespace.
    """
    ip = _tool("ip")
    return ip is not None and _run([ip, "-o", "link", "show", "dev", name], check=False).returncode == 0


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _any_sshd_running() -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "sshd" and _alive(int(entry.name)):
                    return True
    return False


# --------------------------------------------------------------------------------------------------
# provisioning


def provision(config: HarnessConfig | None = None) -> SshHarness:
    """Create and start ``config.hosts`` hosts. Raises :class:`HarnessUnavailable` when impossible."""
    config = config or HarnessConfig()
    layout, reason = availability(config.mode)
    if layout is None:
        raise HarnessUnavailable(reason)
    if layout == "loopback" and config.hosts > 1:
        raise HarnessUnavailable(
            f"{config.hosts} hosts need netns mode (root and iproute2); loopback has one"
        )

    tag = _fresh_tag(config.name_prefix)
    base = config.base_dir or Path(tempfile.gettempdir())
    run_dir = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{tag}-", dir=base))
    # Host users must reach their HOME and authorized_keys inside the run directory.
    run_dir.chmod(0o755)
    state = _State(
        tag=tag,
        mode=layout,
        owner_pid=os.getpid(),
        owner_start=_proc_start_time(os.getpid()) or "",
        run_dir=str(run_dir),
    )
    _write_state(state)
    harness = SshHarness(config, state)
    try:
        _setup(harness, config, layout)
    except BaseException:
        with contextlib.suppress(Exception):
            harness.teardown()
        raise
    return harness


@contextlib.contextmanager
def running_hosts(config: HarnessConfig | None = None) -> Iterator[SshHarness]:
    harness = provision(config)
    try:
        yield harness
    finally:
        harness.teardown()


def _fresh_tag(prefix: str) -> str:
    for _ in range(20):
        tag = secrets.token_hex(2)
        if not _user_exists(f"{prefix}-{tag}-h1") and not Path(f"/run/netns/{prefix}-{tag}-h1").exists():
            return tag
    raise HarnessError("could not pick an unused run tag")


def _setup(harness: SshHarness, config: HarnessConfig, layout: Literal["netns", "loopback"]) -> None:
    state = harness._state
    harness.client_dir.mkdir(mode=0o700)
    harness.control_dir.mkdir(mode=0o700)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"codex-agent-test-{harness.tag}",
          "-f", str(harness.client_key)])  # fmt: skip
    if os.geteuid() == 0 and not Path("/run/sshd").exists():
        # sshd running as root refuses to start without its privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755)
        state.created_privsep_dir = True
        _write_state(state)

    if layout == "netns":
        subnets = _free_subnets(config.subnet_prefix, config.hosts)
        for i, subnet in enumerate(subnets, start=1):
            _setup_netns_host(harness, config, i, subnet)
    else:
        _setup_loopback_host(harness)

    _write_client_files(harness)
    for host in harness.hosts:
        harness.start(host)


def _free_subnets(prefix: str, count: int) -> list[ipaddress.IPv4Network]:
    """``count`` /30 networks ``<prefix>.<k>.0/30`` that overlap no route or address on this machine."""
    taken: list[ipaddress.IPv4Network] = []
    for line in _run([_ip(), "-4", "-o", "route", "show", "table", "all"], check=False).stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("default", "broadcast", "local", "unreachable", "blackhole", "prohibit"):
            word = line.split()[1] if len(line.split()) > 1 else ""
        with contextlib.suppress(ValueError):
            net = ipaddress.IPv4Network(word, strict=False)
            if net.prefixlen > 0:
                taken.append(net)
    for line in _run([_ip(), "-4", "-o", "addr", "show"], check=False).stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            taken.append(ipaddress.IPv4Interface(parts[parts.index("inet") + 1]).network)
    free = []
    for k in range(1, 255):
        net = ipaddress.IPv4Network(f"{prefix}.{k}.0/30")
        if not any(net.overlaps(t) for t in taken):
            free.append(net)
            if len(free) == count:
                return free
    raise HarnessError(f"no free /30 left in {prefix}.0.0/16")


def _setup_netns_host(
    harness: SshHarness, config: HarnessConfig, index: int, subnet: ipaddress.IPv4Network
) -> None:
    ip = _ip()
    alias = f"h{index}"
    name = f"{config.name_prefix}-{harness.tag}-{alias}"
    if len(name) > 15:
        raise HarnessError(f"name {name!r} is longer than an interface name may be (15)")
    root_addr, host_addr = (str(a) for a in list(subnet.hosts())[:2])
    # Never adopt (and later delete) something this run did not create.
    if _user_exists(name) or Path(f"/run/netns/{name}").exists() or _link_exists(name):
        raise HarnessError(f"{name} already exists as a user, netns or interface")
    host_dir = harness.run_dir / alias
    host_dir.mkdir(mode=0o755)
    home = harness.run_dir / "home" / alias
    host = SshHost(alias=alias, address=host_addr, port=22, user=name, home=home, dir=host_dir,
                   root_address=root_addr)  # fmt: skip
    harness.hosts.append(host)

    # Network: record each piece before creating it, so teardown removes it even if the next step fails.
    # The guard route keeps packets for the host's subnet off the default route whenever the veth route
    # is missing (link administratively down, or veth already deleted while a client still retries).
    host.guard_route = str(subnet)
    harness._save()
    _run([ip, "route", "add", "unreachable", str(subnet), "metric", str(_GUARD_METRIC)])
    host.netns = name
    harness._save()
    _run([ip, "netns", "add", name])
    host.veth = name
    harness._save()
    _run([ip, "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", name])
    _run([ip, "addr", "add", f"{root_addr}/{subnet.prefixlen}", "dev", name])
    _run([ip, "link", "set", name, "up"])
    for argv in (
        ["link", "set", "lo", "up"],
        ["addr", "add", f"{host_addr}/{subnet.prefixlen}", "dev", "eth0"],
        ["link", "set", "eth0", "up"],
    ):
        _run([ip, "netns", "exec", name, ip, *argv])
    mac = _run([ip, "netns", "exec", name, "cat", "/sys/class/net/eth0/address"]).stdout.strip()
    _run([ip, "neigh", "replace", host_addr, "lladdr", mac, "dev", name, "nud", "permanent"])

    # User with its own HOME; '*' as password hash: no password login, yet not "locked" for sshd.
    home.parent.mkdir(mode=0o755, exist_ok=True)
    shell = config.shell if os.access(config.shell, os.X_OK) else "/bin/sh"
    host.created_user = True
    harness._save()
    _run([
        "useradd", "--no-create-home", "--home-dir", str(home), "--shell", shell, "--password", "*",
        "--user-group", "--comment", f"codex-agent test host {alias}",
        "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name,
    ])  # fmt: skip
    entry = pwd.getpwnam(name)
    host.uid = entry.pw_uid
    harness._save()
    home.mkdir(mode=0o700)
    os.chown(home, entry.pw_uid, entry.pw_gid)

    _write_host_files(harness, host)


def _setup_loopback_host(harness: SshHarness) -> None:
    entry = pwd.getpwuid(os.geteuid())
    host_dir = harness.run_dir / "h1"
    host_dir.mkdir(mode=0o755)
    host = SshHost(alias="h1", address="127.0.0.1", port=_free_port(), user=entry.pw_name,
                   home=Path(entry.pw_dir), dir=host_dir, uid=entry.pw_uid)  # fmt: skip
    harness.hosts.append(host)
    harness._save()
    _write_host_files(harness, host)


def _write_host_files(harness: SshHarness, host: SshHost) -> None:
    _run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{host.alias}-host", "-f", str(host.host_key)]
    )
    shutil.copyfile(harness.client_key.with_suffix(".pub"), host.authorized_keys)
    host.authorized_keys.chmod(0o644)
    lines = [
        f"ListenAddress {host.address}",
        f"Port {host.port}",
        f"HostKey {host.host_key}",
        f"PidFile {host.pid_file}",
        f"AuthorizedKeysFile {host.authorized_keys}",
        f"AllowUsers {host.user}",
        "AuthenticationMethods publickey",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        # The key file sits in the run directory under the world-writable temp dir, which StrictModes'
        # check of every parent directory would reject.
        "StrictModes no",
        "UsePAM no",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "LoginGraceTime 20",
        "LogLevel VERBOSE",
    ]
    host.sshd_config.write_text("\n".join(lines) + "\n")
    _run([str(SSHD), "-t", "-f", str(host.sshd_config)])


def _write_client_files(harness: SshHarness) -> None:
    known = []
    blocks = []
    for host in harness.hosts:
        key_type, key_b64 = host.host_key.with_suffix(".pub").read_text().split()[:2]
        known.append(f"{host.known_hosts_name} {key_type} {key_b64}")
        blocks.append(
            f"Host {host.alias}\n    HostName {host.address}\n    Port {host.port}\n    User {host.user}\n"
        )
    harness.known_hosts.write_text("\n".join(known) + "\n")
    blocks.append(
        "Host *\n"
        f"    IdentityFile {harness.client_key}\n"
        "    IdentitiesOnly yes\n"
        "    IdentityAgent none\n"
        f"    UserKnownHostsFile {harness.known_hosts}\n"
        "    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n"
        "    UpdateHostKeys no\n"
        "    BatchMode yes\n"
        "    ConnectTimeout 5\n"
    )
    harness.client_config.write_text("\n".join(blocks))


# --------------------------------------------------------------------------------------------------
# crash recovery


def sweep_stale(base_dir: Path | None = None) -> list[str]:
    """Tear down runs whose owning process is gone; return the run directories removed."""
    base = base_dir or Path(tempfile.gettempdir())
    removed = []
    for state_file in sorted(base.glob(f"{RUN_DIR_PREFIX}*/state.json")):
        try:
            raw = json.loads(state_file.read_text())
            state = _State(**raw)
        except (OSError, ValueError, TypeError):
            continue
        if _alive(state.owner_pid, state.owner_start or None):
            continue
        _teardown_state(state)
        removed.append(state.run_dir)
    return removed


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Manage OpenSSH test hosts.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sweep", help="remove hosts left behind by test runs that died")
    hold = sub.add_parser("hold", help="start hosts, print the run directory, tear down at end of stdin")
    hold.add_argument("hosts", type=int, nargs="?", default=2)
    args = parser.parse_args(argv)
    if args.command == "sweep":
        for run in sweep_stale():
            print(f"removed stale test hosts of {run}")
        return 0
    with running_hosts(HarnessConfig(hosts=args.hosts)) as harness:
        print(
            json.dumps({"run_dir": str(harness.run_dir), "client_config": str(harness.client_config)}),
            flush=True,
        )
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
