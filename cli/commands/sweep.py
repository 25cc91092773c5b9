"""`slm-wizard sweep`: the quantization advisor. Convert one Hugging Face model to several
variants (each once, cached), measure size, speed and fidelity against fp32 on this machine, and
recommend one by a stated rule."""

from __future__ import annotations

import argparse
import json

from slm_wizard.cli.commands._validate_common import (
    print_report,
    progress_printer,
    text_table,
)
from slm_wizard.core.steps import DOMAIN_FILE
from slm_wizard.core.steps import sweep as step


def _share(text: str) -> float:
    """0.9, 90 or 90% → 0.9."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    return value / 100 if value > 1 or text.strip().endswith("%") else value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = step.Options("")
    p = subparsers.add_parser(
        "sweep",
        help="quantization advisor: compare fp32/int8/int4 variants and recommend one",
        description="Convert MODEL_DIR (a Hugging Face folder) to each variant with Olive "
        "(each once, cached by model content and options), measure each in a fresh process "
        "(size, TTFT, tok/s, peak RSS, domain score) and its fidelity against fp32 teacher "
        "forced through the domain set's reference answers (mean and p99 KL divergence, "
        "top-1 agreement, perplexity; built-in neutral text when there is no domain set). "
        "Recommends the smallest variant within --max-kld and --min-top1. Variants: fp32, "
        "int8, int4[-<algo>][-b<block>][-asym][-embfp32] with algo default, rtn, rtn_last, "
        "k_quant, k_quant_mixed, k_quant_last. Presets: "
        + "; ".join(f"{k}: {', '.join(v)}" for k, v in step.PRESETS.items()) + ".",
    )
    p.add_argument("model", metavar="MODEL_DIR", help="the Hugging Face model folder")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--variants", "--precisions", dest="variants", metavar="LIST",
                       help="comma-separated variants, e.g. fp32,int8,int4-k_quant_mixed "
                       "(fp32 is always added: it is the reference)")
    group.add_argument("--preset", choices=tuple(step.PRESETS),
                       help="a variant list (default: the quick preset)")
    p.add_argument("--domain", metavar="FILE",
                   help="domain set (JSONL with prompt, expected, optional system): fidelity is "
                   f"measured on its expected answers (default: MODEL_DIR/{DOMAIN_FILE} if "
                   "present, else built-in neutral text, which the result says)")
    p.add_argument("--max-kld", type=_positive, default=d.max_kld, metavar="X",
                   help=f"largest mean KL divergence from fp32 to recommend "
                   f"(default {d.max_kld:g})")
    p.add_argument("--min-top1", type=_share, default=d.min_top1, metavar="P",
                   help=f"smallest top-1 agreement with fp32, 0.9 or 90%% (default "
                   f"{d.min_top1 * 100:.0f}%%)")
    p.add_argument("--max-prompts", type=int, default=d.max_prompts, metavar="N",
                   help=f"domain prompts answered per variant for the score (default "
                   f"{d.max_prompts})")
    p.add_argument("--fidelity-tokens", type=int, default=None, metavar="N",
                   help="answer tokens compared per variant (default 1024)")
    p.add_argument("--output", metavar="DIR",
                   help="where the converted variants are cached (default: <cache dir>/sweep)")
    p.add_argument("--report-dir", metavar="DIR",
                   help="where the Markdown, JSON and CSV reports go (default: "
                   "<data dir>/reports/<time>-<model>/)")
    p.add_argument("--json", action="store_true",
                   help="print the full result as JSON on stdout (progress stays on stderr)")
    return p


def options_from_args(args: argparse.Namespace) -> step.Options:
    variants = step.DEFAULT_VARIANTS if args.variants is None else args.variants  # "": refused
    return step.Options(args.model, variants,
                        domain_file=args.domain,
                        max_prompts=args.max_prompts, output=args.output,
                        report_dir=args.report_dir, preset=args.preset, max_kld=args.max_kld,
                        min_top1=args.min_top1, fidelity_tokens=args.fidelity_tokens)


def run(args: argparse.Namespace) -> int:
    # A refusal exits 2 and ctrl+c exits 130, both in cli.main, as for every command.
    result = step.run(options_from_args(args), on_progress=progress_printer())
    print_report(result)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        table = result.sweep.table()
        print(text_table(table.columns, table.rows))
        print(f"\n{step.plot_text(result.sweep)}")
        print(f"\nFidelity measured on {result.sweep.domain_source}.")
        print(f"Rule: {result.sweep.rule}.")
        print(result.sweep.recommendation)
    if result.sweep.cancelled:
        return 130
    return 0 if result.sweep.recommended and not result.report_error else 1
