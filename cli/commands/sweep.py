"""`slm-wizard sweep`: convert one Hugging Face model to several precisions and compare them
measured on this machine (size, load time, TTFT, tok/s, peak RSS, domain score, agreement)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slm_wizard.cli.commands._validate_common import err, progress_printer, report_json, text_table

DEFAULT = "fp32,int8,int4,int4-b128-asym"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sweep",
        help="convert to fp32/int8/int4 and compare the variants measured on this machine",
        description="Convert MODEL_DIR (a Hugging Face folder) to each precision with Olive, "
        "measure each variant in a fresh process, and print a comparison table with a "
        "recommendation that follows from the numbers. Precisions: fp32, int8, int4 (block 32, "
        "symmetric) and int4-b<block>[-asym], e.g. int4-b128-asym.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help="the Hugging Face model folder")
    p.add_argument("--precisions", default=DEFAULT, metavar="LIST",
                   help=f"comma-separated variants (default: {DEFAULT})")
    p.add_argument("--domain", metavar="FILE",
                   help="domain prompts (JSONL) for the score and the agreement with fp32 "
                   "(default: MODEL_DIR/domain_eval.jsonl if present, else built-in prompts)")
    p.add_argument("--max-prompts", type=int, default=20, metavar="N",
                   help="domain prompts per variant (default 20)")
    p.add_argument("--output", metavar="DIR",
                   help="where the variants go, one sub-folder each (default: "
                   "<data dir>/sweeps/<time>-<model>/)")
    p.add_argument("--method", choices=("config", "auto-opt"), default="config",
                   help="Olive method (default config: the one that builds every variant)")
    p.add_argument("--report-dir", metavar="DIR",
                   help="where the Markdown, JSON and CSV reports go (default: "
                   "<data dir>/reports/<time>-<model>/)")
    p.add_argument("--json", action="store_true",
                   help="print the full result as JSON on stdout (progress stays on stderr)")
    return p


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.reports import export_report
    from slm_wizard.core.sweep import SweepError, parse_variants, run_sweep

    try:
        variants = parse_variants(args.precisions)
    except SweepError as e:
        err(f"error: {e}")
        return 2
    if args.max_prompts < 1:
        err("error: --max-prompts must be at least 1")
        return 2
    try:
        result = run_sweep(args.model, variants, output_root=args.output,
                           domain_file=args.domain, max_prompts=args.max_prompts,
                           method=args.method, on_progress=progress_printer())
    except SweepError as e:
        err(f"error: {e}")
        return 2
    report = result.to_report()
    try:
        paths = export_report(report, Path(args.report_dir) if args.report_dir else None,
                              model_name=Path(result.model).name)
        err(f"report: {paths.markdown} (+ .json, .csv) in {paths.folder}")
    except OSError as e:
        err(f"warning: the report could not be written: {e}")
        paths = None
    failed = [v for v in result.variants if not v.ok]
    if args.json:
        out = report.data | {"recommendation": result.recommendation,
                             "report": report_json(paths)}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        table = result.table()
        print(text_table(table.columns, table.rows))
        print(f"\n{result.recommendation}")
    return 1 if failed or not result.variants else 0
