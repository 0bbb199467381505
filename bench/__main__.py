"""python -m bench [--quick] [--only reads,wait] [--repeat N] [--no-write]

Prints a table and writes it into docs/benchmarks.md (between the generated-section marks).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from bench.report import Row, console_lines, machine, markdown, write_markdown
from bench.scenarios import SCENARIOS, Settings
from bench.state import REPO_ROOT, BenchEnv

DOC = REPO_ROOT / "docs" / "benchmarks.md"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[2])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios: {', '.join(SCENARIOS)}")
    parser.add_argument("--repeat", type=int, help="measured runs per figure (default 15)")
    parser.add_argument("--idle", type=float, help="seconds of the idle-CPU window (default 30)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    return parser.parse_args(argv)


def settings_for(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if args.quick:
        settings = Settings(
            repeat=3, sizes=(10, 100), live=(0, 3), start_repeat=2, wait_repeat=3, concurrent=5, idle_s=2
        )
    if args.repeat:
        settings.repeat = settings.start_repeat = settings.wait_repeat = args.repeat
    if args.idle is not None:
        settings.idle_s = args.idle
    return settings


def main(argv: list[str]) -> int:
    args = parse(argv)
    settings = settings_for(args)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        print(
            f"bench: unknown scenario {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})",
            file=sys.stderr,
        )
        return 2
    box = machine()
    box["load_before"] = box["load"]
    rows: list[Row] = []
    # On `kill`, unwind through the `finally` below so that the live jobs and temp folders go too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    env = BenchEnv()
    began = time.monotonic()
    try:
        for name in chosen:
            print(f"bench: {name} …", file=sys.stderr, flush=True)
            new = SCENARIOS[name](env, settings)
            rows += new
            print("\n".join(console_lines(new)), flush=True)
    finally:
        env.close()
    box.update(machine())
    print(f"\nbench: done in {time.monotonic() - began:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([row.to_json() for row in rows], indent=2) + "\n")
    if args.only and not args.no_write:
        print(f"bench: a partial run (--only) leaves {DOC.relative_to(REPO_ROOT)} alone", file=sys.stderr)
    elif not args.no_write:
        command = "python -m bench" + (" --quick" if args.quick else "")
        command += f" --repeat {args.repeat}" if args.repeat else ""
        write_markdown(DOC, markdown(rows, box, command))
        print(f"bench: wrote {DOC.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
