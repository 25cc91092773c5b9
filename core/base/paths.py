"""Where slm-wizard keeps its files (platformdirs folders, overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "slm-wizard"


def _dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME))


def config_dir() -> Path:
    """Settings and saved progress (TOML). Override: SLM_WIZARD_CONFIG_DIR or --config-dir."""
    return _dir("SLM_WIZARD_CONFIG_DIR", "config")


def cache_dir() -> Path:
    """Rebuildable files: the demo model. Override: SLM_WIZARD_CACHE_DIR."""
    return _dir("SLM_WIZARD_CACHE_DIR", "cache")


def data_dir() -> Path:
    """Outputs a user keeps: converted models, reports, logs. Override: SLM_WIZARD_DATA_DIR."""
    return _dir("SLM_WIZARD_DATA_DIR", "data")


def logs_dir() -> Path:
    return data_dir() / "logs"


# --- names the tool creates, and paths that cannot be followed --------------------------------

NAME_MAX = 255  # bytes in one file or folder name (ext4, APFS, NTFS: 255)
STEM_MAX = 180  # bytes of a user's name kept in a name built on it (room for any suffix)


def short_stem(name: str, limit: int = STEM_MAX) -> str:
    """`name` cut to `limit` bytes (whole characters): a temporary or log name built on it, such
    as `.<name>.slm-wizard-<pid>-<random>`, then never passes NAME_MAX, even for a legal name
    of 255 bytes."""
    raw = name.encode("utf-8", "surrogateescape")
    return name if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def temp_name(name: str, tail: str) -> str:
    """The one form of a temporary name next to `name`: `.<short stem>.<tail>`."""
    return f".{short_stem(name)}.{tail}"

# Device names Windows reserves in every folder (with any extension): a model folder or a
# Foundry Local name like these cannot be copied to Windows, where Foundry Local mostly runs.
WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                              *(f"LPT{i}" for i in range(1, 10))})


def reserved_name(name: str) -> bool:
    """True for CON, NUL, com1, lpt9.txt, "aux " ...: a Windows device name."""
    return name.split(".")[0].rstrip(" ").upper() in WINDOWS_RESERVED


def reserved_name_problem(path: str | Path, what: str) -> str:
    """Why a folder the tool would create at `path` cannot be named so ("" when it can): a part
    of it that does not exist yet is a Windows device name."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists() or part.is_symlink():
            break
        if reserved_name(part.name):
            return (f"{what}: {part.name!r} is a device name Windows reserves (CON, PRN, AUX, "
                    "NUL, COM1-COM9, LPT1-LPT9): such a folder cannot be copied to Windows; "
                    "choose another name")
    return ""


def missing_reason(path: str | Path) -> str:
    """Why `path` cannot be followed, as the end of a sentence: "does not exist", "is a
    symbolic link loop", or "is a symbolic link to X, which does not exist"."""
    import errno

    path = Path(path)
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop (it points back to itself)"
        if path.is_symlink():
            return f"is a symbolic link to {os.readlink(path)}, which does not exist"
        return "does not exist"
    return "exists"


def file_in_the_way(path: str | Path, what: str) -> str:
    """Why no folder can be at `path` ("" when one can): it is a file, or a file stands where
    one of its parent folders should be."""
    folder = Path(path).expanduser()
    for place in (folder, *folder.parents):
        if place.exists() and not place.is_dir():
            where = "is a file" if place == folder else f"is inside {place}, which is a file"
            return f"{what}: {folder} {where}: give a folder"
        if place.exists():
            break
    return ""


def child_log(name: str) -> Path | None:
    """`<logs>/<name>` for a child process's output, its folder made; None when no log folder
    can be written (the child's output is then dropped)."""
    try:
        folder = logs_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name
    except Exception:  # noqa: BLE001 - an unusable data folder must not stop the child
        return None
