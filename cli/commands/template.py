"""`slm-wizard template`: detect the model family, pick its PromptTemplate and compare it with the
tokenizer's own chat template (headless part of the deploy step; core.steps.template runs it)."""

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


def options_from_args(args: argparse.Namespace):
    """The step's Options from parsed arguments."""
    from slm_wizard.core.steps.template import Options

    return Options(args.model_dir, args.family, args.prompt_template)


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.steps import template as step
    from slm_wizard.core.templates import confidence_label

    try:
        result = step.run(options_from_args(args))
    except step.TemplateInputError as e:
        print(str(e), file=sys.stderr)
        return 2
    check = result.check
    assert check is not None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(f"Detected family: {result.detected} (confidence "
              f"{confidence_label(result.confidence)}, {result.confidence:.2f})")
        for r in result.reasons:
            print(f"  - {r}")
        print(f"PromptTemplate ({result.family}):")
        print(json.dumps(result.template, indent=2, ensure_ascii=False))
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
    return 0 if result.matches else 1
