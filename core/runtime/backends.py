"""Opening a chat backend by name: "ort" on a converted folder, "foundry" on a deployed model id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slm_wizard.core.runtime.chat import BACKENDS, ChatBackend, ChatError
from slm_wizard.core.runtime.foundry_backend import FoundryBackend
from slm_wizard.core.runtime.ort_backend import OrtBackend


def open_backend(kind: str, model: Path | str, **kw: Any) -> ChatBackend:
    """Open a chat backend: "ort" on a converted folder, "foundry" on a deployed model id.

    Keyword arguments: max_length (cap the context used), cache_dir (foundry's model cache).
    """
    if kind == "ort":
        kw.pop("cache_dir", None)
        return OrtBackend(model, **kw)
    if kind == "foundry":
        return FoundryBackend(str(model), **kw)
    raise ChatError(f"Unknown backend {kind!r}: choose one of {', '.join(BACKENDS)}.")
