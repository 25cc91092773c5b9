"""Shared by the bench, validate and sweep commands: argument parsing and printing."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from slm_wizard.core.base.status import Progress, ProgressFn


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def lengths_arg(text: str) -> list[int]:
    """`16,64,256` or `16 64` pieces: positive whole numbers."""
    out = []
    for part in text.replace(",", " ").split():
        try:
            n = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not a whole number of tokens") from None
        if n <= 0:
            raise argparse.ArgumentTypeError(f"input lengths must be positive, not {n}")
        out.append(n)
    return out


def flat_lengths(groups: list[list[int]] | None) -> tuple[int, ...] | None:
    """`--lengths 16,64 256` as (16, 64, 256); None when the flag was not given."""
    return None if groups is None else tuple(n for group in groups for n in group)


def add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("ort", "foundry"), default="ort",
                   help="runtime: onnxruntime-genai on the folder, or Foundry Local (MODEL_DIR is "
                   "then the model id name:version) (default: ort)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="Foundry Local model cache (foundry backend; default: Foundry's)")


def add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report-dir", metavar="DIR",
                   help="where the Markdown, JSON and CSV reports go (default: "
                   "<data dir>/reports/<time>-<model>/)")
    p.add_argument("--json", action="store_true",
                   help="print the full result as JSON on stdout (progress stays on stderr)")


def progress_printer() -> ProgressFn:
    """An on_progress callback printing one line per Progress event to stderr."""
    def show(p: Progress) -> None:
        if p.phase in ("load", "note"):
            err(p.text)
            return
        total = f"/{p.total}" if p.total else ""
        err(f"[{p.phase} {p.done}{total}] {p.text}")
    return show


def print_report(result: Any) -> None:
    """Where the report went, or why it could not be written (stderr)."""
    if result.report is not None:
        err(f"report: {result.report.markdown} (+ .json, .csv) in {result.report.folder}")
    elif result.report_error:
        err(f"error: {result.report_error}")  # the run fails (exit 1): its report is lost


def text_table(columns: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return "\n".join(lines)
