"""`slm-wizard convert`: the conversion step, headless (Olive, then verification)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

from slm_wizard.core.steps import convert as step
from slm_wizard.core.steps.convert import (
    ACCURACY_LEVELS,
    ADAPTER_MODES,
    BLOCK_SIZES,
    DEFAULT_ADAPTER_MODE,
    METHODS,
    PRECISIONS,
)


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
    p.add_argument("--precision", default=step.DEFAULT_PRECISION, choices=PRECISIONS,
                   help="int4 (fastest on CPU; smallest unless the embedding table is large: "
                   "see inspect; default), int8, fp32; fp16 needs a GPU")
    p.add_argument("--method", default=None, choices=METHODS,
                   help="auto-opt: one olive command; config: a workflow file with the builder "
                   "options (needed for int8 and for int4 block size/asymmetric/accuracy). "
                   "Default: auto-opt when it can do what is asked, else config")
    p.add_argument("--block-size", type=int, default=step.DEFAULT_BLOCK_SIZE, choices=BLOCK_SIZES,
                   help="int4/int8 quantization block size (default 32)")
    sym = p.add_mutually_exclusive_group()
    sym.add_argument("--symmetric", dest="symmetric", action="store_true", default=True,
                     help="symmetric quantization, no zero points (default)")
    sym.add_argument("--asymmetric", dest="symmetric", action="store_false",
                     help="asymmetric quantization (zero points): a little more accurate")
    p.add_argument("--accuracy-level", type=int, choices=tuple(ACCURACY_LEVELS), metavar="N",
                   help="int4 MatMul compute type: 1 fp32, 2 fp16, 3 bf16, 4 int8")
    p.add_argument("--log-level", type=int, default=step.DEFAULT_LOG_LEVEL, choices=range(0, 5),
                   metavar="N",
                   help="Olive's log level (1 shows the progress; default 1)")
    p.add_argument("--replace", action="store_true",
                   help="replace the contents of a non-empty output folder (after success)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the verification of the output (files, graph, a generation)")
    p.add_argument("--base", type=Path, metavar="BASE_DIR",
                   help="for a LoRA adapter folder (adapter_config.json): the local folder of its "
                   "base model (default: the folder the adapter names, if it exists here)")
    p.add_argument("--adapter-mode", default=None, choices=ADAPTER_MODES,
                   help="merge (default): merge the adapter into the base with PEFT and convert "
                   "the merged model (deployable to Foundry Local); adapter: convert the base "
                   "and write adapter_weights.onnx_adapter beside it (onnxruntime-genai only)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the command or config and the estimates; run nothing")
    p.add_argument("--check-config", type=Path, metavar="FILE",
                   help="check an existing Olive config file for keys Olive ignores, and exit")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def options_from_args(args: argparse.Namespace) -> step.Options:
    """The step's Options for parsed arguments (defaults and the method choice are core's).
    --adapter-mode given for a folder that is not a LoRA adapter is refused (exit 2)."""
    options = step.Options(
        model_dir=args.model_dir, output_dir=args.output, precision=args.precision,
        method=args.method, block_size=args.block_size, symmetric=args.symmetric,
        accuracy_level=args.accuracy_level, log_level=args.log_level, replace=args.replace,
        verify=args.verify, base_dir=args.base,
        adapter_mode=args.adapter_mode or DEFAULT_ADAPTER_MODE)
    if args.adapter_mode is not None:
        step.check_adapter_mode(options, explicit=True)
    return options


def _check_config(args) -> int:
    """0: no problem found, 1: problems found in the file, 2: no file to check (refused)."""
    path = args.check_config
    if not path.is_file():
        from slm_wizard.core.steps.inspect import missing_reason

        raise step.ConvertRefused(f"--check-config: {path} " + (
            "is a folder, not a file" if path.is_dir() else missing_reason(path)))
    found = step.check_config_file(path)
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

    options = options_from_args(args)
    plan = step.plan(options)  # refused options: cli.main prints why (exit 2)
    if args.dry_run:
        return _dry_run(args, plan)
    for i in plan.issues:
        print(f"{i.level}: {i.message}", file=sys.stderr)
    result, stopped_by = _run_with_ctrl_c(plan)  # the plan checked above: no second inspection
    if result.cancelled:
        code = 128 + (stopped_by or signal.SIGINT)
        by = "" if stopped_by in (None, signal.SIGINT) else f" by {signal.Signals(stopped_by).name}"
        print(f"interrupted: convert cancelled{by}, no output was kept (exit {code})",
              file=sys.stderr)
        return code
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render_result(result))
    return 0 if result.ok else 1


def _dry_run(args: argparse.Namespace, plan: step.Plan) -> int:
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        from slm_wizard.cli.commands.inspect import render

        print("\n".join(plan.step_lines))
        if plan.config is not None:
            print(json.dumps(plan.config, indent=2))
        print(f"\nmethod: {plan.method_reason}\n")
        print(render(plan.info, plan.estimates))
        needs = plan.needs(with_free=True)
        if needs:
            print(f"\n{needs}")
        for i in plan.issues:
            print(f"{i.level}: {i.message}")
    return 2 if plan.errors else 0


def _run_with_ctrl_c(plan: step.Plan) -> tuple[step.Result, int | None]:
    """Run in a thread so that Ctrl-C, SIGTERM or SIGHUP cancel Olive cleanly (it runs in its
    own session): the first signal asks the run to stop and waits for it to remove its work
    folder; the result says it was cancelled, with the signal (exit 128 + its number)."""
    import threading

    from slm_wizard.core.base import signals

    cancel = threading.Event()
    box: list = []
    stopped_by: list[int] = []

    started = time.monotonic()

    def progress(e: step.Progress) -> None:
        if e.log:
            return
        pct = f"{e.fraction * 100:3.0f}%" if e.fraction is not None else "    "
        print(f"[{pct}] {time.monotonic() - started:6.1f}s {e.text}", file=sys.stderr,
              flush=True)

    def work() -> None:
        try:
            box.append(step.run(plan.options, on_progress=progress, cancel=cancel, plan=plan))
        except BaseException as exc:  # re-raised in the main thread
            box.append(exc)

    def on_signal(signum: int) -> None:  # no exception: the run stops itself and cleans up
        if not cancel.is_set():
            stopped_by.append(signum)
            with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
                print("cancelling… (removing the work folder)", file=sys.stderr, flush=True)
        cancel.set()

    worker = threading.Thread(target=work, daemon=True)
    with signals.on_stop_signal(on_signal):
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    if not box:  # the worker ended without a result: treat it as an interruption
        raise signals.Interrupted(stopped_by[0] if stopped_by else signal.SIGINT)
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0], (stopped_by[0] if stopped_by else None)


def render_result(result: step.Result) -> str:
    from slm_wizard.core.base.status import ICON, WORD
    from slm_wizard.core.base.units import human_bytes

    c = result.conversion
    lines = [f"{'OK' if result.ok else 'FAILED'}: {result.output_dir or '-'} "
             f"({c.elapsed_s:.1f} s)"]
    if result.error:
        lines.append(f"error: {result.error}")
    v = c.verification
    if v is not None:
        for check in result.checks:
            lines.append(f"  {ICON[check.status]} {WORD[check.status]:<4} {check.id:<10} "
                         f"{check.found}")
        for m in v.mismatches:
            lines.append(f"  MISMATCH {m}")
        if v.estimate_bytes:
            lines.append(f"  size on disk {human_bytes(v.size_bytes)} "
                         f"(estimate {human_bytes(v.estimate_bytes)})")
    lines.append(f"command: {c.command}")
    if c.config_path:
        lines.append(f"config: {c.config_path}")
    if c.log_path:
        lines.append(f"log: {c.log_path}")
    return "\n".join(lines)
