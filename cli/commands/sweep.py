"""`slm-wizard sweep`: convert one Hugging Face model to several precisions and compare them
measured on this machine (size, load time, TTFT, tok/s, peak RSS, domain score, agreement)."""

from __future__ import annotations

import argparse
import json

from slm_wizard.cli.commands._validate_common import (
    err,
    print_report,
    progress_printer,
    text_table,
)
from slm_wizard.core.steps import sweep as step


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = step.Options("")
    default = ",".join(d.precisions)
    p = subparsers.add_parser(
        "sweep",
        help="convert to fp32/int8/int4 and compare the variants measured on this machine",
        description="Convert MODEL_DIR (a Hugging Face folder) to each precision with Olive, "
        "measure each variant in a fresh process, and print a comparison table with a "
        "recommendation that follows from the numbers. Precisions: fp32, int8, int4 (block 32, "
        "symmetric) and int4-b<block>[-asym], e.g. int4-b128-asym.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help="the Hugging Face model folder")
    p.add_argument("--precisions", default=default, metavar="LIST",
                   help=f"comma-separated variants (default: {default})")
    p.add_argument("--domain", metavar="FILE",
                   help="domain prompts (JSONL) for the score and the agreement with fp32 "
                   "(default: MODEL_DIR/domain_eval.jsonl if present, else built-in prompts)")
    p.add_argument("--max-prompts", type=int, default=d.max_prompts, metavar="N",
                   help=f"domain prompts per variant (default {d.max_prompts})")
    p.add_argument("--output", metavar="DIR",
                   help="where the variants go, one sub-folder each (default: "
                   "<data dir>/sweeps/<time>-<model>/)")
    p.add_argument("--method", choices=step.METHODS, default=d.method,
                   help=f"Olive method (default {d.method}: the one that builds every variant)")
    p.add_argument("--report-dir", metavar="DIR",
                   help="where the Markdown, JSON and CSV reports go (default: "
                   "<data dir>/reports/<time>-<model>/)")
    p.add_argument("--json", action="store_true",
                   help="print the full result as JSON on stdout (progress stays on stderr)")
    return p


def options_from_args(args: argparse.Namespace) -> step.Options:
    return step.Options(args.model, args.precisions, domain_file=args.domain,
                        max_prompts=args.max_prompts, output=args.output, method=args.method,
                        report_dir=args.report_dir)


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.sweep import SweepError

    options = options_from_args(args)
    try:
        result = step.run(options, on_progress=progress_printer())
    except SweepError as e:
        err(f"error: {e}")
        return 2
    print_report(result)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        table = result.sweep.table()
        print(text_table(table.columns, table.rows))
        print(f"\n{result.sweep.recommendation}")
    return 1 if result.failed or not result.sweep.variants else 0
