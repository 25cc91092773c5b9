"""`slm-wizard deploy`: write inference_model.json, install the converted model into the Foundry
Local cache, register it, load it and ask it one prompt (headless deploy step)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    from slm_wizard.cli.commands.template import add_template_args

    p = subparsers.add_parser(
        "deploy",
        help="install a converted model into Foundry Local and check that it answers",
        description="Write inference_model.json (name, version, PromptTemplate, ModelConfig), "
        "copy the model into <cache>/custom/<name> (temporary folder + rename), register it as "
        "<name>:<version> in Foundry Local's local catalog, load it and ask one prompt. An "
        "existing model is replaced only with --replace. Exit code 0 on success, 1 when a stage "
        "failed or confirmation is needed, 2 on bad input.",
    )
    add_template_args(p, "the converted ONNX folder (holding genai_config.json)")
    p.add_argument("--name", required=True, help="the model name in Foundry Local")
    p.add_argument("--version", default="1", help="an integer version (default: 1)")
    p.add_argument("--description", default="", help="a one-line description")
    p.add_argument("--cache-dir", type=Path, metavar="DIR",
                   help="the Foundry Local model cache (default: `foundry cache location`, "
                   "else ~/.foundry/cache/models)")
    p.add_argument("--replace", action="store_true",
                   help="replace an existing model / inference_model.json (shows the diff)")
    p.add_argument("--max-length", type=int, help="ModelConfig max_length (default: "
                   "min(2048, context length))")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--search-defaults", action="store_true",
                   help="also write these sampling values into genai_config.json's search "
                   "section (so every runtime uses them)")
    p.add_argument("--prompt", default="Hello!", help="the test prompt (default: Hello!)")
    p.add_argument("--system", help="a system prompt for the test prompt")
    p.add_argument("--max-tokens", type=int, default=32, help="answer length of the test")
    p.add_argument("--remove", action="store_true",
                   help="unregister <name>:<version> and remove its folder instead of deploying")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from slm_wizard.cli.commands.template import resolve_template
    from slm_wizard.core import foundry
    from slm_wizard.core.inference_model import (
        InferenceModelError,
        ModelConfig,
        context_length,
        validate_model_config,
        validate_name,
        validate_version,
        write_search_defaults,
    )
    from slm_wizard.core.templates import TemplateError

    loc = foundry.find_cache_dir(args.cache_dir)
    if args.remove:
        try:
            done = foundry.undeploy(args.name, args.version, loc.path)
        except (foundry.FoundryError, InferenceModelError) as e:
            print(str(e), file=sys.stderr)
            return 1
        print(json.dumps({"removed": done}) if args.json else "\n".join(done))
        return 0
    if not (args.model_dir / "genai_config.json").is_file():
        print(f"{args.model_dir} is not a converted model folder (no genai_config.json): "
              "run `slm-wizard convert` first.", file=sys.stderr)
        return 2
    try:
        validate_name(args.name)
        validate_version(args.version)
        family, template, info = resolve_template(args)
        ctx = context_length(args.model_dir)
        max_length = args.max_length or min(2048, ctx or 2048)
        cfg = validate_model_config(ModelConfig(max_length, args.temperature, args.top_p,
                                                args.repetition_penalty), ctx)
    except (TemplateError, InferenceModelError, OSError) as e:
        print(str(e), file=sys.stderr)
        return 2
    _say(f"Family: {family} (detected {info['detected']}, confidence {info['confidence']:.2f})")
    _say(f"Foundry Local cache: {loc.path} ({loc.source})")

    def on_stage(stage: str, status: str, detail: str) -> None:
        if status != "running":
            _say(f"  [{status:>7}] {stage}: {detail}")

    try:
        result = foundry.deploy(args.model_dir, args.name, args.version, template, cfg, loc.path,
                                replace=args.replace, on_stage=on_stage,
                                description=args.description, prompt=args.prompt,
                                system=args.system, max_tokens=args.max_tokens)
    except foundry.TargetExists as e:
        print(str(e), file=sys.stderr)
        if e.diff:
            print("\n".join(e.diff), file=sys.stderr)
        print("Run again with --replace to replace it.", file=sys.stderr)
        return 1
    except (foundry.FoundryError, InferenceModelError) as e:
        print(str(e), file=sys.stderr)
        return 1
    if args.search_defaults and result.ok:
        try:
            diff = write_search_defaults(args.model_dir, cfg, consent=True)
            _say("genai_config.json search defaults " + ("updated" if diff else "unchanged"))
        except InferenceModelError as e:
            _say(f"genai_config.json not updated: {e}")
    if args.json:
        print(json.dumps({**result.to_dict(), "family": family}, indent=2, ensure_ascii=False))
    else:
        if result.answer is not None:
            print(f"Answer: {result.answer.strip()}")
        if result.cli_listing is not None:
            print(f"foundry cache listing: {', '.join(result.cli_listing) or '(empty)'}")
        if result.exported:
            print(result.instructions)
        elif result.ok:
            print(f"Deployed {result.model_id} to {result.target}")
            if result.cli_listing is not None:
                print(f"Run it with: {result.run_command}")
            else:
                print(f"No foundry CLI here; where it is installed, run: {result.run_command}")
    return 0 if result.ok else 1
