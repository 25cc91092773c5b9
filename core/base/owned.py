"""Folders this tool owns: the marker it writes into them, the rule for replacing a folder the
user named, and the leftovers of interrupted runs.

Rules (docs/reliability.md; also in the README's Troubleshooting section):
- `/`, the home folder and a folder that holds the input are never an output (refuse_output_place);
- a folder the user named is replaced or deleted only when it is empty, or when the user
  confirmed (--replace / --force / the screen's dialog) *and* it carries the marker file this
  tool writes into the folders it creates (`MARKER_NAME`, or the demo model's marker);
- a run's temporary folders are named `.<target>.<kind>-<pid>-<random>` next to their target;
  the next run of the same command removes those whose process is gone and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from slm_wizard.core.base.status import Refused

MARKER_NAME = ".slm-wizard-folder"
OTHER_MARKERS = ("slm_wizard_demo.json",)  # the demo model's own marker


class FolderRefused(Refused):
    """A folder may not be replaced or deleted (the message says why and what to do)."""


def write_marker(folder: Path, kind: str) -> Path:
    """Mark `folder` as created by slm-wizard (`kind`: "convert", "sweep", "deploy", ...)."""
    from slm_wizard.core.base.fileio import write_text_atomic

    return write_text_atomic(Path(folder) / MARKER_NAME, json.dumps(
        {"tool": "slm-wizard", "kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")


def has_marker(folder: Path) -> bool:
    folder = Path(folder)
    return any((folder / name).is_file() for name in (MARKER_NAME, *OTHER_MARKERS))


def is_empty_dir(folder: Path) -> bool:
    folder = Path(folder)
    try:
        return folder.is_dir() and not any(folder.iterdir())
    except OSError:
        return False


def refuse_output_place(folder: Path, inputs: Sequence[Path | str] = (),
                        what: str = "the output folder") -> None:
    """The rule for every output: `/` (a drive's root), the home folder and a folder that holds
    an input (the input itself or one of its parents) are refused (FolderRefused: exit 2)."""
    where = Path(os.path.abspath(Path(folder).expanduser()))
    real = where.resolve()
    why = ""
    if real == Path(real.anchor) or where == Path(where.anchor):
        why = "the root of the file system"
    elif real == _home():
        why = "your home folder"
    else:
        for given in inputs:  # (one that does not exist, e.g. a Foundry alias, holds nothing)
            inp = Path(os.path.abspath(Path(given).expanduser())).resolve()
            if inp.exists() and (real == inp or real in inp.parents):
                why = f"the folder that holds the input {given}"
                break
    if why:
        raise FolderRefused(f"{what} {where} is {why}: it is never used for output; choose a "
                            "folder of its own (for example a new folder inside it).")


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):  # no home folder known (a bare service account)
        return None


def check_replaceable(folder: Path, confirmed: bool, *, flag: str = "--replace",
                      inputs: Sequence[Path | str] = ()) -> bool:
    """True when `folder` exists and holds something that will be replaced; False when it is
    absent or empty. Raises FolderRefused when it may not be replaced: it is `/`, the home
    folder or holds an input, it is a file, it is not empty and not confirmed, or confirmed but
    without this tool's marker."""
    folder = Path(folder)
    refuse_output_place(folder, inputs)
    if not (folder.exists() or folder.is_symlink()):
        return False
    if not folder.is_dir():
        raise FolderRefused(f"{folder} is a file, not a folder: choose a folder path.")
    if is_empty_dir(folder):
        return False
    if not confirmed:
        raise FolderRefused(f"{folder} is not empty: choose a new or empty folder, or confirm "
                            f"with {flag} to replace a folder this tool made.")
    if not has_marker(folder):
        raise FolderRefused(
            f"{folder} is not empty and was not made by slm-wizard (no {MARKER_NAME} marker): "
            "it is never replaced, even with " + flag + ". Choose a new or empty folder, or "
            "empty it yourself.")
    return True


def refuse_unmarked(folder: Path, how: str, hint: str) -> None:
    """The marker rule for a folder about to be replaced or removed (`how`) after the user
    confirmed: one this tool did not make (no marker) is refused (FolderRefused: exit 2);
    `hint` says what to do instead. Absent and empty folders pass."""
    folder = Path(folder)
    if folder.is_dir() and not is_empty_dir(folder) and not has_marker(folder):
        raise FolderRefused(f"{folder} was not made by slm-wizard (no {MARKER_NAME} marker): it "
                            f"is never {how}, even when confirmed. {hint}")


# --- temporary folders of a run and their leftovers --------------------------------------------


def temp_sibling(target: Path, kind: str) -> Path:
    """A temporary path next to `target` that names this process (for the leftover clean-up)."""
    from slm_wizard.core.base.paths import temp_name

    target = Path(target)
    return target.parent / temp_name(target.name, f"{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) there ends the process instead of probing it
        import psutil

        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _owner_pid(path: Path, kind: str) -> int | None:
    """The pid in `.<name>.<kind>-<pid>-<hex>`, None for an older name without one."""
    tail = path.name.rsplit(f".{kind}-", 1)[-1]
    first = tail.split("-", 1)[0]
    return int(first) if first.isdigit() and "-" in tail else None


def clean_leftovers(parent: Path, target_name: str | None, kind: str) -> list[Path]:
    """Remove the temporary folders of kind `kind` next to `<parent>/<target_name>` (any target
    when None) whose process is gone; returns what was removed."""
    parent = Path(parent)
    import glob

    from slm_wizard.core.base.paths import short_stem

    pattern = (f".{glob.escape(short_stem(target_name))}.{kind}-*" if target_name
               else f".*.{kind}-*")
    removed: list[Path] = []
    try:
        candidates = sorted(parent.glob(pattern))
    except OSError:
        return removed
    for path in candidates:
        pid = _owner_pid(path, kind)
        if pid is not None and _pid_alive(pid):
            continue  # a run in progress (this one or another)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed
