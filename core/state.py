"""The wizard's state: one object passed between steps (never read back from widgets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WizardState:
    model_dir: Path | None = None  # the Hugging Face folder the user chose
    is_demo: bool = False
    onnx_dir: Path | None = None  # the converted, verified ONNX folder
    precision: str | None = None
    deployed_name: str | None = None  # "<name>:<version>" in Foundry Local
    foundry_cache: Path | None = None
    done: set[str] = field(default_factory=set)  # ids of finished steps
    notes: dict[str, str] = field(default_factory=dict)  # step id -> one-line result
    options: dict[str, object] = field(default_factory=dict)  # step id -> options chosen there
    figures: dict[str, str] = field(default_factory=dict)  # measured figure -> value with unit

    def mark_done(self, step: str, note: str = "") -> None:
        self.done.add(step)
        if note:
            self.notes[step] = note
