"""The `slm-wizard` command: plain `slm-wizard` opens the wizard, subcommands run a step headless.

Each subcommand lives in `cli/commands/<name>.py` with `add_parser(subparsers)` and
`run(args) -> int`. Those modules keep their top-level imports light, so `--help` and
`--version` never load torch, transformers, olive or onnxruntime.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from slm_wizard.core import __version__

# The order in which the steps appear in `--help` (the guide's order).
ORDER = ("check", "inspect", "convert", "template", "deploy", "chat", "bench", "validate", "sweep",
         "demo")


def _command_modules() -> list:
    from slm_wizard.cli import commands

    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return [importlib.import_module(f"slm_wizard.cli.commands.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slm-wizard",
        description="From a fine-tuned small language model (a Hugging Face folder) to a quantized "
        "ONNX model running in Foundry Local. Without a subcommand, the interactive wizard opens.",
    )
    parser.add_argument("--version", action="version", version=f"slm-wizard {__version__}")
    parser.add_argument(
        "--config-dir",
        metavar="DIR",
        help="where settings and saved progress live (default: the platform's config folder; "
        "also SLM_WIZARD_CONFIG_DIR)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for module in _command_modules():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config_dir:
        os.environ["SLM_WIZARD_CONFIG_DIR"] = args.config_dir
    if args.command is None:
        from slm_wizard.tui.app import run_app

        return run_app()
    module = importlib.import_module(f"slm_wizard.cli.commands.{args.command}")
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
