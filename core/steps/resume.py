"""What a resumed run finds again on disk: the converted model of last time, checked without
running it, and the deployment of last time, still in the Foundry Local cache or not.

The fronts call these when a saved run record is picked up again (the Convert and Deploy screens
on resume); what a record says is never taken on trust when the files can be looked at.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from slm_wizard.core.convert.verify import compare, inspect_graph
from slm_wizard.core.deploy.foundry import check_onnx_folder, target_dir
from slm_wizard.core.run.record import RunRecord
from slm_wizard.core.runtime.chat import GenerationSettings
from slm_wizard.core.steps import ProgressFn
from slm_wizard.core.steps import chat as chat_step
from slm_wizard.core.steps import convert as convert_step

__all__ = ["Found", "chat_settings", "check_converted", "convert_options",
           "deployment_in_place"]


@dataclass(frozen=True)
class Found:
    """The converted model a saved record names, as found on disk now."""

    folder: Path
    precision: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        if self.ok:
            return (f"Found the verified {self.precision.upper()} model from last time: "
                    f"{self.folder} (its files and the quantization in its graph checked "
                    "again). Continue with it, or run the conversion again.")
        return (f"The {self.precision.upper()} model from last time in {self.folder} does not "
                f"check out: {'; '.join(self.problems)} Run the conversion again.")


def convert_options(record: RunRecord, *, done: bool = False) -> convert_step.Options | None:
    """The Convert step's options as they were last run for this record's model (an
    interrupted run's, else the recorded one's; `done`: the finished run's that made the
    current model); None when there are none for this model."""
    rec = record.get("convert")
    if done:
        saved = dict(rec.options) if rec is not None and rec.done and rec.outputs else {}
    else:
        saved = record.last_options("convert")
    if not saved or record.model_dir is None \
            or Path(saved.get("model_dir", "")) != Path(record.model_dir):
        return None
    known = {f for f in convert_step.Options.__dataclass_fields__}
    try:
        return convert_step.Options(**{k: v for k, v in saved.items() if k in known
                                       and v is not None})
    except (TypeError, ValueError):
        return None


def check_converted(options: convert_step.Options, *, on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Found:
    """The model `options` made, checked again without running it: genai_config.json, the ONNX
    file and its complete weights, and the graph's quantization against what was asked."""
    folder = options.chosen_output.expanduser()
    problems = check_onnx_folder(folder)
    if not problems:
        try:
            from slm_wizard.core.base.fileio import read_json

            cfg = read_json(folder / "genai_config.json")
            name = (cfg["model"].get("decoder") or {}).get("filename") or "model.onnx"
            problems = compare(inspect_graph(folder / name), options.resolved())
        except Exception as exc:  # an unreadable graph: a problem to show, not a crash
            problems = [f"its graph cannot be read ({type(exc).__name__}: {exc})"]
    return Found(folder, options.precision, [p if p.endswith(".") else p + "." for p in problems])


def deployment_in_place(record: RunRecord) -> bool | None:
    """The deployment the record names is still in the Foundry Local cache (its folder with
    inference_model.json); None when the record names none."""
    name, cache = record.deployed_name, record.foundry_cache
    if not name or cache is None:
        return None
    return (target_dir(cache, name) / "inference_model.json").is_file()


def chat_settings(record: RunRecord, defaults: GenerationSettings
                  ) -> tuple[str | None, GenerationSettings, str] | None:
    """The chat's system prompt, settings and backend as they were last used in this run (from
    its chat record); None when the run has no chat yet."""
    rec = record.get("chat")
    if rec is None or not rec.done:
        return None
    saved = rec.options
    values = {}
    for name in chat_step.SETTING_FLAGS:
        value = saved.get(name)
        kind = type(getattr(defaults, name))
        if value is not None and (isinstance(value, kind) or kind is float
                                  and isinstance(value, int) and not isinstance(value, bool)):
            values[name] = kind(value)
    system = saved.get("system")
    backend = saved.get("backend")
    return (system if isinstance(system, str) and system else None,
            replace(defaults, **values), backend if isinstance(backend, str) else "ort")
