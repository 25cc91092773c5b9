"""`make bench`: speed figures, printed (not tests). `python -m bench [NAME ...]` runs some."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("b_"))
    wanted = [n for n in names if not argv or n.removeprefix("b_") in argv]
    for name in wanted:
        print(f"\n== {name.removeprefix('b_')} ==", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
