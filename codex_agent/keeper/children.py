"""The keeper's child processes (codex's app-server, the TUI): they die with the keeper, their exit
becomes the job's ending, and the server's socket is waited for without a sleep loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from codex_agent.keeper.record import Ending
from codex_agent.models import JobStatus


def die_with_parent() -> None:
    """Run in each child before exec: it gets SIGTERM when the keeper dies, however it dies."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def exit_ending(code: int, otherwise: str) -> Ending:
    """How a child's exit ends the job: 0 completed; a signal as the shell reports it (128+N)."""
    if code == 0:
        return Ending(JobStatus.COMPLETED, 0, None)
    if code < 0:
        with contextlib.suppress(ValueError):
            return Ending(JobStatus.FAILED, 128 - code, f"killed by signal {signal.Signals(-code).name}")
        return Ending(JobStatus.FAILED, 128 - code, otherwise)
    return Ending(JobStatus.FAILED, code, otherwise)


async def wait_for_path(path: Path, timeout_s: float, server: asyncio.subprocess.Process | None) -> None:
    """Until `path` exists (an inotify watch on its folder), the server exits, or the time is up."""
    from watchfiles import awatch

    if path.exists() or timeout_s <= 0:
        await asyncio.sleep(0.02)  # the socket exists but did not take the connection yet
        return
    stop = asyncio.Event()

    async def server_exit() -> None:
        if server is not None:
            await server.wait()
            stop.set()

    async def appeared() -> None:
        async for _changes in awatch(path.parent, stop_event=stop, debounce=10, step=5):
            if path.exists():
                return

    watcher = asyncio.create_task(server_exit())
    try:
        await asyncio.wait_for(appeared(), timeout_s)
    except asyncio.TimeoutError:
        return
    finally:
        watcher.cancel()
