"""The Convert step: Olive to ONNX, then the proof (files, graph quantization, a generation).

Shared by the Convert screen and `slm-wizard convert`. The precisions, methods, block sizes and
defaults are core.convert's; `Options.argv()` is the headless command that runs these options.
`plan(options)` makes every decision before a run (the method and why, the issues to show, the
estimates and resources, the command or config file, a LoRA merge's steps) from one inspection of
the model folder; the screen and `convert --dry-run` only render it, and `run(options,
plan=...)` runs that plan without inspecting or checking again.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from slm_wizard.core.base.status import CheckResult, Refused, Status
from slm_wizard.core.base.units import human_bytes
from slm_wizard.core.convert.estimate import (
    Resources,
    SizeEstimate,
    estimate,
    precision_hint,
    resources,
)
from slm_wizard.core.convert.olive_config import (
    CONFIG_NAME,
    build_config,
    check_config_file,
    display_command,
)
from slm_wizard.core.convert.options import (
    ACCURACY_LEVELS,
    BLOCK_SIZES,
    CPU_PROVIDER,
    METHODS,
    PRECISION_CHOICES,
    PRECISIONS,
    PROVIDER_PRECISIONS,
    ConvertOptions,
    Issue,
    choose_method,
    default_output_dir,
)
from slm_wizard.core.convert.run import ConvertResult, run_conversion
from slm_wizard.core.convert.validation import validate_options
from slm_wizard.core.model.adapter import (
    ADAPTER_MODES,
    DEFAULT_ADAPTER_MODE,
    AdapterInfo,
    check_base,
    inspect_adapter,
    is_adapter_folder,
    resolve_base,
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

    def __init__(self, message: str, issues: list[Issue] | None = None, *,
                 adapter: AdapterInfo | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues or [])
        self.adapter = adapter  # a LoRA adapter's refusal (its base): the adapter it read

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


# The merged model of a LoRA adapter exists only while it converts: commands name it so.
MERGED_MODEL = "MERGED_MODEL"
# The estimates table's columns (Plan.estimate_rows).
ESTIMATE_COLUMNS = ("precision", "size on disk", "× fp32 weights", "guide", "on CPU", "")
# Olive's log-line prefix "[time] [LEVEL] [file:line:function] ": shown as "LEVEL ".
_LOG_PREFIX = re.compile(r"^\[[\d\- :,]+\] \[(\w+)\] \[[^\]]*\] ")


def uses_block_options(precision: str) -> bool:
    """Block size, symmetry and accuracy level apply to the quantized precisions only."""
    return precision in ("int4", "int8")


def method_reason(options: Options) -> str:
    """Which method runs these options, and why."""
    method = options.chosen_method
    if options.method is not None:
        return f"{method}: your choice (checked below)"
    if method == "auto-opt":
        return "auto-opt: one command builds it (int4 block 32 symmetric, or fp32)"
    if options.precision == "int8":
        return ("config (switched from auto-opt): olive auto-opt cannot build int8 with this "
                "Olive; the config file can")
    return ("config (switched from auto-opt): olive auto-opt has no flags for this block size, "
            "symmetry or accuracy level; the config file sets them")


def method_switch_note(options: Options) -> str:
    """What the plan says when the method it chose is not the one-command default ("": none)."""
    if options.method is not None or options.chosen_method == "auto-opt":
        return ""
    what = ("int8" if options.precision == "int8"
            else "these block-size, symmetry or accuracy-level options")
    return (f"The method switched to the config file ({CONFIG_NAME}, olive run --config): "
            f"olive auto-opt cannot build {what} with this Olive.")


@dataclass(frozen=True)
class Plan:
    """What a run of these options would do, decided before it runs: the screen and the dry run
    render it, and `run(options, plan=...)` runs exactly it (no second inspection or check)."""

    options: Options
    conversion: ConvertOptions  # method and output folder chosen
    info: ModelInfo  # the base model's, for an adapter
    issues: list[Issue]
    adapter: AdapterInfo | None = None
    method_reason: str = ""
    estimates: list[SizeEstimate] = field(default_factory=list)  # one per precision
    resources: Resources | None = None  # None for a precision the CPU cannot run
    steps: list[str] = field(default_factory=list)  # what runs, in order (the merge, Olive)
    config: dict[str, Any] | None = None  # the Olive workflow file (config method)
    replacing: bool = False  # the output folder is not empty: its contents get replaced

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def method(self) -> str:
        return self.conversion.method

    @property
    def precision_hint(self) -> str:
        """The precisions in one line, for this model (which is smallest, by the estimates)."""
        return precision_hint(self.estimates)

    @property
    def output_dir(self) -> Path:
        return self.conversion.output_dir.expanduser().resolve()

    @property
    def command(self) -> str:
        """The Olive command (for a merge: of the merged model, MERGED_MODEL)."""
        return self.steps[-1]

    @property
    def shown_issues(self) -> list[Issue]:
        """The issues a form shows: the non-empty output folder is `replace_note` instead."""
        return [i for i in self.issues if not (i.field == "output_dir" and i.level == "warning")]

    @property
    def replace_note(self) -> str:
        if not self.replacing:
            return ""
        return f"{self.output_dir} is not empty: you will be asked before it is replaced."

    def needs(self, with_free: bool = False) -> str:
        """The resources line ("" when the CPU cannot run the precision)."""
        if self.resources is None:
            return ""
        return f"This conversion {self.resources.describe(with_free=with_free)}."

    @property
    def preview_head(self) -> str:
        if len(self.steps) > 1:
            return "Preview: the exact commands"
        if self.config is not None:
            return f"Preview: {self.command}, with this file:"
        return "Preview: the exact command"

    @property
    def preview_text(self) -> str:
        """The command (for a merge: the numbered steps), or the config file's JSON."""
        config = json.dumps(self.config, indent=2) if self.config is not None else ""
        if len(self.steps) == 1:
            return config or self.command
        text = "\n".join(self.step_lines)
        return f"{text}, with this file:\n{config}" if config else text

    @property
    def step_lines(self) -> list[str]:
        """What runs, one line each (numbered when more than one)."""
        if len(self.steps) == 1:
            return list(self.steps)
        return [f"{n}. {s}" for n, s in enumerate(self.steps, 1)]

    def estimate_rows(self) -> list[tuple[str, ...]]:
        """The estimates table (ESTIMATE_COLUMNS), the chosen precision marked."""
        return [(e.precision, human_bytes(e.size_bytes), f"{e.ratio:.3f}",
                 f"Base × {e.guide_ratio:g}", "yes" if e.cpu_ok else "no (GPU)",
                 "◀ chosen" if e.precision == self.conversion.precision else "")
                for e in self.estimates]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        res = self.resources
        return {"ok": not self.errors, "options": self.conversion.to_dict(),
                "method_reason": self.method_reason, "command": self.command,
                "steps": list(self.steps), "argv": self.options.argv(), "config": self.config,
                "adapter": self.adapter.to_dict() if self.adapter is not None else None,
                "issues": [asdict(i) for i in self.issues], "replacing": self.replacing,
                "resources": {**asdict(res), "disk_at": str(res.disk_at)} if res else None,
                "estimates": [asdict(e) for e in self.estimates]}


def check_adapter_mode(options: Options, *, explicit: bool = False) -> None:
    """ConvertRefused when an adapter mode is chosen (`explicit`: named on the command line, or
    not the default) for a folder that is not a LoRA adapter: it would be silently ignored."""
    if (explicit or options.adapter_mode != DEFAULT_ADAPTER_MODE) and not options.is_adapter \
            and Path(options.model_dir).is_dir():
        raise ConvertRefused(f"--adapter-mode {options.adapter_mode}: {options.model_dir} is not "
                             "a LoRA adapter folder (no adapter_config.json): the adapter mode "
                             "applies to adapters only; leave it out.")


def plan(options: Options, *, on_progress: ProgressFn | None = None,
         cancel: threading.Event | None = None, known: Plan | None = None) -> Plan:
    """What a run of `options` would do (the runner's shape: a screen plans with run_step)."""
    if on_progress is not None:
        on_progress(Progress("plan", text=f"Checking the options for {options.model_dir}…"))
    return _plan(options, known)


def _plan(options: Options, known: Plan | None = None) -> Plan:
    """Inspect the model and check the options; raises ConvertRefused for a bad model folder.

    `known`: an earlier plan; its inspection is reused when it is of the same model folder (and,
    for an adapter, the same base), so a form that re-plans on every change inspects once."""
    if options.is_adapter:
        return _adapter_plan(options, known)
    check_adapter_mode(options)
    if known is not None and known.adapter is None and known.options.model_dir == options.model_dir:
        info = known.info
    else:
        try:
            info = inspect_model(options.model_dir)
        except ModelFolderError as exc:
            raise ConvertRefused(str(exc)) from exc
    conversion = options.resolved()
    return _complete(options, conversion, info, validate_options(conversion, info))


def _adapter_plan(options: Options, known: Plan | None) -> Plan:
    """An adapter's plan: its base folder checked against it, the route's conversion options."""
    if options.adapter_mode not in ADAPTER_MODES:
        raise ConvertRefused(f"Unknown adapter mode {options.adapter_mode!r}: use one of "
                             f"{', '.join(ADAPTER_MODES)}.")
    adapter = None
    try:
        if known is not None and known.adapter is not None \
                and known.options.model_dir == options.model_dir:
            adapter = known.adapter
            if resolve_base(adapter, options.base_dir) == known.info.path:
                info, differences = known.info, []
            else:
                info, differences = check_base(adapter, options.base_dir)
        else:
            adapter = inspect_adapter(options.model_dir)
            info, differences = check_base(adapter, options.base_dir)
    except ModelFolderError as exc:
        raise ConvertRefused(str(exc), adapter=adapter) from exc
    if differences:
        raise ConvertRefused(f"{info.path} is not the base model of the adapter {adapter.name}: "
                             + "; ".join(differences) + ".", adapter=adapter)
    conversion = replace(options.resolved(), model_dir=info.path,
                         adapter_dir=adapter.path if options.adapter_mode == "adapter" else None)
    issues = validate_options(conversion, info)
    if options.adapter_mode == "adapter":
        issues.append(Issue("warning", "adapter", "Adapter mode writes the base model plus "
                            "adapter_weights.onnx_adapter: it runs with onnxruntime-genai (the "
                            "chat can switch the adapter on and off) but not in Foundry Local, "
                            "which loads one model folder. Merge the adapter to deploy it."))
    return _complete(options, conversion, info, issues, adapter)


def _complete(options: Options, conversion: ConvertOptions, info: ModelInfo,
              issues: list[Issue], adapter: AdapterInfo | None = None) -> Plan:
    """The plan's decisions from the checked options: what runs, what it costs."""
    olive = conversion
    steps = []
    if adapter is not None and options.adapter_mode == "merge":
        steps.append(f"merge {adapter.path} into {info.path} with PEFT (a temporary model, "
                     "removed afterwards)")
        olive = replace(conversion, model_dir=Path(MERGED_MODEL))
    steps.append(display_command(olive))
    config = build_config(olive) if olive.method == "config" else None
    cpu = conversion.precision in PROVIDER_PRECISIONS[CPU_PROVIDER]
    replacing = any(i.field == "output_dir" and i.level == "warning" for i in issues)
    switched = method_switch_note(options)
    if switched:
        issues = [*issues, Issue("warning", "method", switched)]
    return Plan(options, conversion, info, issues, adapter, method_reason(options),
                estimate(info, conversion.block_size, conversion.symmetric),
                resources(conversion, info) if cpu else None, steps, config, replacing)


def _run_merged(p: Plan, progress, cancel: threading.Event | None) -> ConvertResult:
    """Merge the adapter into a temporary full model, convert it, remove the temporary model."""
    from slm_wizard.core.model.adapter import merge

    assert p.adapter is not None
    out = p.conversion.output_dir.expanduser().resolve()
    from slm_wizard.core.base.paths import temp_name

    tmp = out.parent / temp_name(p.adapter.name, f"merge-{uuid.uuid4().hex[:8]}")
    progress(Progress("stage", text=f"Merging the adapter {p.adapter.name} into {p.info.name} "
                                   "(PEFT merge_and_unload)", fraction=0.0))
    try:
        try:
            merged = merge(p.adapter.path, p.info.path, tmp / p.adapter.name)
        except Exception as exc:  # torch/peft errors: a failed step with the reason
            message = f"Merging the adapter with PEFT failed: {exc}"
            progress(Progress("error", text=message))
            return ConvertResult(False, None, None, message,
                                 command=f"merge {p.adapter.path} into {p.info.path}")
        if cancel is not None and cancel.is_set():
            progress(Progress("cancelled", text="Cancelled: no output was kept."))
            return ConvertResult(False, None, None, "Cancelled: no output was kept.",
                                 cancelled=True)
        # The merged model is the base's shape: the plan's inspection and checks hold for it.
        result = run_conversion(replace(p.conversion, model_dir=merged), progress, cancel,
                                verify=p.options.verify, info=replace(p.info, path=merged),
                                issues=list(p.issues))
        # The temporary folder is gone afterwards: the command names what it held.
        result.command = (f"(PEFT merge of {p.adapter.path} into {p.info.path}) "
                          + result.command.replace(str(merged), MERGED_MODEL))
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_adapter(p: Plan, conversion: ConvertResult, progress) -> None:
    """Add the adapter's answer checks to a finished conversion's verification."""
    from slm_wizard.core.model.adapter import verify_adapter

    v = conversion.verification
    if p.adapter is None or not conversion.ok or v is None or conversion.output_dir is None:
        return
    progress(Progress("stage", text="Comparing greedy answers with transformers + PEFT",
                      fraction=0.98))
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


def failed(message: str) -> Result:
    """The Result of a conversion that could not run at all (nothing was written)."""
    return result_of(ConvertResult(False, None, None, message))


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None, plan: Plan | None = None) -> Result:
    """Convert and verify. `plan`: the plan shown for these options (`plan(options)`), run as it
    is (the model is not inspected again, the options not checked again); None: planned here.

    Progress: `Progress` events (phase: start, stage, log, done, error or cancelled; log lines
    marked `log`, without Olive's "[time] [LEVEL] [file:line:function]" prefix); refused input
    raises ConvertRefused."""
    p = plan if plan is not None and plan.options == options else _plan(options)
    if p.errors:
        raise ConvertRefused(" ".join(i.message for i in p.errors), p.issues)

    def progress(event: Progress) -> None:
        if on_progress is None:
            return
        if event.log:  # shown as "LEVEL message", without Olive's time and source
            event = replace(event, text=_LOG_PREFIX.sub(r"\1 ", event.text))
        on_progress(event)

    if p.adapter is not None and options.adapter_mode == "merge":
        conversion = _run_merged(p, progress, cancel)
    else:
        conversion = run_conversion(p.conversion, progress, cancel, verify=options.verify,
                                    info=p.info, issues=list(p.issues))
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


__all__ = ["ACCURACY_LEVELS", "ADAPTER_MODES", "BLOCK_SIZES", "CONFIG_NAME",
           "DEFAULT_ADAPTER_MODE", "ESTIMATE_COLUMNS", "METHODS", "PRECISIONS",
           "PRECISION_CHOICES", "ConvertRefused", "Options", "Plan", "Result",
           "check_adapter_mode", "check_config_file", "failed", "method_reason", "plan",
           "result_of", "run", "to_record", "uses_block_options"]
