"""Split a paraphrase set once, by a fixed hash, into dev (tuned on) and test (reported only).

A thread's cases stay together (the hash is of the thread name); other cases hash their id.
Re-running on the same file gives the same split, so corrections to a case keep its side.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def side(case: dict) -> str:
    key = case.get("thread") or case["id"]
    return "dev" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 == 0 else "test"


def split(source: Path, dev: Path, test: Path) -> tuple[int, int]:
    lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    halves: dict[str, list[str]] = {"dev": [], "test": []}
    for line in lines:
        halves[side(json.loads(line))].append(line)
    dev.write_text("\n".join(halves["dev"]) + "\n", encoding="utf-8")
    test.write_text("\n".join(halves["test"]) + "\n", encoding="utf-8")
    return len(halves["dev"]), len(halves["test"])


if __name__ == "__main__":  # python -m evals.split_cases SOURCE DEV TEST
    print(split(*map(Path, sys.argv[1:4])))
