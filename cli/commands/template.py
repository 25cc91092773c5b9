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
        help="prove the prompt Foundry Local sends and check the PromptTemplate",
        description="Render probe conversations (user only; system + user; user, assistant, "
        "user, with and without a system message) with Foundry Local's own template engine "
        "(what its runtime sends) and with transformers (the reference), and compare their "
        "token ids; where the engines differ, an equivalent template is written for the runtime "
        "and proven on the probes (repaired). Then derive the PromptTemplate that older Foundry "
        "Local services read from inference_model.json (or take --family's preset / "
        "--prompt-template) and compare it too. Exit code 0 when the runtime's prompt matches "
        "(as it is or repaired) and the PromptTemplate is not a mismatch; 1 on a mismatch (a "
        "mismatched template silently ruins output) or when nothing could be checked; 2 on bad "
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
    p.add_argument("--chat-template", choices=["chat_template.jinja", "tokenizer_config.json"],
                   default="chat_template.jinja",
                   help="when the folder's two chat templates differ, which one is the model's "
                   "(and goes into both places of a deployed copy); default: "
                   "chat_template.jinja, the one transformers uses")


def options_from_args(args: argparse.Namespace):
    """The step's Options from parsed arguments."""
    from slm_wizard.core.steps.template import Options

    return Options(args.model_dir, args.family, args.prompt_template, args.chat_template)


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
    rt = result.runtime
    print(f"Foundry Local's runtime ({rt.engine if rt and rt.engine else 'not available'}):")
    for probe in rt.probes if rt and rt.verdict != "unchecked" else []:
        state = (f"refused by the template in both ({probe.reference_error})" if probe.refused
                 else "same token ids" if probe.equal else "DIFFERENT")
        print(f"  probe {probe.name}: {state}")
    for repair in rt.repairs if rt else []:
        print(f"  repaired: {repair}")
    for line in rt.sources_differ if rt else []:
        print(f"  {line}")
    print(f"PromptTemplate check (applies to {step.PROMPT_TEMPLATE_TARGET}):")
    for probe in check.probes:
        state = ("refused by the model's template" if probe.refused
                 else "same token ids" if probe.equal and check.tokens_compared
                 else "same text" if probe.equal else "DIFFERENT")
        print(f"  probe {probe.name}: {state}")
    if args.show:
        count = rt.count_probe() if rt else None
        if count is not None and count.runtime is not None:
            print(f"\n--- what Foundry Local's runtime sends for '{count.name}' ---")
            print(count.runtime)
        print("\n--- sample conversation rendered with the PromptTemplate ---")
        print(check.prompt_template_text)
        if check.tokenizer_text is not None:
            print(f"--- rendered with the model's chat template ({check.engine}) ---")
            print(check.tokenizer_text)
        if check.diff:
            print("--- diff ---")
            print("\n".join(check.diff))
    ok = rt is not None and rt.ok
    print(("OK: " if ok else "WARNING: ") + f"{result.headline}.")
    print(("OK: " if check.matches else "WARNING: ") + f"the PromptTemplate (for "
          f"{step.PROMPT_TEMPLATE_TARGET}) {check.summary}.")
    for w in (rt.warnings if rt else []) + check.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    return 0 if result.matches else 1
