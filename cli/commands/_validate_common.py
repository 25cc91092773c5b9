"""Shared by the bench, validate and sweep commands: progress lines, text tables, reports."""

from __future__ import annotations

import argparse
import sys
from typing import Any


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


def open_backend_or_fail(args: argparse.Namespace) -> Any:
    """The backend, or None after printing why it could not open."""
    from slm_wizard.core.chat import ChatError, open_backend

    err(f"loading {args.model} ({args.backend})…")
    try:
        kw = {"cache_dir": args.cache_dir} if getattr(args, "cache_dir", None) else {}
        return open_backend(args.backend, args.model, **kw)
    except ChatError as e:
        err(f"error: {e}")
        return None


def progress_printer() -> Any:
    """An on_progress callback printing one line per update to stderr (each phase's last)."""
    def show(p: Any) -> None:
        total = f"/{p.total}" if p.total else ""
        err(f"[{p.phase} {p.done}{total}] {p.text}")
    return show


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


def write_report(report: Any, args: argparse.Namespace, model_name: str) -> Any:
    """Export the report (Markdown, JSON, CSV); None (and a message) if it cannot be written."""
    from pathlib import Path

    from slm_wizard.core.reports import export_report

    try:
        paths = export_report(report, Path(args.report_dir) if args.report_dir else None,
                              model_name=model_name)
    except OSError as e:
        err(f"warning: the report could not be written: {e}")
        return None
    err(f"report: {paths.markdown} (+ .json, .csv) in {paths.folder}")
    return paths


def report_json(paths: Any) -> dict[str, Any] | None:
    if paths is None:
        return None
    return {"folder": str(paths.folder), "markdown": str(paths.markdown),
            "json": str(paths.json), "csv": [str(p) for p in paths.csv]}
