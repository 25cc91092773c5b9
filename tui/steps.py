"""The wizard's steps, in order: id, title, and where the screen lives."""

from __future__ import annotations

from dataclasses import dataclass

from slm_wizard.core.run.record import STEP_TITLES


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    module: str
    cls: str


# The steps and their titles come from the run record (core.record); here, where each screen is.
STEPS: tuple[Step, ...] = tuple(
    Step(sid, title, f"slm_wizard.tui.screens.{sid}", f"{sid.capitalize()}Screen")
    for sid, title in STEP_TITLES.items()
)
STEP_IDS = tuple(s.id for s in STEPS)


def step(step_id: str) -> Step:
    for s in STEPS:
        if s.id == step_id:
            return s
    raise KeyError(step_id)


def missing_input(step_id: str, state) -> str | None:
    """What a step lacks to start, naming the earlier step that provides it; None when ready."""
    if step_id == "convert" and state.model_dir is None:
        return "Convert needs a model folder: choose one in the Welcome or Model step."
    if step_id in ("deploy", "chat", "validate", "serve") and state.onnx_dir is None:
        return f"{step(step_id).title} needs a converted model: run the Convert step first."
    return None
