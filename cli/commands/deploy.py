"""`slm-wizard deploy`: write inference_model.json, install the converted model into the Foundry
Local cache, register it, load it and ask it one prompt (headless deploy step; core.steps.deploy
runs it, with the same defaults as the wizard)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    from slm_wizard.cli.commands.template import add_template_args
    from slm_wizard.core.steps import DOMAIN_FILE
    from slm_wizard.core.steps.deploy import NEUTRAL_PROMPT, ModelConfig, Options

    d = Options(Path("."), "")  # the defaults, for the help texts
    p = subparsers.add_parser(
        "deploy",
        help="install a converted model into Foundry Local and check that it answers",
        description="Write inference_model.json (name, version, PromptTemplate, ModelConfig), "
        "copy the model into <cache>/custom/<name> (temporary folder + rename), register it as "
        "<name>:<version> in Foundry Local's local catalog, load it and ask one prompt. An "
        "existing model is replaced only with --replace. Exit code 0 on success, 1 when a stage "
        "failed or confirmation is needed, 2 on bad input. --dry-run prints the plan (cache "
        "folder, PromptTemplate and its check, defaults, the command) and writes nothing: exit "
        "0, or 2 on bad input.",
    )
    add_template_args(p, "the converted ONNX folder (holding genai_config.json)")
    p.add_argument("--name", required=True, help="the model name in Foundry Local")
    p.add_argument("--version", help=f"an integer version (default: {d.version})")
    p.add_argument("--description", help="a one-line description")
    p.add_argument("--cache-dir", type=Path, metavar="DIR",
                   help="the Foundry Local model cache (default: `foundry cache location`, "
                   "else ~/.foundry/cache/models)")
    p.add_argument("--replace", action="store_true",
                   help="replace an existing model / inference_model.json (shows the diff)")
    p.add_argument("--max-length", type=int, help="ModelConfig max_length (default: "
                   f"min({ModelConfig().max_length}, context length))")
    p.add_argument("--temperature", type=float, help=f"default: {d.temperature}")
    p.add_argument("--top-p", type=float, help=f"default: {d.top_p}")
    p.add_argument("--repetition-penalty", type=float, help=f"default: {d.repetition_penalty}")
    p.add_argument("--search-defaults", action="store_true",
                   help="also write these sampling values into genai_config.json's search "
                   "section (so every runtime uses them)")
    p.add_argument("--prompt", help="the test prompt (default: the first prompt of the "
                   f"{DOMAIN_FILE} next to the model, else {NEUTRAL_PROMPT!r})")
    p.add_argument("--system", help="a system prompt for the test prompt")
    p.add_argument("--max-tokens", type=int, help=f"answer length of the test "
                   f"(default: {d.max_tokens})")
    p.add_argument("--allow-template-mismatch", action="store_true",
                   help="deploy even when the PromptTemplate does not match the model's chat "
                   "template (refused otherwise)")
    p.add_argument("--remove", action="store_true",
                   help="unregister <name>:<version> and remove its folder instead of deploying")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be deployed (or removed) and write nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def options_from_args(args: argparse.Namespace):
    """The step's Options from parsed arguments (an option not given keeps its default)."""
    from slm_wizard.core.steps.deploy import Options

    given = {
        "version": args.version, "cache_dir": args.cache_dir, "family": args.family,
        "prompt_template": args.prompt_template, "description": args.description,
        "max_length": args.max_length, "temperature": args.temperature, "top_p": args.top_p,
        "repetition_penalty": args.repetition_penalty, "prompt": args.prompt,
        "system": args.system, "max_tokens": args.max_tokens,
    }
    return Options(args.model_dir, args.name, **{k: v for k, v in given.items() if v is not None},
                   chat_template=args.chat_template,
                   search_defaults=args.search_defaults, replace=args.replace, remove=args.remove,
                   allow_template_mismatch=args.allow_template_mismatch)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.base.status import ICON, WORD, Status
    from slm_wizard.core.steps import deploy as step

    def on_progress(p: step.Progress) -> None:
        if p.phase in (step.INFO, step.SEARCH_DEFAULTS):
            _say(("WARNING: " if p.status == Status.WARN else "") + p.text)
        elif p.status not in (None, Status.RUNNING):
            _say(f"  {ICON[p.status]} {WORD[p.status]:<4} {p.phase}: {p.text}")

    if args.dry_run:
        return _dry_run(step.plan(options_from_args(args)), args.json)
    result = step.run(options_from_args(args), on_progress=on_progress)
    if args.remove:
        if not result.ok:
            print(result.error, file=sys.stderr)
            return 1
        print(json.dumps({"removed": result.removed}) if args.json
              else "\n".join(result.removed))
        return 0
    dep = result.deploy
    if dep is None:  # nothing was deployed: already there, or a problem found up front
        print(result.error, file=sys.stderr)
        if result.exists is not None:
            if result.exists.diff:
                print("\n".join(result.exists.diff), file=sys.stderr)
            print("Run again with --replace to replace it.", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        if dep.answer is not None:
            print(f"Answer: {dep.answer.strip()}" if dep.answer.strip()
                  else f"Answer (raw): {dep.answer!r}")
        for st in dep.stages:
            if st.status == Status.WARN:
                print(f"WARNING: {st.id}: {st.found}", file=sys.stderr)
        if dep.cli_listing is not None:
            print(f"foundry cache listing: {', '.join(dep.cli_listing) or '(empty)'}")
        if dep.exported:
            print(dep.instructions)
        elif dep.ok:
            print(f"Deployed {dep.model_id} to {dep.target}")
            if dep.cli_listing is not None:
                print(f"Run it with: {dep.run_command}")
            else:
                print(f"No foundry CLI here; where it is installed, run: {dep.run_command}")
    return 0 if result.ok else 1


def _dry_run(plan, as_json: bool) -> int:
    """Print the plan; bad input is refused (exit 2) as the run would refuse it."""
    import shlex
    from dataclasses import asdict

    from slm_wizard.core.base.status import Status
    from slm_wizard.core.steps import deploy as step

    if plan.problems:  # refused as the run refuses it (cli.main prints the first)
        for problem in plan.problems[1:]:
            print(f"also: {problem}", file=sys.stderr)
        raise step.DeployInputError(plan.problems[0])
    if as_json:
        print(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False, default=str))
        return 0
    o = plan.options
    if o.remove:
        print(f"Would remove {o.name}:{o.version} from {o.cache_dir} ({plan.cache_source})")
    else:
        print(f"Would deploy {o.onnx_dir} as {o.name}:{o.version}")
        for status, line in plan.info():
            print(("WARNING: " if status == Status.WARN else "") + line)
        if plan.template is not None:
            print(json.dumps(plan.template.template, indent=2, ensure_ascii=False))
        print("ModelConfig: " + ", ".join(f"{k}={v}" for k, v in asdict(o.model_config).items()))
        print(f"Test prompt: {o.prompt!r}" + (f" (system: {o.system!r})" if o.system else ""))
        if plan.template_refused:
            print(f"The run would stop here: {step.MISMATCH_REFUSAL}")
    print("Command: " + shlex.join(o.argv()))
    return 0
