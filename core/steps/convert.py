"""The Convert step: Olive to ONNX, then the proof (files, graph quantization, a generation).

Shared by the Convert screen and `slm-wizard convert`. The precisions, methods, block sizes and
defaults are core.convert's; `Options.argv()` is the headless command that runs these options.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from slm_wizard.core.base.status import CheckResult, Refused, Status
from slm_wizard.core.base.units import human_bytes
from slm_wizard.core.convert.options import (
    PRECISIONS,
    ConvertOptions,
    Issue,
    choose_method,
    default_output_dir,
)
from slm_wizard.core.convert.run import ConvertEvent, ConvertResult, run_conversion
from slm_wizard.core.convert.validation import validate_options
from slm_wizard.core.model.adapter import (
    ADAPTER_MODES,
    DEFAULT_ADAPTER_MODE,
    AdapterInfo,
    check_base,
    inspect_adapter,
    is_adapter_folder,
)
from slm_wizard.core.model.model_info import ModelFolderError, ModelInfo, inspect_model
from slm_wizard.core.run.record import ONNX_DIR, PRECISION, StepRecord
from slm_wizard.core.steps import Progress, ProgressFn

STEP = "convert"
DEFAULT_PRECISION = "int4"
DEFAULT_BLOCK_SIZE = 32
DEFAULT_LOG_LEVEL = 1
# Labels of the files a conversion writes (the Summary shows them).
FILE_ONNX = "Converted ONNX model"
FILE_CONFIG = "Olive config file"
FILE_LOG = "Conversion log"


class ConvertRefused(Refused):
    """The options or the model folder are refused before anything runs (the CLI exits 2)."""

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues or [])

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**super().to_dict(), "issues": [asdict(i) for i in self.issues]}


@dataclass(frozen=True)
class Options:
    """Everything that decides what a conversion does.

    `output_dir` None means the default folder for the model and precision; `method` None means
    auto-opt when it can build what is asked, else the config-file method (`resolved()`)."""

    model_dir: Path
    output_dir: Path | None = None
    precision: str = DEFAULT_PRECISION
    method: str | None = None
    block_size: int = DEFAULT_BLOCK_SIZE
    symmetric: bool = True
    accuracy_level: int | None = None
    log_level: int = DEFAULT_LOG_LEVEL
    replace: bool = False  # replace a non-empty output folder (after success)
    verify: bool = True  # check the output after the conversion
    # A LoRA adapter (model_dir holds adapter_config.json): its base model's folder (None: the
    # local folder the adapter names) and the route, merge or adapter (core.adapter).
    base_dir: Path | None = None
    adapter_mode: str = DEFAULT_ADAPTER_MODE

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_dir", Path(self.model_dir))
        if self.base_dir is not None:
            object.__setattr__(self, "base_dir", Path(self.base_dir))
        if self.output_dir is not None:
            object.__setattr__(self, "output_dir", Path(self.output_dir))

    @property
    def chosen_method(self) -> str:
        return self.method or choose_method(self.precision, self.block_size, self.symmetric,
                                            self.accuracy_level)

    @property
    def chosen_output(self) -> Path:
        return self.output_dir or default_output_dir(self.model_dir, self.precision)

    def resolved(self) -> ConvertOptions:
        """The conversion's options with the method and output folder chosen."""
        return ConvertOptions(
            model_dir=self.model_dir, output_dir=self.chosen_output, precision=self.precision,
            method=self.chosen_method, block_size=self.block_size, symmetric=self.symmetric,
            accuracy_level=self.accuracy_level, log_level=self.log_level, replace=self.replace)

    def argv(self) -> list[str]:
        """The headless command that runs exactly these options."""
        args = ["slm-wizard", "convert", str(self.model_dir)]
        if self.output_dir is not None:
            args += ["--output", str(self.output_dir)]
        args += ["--precision", self.precision]
        if self.method is not None:
            args += ["--method", self.method]
        args += ["--block-size", str(self.block_size),
                 "--symmetric" if self.symmetric else "--asymmetric"]
        if self.accuracy_level is not None:
            args += ["--accuracy-level", str(self.accuracy_level)]
        if self.log_level != DEFAULT_LOG_LEVEL:
            args += ["--log-level", str(self.log_level)]
        if self.replace:
            args.append("--replace")
        if not self.verify:
            args.append("--no-verify")
        if self.base_dir is not None:
            args += ["--base", str(self.base_dir)]
        if self.adapter_mode != DEFAULT_ADAPTER_MODE:
            args += ["--adapter-mode", self.adapter_mode]
        return args

    @property
    def is_adapter(self) -> bool:
        """True when model_dir is a LoRA adapter (or a base folder was given for one)."""
        return self.base_dir is not None or is_adapter_folder(self.model_dir)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


@dataclass(frozen=True)
class Plan:
    """What a run of these options would do, before it runs (the dry run shows it)."""

    options: Options
    conversion: ConvertOptions  # method and output folder chosen
    info: ModelInfo  # the base model's, for an adapter
    issues: list[Issue]
    adapter: AdapterInfo | None = None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]


def plan(options: Options) -> Plan:
    """Inspect the model and check the options; raises ConvertRefused for a bad model folder."""
    if options.is_adapter:
        return _adapter_plan(options)
    try:
        info = inspect_model(options.model_dir)
    except ModelFolderError as exc:
        raise ConvertRefused(str(exc)) from exc
    conversion = options.resolved()
    return Plan(options, conversion, info, validate_options(conversion, info))


def _adapter_plan(options: Options) -> Plan:
    """An adapter's plan: its base folder checked against it, the route's conversion options."""
    if options.adapter_mode not in ADAPTER_MODES:
        raise ConvertRefused(f"Unknown adapter mode {options.adapter_mode!r}: use one of "
                             f"{', '.join(ADAPTER_MODES)}.")
    try:
        adapter = inspect_adapter(options.model_dir)
        info, differences = check_base(adapter, options.base_dir)
    except ModelFolderError as exc:
        raise ConvertRefused(str(exc)) from exc
    if differences:
        raise ConvertRefused(f"{info.path} is not the base model of the adapter {adapter.name}: "
                             + "; ".join(differences) + ".")
    conversion = replace(options.resolved(), model_dir=info.path,
                         adapter_dir=adapter.path if options.adapter_mode == "adapter" else None)
    issues = validate_options(conversion, info)
    if options.adapter_mode == "adapter":
        issues.append(Issue("warning", "adapter", "Adapter mode writes the base model plus "
                            "adapter_weights.onnx_adapter: it runs with onnxruntime-genai (the "
                            "chat can switch the adapter on and off) but not in Foundry Local, "
                            "which loads one model folder. Merge the adapter to deploy it."))
    return Plan(options, conversion, info, issues, adapter)


def _run_merged(p: Plan, progress, cancel: threading.Event | None) -> ConvertResult:
    """Merge the adapter into a temporary full model, convert it, remove the temporary model."""
    from slm_wizard.core.convert.run import ConvertEvent
    from slm_wizard.core.model.adapter import merge

    assert p.adapter is not None
    out = p.conversion.output_dir.expanduser().resolve()
    tmp = out.parent / f".{p.adapter.name}.merge-{uuid.uuid4().hex[:8]}"
    progress(ConvertEvent("stage", f"Merging the adapter {p.adapter.name} into {p.info.name} "
                                   "(PEFT merge_and_unload)", 0.0))
    try:
        try:
            merged = merge(p.adapter.path, p.info.path, tmp / p.adapter.name)
        except Exception as exc:  # torch/peft errors: a failed step with the reason
            message = f"Merging the adapter with PEFT failed: {exc}"
            progress(ConvertEvent("error", message))
            return ConvertResult(False, None, None, message,
                                 command=f"merge {p.adapter.path} into {p.info.path}")
        if cancel is not None and cancel.is_set():
            progress(ConvertEvent("cancelled", "Cancelled: no output was kept."))
            return ConvertResult(False, None, None, "Cancelled: no output was kept.",
                                 cancelled=True)
        result = run_conversion(replace(p.conversion, model_dir=merged), progress, cancel,
                                verify=p.options.verify)
        # The temporary folder is gone afterwards: the command names what it held.
        result.command = (f"(PEFT merge of {p.adapter.path} into {p.info.path}) "
                          + result.command.replace(str(merged), "MERGED_MODEL"))
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_adapter(p: Plan, conversion: ConvertResult, progress) -> None:
    """Add the adapter's answer checks to a finished conversion's verification."""
    from slm_wizard.core.convert.run import ConvertEvent
    from slm_wizard.core.model.adapter import verify_adapter

    v = conversion.verification
    if p.adapter is None or not conversion.ok or v is None or conversion.output_dir is None:
        return
    progress(ConvertEvent("stage", "Comparing greedy answers with transformers + PEFT", 0.98))
    checks = verify_adapter(conversion.output_dir, p.info.path, p.adapter.path,
                            p.options.adapter_mode, p.options.precision)
    v.checks.extend(checks)
    failed = [c for c in checks if c.status == Status.FAIL]
    if failed:
        conversion.ok = False
        conversion.error = "Verification failed: " + "; ".join(
            f"{c.id}: {c.found}" for c in failed)


@dataclass
class Result:
    """A conversion's outcome: the Olive run (`conversion`) and its verification checks."""

    status: Status
    conversion: ConvertResult
    checks: list[CheckResult] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.conversion.ok

    @property
    def cancelled(self) -> bool:
        return self.conversion.cancelled

    @property
    def error(self) -> str:
        return self.conversion.error

    @property
    def output_dir(self) -> Path | None:
        return self.conversion.output_dir

    def to_dict(self) -> dict[str, Any]:
        return {**self.conversion.to_dict(), "status": self.status.value,
                "files": dict(self.files), "figures": dict(self.figures)}


def result_of(conversion: ConvertResult) -> Result:
    """The step's Result for a finished conversion."""
    v = conversion.verification
    if conversion.ok:
        status = Status.OK
    elif conversion.cancelled:
        status = Status.SKIP
    else:
        status = Status.FAIL
    files: dict[str, str] = {}
    if conversion.output_dir is not None:
        files[FILE_ONNX] = str(conversion.output_dir)
    if conversion.config_path is not None:
        files[FILE_CONFIG] = str(conversion.config_path)
    if conversion.log_path is not None:
        files[FILE_LOG] = str(conversion.log_path)
    figures = {"conversion time": f"{conversion.elapsed_s:.1f} s"}
    if v is not None:
        figures["ONNX size"] = human_bytes(v.size_bytes)
        if v.estimate_bytes:
            figures["estimated size"] = human_bytes(v.estimate_bytes)
        if v.tokens_per_s:
            figures["verification tokens/s"] = f"{v.tokens_per_s:.1f}"
    return Result(status, conversion, list(v.checks) if v is not None else [], files, figures)


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Convert and verify. Progress: `Progress` events (phase: start, stage, log, done, error or
    cancelled; log lines marked `log`); refused input raises ConvertRefused."""
    p = plan(options)
    if p.errors:
        raise ConvertRefused(" ".join(i.message for i in p.errors), p.issues)

    def progress(event: ConvertEvent) -> None:
        if on_progress is not None:
            on_progress(Progress(event.kind, text=event.message, fraction=event.progress,
                                 log=event.kind == "log"))

    if p.adapter is not None and options.adapter_mode == "merge":
        conversion = _run_merged(p, progress, cancel)
    else:
        conversion = run_conversion(p.conversion, progress, cancel, verify=options.verify)
    conversion.issues.extend(i for i in p.issues if i.field == "adapter")
    _check_adapter(p, conversion, progress)
    return result_of(conversion)


def to_record(options: Options, result: Result) -> StepRecord:
    """The run record's entry: the options that ran, the output, the checks' outcome."""
    c = result.conversion
    if result.ok:
        outcome = (f"{options.precision} via {options.chosen_method} → {c.output_dir}"
                   + (" (verified)" if c.verification is not None else ""))
        if options.is_adapter:
            outcome += (" — LoRA adapter merged into its base" if options.adapter_mode == "merge"
                        else " — base model + LoRA adapter (onnxruntime-genai only)")
    elif result.cancelled:
        outcome = "cancelled: no output was kept"
    else:
        outcome = f"failed: {c.error}"
    notes = [f"{i.level}: {i.message}" for i in c.issues if not i.is_error]
    outputs = ({ONNX_DIR: str(c.output_dir), PRECISION: options.precision}
               if result.ok and c.output_dir is not None else {})
    return StepRecord(step=STEP, status=result.status, outcome=outcome,
                      options=options.to_dict(), files=dict(result.files),
                      figures=dict(result.figures), command=options.argv(), notes=notes,
                      outputs=outputs)


__all__ = ["PRECISIONS", "ConvertRefused", "Options", "Plan", "Result", "plan", "result_of",
           "run", "to_record"]
