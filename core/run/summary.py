"""What a wizard run did, and the headless commands that reproduce it (from the run record)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from slm_wizard.core.base.fileio import folder_size
from slm_wizard.core.base.status import Status
from slm_wizard.core.run.record import (
    EXTRA_KINDS,
    STEP_IDS,
    STEP_TITLES,
    RunRecord,
    StepRecord,
    reproduce_commands,
)

__all__ = ["FileItem", "as_powershell", "as_shell", "figures", "files_written",
           "reproduce_commands", "reproduce_folder", "step_rows", "write_reproduce"]


@dataclass(frozen=True)
class FileItem:
    label: str
    path: Path
    size_bytes: int | None


# Readable names for the short keys some steps record their files under.
FILE_TITLES: dict[tuple[str, str], str] = {
    ("welcome", "model"): "Demo model", ("demo", "model"): "Demo model",
    ("deploy", "target"): "Deployed model (in the Foundry Local cache)",
}


def _item(label: str, path: Path | None) -> FileItem | None:
    if path is None or not path.exists():
        return None
    size = folder_size(path) if path.is_dir() else path.stat().st_size
    return FileItem(label, path, size)


# The files a step records but only read or used (by step; None: all of that step's files):
# the model folder the user chose, the Foundry Local cache, a prompt template file given.
READ_ONLY_FILES: dict[str, set[str] | None] = {
    "model": None, "template": None, "chat": None, "deploy": {"cache", "onnx",
                                                              "prompt template"},
}


def files_written(record: RunRecord) -> list[FileItem]:
    """The files the steps wrote, in run order, that still exist (with their sizes): not the
    model folder the user chose nor the other files a step only read (the demo model, which
    this tool built, is one it wrote)."""
    items: list[FileItem] = []
    seen: set[Path] = set()
    if record.model_dir is not None and not record.is_demo:
        seen.add(record.model_dir)  # the input: read, never written
    for rec in record.steps.values():
        read = READ_ONLY_FILES.get(rec.step, set())
        for label, path in rec.files.items():
            p = Path(path)
            if read is None or label in read:
                continue
            title = FILE_TITLES.get((rec.step, label), label)
            if p not in seen and (item := _item(title, p)):
                items.append(item)
                seen.add(p)
    return items


def figures(record: RunRecord) -> list[tuple[str, str, str]]:
    """(step, figure, value) for every figure any step measured, in run order."""
    return [(rec.step, name, value) for rec in record.steps.values()
            for name, value in rec.figures.items()]


def step_rows(record: RunRecord) -> list[tuple[str, Status | None, str]]:
    """(title, status or None when not run, outcome) of each wizard step before the Summary,
    in the wizard's order; a record of another kind (the chosen sweep variant) follows the
    step it was made in."""
    rows: list[tuple[str, Status | None, str]] = []

    def row(title: str, rec: StepRecord | None) -> None:
        rows.append((title, rec.status if rec else None, rec.outcome if rec else ""))

    for step in STEP_IDS[:-1]:
        row(STEP_TITLES[step], record.get(step))
        for kind, (title, after) in EXTRA_KINDS.items():
            if after == step and (rec := record.get(kind)) is not None:
                row(title, rec)
    return rows


def as_shell(cmds: list[list[str]]) -> str:
    """One line per command, quoted for a POSIX shell, chained with && like a script would."""
    return " &&\n".join(shlex.join(c) for c in cmds)


def as_powershell(cmds: list[list[str]]) -> str:
    """The commands for PowerShell: every argument in single quotes (nothing expands inside),
    stopping at the first that fails."""
    def quote(arg: str) -> str:
        return "'" + arg.replace("'", "''") + "'"

    lines = []
    for cmd in cmds:
        lines.append("& " + " ".join(quote(a) for a in cmd))
        lines.append("if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }")
    return "\n".join(lines)


def reproduce_folder(record: RunRecord) -> Path:
    """Where a run's reproduce scripts go: beside its reports, in `<data dir>/reports/<model>/`
    (a training checkpoint's run is named after its run folder)."""
    from slm_wizard.core.base.paths import data_dir
    from slm_wizard.core.base.reports import slug

    name = "lumo-demo" if record.is_demo else (
        record.model_dir.name if record.model_dir is not None else "run")
    if record.model_dir is not None and not record.is_demo \
            and record.model_dir.name.startswith("checkpoint-"):
        name = f"{record.model_dir.parent.name}-{record.model_dir.name}"
    return data_dir() / "reports" / slug(name)


def write_reproduce(record: RunRecord, folder: Path | None = None,
                    windows: bool | None = None) -> list[Path]:
    """Write the commands that redo the run as `reproduce.sh` (and `reproduce.ps1` on Windows)
    into `folder` (default: `reproduce_folder`); returns the files written ([] when there is
    nothing to reproduce yet)."""
    import os
    import sys
    import time

    from slm_wizard.core.base.fileio import write_text_atomic

    cmds = reproduce_commands(record)
    if not cmds:
        return []
    folder = folder or reproduce_folder(record)
    head = (f"slm-wizard: the headless commands that redo the run of {record.model_dir} "
            f"(written {time.strftime('%Y-%m-%d %H:%M')})")
    sh = write_text_atomic(folder / "reproduce.sh", "#!/usr/bin/env bash\n"
                           f"# {head}\nset -euo pipefail\n"
                           + "\n".join(shlex.join(c) for c in cmds) + "\n")
    os.chmod(sh, 0o755)
    written = [sh]
    if sys.platform == "win32" if windows is None else windows:
        written.append(write_text_atomic(folder / "reproduce.ps1", f"# {head}\n"
                                         + as_powershell(cmds) + "\n"))
    return written
