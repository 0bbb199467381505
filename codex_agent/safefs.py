"""Opening the state's and the project's files without trusting them: an agent may have replaced any.

Every file is opened without following a symlink in its last component (O_NOFOLLOW); the folders between a
trusted directory and the file are opened one by one, also without following symlinks (dir_fd chains), so a
folder swapped for a link cannot redirect the open either. What is opened must be a regular file (or a folder)
owned by the user; reads open non-blocking, so a FIFO is refused instead of hanging. Anything else is refused
with one line naming the path and what is wrong, and nothing is read or written through it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from codex_agent.errors import DiskFullError, StateError, UnsafePathError

CHUNK_BYTES = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def refuse(path: Path, problem: str) -> UnsafePathError:
    return UnsafePathError(
        f"{path} {problem}",
        "codex-agent never reads or writes through it: remove it or put your own plain file (folder) there",
    )


def disk_full(path: Path, action: str) -> DiskFullError:
    return DiskFullError(
        f"could not {action}: the disk is full (at {path})",
        "free some space there (`codex-agent delete ID` of a job with a large output) and try again",
    )


def os_error(exc: OSError, path: Path, action: str) -> Exception:
    """The one-line error for an OSError met while opening, reading or writing `path`."""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return disk_full(path, action)
    if exc.errno == errno.ELOOP:
        return refuse(path, "is a symlink")
    if exc.errno == errno.ENOTDIR:
        return refuse(path, "has a part that is not a folder (or is a symlink)")
    if exc.errno == errno.EISDIR:
        return refuse(path, "is a folder, not a file")
    if exc.errno == errno.ENXIO:
        return refuse(path, "is a FIFO or a socket, not a file")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StateError(f"could not {action} {path}: permission denied", "fix its permissions or owner")
    if exc.errno == errno.EROFS:
        return StateError(f"could not {action} {path}: read-only file system", "make it writable")
    return StateError(f"could not {action} {path}: {exc.strerror or exc}", "check that file and its folder")


def _check_fd(fd: int, path: Path, *, folder: bool) -> os.stat_result:
    info = os.fstat(fd)
    if folder and not stat.S_ISDIR(info.st_mode):
        raise refuse(path, "is not a folder")
    if not folder and not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode) else None
        raise refuse(path, f"is {kind or 'not a regular file'}, not a file")
    if info.st_uid != os.geteuid():
        raise refuse(path, f"belongs to another user (uid {info.st_uid}), not you (uid {os.geteuid()})")
    return info


def check_dir(path: Path) -> bool:
    """Is `path` a folder of ours (True), or missing (False)? Anything else (a symlink too) is refused."""
    return _check_own(path, folder=True)


def check_file(path: Path) -> bool:
    """Is `path` a regular file of ours (True), or missing (False)? Anything else is refused."""
    return _check_own(path, folder=False)


def _check_own(path: Path, *, folder: bool) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise os_error(exc, path, "look at") from None
    if stat.S_ISLNK(info.st_mode):
        raise refuse(path, "is a symlink, not a folder" if folder else "is a symlink")
    if not (stat.S_ISDIR if folder else stat.S_ISREG)(info.st_mode):
        raise refuse(path, "is not a folder" if folder else "is not a regular file")
    if info.st_uid != os.geteuid():
        raise refuse(path, f"belongs to another user (uid {info.st_uid}), not you (uid {os.geteuid()})")
    return True


@contextlib.contextmanager
def _parent_fd(path: Path, under: Path | None) -> Iterator[int]:
    """A descriptor of `path`'s folder. Below `under` (trusted), every folder is opened without following a
    symlink and checked to be ours."""
    parent = path.parent
    if under is None or not parent.is_relative_to(under):
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        fd = os.open(under, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        walked = under
        for part in parent.relative_to(under).parts:
            walked = walked / part
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise refuse(walked, "is a symlink or not a folder") from None
                raise
            os.close(fd)
            fd = child
            try:
                _check_fd(fd, walked, folder=True)
            except BaseException:
                os.close(fd)
                raise
    try:
        yield fd
    finally:
        os.close(fd)


def open_file(path: Path, flags: int, *, under: Path | None = None, mode: int = 0o600) -> int:
    """A descriptor of the regular file `path`, opened with `flags` plus O_NOFOLLOW; raises FileNotFoundError
    when it is missing (and `flags` has no O_CREAT), a one-line error for anything else that is wrong."""
    action = "read" if flags & (os.O_WRONLY | os.O_RDWR) == 0 else "write"
    try:
        with _parent_fd(path, under) as parent:
            fd = os.open(path.name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=parent)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise os_error(exc, path, action) from None
    try:
        _check_fd(fd, path, folder=False)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, *, under: Path | None = None, limit: int | None = None) -> bytes | None:
    """The file's bytes (its first `limit` bytes), or None when it does not exist."""
    try:
        fd = open_file(path, os.O_RDONLY, under=under)
    except FileNotFoundError:
        return None
    try:
        with os.fdopen(fd, "rb", closefd=True) as handle:
            return handle.read() if limit is None else handle.read(limit)
    except OSError as exc:
        raise os_error(exc, path, "read") from None


def read_tail(path: Path, size: int, *, under: Path | None = None) -> bytes | None:
    """The last `size` bytes of the file, or None when it does not exist."""
    try:
        fd = open_file(path, os.O_RDONLY, under=under)
    except FileNotFoundError:
        return None
    try:
        end = os.fstat(fd).st_size
        return os.pread(fd, size, max(0, end - size))
    except OSError as exc:
        raise os_error(exc, path, "read") from None
    finally:
        os.close(fd)


def iter_chunks(path: Path, *, under: Path | None = None, chunk: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file in pieces of at most `chunk` bytes (nothing when it does not exist): memory stays bounded."""
    try:
        fd = open_file(path, os.O_RDONLY, under=under)
    except FileNotFoundError:
        return
    try:
        while True:
            try:
                data = os.read(fd, chunk)
            except OSError as exc:
                raise os_error(exc, path, "read") from None
            if not data:
                return
            yield data
    finally:
        os.close(fd)


def open_append(path: Path, *, under: Path | None = None) -> int:
    """The file opened for appending, created 0600 when missing."""
    return open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, under=under)


def write_all(fd: int, data: bytes, path: Path) -> None:
    try:
        written = os.write(fd, data)
        while written < len(data):  # a short write: the rest
            written += os.write(fd, data[written:])
    except OSError as exc:
        raise os_error(exc, path, "write") from None


def make_private_dir(path: Path) -> None:
    """`path` as a folder of ours, mode 0700 whatever the umask; its missing parents are created too.

    An existing folder that is a symlink, not a folder or not ours is refused, and not changed."""
    if not check_dir(path):
        if path.parent != path and not path.parent.exists():
            make_private_dir(path.parent)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise os_error(exc, path, "create the folder") from None
        check_dir(path)  # it may have been replaced between the mkdir and now
    fd = os.open(path, _DIR_FLAGS)  # fchmod of what was checked: a link swapped in meanwhile fails the open
    try:
        if os.fstat(fd).st_mode & 0o777 != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def state_dir_of(job_dir: Path) -> Path:
    """The state directory a job's folder is in (STATE_DIR/jobs/ID)."""
    return job_dir.parent.parent


def read_quietly(path: Path, *, limit: int | None = None, tail: bool = False) -> bytes | None:
    """A job file read for reconciling or showing a record: its bytes (the first, or with `tail` the last,
    `limit` of them), or None when it is missing or unsafe. The job's folder (path.parent) is checked too.

    Readers of many jobs (`jobs`, `context`) must answer whatever one job's folder holds, so a link, FIFO or
    folder in a file's place reads as no file here; the commands that show a file (`output`) refuse it."""
    try:
        if tail and limit is not None:
            return read_tail(path, limit, under=state_dir_of(path.parent))
        return read_bytes(path, under=state_dir_of(path.parent), limit=limit)
    except (UnsafePathError, StateError, OSError):
        return None


def write_private_file(path: Path, data: bytes) -> None:
    """Write a file atomically (temp file in the same folder, then rename), mode 0600."""
    import secrets

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
