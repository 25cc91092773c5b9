"""Reading and writing files: one atomic writer, one JSON reader, one JSONL reader.

Every file the wizard writes goes through `write_text_atomic` (a temporary file in the same folder,
then a rename), so a crash or a full disk never leaves a half-written file in place. Files get the
mode the user's umask gives (mkstemp's 0600 is widened), like any file an editor would write.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file and a rename; nothing is left on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from slm_wizard.core.base.paths import short_stem

    fd, tmp = tempfile.mkstemp(prefix=f".{short_stem(path.name)}.", suffix=".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    import json  # here, not at the top: the wizard's first screen needs none of it

    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_text(path: str | Path, error: type[Exception] = ValueError, what: str = "file") -> str:
    """The text of `path` (UTF-8, a byte-order mark dropped); raises `error` naming `what`, the
    file and the problem: missing, a folder, unreadable, or not UTF-8 text (with the byte)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise error(f"the {what} {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise error(f"the {what} {path} is a folder, not a file") from exc
    except OSError as exc:
        import errno

        if exc.errno == errno.ELOOP:
            raise error(f"the {what} {path} is a symbolic link loop (it points back to "
                        "itself)") from exc
        raise error(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"the {what} {path} is not UTF-8 text (line {line}, byte {exc.start}: "
                    f"0x{raw[exc.start]:02x}): save it as UTF-8") from exc


def read_json(path: str | Path, error: type[Exception] = ValueError, what: str = "file") -> Any:
    """The parsed JSON of `path`; raises `error` naming `what`, the file and the problem."""
    import json

    path = Path(path)
    text = read_text(path, error, what)
    if not text.strip():
        raise error(f"the {what} {path} is empty ({path.stat().st_size} bytes): it holds no "
                    "JSON; write or copy it again")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"the {what} {path} is not valid JSON (line {exc.lineno}: {exc.msg})") \
            from exc


def read_json_object(path: str | Path, error: type[Exception] = ValueError,
                     what: str = "file") -> dict[str, Any]:
    """Like read_json, but the top level must be an object."""
    data = read_json(path, error, what)
    if not isinstance(data, dict):
        raise error(f"the {what} {path} must hold a JSON object, not {type(data).__name__}")
    return data


def json_object_or_empty(path: str | Path) -> dict[str, Any]:
    """The JSON object in `path`, or {} when it is missing, unreadable or not an object (for
    optional files whose absence only means "no such setting")."""
    try:
        return read_json_object(path)
    except ValueError:
        return {}


def folder_size(path: str | Path) -> int:
    """Bytes of every file in the folder, sub-folders included."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def onnx_size(folder: str | Path) -> int:
    """Bytes of a converted model's ONNX files: the graph (`*.onnx`) and its external weights
    (`*.onnx.data`, `*.data`), in the folder itself (what a model size means on every screen)."""
    return sum(p.stat().st_size for p in Path(folder).iterdir()
               if p.is_file() and (p.suffix in (".onnx", ".data") or p.name.endswith(".onnx.data")))


def read_jsonl(path: str | Path, error: type[Exception], what: str) -> list[tuple[int, Any]]:
    """(line number, value) for each non-blank line; raises `error` naming `what` and the line."""
    import json

    path = Path(path)
    text = read_text(path, error, what)
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise error(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
    return rows


def swap_folder_in(new: Path, target: Path) -> None:
    """Put the finished folder `new` at `target` by renames (same file system), replacing what is
    there; if the last rename fails, the previous `target` is put back. The caller confirmed the
    replacement; the previous folder is removed only once the new one is in place."""
    import shutil
    import uuid

    if not (target.exists() or target.is_symlink()):
        os.replace(new, target)
        return
    from slm_wizard.core.base.paths import temp_name

    old = target.parent / temp_name(target.name, f"old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old, target)  # put the previous folder back
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)
