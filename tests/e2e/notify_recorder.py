"""A notify program for codex in tests: appends its JSON argument as one line to the file named first."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    with open(sys.argv[1], "a", encoding="utf-8") as out:
        out.write(sys.argv[2].replace("\n", " ") + "\n")
