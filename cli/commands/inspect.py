"""`slm-wizard inspect`: describe a model folder without loading its weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="describe a Hugging Face model folder (architecture, size, tokenizer, template)",
        description="Read config.json, the tokenizer files and the safetensors headers (no "
        "weights are loaded): architecture, shape, exact parameter count, chat template, family, "
        "whether the ONNX model builder supports it, and the converted size per precision. "
        "Every problem a conversion would meet is named at once (shard index, tokenizer and "
        "config files, sizes, heads, dtype). Exit code 0 when the folder is a model, 2 when it "
        "cannot be used, 1 when a LoRA adapter's base folder does not match it.",
    )
    p.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="the model folder")
    p.add_argument("--base", type=Path, metavar="BASE_DIR",
                   help="for a LoRA adapter folder: its base model's folder, checked against it "
                   "(default: the folder the adapter names, if it exists here)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def render(info, estimates) -> str:
    """A model folder's facts (the ones the Model screen shows), its converted sizes and its
    problems."""
    from slm_wizard.core.base.units import human_bytes
    from slm_wizard.core.steps.inspect import model_facts

    rows = [("Folder", str(info.path)), *model_facts(info)]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines += ["", "precision  size on disk  x fp32  guide  runs on CPU"]
    for e in estimates:
        lines.append(f"{e.precision:<9}  {human_bytes(e.size_bytes):>12}  {e.ratio:6.3f}  "
                     f"{e.guide_ratio:5.3f}  {'yes' if e.cpu_ok else 'no (GPU only)'}")
    if info.problems:
        lines += ["", "Problems:"] + [f"  - {p}" for p in info.problems]
    return "\n".join(lines)


def render_adapter(result) -> str:
    """An adapter's facts (the Model screen's), what it needs, and its base model when found."""
    a = result.adapter
    rows = [("Adapter", str(a.path)), *result.facts]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if result.info is not None and not result.base_problems:
        lines += ["", f"Base model found and matching: {result.info.path}", "",
                  render(result.info, result.estimates)]
    else:
        lines += ["", f"Needs {a.needs}"]
        lines += [f"  - {p}" for p in result.base_problems]
    if a.problems:
        lines += ["", "Problems:"] + [f"  - {p}" for p in a.problems]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.steps import inspect as step

    # Not a usable model folder: refused (cli.main prints why, exit 2).
    result = step.run(step.Options(args.model_dir, getattr(args, "base", None)))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.adapter is not None:
        print(render_adapter(result))
    else:
        print(render(result.info, result.estimates))
    return 1 if result.adapter is not None and result.info is not None \
        and result.base_problems else 0
