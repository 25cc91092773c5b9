"""`slm-wizard validate`: the quality checklist, automated. Each check passes or fails against
its threshold with evidence; the exit code is 1 when any check fails."""

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
from slm_wizard.core.steps import DOMAIN_FILE
from slm_wizard.core.steps import checklist as step
from slm_wizard.core.steps.checklist import CHECK_IDS, LABEL


def _checks_arg(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in CHECK_IDS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown check(s) {', '.join(bad) or '(none)'}: choose from {', '.join(CHECK_IDS)}")
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = step.Options("")
    p = subparsers.add_parser(
        "validate",
        help="run the quality checklist (domain, format, memory leak, consistency, edge cases)",
        description="Run the guide's quality checklist on a converted model: domain answers "
        "(--domain FILE: JSONL with \"prompt\" and \"expected\" or \"expected_regex\", optional "
        f"\"system\", \"format\" regex, \"schema\" JSON schema; default MODEL_DIR/{DOMAIN_FILE}"
        "), reply format, a memory soak of --soak N generations (RSS growth by linear fit), "
        "decode speed across input lengths, and edge cases (empty, very long, emoji, control "
        "characters, template tokens, another language, invalid settings). Exit code 1 when a "
        "check fails; checks that cannot run are skipped with the reason.",
    )
    p.add_argument("model", metavar="MODEL_DIR",
                   help="converted ONNX folder (ort) or Foundry Local model id (foundry)")
    add_backend_args(p)
    p.add_argument("--domain", metavar="FILE", help="domain prompts and expected answers (JSONL)")
    p.add_argument("--max-prompts", type=int, metavar="N",
                   help="use only the first N domain prompts (default: all)")
    p.add_argument("--soak", type=int, default=d.soak, metavar="N",
                   help=f"generations in the memory soak (default {d.soak}, at least 8)")
    p.add_argument("--checks", type=_checks_arg, default=list(d.checks), metavar="LIST",
                   help=f"comma-separated checks to run (default: {','.join(d.checks)})")
    p.add_argument("--lengths", type=lengths_arg, nargs="+", metavar="N",
                   help="input lengths for the consistency check (default "
                   f"{' '.join(map(str, d.lengths))})")
    p.add_argument("--repeats", type=int, default=d.repeats, metavar="N",
                   help=f"runs per input length (default {d.repeats})")
    p.add_argument("--min-score", type=float, default=d.min_score, metavar="X",
                   help=f"domain score needed, 0..1 (default {d.min_score:g})")
    p.add_argument("--max-leak", type=float, default=d.max_leak, metavar="MB",
                   help=f"RSS growth allowed per 100 generations, in MB (default {d.max_leak:g})")
    p.add_argument("--max-speed-ratio", type=float, default=d.max_speed_ratio, metavar="R",
                   help="fastest / slowest decode rate allowed across lengths "
                   f"(default {d.max_speed_ratio:g})")
    p.add_argument("--edge-timeout", type=float, default=d.edge_timeout, metavar="S",
                   help="seconds per edge case before it counts as a hang "
                   f"(default {d.edge_timeout:g})")
    add_report_args(p)
    return p


def options_from_args(args: argparse.Namespace) -> step.Options:
    d = step.Options("")
    return step.Options(args.model, args.backend, args.cache_dir, domain_file=args.domain,
                        max_prompts=args.max_prompts, soak=args.soak, checks=tuple(args.checks),
                        lengths=flat_lengths(args.lengths) or d.lengths, repeats=args.repeats,
                        min_score=args.min_score, max_leak=args.max_leak,
                        max_speed_ratio=args.max_speed_ratio, edge_timeout=args.edge_timeout,
                        report_dir=args.report_dir)


def run(args: argparse.Namespace) -> int:

    options = options_from_args(args)
    try:
        result = step.run(options, on_progress=progress_printer())
    except step.MeasureError as e:
        err(f"error: {e}")
        return 1
    print_report(result)
    checklist = result.checklist
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        table = checklist.table()
        print(text_table(table.columns, table.rows))
        for c in checklist.checks:
            if c.passed is not True:
                print(f"\n{c.title}: {LABEL[c.status]}")
                for line in c.evidence[:12]:
                    print(f"  {line}")
                if c.fix:
                    print(f"  fix: {c.fix}")
        print(f"\n{checklist.summary_line()}")
    return 0 if checklist.passed and not result.report_error else 1
