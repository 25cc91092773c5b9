"""`slm-wizard check`: the prerequisites step, headless (a table, or JSON with --json)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slm_wizard.core.base.status import ICON, WORD, Status


def add_parser(subparsers) -> None:
    from slm_wizard.core.steps.prereqs import DEFAULT_MIN_RAM_GB, DEFAULT_TIMEOUT

    p = subparsers.add_parser(
        "check",
        help="check Python, RAM, disk, CMake, Foundry Local and the Python packages",
        description="Detect everything the guide needs and say how to fix each gap. "
        "Exit code 0 when nothing failed, 1 when a check failed.",
    )
    p.add_argument("--json", action="store_true",
                   help="print a JSON list, one object per check")
    p.add_argument("--min-ram-gb", type=float, default=DEFAULT_MIN_RAM_GB,
                   metavar="N", help=f"RAM floor in GB (default: {DEFAULT_MIN_RAM_GB:g})")
    p.add_argument("--model", type=Path, metavar="DIR",
                   help="a model folder: also check the RAM and disk its conversion needs")
    p.add_argument("--output-dir", type=Path, metavar="DIR",
                   help="where outputs will go (for the disk space check; default: the data dir)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help="seconds each external command (cmake, foundry) may take "
                   f"(default: {DEFAULT_TIMEOUT:g})")


def render_table(results) -> str:
    rows = [(f"{ICON[r.status]} {WORD[r.status]}", r.title, r.found, r.required) for r in results]
    head = ("", "check", "found", "required")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(3)]
    widths[2] = min(widths[2], 60)
    lines = []
    for row in [head, *rows]:
        found = row[2] if len(row[2]) <= widths[2] else row[2][: widths[2] - 1] + "…"
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {found:<{widths[2]}}  "
                     f"{row[3]}".rstrip())
    fixes = [r for r in results if r.fix and r.status != Status.OK]
    if fixes:
        lines.append("")
        lines.append("How to fix:")
        for r in fixes:
            lines.append(f"  {r.title} [{r.status}]: {r.fix}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.steps import prereqs as step

    options = step.Options(model_dir=args.model, output_dir=args.output_dir,
                           min_ram_gb=args.min_ram_gb, timeout=args.timeout)
    quiet = args.json
    result = step.run(options, on_progress=None if quiet else
                      lambda p: print(p.text, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps([c.to_dict() for c in result.checks], indent=2))
    else:
        print(render_table(result.checks))
        print(f"\n{result.summary}")
    return 1 if result.failed else 0
