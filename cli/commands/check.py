"""`slm-wizard check`: the prerequisites step, headless (a table, or JSON with --json)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ICONS = {"pass": "ok", "warn": "WARN", "fail": "FAIL", "skipped": "skip"}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="check Python, RAM, disk, CMake, Foundry Local and the Python packages",
        description="Detect everything the guide needs and say how to fix each gap. "
        "Exit code 0 when nothing failed, 1 when a check failed.",
    )
    p.add_argument("--json", action="store_true",
                   help="print a JSON list, one object per check")
    p.add_argument("--min-ram-gb", type=float, default=8.0, metavar="N",
                   help="RAM floor in GB (default: 8)")
    p.add_argument("--model", type=Path, metavar="DIR",
                   help="a model folder: also check the RAM and disk its conversion needs")
    p.add_argument("--output-dir", type=Path, metavar="DIR",
                   help="where outputs will go (for the disk space check; default: the data dir)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="seconds each external command (cmake, foundry) may take (default: 5)")


def render_table(results) -> str:
    rows = [(ICONS.get(r.status, r.status), r.title, r.found, r.required) for r in results]
    head = ("", "check", "found", "required")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(3)]
    widths[2] = min(widths[2], 60)
    lines = []
    for row in [head, *rows]:
        found = row[2] if len(row[2]) <= widths[2] else row[2][: widths[2] - 1] + "…"
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {found:<{widths[2]}}  "
                     f"{row[3]}".rstrip())
    fixes = [r for r in results if r.fix and r.status != "pass"]
    if fixes:
        lines.append("")
        lines.append("How to fix:")
        for r in fixes:
            lines.append(f"  {r.title} [{r.status}]: {r.fix}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.prereqs import run_checks, summary_line

    if args.min_ram_gb <= 0:
        print("--min-ram-gb must be a positive number of GB", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        print("--timeout must be a positive number of seconds", file=sys.stderr)
        return 2
    model = args.model
    if model is not None:
        from slm_wizard.core.model_info import ModelFolderError, check_model_folder

        try:
            model = check_model_folder(model)
        except ModelFolderError as exc:
            print(f"--model: {exc}", file=sys.stderr)
            return 2
    if not args.json:
        print("Checking prerequisites…", file=sys.stderr)
    results = run_checks(output_dir=args.output_dir, model_dir=model,
                         min_ram_gb=args.min_ram_gb, timeout=args.timeout)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(render_table(results))
        print(f"\n{summary_line(results)}")
    return 1 if any(r.status == "fail" for r in results) else 0
