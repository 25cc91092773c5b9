"""The Model step: describe a model folder (core.model_info) and estimate its converted sizes.

Shared by the wizard's Model screen and `slm-wizard inspect`. No weights are loaded: config.json,
the tokenizer files and the safetensors headers are read. A folder that cannot be used at all
raises ModelFolderError (a core.base.status.Refused) with a message for the user.

The Result holds what the fronts show, decided here once: the facts (`facts`), the warnings
(`warnings`), the verdict line (`verdict`) and whether the wizard may go on (`can_continue`).
`check_model_folder` and `ModelFolderError` are this step's public names for the fronts' quick
folder check (the Welcome screen, the folder fields' validator).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.paths import missing_reason
from slm_wizard.core.base.status import Status
from slm_wizard.core.model.adapter import (
    AdapterInfo,
    check_base,
    inspect_adapter,
    is_adapter_folder,
)
from slm_wizard.core.model.checkpoints import run_of_checkpoint
from slm_wizard.core.model.model_info import (
    ModelFolderError,
    ModelInfo,
    TrainingOutputFolder,
    check_model_folder,
    inspect_model,
)
from slm_wizard.core.run.record import StepRecord
from slm_wizard.core.steps import Progress, ProgressFn

STEP = "model"

__all__ = ["STEP", "ModelFolderError", "Options", "Result", "TrainingOutputFolder",
           "blocking_problems", "check_model_folder", "failure_record", "missing_reason",
           "model_facts", "run", "to_record"]


@dataclass(frozen=True)
class Options:
    model_dir: Path
    base_dir: Path | None = None  # a LoRA adapter's base model folder (checked against it)

    def argv(self) -> list[str]:
        """The headless command that inspects this folder."""
        args = ["slm-wizard", "inspect", str(self.model_dir)]
        return args + (["--base", str(self.base_dir)] if self.base_dir is not None else [])


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


def fp32_weights(info: ModelInfo) -> str:
    """The weights' size at full precision, for people (the Model and Convert screens, the
    record's "fp32 weights" figure): one text for one model everywhere."""
    from slm_wizard.core.base.units import human_bytes
    from slm_wizard.core.model.model_info import fp32_size_bytes

    return human_bytes(fp32_size_bytes(info))


def model_facts(info: ModelInfo) -> list[tuple[str, str]]:
    """What a model folder is, as label/value rows (the Model screen's table)."""
    count = f"{info.param_count:,}" + ("" if info.param_count_exact else " (estimated)")
    return [
        ("Architecture", f"{info.architecture or '?'} ({info.model_type or '?'})"),
        ("Family", info.family),
        ("Shape", f"hidden {info.hidden_size}, {info.num_layers} layers, {info.num_heads} heads "
                  f"({info.num_kv_heads} KV), vocab {info.vocab_size}"),
        ("Context length", str(info.context_length)),
        ("Parameters", f"{count} · fp32 weights {fp32_weights(info)} "
                       f"· stored as {info.dtype}"),
        ("Weights", ", ".join(info.weight_files) or "none"),
        ("Tokenizer", ", ".join(info.tokenizer_files) or "none"),
        ("Chat template", "yes" if info.chat_template else "no"),
        ("Model builder", "supports this architecture" if info.builder_supported
         else "does NOT support this architecture"),
        *_training_run(info.path),
    ]


def _training_run(model_dir: Path) -> list[tuple[str, str]]:
    """A checkpoint of a training run: which one, the run's others, the name outputs get."""
    run = run_of_checkpoint(model_dir)
    if run is None:
        return []
    if run.chosen.resolve() == Path(model_dir).resolve():
        which = run.describe()
    else:
        which = (f"{Path(model_dir).name}; the wizard would offer {run.describe()}")
    return [("Training run", f"{run.folder} · checkpoint {which} · outputs are named "
                             f"{run.name}-…")]


@dataclass
class Result:
    """`info` is the model's (for a LoRA adapter: its base model's, None when not found)."""

    info: ModelInfo | None
    estimates: list[Any] = field(default_factory=list)  # core.convert.SizeEstimate per precision
    adapter: AdapterInfo | None = None
    base_problems: list[str] = field(default_factory=list)  # why the base cannot be used

    @property
    def blocking(self) -> list[str]:
        if self.adapter is not None:
            return list(self.base_problems) or (blocking_problems(self.info)
                                                if self.info is not None else ["no base model"])
        assert self.info is not None
        return blocking_problems(self.info)

    @property
    def status(self) -> Status:
        """FAIL when the folder cannot be converted, WARN when it has problems, else OK.

        An adapter whose base folder is not found yet is a WARN: it needs one to go on."""
        if self.adapter is not None and self.info is None:
            return Status.WARN
        if self.blocking:
            return Status.FAIL
        assert self.info is not None
        return Status.WARN if self.info.problems or (
            self.adapter is not None and self.adapter.problems) else Status.OK

    @property
    def summary(self) -> str:
        if self.adapter is not None:
            a = self.adapter
            text = (f"{a.name}: LoRA adapter (rank {a.rank}, alpha {a.alpha}, "
                    f"{', '.join(a.target_modules)}) for {a.base_model or 'an unnamed base'}")
            if self.info is not None and not self.base_problems:
                return text + f"; base model {self.info.path}"
            return text + f"; needs {a.needs}" + (
                f" Base: {'; '.join(self.base_problems)}" if self.base_problems else "")
        info = self.info
        assert info is not None
        text = f"{info.name}: {info.architecture or info.model_type}, " \
               f"{info.param_count:,} parameters"
        if self.blocking:
            text += f"; cannot be converted: {', '.join(self.blocking)}"
        return text

    @property
    def folder(self) -> Path:
        """The folder inspected: the adapter's, or the model's."""
        if self.adapter is not None:
            return self.adapter.path
        assert self.info is not None
        return self.info.path

    @property
    def facts(self) -> list[tuple[str, str]]:
        """What the folder is, as label/value rows; an adapter's rows end with its base's."""
        if self.adapter is None:
            assert self.info is not None
            return model_facts(self.info)
        a = self.adapter
        rows = [
            ("LoRA adapter", f"{a.peft_type}, rank {a.rank}, alpha {a.alpha}"),
            ("Target modules", ", ".join(a.target_modules) or "?"),
            ("Base model named", a.base_model or "(none)"),
            ("Adapter weights", f"{', '.join(a.weight_files)} · {a.param_count:,} parameters"),
        ]
        if self.info is not None:
            i = self.info
            rows.append(("Base folder", f"{i.path} · {i.architecture} · hidden {i.hidden_size}"))
        else:
            rows.append(("Base folder", "not found: " + a.needs))
        return rows

    @property
    def warnings(self) -> list[str]:
        """The problems to show (blocking or not)."""
        if self.adapter is not None:
            return [*self.adapter.problems, *self.base_problems]
        assert self.info is not None
        return list(self.info.problems)

    @property
    def can_continue(self) -> bool:
        """Whether the wizard may go on to Convert with this folder. An adapter whose base is
        not found yet may: the Convert step asks for the base folder."""
        if self.adapter is not None and self.info is None:
            return True
        return not self.blocking

    @property
    def verdict(self) -> tuple[Status, str]:
        """One line saying what comes next, with its tone (OK green, WARN yellow, FAIL red)."""
        if self.adapter is not None:
            a = self.adapter
            if self.info is None:
                return Status.WARN, (f"LoRA adapter: needs {a.needs} Give the base folder on "
                                     "the Convert step.")
            if self.blocking:
                return Status.FAIL, f"The base model does not match: {'; '.join(self.blocking)}."
            return Status.OK, (f"{a.name}: LoRA adapter ready to convert with its base "
                               f"{self.info.name}.")
        assert self.info is not None
        if self.blocking:
            return Status.FAIL, f"Cannot be converted: {', '.join(self.blocking)}."
        return Status.OK, f"{self.info.name}: ready to convert."

    def to_dict(self) -> dict[str, Any]:
        if self.adapter is not None:
            return {"ok": True, **self.adapter.to_dict(),
                    "base": self.info.to_dict() if self.info is not None else None,
                    "base_problems": list(self.base_problems),
                    "estimates": [asdict(e) for e in self.estimates]}
        assert self.info is not None
        return {"ok": True, **self.info.to_dict(),
                "estimates": [asdict(e) for e in self.estimates]}


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Inspect the folder; raises ModelFolderError when it is not a usable model folder."""
    from slm_wizard.core.convert.estimate import estimate

    if on_progress is not None:
        on_progress(Progress("inspect", text=f"Inspecting {options.model_dir}…"))
    if options.base_dir is not None or is_adapter_folder(options.model_dir):
        return _inspect_adapter(options)
    info = inspect_model(options.model_dir)
    return Result(info, estimate(info))


def _inspect_adapter(options: Options) -> Result:
    """A LoRA adapter: what it is, and its base folder (given or named) checked against it."""
    from slm_wizard.core.convert.estimate import estimate

    adapter = inspect_adapter(options.model_dir)
    try:
        info, differences = check_base(adapter, options.base_dir)
    except ModelFolderError as exc:
        return Result(None, [], adapter, [str(exc)])
    return Result(info, estimate(info), adapter, differences)


def to_record(options: Options, result: Result) -> StepRecord:
    if result.adapter is not None:
        a = result.adapter
        base = result.info.path if result.info is not None else None
        return StepRecord(
            STEP, result.status, result.summary,
            options={"model_dir": a.path, "base_dir": base},
            files={"adapter": str(a.path), **({"base model": str(base)} if base else {})},
            figures={"LoRA rank": str(a.rank), "LoRA alpha": str(a.alpha),
                     "adapter parameters": f"{a.param_count:,}"},
            command=Options(a.path, options.base_dir).argv(),
            notes=[*a.problems, *result.base_problems])
    info = result.info
    assert info is not None
    figures = {"parameters": f"{info.param_count:,}" + ("" if info.param_count_exact
                                                        else " (estimated)"),
               "fp32 weights": fp32_weights(info)}
    return StepRecord(
        STEP, result.status, result.summary,
        options={"model_dir": info.path}, files={"model": str(info.path)}, figures=figures,
        command=Options(info.path).argv(), notes=list(info.problems))


def failure_record(options: Options, why: str) -> StepRecord:
    """The record of an inspection that gave no result (`why`: the refusal or the failure)."""
    return StepRecord(STEP, Status.FAIL, why, options={"model_dir": options.model_dir},
                      files={"model": str(options.model_dir)}, command=options.argv())
