"""Sizes for people, in one convention everywhere: binary units, as Windows and the task managers
show them: 1 KB = 1024 bytes, 1 MB = 1024 KB (2**20 bytes), 1 GB = 1024 MB (2**30 bytes).

Disk sizes, memory (RSS) and estimates are all shown with `human_bytes`, and every figure in MB
is bytes / MB, so the same number of bytes reads the same on every screen and in every report.
"""

from __future__ import annotations

KB = 1024
MB = KB * KB
GB = MB * KB


def human_bytes(n: float | None) -> str:
    """`512 B`, `3.4 KB`, `12.0 MB`, `1.5 GB` ("" for None)."""
    if n is None:
        return ""
    if abs(n) < KB:
        return f"{n:.0f} B"
    for unit, size in (("KB", KB), ("MB", MB)):
        if abs(n) < size * KB:
            return f"{n / size:.1f} {unit}"
    return f"{n / GB:.1f} GB"
