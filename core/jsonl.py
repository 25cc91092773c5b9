"""Reading JSON Lines files with messages that name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_jsonl(path: str | Path, error: type[Exception], what: str) -> list[tuple[int, Any]]:
    """(line number, value) for each non-blank line; raises `error` naming `what` and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read the {what} {path}: {exc}") from exc
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise error(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
    return rows
