"""Reports of benchmarks, checklists and sweeps: Markdown, JSON and CSV, written atomically.

A `Report` is a title, a few facts (`meta`), tables and free-form raw data. `export_report`
writes, into one folder (by default `<data_dir>/reports/<timestamp>-<model>/`):

- `<name>.md`: the title, the facts and every table as a Markdown table;
- `<name>.json`: everything, tables as lists of row objects, plus `data` (the raw figures);
- `<name>-<table>.csv`: one CSV file per table (header row, then the rows).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import (
    write_text_atomic,  # the one atomic writer (kept importable here)
)


@dataclass
class Table:
    """A titled table; `key` names its CSV file (letters, digits, dashes)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


@dataclass
class Report:
    name: str  # "bench", "validate", "sweep": the file names
    title: str
    meta: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportPaths:
    folder: Path
    markdown: Path
    json: Path
    csv: tuple[Path, ...]

    def all(self) -> list[Path]:
        return [self.markdown, self.json, *self.csv]


def slug(text: str, limit: int = 48) -> str:
    """A file-name-safe version of `text` (e.g. a model folder's name)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return (out or "model")[:limit]


def report_dir_problem(report_dir: str | Path | None) -> str:
    """Why `--report-dir` cannot hold reports ("" when it can, or when it is the default): it is
    a file, or a file stands where one of its parent folders should be. Checked before a run."""
    if report_dir is None:
        return ""
    from slm_wizard.core.base.paths import file_in_the_way, reserved_name_problem

    folder = Path(report_dir).expanduser()
    return file_in_the_way(folder, "--report-dir") or reserved_name_problem(folder,
                                                                            "--report-dir")


def default_report_dir(model_name: str, when: float | None = None) -> Path:
    """`<data_dir>/reports/<YYYYmmdd-HHMMSS>-<model>/` (not created)."""
    from slm_wizard.core.base.paths import data_dir

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if when is None else when))
    return data_dir() / "reports" / f"{stamp}-{slug(model_name)}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def _md_cell(value: Any) -> str:
    return _cell(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: Report) -> str:
    parts = [f"# {report.title}", ""]
    for key, value in report.meta.items():
        parts.append(f"- **{key}**: {_cell(value)}")
    if report.meta:
        parts.append("")
    for table in report.tables:
        parts += [f"## {table.title}", "", markdown_table(table.columns, table.rows), ""]
    if report.notes:
        parts += ["## Notes", ""]
        parts += [f"- {note}" for note in report.notes]
        parts.append("")
    return "\n".join(parts)


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_json(report: Report) -> str:
    obj = {
        "name": report.name,
        "title": report.title,
        "meta": report.meta,
        "tables": {t.key: {"title": t.title, "columns": t.columns, "rows": t.as_dicts()}
                   for t in report.tables},
        "notes": report.notes,
        "data": report.data,
    }
    return json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _own_files(folder: Path, name: str) -> list[Path]:
    """The files a report called `name` writes (or wrote) in `folder`."""
    found = [folder / f"{name}.md", folder / f"{name}.json", *folder.glob(f"{name}-*.csv")]
    return [p for p in found if p.exists() or p.is_symlink()]


def check_report_dir(folder: str | Path | None, names: Sequence[str],
                     inputs: Sequence[str | Path] = ()) -> None:
    """Refuse (FolderRefused, exit 2) a report folder that is `/`, the home folder, a folder
    holding an input, a file, or a folder slm-wizard did not make that already holds one of the
    files the reports `names` would write (the user's own bench.md is never overwritten)."""
    from slm_wizard.core.base.owned import FolderRefused, has_marker, refuse_output_place

    if folder is None:
        return
    folder = Path(folder)
    refuse_output_place(folder, inputs, "the report folder")
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise FolderRefused(f"the report folder {folder} is a file: give a folder.")
    if folder.is_dir() and not has_marker(folder):
        clash = [p for n in names for p in _own_files(folder, n)]
        if clash:
            raise FolderRefused(
                f"{clash[0]} is already in {folder}, a folder slm-wizard did not make: it is "
                "never overwritten. Choose another --report-dir (a new folder) or move the "
                "file away.")


def export_report(report: Report, folder: Path | None = None, *,
                  model_name: str = "model") -> ReportPaths:
    """Write the report's Markdown, JSON and CSV files; return their paths. The folder is locked
    while written (one writer) and follows the marker rule (check_report_dir); a folder made
    here gets the marker, so the next report may replace these files."""
    from slm_wizard.core.base.lock import Lock
    from slm_wizard.core.base.owned import is_empty_dir, write_marker

    folder = Path(folder) if folder is not None else default_report_dir(model_name)
    with Lock(folder, f"writing the {report.name} report"):
        check_report_dir(folder, [report.name])
        if not folder.exists() or is_empty_dir(folder):
            folder.mkdir(parents=True, exist_ok=True)
            write_marker(folder, "reports")
        return _write_files(report, folder)


def _write_files(report: Report, folder: Path) -> ReportPaths:
    md_path = folder / f"{report.name}.md"
    json_path = folder / f"{report.name}.json"
    write_text_atomic(json_path, to_json(report))
    csv_paths = []
    for table in report.tables:
        path = folder / f"{report.name}-{slug(table.key)}.csv"
        write_text_atomic(path, to_csv(table))
        csv_paths.append(path)
    write_text_atomic(md_path, to_markdown(report))
    return ReportPaths(folder, md_path, json_path, tuple(csv_paths))
