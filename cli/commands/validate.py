"""`slm-wizard validate`: the quality checklist, automated. Each check passes or fails against
its threshold with evidence; the exit code is 1 when any check fails."""

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

CHECKS = ("domain", "format", "leak", "consistency", "edge_cases")


def _checks_arg(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in CHECKS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown check(s) {', '.join(bad) or '(none)'}: choose from {', '.join(CHECKS)}")
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "validate",
        help="run the quality checklist (domain, format, memory leak, consistency, edge cases)",
        description="Run the guide's quality checklist on a converted model: domain answers "
        "(--domain FILE: JSONL with \"prompt\" and \"expected\" or \"expected_regex\", optional "
        "\"system\", \"format\" regex, \"schema\" JSON schema; default MODEL_DIR/domain_eval.jsonl"
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
    p.add_argument("--soak", type=int, default=100, metavar="N",
                   help="generations in the memory soak (default 100, at least 8)")
    p.add_argument("--checks", type=_checks_arg, default=list(CHECKS), metavar="LIST",
                   help=f"comma-separated checks to run (default: {','.join(CHECKS)})")
    p.add_argument("--lengths", type=lengths_arg, nargs="+", metavar="N",
                   help="input lengths for the consistency check (default 16 64 256 1024)")
    p.add_argument("--repeats", type=int, default=2, metavar="N",
                   help="runs per input length (default 2)")
    p.add_argument("--min-score", type=float, default=0.8, metavar="X",
                   help="domain score needed, 0..1 (default 0.8)")
    p.add_argument("--max-leak", type=float, default=25.0, metavar="MB",
                   help="RSS growth allowed per 100 generations, in MB (default 25)")
    p.add_argument("--max-speed-ratio", type=float, default=2.0, metavar="R",
                   help="fastest / slowest decode rate allowed across lengths (default 2)")
    p.add_argument("--edge-timeout", type=float, default=60.0, metavar="S",
                   help="seconds per edge case before it counts as a hang (default 60)")
    add_report_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.bench import DEFAULT_LENGTHS, BenchError
    from slm_wizard.core.chat import ChatError
    from slm_wizard.core.validate import (
        Thresholds,
        ValidateError,
        find_domain_file,
        load_domain_cases,
        run_checklist,
    )

    if not 0.0 <= args.min_score <= 1.0:
        err("error: --min-score is a share from 0 to 1, e.g. 0.8")
        return 2
    if args.soak < 8 and "leak" in args.checks:
        err("error: --soak needs at least 8 generations to fit a trend")
        return 2
    domain = Path(args.domain) if args.domain else None
    if domain is None and args.backend == "ort":
        domain = find_domain_file(Path(args.model))
    cases = []
    if domain is not None and {"domain", "format"} & set(args.checks):
        try:
            cases = load_domain_cases(domain)
        except ValidateError as e:
            err(f"error: {e}")
            return 2
        if args.max_prompts:
            cases = cases[: args.max_prompts]
        err(f"domain prompts: {len(cases)} from {domain}")
    elif {"domain", "format"} & set(args.checks):
        err("note: no domain file (--domain FILE, or domain_eval.jsonl in MODEL_DIR): the domain "
            "and format checks are skipped")
    lengths = [n for group in args.lengths for n in group] if args.lengths \
        else list(DEFAULT_LENGTHS)
    thresholds = Thresholds(domain_score=args.min_score, leak_mb_per_100=args.max_leak,
                            speed_ratio=args.max_speed_ratio, edge_timeout_s=args.edge_timeout)
    backend = open_backend_or_fail(args)
    if backend is None:
        return 1
    try:
        result = run_checklist(backend, domain_cases=cases, soak=args.soak, lengths=lengths,
                               repeats=args.repeats, checks=args.checks, thresholds=thresholds,
                               model=str(args.model), on_progress=progress_printer())
    except (ValidateError, BenchError, ChatError) as e:
        err(f"error: {e}")
        return 1
    finally:
        backend.close()
    report = result.to_report()
    paths = write_report(report, args, Path(str(args.model)).name or "model")
    if args.json:
        out = {"passed": result.passed, "summary": result.summary_line(),
               "checks": report.data["checks"], "report": report_json(paths)}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        table = result.table()
        print(text_table(table.columns, table.rows))
        for c in result.checks:
            if c.status != "pass":
                print(f"\n{c.title}: {c.status.upper()}")
                for line in c.evidence[:12]:
                    print(f"  {line}")
        print(f"\n{result.summary_line()}")
    return 0 if result.passed else 1
