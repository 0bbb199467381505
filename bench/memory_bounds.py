"""python -m bench.memory_bounds [--prompt-mb 50] [--log-mb 1024]

Peak memory (RSS, from GNU time) of the read commands after one job had a huge prompt and wrote a huge output
log: what an orchestrator's every later call costs when one agent went wild. The bound is 100 MB each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.state import BenchEnv, Project

LIMIT_KIB = 100 * 1024
# An agent's output as it lands in output.log: colours, line clears, carriage returns, a title OSC.
LINE = "\x1b[32mok\x1b[0m a line of output \x1b[2K\r\x1b]0;title\x07" + "x" * 60 + "\n"


def big_job(env: BenchEnv, project: Project, prompt_bytes: int, log_bytes: int) -> str:
    prompt = b"word " * (prompt_bytes // 5)
    started = env.run(project, "start", "-", "--exec", "--json", stdin=prompt)
    if started.code != 0:
        raise RuntimeError(f"start failed: {started.stderr.decode(errors='replace')}")
    job_id = str(json.loads(started.stdout)["id"])
    env.ok(project, "wait", job_id, "--timeout", "300s")
    block = LINE.encode() * 16384
    with (project.state_dir / "jobs" / job_id / "output.log").open("wb") as handle:
        for _ in range(max(1, log_bytes // len(block))):
            handle.write(block)
    return job_id


def measure(prompt_mb: int, log_mb: int) -> list[tuple[str, int | None, float]]:
    """(command, peak RSS in KiB, wall seconds) for each read command."""
    env = BenchEnv()
    try:
        project = env.project(0)
        job_id = big_job(env, project, prompt_mb << 20, log_mb << 20)
        rows = []
        for args in (
            ("jobs",),
            ("jobs", "--json"),
            ("status", job_id),
            ("status", job_id, "--json"),
            ("context",),
            ("report", job_id),
            ("output", job_id),
            ("output", job_id, "--strip-ansi"),
            ("output", job_id, "--raw"),
            ("capture", job_id, "200"),
        ):
            begin = time.perf_counter()
            run = env.ok(project, *args, peak=True)
            rows.append((" ".join(args).replace(job_id, "ID"), run.maxrss_kib, time.perf_counter() - begin))
        return rows
    finally:
        env.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory_bounds", description=__doc__.splitlines()[2]
    )
    parser.add_argument("--prompt-mb", type=int, default=50)
    parser.add_argument("--log-mb", type=int, default=1024)
    args = parser.parse_args(argv)
    rows = measure(args.prompt_mb, args.log_mb)
    print(f"peak RSS after a {args.prompt_mb} MB prompt and a {args.log_mb} MB output log (bound: 100 MB)")
    print("| command | peak RSS (MB) | wall (s) |\n|---|---:|---:|")
    for command, peak, wall in rows:
        shown = "unknown (no GNU time)" if peak is None else f"{peak / 1024:.1f}"
        print(f"| `{command}` | {shown} | {wall:.1f} |")
    over = [command for command, peak, _ in rows if peak is not None and peak >= LIMIT_KIB]
    if over:
        print(f"over the bound: {', '.join(over)}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
