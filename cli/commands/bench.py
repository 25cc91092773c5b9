"""`slm-wizard bench`: time a converted model (TTFT, prefill/decode tok/s, latency, RSS, CPU %)
over a prompt set and an input-length sweep; reports in Markdown, JSON and CSV."""

from __future__ import annotations

import argparse
import json

from slm_wizard.cli.commands._validate_common import (
    add_backend_args,
    add_report_args,
    err,
    flat_lengths,
    lengths_arg,
    print_report,
    progress_printer,
    text_table,
)
from slm_wizard.core.steps import bench as step


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = step.Options("")
    p = subparsers.add_parser(
        "bench",
        help="benchmark a converted model: TTFT, tokens/s, latency, memory, CPU",
        description="Run a prompt set (built-in, or --prompts FILE: JSONL with \"prompt\" and "
        "optional \"system\") with warm-up and repetitions, then an input-length sweep. Prints "
        "mean/median/stdev per figure and writes Markdown, JSON and CSV reports.",
    )
    p.add_argument("model", metavar="MODEL_DIR",
                   help="converted ONNX folder (ort) or Foundry Local model id (foundry)")
    add_backend_args(p)
    p.add_argument("--repeats", type=int, default=d.repeats, metavar="N",
                   help="measured rounds over the prompt set and per input length "
                   f"(default {d.repeats})")
    p.add_argument("--warmup", type=int, default=d.warmup, metavar="N",
                   help=f"unmeasured rounds first (default {d.warmup})")
    p.add_argument("--lengths", type=lengths_arg, nargs="+", metavar="N",
                   help="input lengths in tokens, e.g. "
                   f"{' '.join(map(str, d.lengths))} (default). A length below the chat "
                   "template's own tokens or beyond the context is left out, with a note")
    p.add_argument("--no-lengths", action="store_true", help="skip the input-length sweep")
    p.add_argument("--prompts", metavar="FILE", help="JSONL prompt set (default: built-in)")
    p.add_argument("--max-tokens", type=int, default=d.max_tokens, metavar="N",
                   help=f"most tokens per reply (default {d.max_tokens})")
    add_report_args(p)
    return p


def options_from_args(args: argparse.Namespace) -> step.Options:
    d = step.Options("")
    lengths = () if args.no_lengths else (flat_lengths(args.lengths) or d.lengths)
    return step.Options(args.model, args.backend, args.cache_dir, repeats=args.repeats,
                        warmup=args.warmup, lengths=lengths, prompts_file=args.prompts,
                        max_tokens=args.max_tokens, report_dir=args.report_dir)


def run(args: argparse.Namespace) -> int:

    options = options_from_args(args)
    try:
        result = step.run(options, on_progress=progress_printer())
    except step.MeasureError as e:
        err(f"error: {e}")
        return 1
    print_report(result)
    failed = 1 if result.report_error else 0  # the report could not be written
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return failed
    report = result.bench.to_report()
    for table in report.tables[:2]:
        if table.rows:
            print(f"\n{table.title}\n{text_table(table.columns, table.rows)}")
    for note in report.notes:
        print(f"note: {note}")
    return failed
