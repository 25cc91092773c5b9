"""`slm-wizard bench`: time a converted model (TTFT, prefill/decode tok/s, latency, RSS, CPU %)
over a prompt set and an input-length sweep; reports in Markdown, JSON and CSV."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slm_wizard.cli.commands._validate_common import (
    add_backend_args,
    add_report_args,
    err,
    lengths_arg,
    open_backend_or_fail,
    progress_printer,
    report_json,
    text_table,
    write_report,
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
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
    p.add_argument("--repeats", type=int, default=3, metavar="N",
                   help="measured rounds over the prompt set and per input length (default 3)")
    p.add_argument("--warmup", type=int, default=1, metavar="N",
                   help="unmeasured rounds first (default 1)")
    p.add_argument("--lengths", type=lengths_arg, nargs="+", metavar="N",
                   help="input lengths in tokens, e.g. 16 64 256 1024 (default; capped by the "
                   "model's max_length)")
    p.add_argument("--no-lengths", action="store_true", help="skip the input-length sweep")
    p.add_argument("--prompts", metavar="FILE", help="JSONL prompt set (default: built-in)")
    p.add_argument("--max-tokens", type=int, default=64, metavar="N",
                   help="most tokens per reply (default 64)")
    add_report_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.bench import DEFAULT_LENGTHS, BenchError, load_prompts, run_benchmark
    from slm_wizard.core.chat import ChatError, GenerationSettings

    settings = GenerationSettings(max_tokens=args.max_tokens)
    try:
        settings.validate()
    except ValueError as e:
        err(f"error: {e}")
        return 2
    lengths = [] if args.no_lengths else (
        [n for group in args.lengths for n in group] if args.lengths else list(DEFAULT_LENGTHS))
    try:
        prompts = load_prompts(args.prompts) if args.prompts else None
    except BenchError as e:
        err(f"error: {e}")
        return 2
    backend = open_backend_or_fail(args)
    if backend is None:
        return 1
    name = Path(str(args.model)).name or str(args.model)
    try:
        result = run_benchmark(backend, prompts, warmup=args.warmup, repeats=args.repeats,
                               settings=settings, lengths=lengths, model=str(args.model),
                               on_progress=progress_printer())
    except (BenchError, ChatError) as e:
        err(f"error: {e}")
        return 1
    finally:
        backend.close()
    report = result.to_report()
    paths = write_report(report, args, name)
    if args.json:
        out = result.to_dict()
        out["report"] = report_json(paths)
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    for table in report.tables[:2]:
        if table.rows:
            print(f"\n{table.title}\n{text_table(table.columns, table.rows)}")
    for note in report.notes:
        print(f"note: {note}")
    return 0
