"""`slm-wizard convert`: the conversion step, headless (Olive, then verification)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PRECISIONS = ("fp32", "fp16", "int8", "int4")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a model folder to ONNX with Olive (fp32/int8/int4) and verify it",
        description="Run Olive 0.13.0 (one command: olive auto-opt, or a config file: olive run "
        "--config finetuned_conversion_config.json), then verify the output: files, the ONNX "
        "graph's quantization versus what was asked, and a short generation. Progress goes to "
        "stderr, the result to stdout. Exit code 0 on success, 1 when the conversion or its "
        "verification failed, 2 when the options are refused.",
    )
    p.add_argument("model_dir", type=Path, nargs="?", metavar="MODEL_DIR",
                   help="the Hugging Face model folder")
    p.add_argument("--output", "-o", type=Path, metavar="OUT",
                   help="output folder (new or empty; default: <data dir>/models/<name>-<prec>)")
    p.add_argument("--precision", default="int4", choices=PRECISIONS,
                   help="int4 (smallest, fastest on CPU; default), int8, fp32; fp16 needs a GPU")
    p.add_argument("--method", default=None, choices=("auto-opt", "config"),
                   help="auto-opt: one olive command; config: a workflow file with the builder "
                   "options (needed for int8 and for int4 block size/asymmetric/accuracy). "
                   "Default: auto-opt when it can do what is asked, else config")
    p.add_argument("--block-size", type=int, default=32, choices=(16, 32, 64, 128, 256),
                   help="int4/int8 quantization block size (default 32)")
    sym = p.add_mutually_exclusive_group()
    sym.add_argument("--symmetric", dest="symmetric", action="store_true", default=True,
                     help="symmetric quantization, no zero points (default)")
    sym.add_argument("--asymmetric", dest="symmetric", action="store_false",
                     help="asymmetric quantization (zero points): a little more accurate")
    p.add_argument("--accuracy-level", type=int, choices=(1, 2, 3, 4), metavar="N",
                   help="int4 MatMul compute type: 1 fp32, 2 fp16, 3 bf16, 4 int8")
    p.add_argument("--log-level", type=int, default=1, choices=range(0, 5), metavar="N",
                   help="Olive's log level (1 shows the progress; default 1)")
    p.add_argument("--replace", action="store_true",
                   help="replace the contents of a non-empty output folder (after success)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the command or config and the estimates; run nothing")
    p.add_argument("--check-config", type=Path, metavar="FILE",
                   help="check an existing Olive config file for keys Olive ignores, and exit")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def _options(args):
    from slm_wizard.core.convert import ConvertOptions, default_output_dir

    method = args.method
    if method is None:
        simple = args.precision in ("fp32", "fp16") or (
            args.precision == "int4" and args.block_size == 32 and args.symmetric
            and args.accuracy_level in (None, 4))
        method = "auto-opt" if simple else "config"
    out = args.output or default_output_dir(args.model_dir, args.precision)
    return ConvertOptions(
        model_dir=args.model_dir, output_dir=out, precision=args.precision, method=method,
        block_size=args.block_size, symmetric=args.symmetric,
        accuracy_level=args.accuracy_level, log_level=args.log_level, replace=args.replace)


def _check_config(args) -> int:
    from slm_wizard.core.convert import check_config_file

    found = check_config_file(args.check_config)
    if args.json:
        print(json.dumps({"ok": not found, "file": str(args.check_config), "problems": found},
                         indent=2))
    elif found:
        print("\n".join(f"- {f}" for f in found))
    else:
        print(f"{args.check_config}: no ignored or invalid keys found.")
    return 1 if found else 0


def run(args: argparse.Namespace) -> int:
    if args.check_config:
        return _check_config(args)
    if args.model_dir is None:
        print("error: give MODEL_DIR (or --check-config FILE)", file=sys.stderr)
        return 2
    from dataclasses import asdict

    from slm_wizard.core.convert import (
        build_config,
        display_command,
        estimate,
        resources,
        validate_options,
    )
    from slm_wizard.core.model_info import ModelFolderError, inspect_model

    try:
        info = inspect_model(args.model_dir)
    except ModelFolderError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    opts = _options(args)
    issues = validate_options(opts, info)
    errors = [i for i in issues if i.is_error]
    if args.dry_run:
        config = build_config(opts) if opts.method == "config" else None
        res = resources(opts, info) if opts.precision in ("fp32", "int8", "int4") else None
        data = {"ok": not errors, "options": opts.to_dict(), "command": display_command(opts),
                "config": config, "issues": [asdict(i) for i in issues],
                "resources": ({**asdict(res), "disk_at": str(res.disk_at)} if res else None),
                "estimates": [asdict(e) for e in estimate(info, opts.block_size, opts.symmetric)]}
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            from slm_wizard.cli.commands.inspect import render

            print(data["command"])
            if config is not None:
                print(json.dumps(config, indent=2))
            print()
            print(render(info, estimate(info, opts.block_size, opts.symmetric)))
            if res is not None:
                print(f"\nThis conversion {res.describe()}.")
            for i in issues:
                print(f"{i.level}: {i.message}")
        return 2 if errors else 0
    for i in issues:
        print(f"{i.level}: {i.message}", file=sys.stderr)
    if errors:
        if args.json:
            print(json.dumps({"ok": False, "error": " ".join(i.message for i in errors),
                              "issues": [asdict(i) for i in issues]}))
        return 2
    result = _run_with_ctrl_c(opts)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render_result(result))
    return 0 if result.ok else (130 if result.cancelled else 1)


def _run_with_ctrl_c(opts):
    """Run in a thread so that Ctrl-C cancels Olive cleanly (it runs in its own session)."""
    import threading

    from slm_wizard.core.convert import run_conversion

    cancel = threading.Event()
    box: list = []

    def progress(e) -> None:
        if e.kind == "log":
            return
        pct = f"{e.progress * 100:3.0f}%" if e.progress is not None else "    "
        print(f"[{pct}] {e.elapsed:6.1f}s {e.message}", file=sys.stderr, flush=True)

    worker = threading.Thread(target=lambda: box.append(run_conversion(opts, progress, cancel)),
                              daemon=True)
    worker.start()
    while worker.is_alive():
        try:
            worker.join(0.2)
        except KeyboardInterrupt:
            print("cancelling…", file=sys.stderr, flush=True)
            cancel.set()
    return box[0]


def render_result(result) -> str:
    from slm_wizard.core.convert import human_bytes

    lines = [f"{'OK' if result.ok else 'FAILED'}: {result.output_dir or '-'} "
             f"({result.elapsed_s:.1f} s)"]
    if result.error:
        lines.append(f"error: {result.error}")
    v = result.verification
    if v is not None:
        for c in v.checks:
            lines.append(f"  {'ok  ' if c.ok else 'FAIL'} {c.name:<10} {c.detail}")
        for m in v.mismatches:
            lines.append(f"  MISMATCH {m}")
        if v.estimate_bytes:
            lines.append(f"  size on disk {human_bytes(v.size_bytes)} "
                         f"(estimate {human_bytes(v.estimate_bytes)})")
    lines.append(f"command: {result.command}")
    if result.config_path:
        lines.append(f"config: {result.config_path}")
    if result.log_path:
        lines.append(f"log: {result.log_path}")
    return "\n".join(lines)
