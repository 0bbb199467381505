"""Helpers for tests: run the real CLI as a process, and wait for conditions with a deadline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent


def wait_for(
    condition: Callable[[], T | None], *, timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `condition` until it returns something truthy; fail the test at the deadline.

    A condition that returns None for "not yet" gives back the value without the None.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class CLI:
    """Runs `python -m codex_agent ...` as a real process in `cwd`."""

    cwd: Path

    def run(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None, timeout: float = 60
    ) -> Result:
        full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "codex_agent", *args],
            cwd=self.cwd,
            input=input,
            capture_output=True,
            env=full_env,
            timeout=timeout,
            check=False,
        )
        return Result(
            proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        )

    def ok(self, *args: str, **kwargs: Any) -> Result:
        result = self.run(*args, **kwargs)
        assert result.code == 0, (
            f"codex-agent {' '.join(args)} exited {result.code}: {result.err}{result.out}"
        )
        return result

    def job(self, job_id: str) -> dict[str, Any]:
        return self.ok("status", job_id, "--json").json()  # type: ignore[no-any-return]

    def wait_status(self, job_id: str, statuses: Sequence[str], timeout: float = 20) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if job["status"] in statuses else None

        return wait_for(reached, timeout=timeout, what=f"job {job_id} to reach {statuses}")

    def start(self, *args: str) -> dict[str, Any]:
        return self.ok("start", *args, "--json").json()  # type: ignore[no-any-return]
