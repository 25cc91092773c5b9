"""The sweep's cache of converted variants: keyed by (model content, options, tool versions)
under `<cache>/sweep/<model hash>/`, each finished conversion with a marker beside it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from slm_wizard.core.evaluate.sweep_variants import Variant

CACHE_FORMAT = 1


def model_hash(model_dir: Path) -> str:
    """SHA-256 of the model folder's files (names and bytes), hidden files left out."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        rel = f.relative_to(model_dir).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        h.update(rel.encode("utf-8") + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def tool_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("olive-ai", "onnxruntime-genai", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = ""
    return out


def variant_key(variant: Variant) -> str:
    blob = json.dumps({"options": variant.convert_kwargs(), "tools": tool_versions(),
                       "format": CACHE_FORMAT}, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:10]


def default_cache_root() -> Path:
    from slm_wizard.core.base.paths import cache_dir

    return cache_dir() / "sweep"


def variant_folder(root: Path, mhash: str, variant: Variant) -> Path:
    return Path(root) / mhash[:16] / f"{variant.name}-{variant_key(variant)}"


def cached_variant(folder: Path) -> dict[str, Any] | None:
    """The marker of a finished conversion in `folder` (None: absent, convert again)."""
    from slm_wizard.core.base.fileio import read_json_object

    marker = folder.with_name(folder.name + ".json")
    if not (folder / "genai_config.json").is_file() or not marker.is_file():
        return None
    try:
        return read_json_object(marker, what="sweep cache marker")
    except ValueError:
        return None
