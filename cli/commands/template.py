"""`slm-wizard template`: detect the model family, pick its PromptTemplate and compare it with the
tokenizer's own chat template (headless part of the deploy step)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "template",
        help="detect the model family and check its Foundry Local PromptTemplate",
        description="Detect the model family from config.json / genai_config.json and the chat "
        "template markers, pick the PromptTemplate and render a sample conversation with it and "
        "with the tokenizer's own chat template. Exit code 0 when they match, 1 on a mismatch "
        "(a mismatched template silently ruins output), 2 on bad input.",
    )
    add_template_args(p)
    p.add_argument("--show", action="store_true",
                   help="print both renderings and their diff")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_template_args(p: argparse.ArgumentParser,
                      folder_help: str = "a converted ONNX folder (or a Hugging Face folder)"
                      ) -> None:
    """Options shared with `deploy`."""
    from slm_wizard.core.templates import FAMILIES  # light: no heavy imports

    p.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help=folder_help)
    p.add_argument("--family", choices=sorted(FAMILIES),
                   help="the model family (default: detected)")
    p.add_argument("--prompt-template", type=Path, metavar="FILE",
                   help="a JSON file with system/user/assistant/prompt (overrides --family)")


def resolve_template(args: argparse.Namespace) -> tuple[str, dict, dict]:
    """(family id, template, detection info). Raises TemplateError / OSError for bad input."""
    from slm_wizard.core.templates import (
        TemplateError,
        detect_family,
        template_for,
        validate_template,
    )

    fam, conf, reasons = detect_family(args.model_dir)
    info = {"detected": fam, "confidence": conf, "reasons": reasons}
    if args.prompt_template:
        try:
            data = json.loads(args.prompt_template.read_text(encoding="utf-8"))
        except ValueError as e:
            raise TemplateError(f"{args.prompt_template} is not valid JSON: {e}") from e
        data = data.get("PromptTemplate", data) if isinstance(data, dict) else data
        return "custom", validate_template(data), info
    chosen = args.family or fam
    return chosen, template_for(chosen), info


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.templates import TemplateError, check_template, confidence_label

    if not args.model_dir.is_dir():
        print(f"{args.model_dir} is not a folder", file=sys.stderr)
        return 2
    try:
        family, template, info = resolve_template(args)
    except (TemplateError, OSError) as e:
        print(str(e), file=sys.stderr)
        return 2
    check = check_template(args.model_dir, template, family)
    if args.json:
        print(json.dumps({
            **info, "family": family, "prompt_template": template,
            "matches": check.matches, "engine": check.engine, "warnings": check.warnings,
            "prompt_template_render": check.prompt_template_text,
            "tokenizer_render": check.tokenizer_text, "diff": check.diff,
        }, indent=2, ensure_ascii=False))
    else:
        print(f"Detected family: {info['detected']} (confidence "
              f"{confidence_label(info['confidence'])}, {info['confidence']:.2f})")
        for r in info["reasons"]:
            print(f"  - {r}")
        print(f"PromptTemplate ({family}):")
        print(json.dumps(template, indent=2, ensure_ascii=False))
        if args.show:
            print("\n--- rendered with the PromptTemplate ---")
            print(check.prompt_template_text)
            if check.tokenizer_text is not None:
                print(f"--- rendered with the tokenizer's chat template ({check.engine}) ---")
                print(check.tokenizer_text)
            if check.diff:
                print("--- diff ---")
                print("\n".join(check.diff))
        if check.matches:
            print(f"OK: the PromptTemplate matches the tokenizer's chat template ({check.engine}).")
        for w in check.warnings:
            print(f"WARNING: {w}", file=sys.stderr)
    return 0 if check.matches else 1
