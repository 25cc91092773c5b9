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
        description="Detect the model family, derive Foundry Local's PromptTemplate from the "
        "model's own chat template (or take --family's preset / --prompt-template) and compare "
        "the token ids of both renderings on probe conversations (user only; system + user; "
        "user, assistant, user). Exit code 0 when they match, or match as closely as a "
        "PromptTemplate can (the limits are printed); 1 on a mismatch (a mismatched template "
        "silently ruins output) or when there is no chat template to check against; 2 on bad "
        "input (e.g. a folder that is not a model).",
    )
    add_template_args(p)
    p.add_argument("--show", action="store_true",
                   help="print both renderings and their diff")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_template_args(p: argparse.ArgumentParser,
                      folder_help: str = "a converted ONNX folder (or a Hugging Face folder)"
                      ) -> None:
    """Options shared with `deploy`."""
    from slm_wizard.core.steps.template import FAMILIES  # light: no heavy imports

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

    result = step.run(options_from_args(args))
    check = result.check
    assert check is not None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return 0 if result.matches else 1
    print(f"Detected family: {result.detected} (confidence "
          f"{step.confidence_label(result.confidence)}, {result.confidence:.2f})")
    for r in result.reasons:
        print(f"  - {r}")
    how = {step.DERIVED: "derived from the model's chat template",
           step.PRESET: f"the {result.family} preset", step.CUSTOM: str(args.prompt_template)}
    print(f"PromptTemplate ({how[result.source]}):")
    print(json.dumps(result.template, indent=2, ensure_ascii=False))
    for note in result.notes:
        print(f"NOTE: {note}", file=sys.stderr)
    for probe in check.probes:
        state = ("refused by the model's template" if probe.refused
                 else "same token ids" if probe.equal and check.tokens_compared
                 else "same text" if probe.equal else "DIFFERENT")
        print(f"  probe {probe.name}: {state}")
    if args.show:
        print("\n--- sample conversation rendered with the PromptTemplate ---")
        print(check.prompt_template_text)
        if check.tokenizer_text is not None:
            print(f"--- rendered with the model's chat template ({check.engine}) ---")
            print(check.tokenizer_text)
        if check.diff:
            print("--- diff ---")
            print("\n".join(check.diff))
    print(("OK: " if result.matches else "WARNING: ") + f"the PromptTemplate {check.summary}.")
    for w in check.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    return 0 if result.matches else 1
