"""`slm-wizard demo`: build the embedded demo model (a tiny Qwen2 trained offline in seconds)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    from slm_wizard.core.steps import DOMAIN_FILE

    p = subparsers.add_parser(
        "demo",
        help="build the demo model: a tiny Qwen2 trained offline on a fictional product FAQ",
        description="Train the embedded demo model (about 0.6 M parameters, a few tens of "
        "seconds on 2 CPU cores, nothing downloaded): a Hugging Face folder that memorizes the "
        f"FAQ of Lumo, a fictional smart bike lock, with a {DOMAIN_FILE} to validate it "
        "after conversion. A finished build is cached and reused. Prints the folder on stdout.",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where to write the model (default: <cache dir>/demo-<recipe hash>; "
        "the cache dir is SLM_WIZARD_CACHE_DIR or the platform's)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="rebuild even if DIR already holds this demo model; a non-empty DIR is replaced "
        "only when slm-wizard made it (it carries the tool's marker)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.steps import demo as step

    # A refused output folder raises DemoRefused: cli.main says why (exit 2).
    result = step.run(step.Options(args.out, args.force),
                      on_progress=lambda p: print(p.text, file=sys.stderr, flush=True))
    if result.folder is None:
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    print(result.folder)
    return 0
