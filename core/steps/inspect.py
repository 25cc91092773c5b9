"""The Model step: describe a model folder (core.model_info) and estimate its converted sizes.

Shared by the wizard's Model screen and `slm-wizard inspect`. No weights are loaded: config.json,
the tokenizer files and the safetensors headers are read. A folder that cannot be used at all
raises core.model_info.ModelFolderError (a ValueError) with a message for the user.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.model_info import ModelInfo, inspect_model
from slm_wizard.core.record import StepRecord
from slm_wizard.core.status import Status
from slm_wizard.core.steps import ProgressFn

STEP = "model"


@dataclass(frozen=True)
class Options:
    model_dir: Path

    def argv(self) -> list[str]:
        """The headless command that inspects this folder."""
        return ["slm-wizard", "inspect", str(self.model_dir)]


def blocking_problems(info: ModelInfo) -> list[str]:
    """What stops a conversion (the other problems are warnings)."""
    out = []
    if info.is_lora_adapter:
        out.append("LoRA adapter")
    if not info.builder_supported:
        out.append("unsupported architecture")
    if not any(f in info.tokenizer_files for f in ("tokenizer.json", "tokenizer.model",
                                                    "vocab.json")):
        out.append("no tokenizer")
    return out


@dataclass
class Result:
    info: ModelInfo
    estimates: list[Any] = field(default_factory=list)  # core.convert.SizeEstimate per precision

    @property
    def blocking(self) -> list[str]:
        return blocking_problems(self.info)

    @property
    def status(self) -> Status:
        """FAIL when the folder cannot be converted, WARN when it has problems, else OK."""
        if self.blocking:
            return Status.FAIL
        return Status.WARN if self.info.problems else Status.OK

    @property
    def summary(self) -> str:
        info = self.info
        text = f"{info.name}: {info.architecture or info.model_type}, " \
               f"{info.param_count:,} parameters"
        if self.blocking:
            text += f"; cannot be converted: {', '.join(self.blocking)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, **self.info.to_dict(),
                "estimates": [asdict(e) for e in self.estimates]}


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Inspect the folder; raises ModelFolderError when it is not a usable model folder."""
    from slm_wizard.core.convert import estimate

    if on_progress is not None:
        on_progress(f"Inspecting {options.model_dir}…")
    info = inspect_model(options.model_dir)
    return Result(info, estimate(info))


def to_record(options: Options, result: Result) -> StepRecord:
    from slm_wizard.core.model_info import fp32_size_bytes

    info = result.info
    figures = {"parameters": f"{info.param_count:,}" + ("" if info.param_count_exact
                                                        else " (estimated)"),
               "fp32 weights": f"{fp32_size_bytes(info) / 1e6:.1f} MB"}
    return StepRecord(
        STEP, result.status, result.summary,
        options={"model_dir": info.path}, files={"model": str(info.path)}, figures=figures,
        command=Options(info.path).argv(), notes=list(info.problems))
