"""Training output folders: a Hugging Face Trainer's run folder holds `checkpoint-<step>/` model
folders (and trainer_state.json). Recognised so that the fronts can offer the checkpoint to use,
and so that what is made from a checkpoint is named after the run, not "checkpoint-1000".

model_info refuses a run folder with `TrainingOutputFolder`, whose message is `refusal()`.
The checkpoint offered is the best one when trainer_state.json names it (`best_model_checkpoint`,
written when the Trainer tracks a metric), else the latest by step number; the reason says which.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"


def _step(folder: Path) -> int:
    match = CHECKPOINT.match(folder.name)
    return int(match.group(1)) if match else -1


def _is_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()


@dataclass(frozen=True)
class TrainingRun:
    """A run folder and its model checkpoints (by step), with the one to use and why."""

    folder: Path
    checkpoints: tuple[Path, ...]
    chosen: Path
    reason: str  # "the best checkpoint (...)" or "the latest, step N"

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def others(self) -> list[Path]:
        return [c for c in self.checkpoints if c != self.chosen]

    def refusal(self) -> str:
        """Why the run folder itself is not a model, and the checkpoint to use instead."""
        return (f"{self.folder} is a training output folder (Hugging Face Trainer), not a model "
                f"folder: its checkpoints are model folders. Use {self.chosen} ({self.reason})"
                + (f"; the others: {', '.join(c.name for c in self.others)}"
                   if self.others else "") + ".")

    def describe(self) -> str:
        """One sentence: which checkpoint, why, and the others."""
        others = ", ".join(c.name for c in self.others)
        return (f"{self.chosen.name} ({self.reason})"
                + (f"; the others: {others}" if others else ""))


def _best_name(folder: Path, latest: Path) -> str | None:
    """The checkpoint trainer_state.json names as best (its folder name), if any."""
    for state in (folder / STATE_FILE, latest / STATE_FILE):
        try:
            data = json.loads(state.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        best = data.get("best_model_checkpoint") if isinstance(data, dict) else None
        if isinstance(best, str) and best.strip():
            return Path(best.strip().replace("\\", "/")).name
    return None


def find_training_run(folder: str | Path) -> TrainingRun | None:
    """The training run in `folder` (None: it holds no `checkpoint-<step>` model folder)."""
    folder = Path(folder).expanduser()
    try:
        found = [p for p in folder.iterdir() if CHECKPOINT.match(p.name) and p.is_dir()
                 and _is_model(p)]
    except OSError:
        return None
    if not found:
        return None
    checkpoints = tuple(sorted(found, key=_step))
    latest = checkpoints[-1]
    best = _best_name(folder, latest)
    chosen = next((c for c in checkpoints if c.name == best), None)
    if chosen is not None:
        reason = f"the best checkpoint: best_model_checkpoint in {STATE_FILE}"
    else:
        chosen, reason = latest, f"the latest, step {_step(latest)}"
    return TrainingRun(folder, checkpoints, chosen, reason)


def run_of_checkpoint(model_dir: str | Path) -> TrainingRun | None:
    """The training run a `checkpoint-<step>` model folder belongs to (None: not a checkpoint)."""
    model_dir = Path(model_dir).expanduser()
    if not CHECKPOINT.match(model_dir.name):
        return None
    run = find_training_run(model_dir.parent)
    if run is None or model_dir.resolve() not in {c.resolve() for c in run.checkpoints}:
        return None
    return run


def output_name(model_dir: str | Path) -> str:
    """The name outputs made from `model_dir` start with: the run folder's for a checkpoint."""
    run = run_of_checkpoint(model_dir)
    return run.name if run is not None else Path(model_dir).expanduser().name
