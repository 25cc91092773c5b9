"""Convert a Hugging Face model to ONNX with Olive 0.13.0: options, checks, estimates, the run.

What the installed toolchain (olive-ai 0.13.0 + onnxruntime-genai 0.14.1) really does, measured:
- `olive auto-opt --use_model_builder` works for fp32 and int4 (block 32, symmetric, accuracy
  level 4: it has no flags for those), and writes the model straight into --output_path.
- int8 through the model builder fails (its builder has no int8: KeyError, "No output model
  produced"). The config method builds fp32, then quantizes the weights to 8 bits with Olive's
  OnnxBlockWiseRtnQuantization; that pass renames the graph output `logits` to `logits_Q8`,
  which onnxruntime-genai cannot load, so a GraphSurgeries pass renames it back.
- fp16 on CPUExecutionProvider: the pass is pruned ("FP16 is not supported on CPU"), Olive exits
  0 and writes nothing. Refused here with the reason.
- The ModelBuilder pass honours int4_block_size / int4_is_symmetric / int4_accuracy_level; the
  guide's `quantization_config` block is ignored by Olive (it logs that and builds block 32).

Olive runs through core.proc.stream_command (the one subprocess runner): in its own process
group, in a temporary work folder next to the output (its .olive-cache and the builder's cache
stay there and are removed), with CI=1 so its telemetry does not hold the process open for ~20 s
offline. Even so, after its "Model is saved at ..." line Olive waits 2-4 s for telemetry
callbacks that never come offline: it is ended FINISH_GRACE_S after that line (the model is
complete by then). The model is written into that work folder and renamed into place at the
end: no half-written output is ever left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import read_json, write_text_atomic
from slm_wizard.core.base.proc import stream_command
from slm_wizard.core.convert.verify import Verification, verify_output
from slm_wizard.core.model.model_info import (
    ModelFolderError,
    ModelInfo,
    fp32_size_bytes,
    inspect_model,
)

PRECISIONS = ("fp32", "fp16", "int8", "int4")
METHODS = ("auto-opt", "config")
BLOCK_SIZES = (16, 32, 64, 128, 256)
# int4_algo_config of the onnxruntime-genai 0.14.1 builder (Olive's ModelBuilder passes it on).
INT4_ALGOS = ("default", "rtn", "rtn_last", "k_quant", "k_quant_mixed", "k_quant_last")
INT4_OP_TYPES = ("MatMul", "Gather", "Gemm")
ACCURACY_LEVELS = {1: "fp32", 2: "fp16", 3: "bf16", 4: "int8"}
CPU_PROVIDER = "CPUExecutionProvider"
# What each execution provider can run (the model builder's valid combinations).
PROVIDER_PRECISIONS = {
    "CPUExecutionProvider": ("fp32", "int8", "int4"),
    "CUDAExecutionProvider": ("fp32", "fp16", "int4"),
    "DmlExecutionProvider": ("fp16", "int4"),
    "WebGpuExecutionProvider": ("int4",),
}
CONFIG_NAME = "finetuned_conversion_config.json"
# Defaults of `olive auto-opt --use_model_builder` at int4 on CPU (it has no flags to change them).
AUTO_OPT_INT4 = {"block_size": 32, "symmetric": True, "accuracy_level": 4}
GUIDE_RATIOS = {"fp32": 1.0, "fp16": 0.5, "int8": 0.25, "int4": 0.125}
# The precisions in the order a user is offered them, with a short label each.
PRECISION_CHOICES = (
    ("int4", "4-bit weights"),
    ("int8", "8-bit weights"),
    ("fp32", "full precision"),
    ("fp16", "GPU only (refused on CPU)"),
)
PRECISION_HELP = {
    "fp32": "Full precision: largest and slowest, the reference for quality.",
    "fp16": "Half the size of fp32, but needs a GPU provider (CPU cannot run it).",
    "int8": "8-bit weights: about a quarter of fp32, near-fp32 quality, faster on CPU.",
    "int4": "4-bit weights: smallest and fastest on CPU, a small loss of quality.",
}
# ModelBuilder pass options of Olive 0.13.0, and where the guide's quantization_config keys go.
MODEL_BUILDER_KEYS = frozenset({
    "precision", "metadata_only", "search", "int4_accuracy_level", "int4_block_size",
    "int4_is_symmetric", "int4_op_types_to_quantize", "int4_nodes_to_exclude", "int4_algo_config",
    "use_qdq", "use_8bits_moe", "use_webgpu_fp32", "use_cuda_bf16", "include_hidden_states",
    "exclude_embeds", "exclude_lm_head", "enable_cuda_graph", "extra_options",
})
PASS_ENTRY_KEYS = frozenset({"type", "config", "host", "evaluator"})
QUANT_KEY_MAP = {"block_size": "int4_block_size", "is_symmetric": "int4_is_symmetric",
                 "accuracy_level": "int4_accuracy_level", "symmetric": "int4_is_symmetric",
                 "bits": "precision (\"int4\")", "algo": "int4_algo_config",
                 "algorithm": "int4_algo_config"}
FINISH_GRACE_S = 0.5  # after Olive's last line, before ending its telemetry wait
DOMAIN_EVAL = "domain_eval.jsonl"
CANCEL_GRACE_S = 1.2  # after SIGINT, before SIGKILL: cancel must finish within 2 s


class ConvertError(Exception):
    """A conversion problem with a message written for the user."""


@dataclass
class ConvertOptions:
    model_dir: Path
    output_dir: Path
    precision: str = "int4"
    method: str = "auto-opt"
    device: str = "cpu"
    provider: str = CPU_PROVIDER
    block_size: int = 32
    symmetric: bool = True
    accuracy_level: int | None = None
    log_level: int = 1
    replace: bool = False
    # int4 builder options (config method only; None: the builder's default). See INT4_ALGOS.
    int4_algo: str | None = None
    # e.g. ("MatMul", "Gather"): the embedding table too (default algorithm only). The builder's
    # shared_embeddings is not offered: Olive 0.13 replaces its make_embedding and drops it.
    int4_op_types: tuple[str, ...] | None = None
    # A LoRA adapter converted beside the base model (`model_dir`): auto-opt -a, which writes
    # adapter_weights.onnx_adapter next to the base model (core.adapter).
    adapter_dir: Path | None = None

    def __post_init__(self) -> None:
        self.model_dir = Path(self.model_dir).expanduser()
        self.output_dir = Path(self.output_dir).expanduser()
        if self.adapter_dir is not None:
            self.adapter_dir = Path(self.adapter_dir).expanduser()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_dir"], d["output_dir"] = str(self.model_dir), str(self.output_dir)
        if self.adapter_dir is not None:
            d["adapter_dir"] = str(self.adapter_dir)
        return d


@dataclass(frozen=True)
class Issue:
    level: str  # "error" | "warning"
    field: str  # the option it is about: precision, method, output_dir, model, disk, ram, ...
    message: str

    @property
    def is_error(self) -> bool:
        return self.level == "error"


@dataclass(frozen=True)
class SizeEstimate:
    precision: str
    size_bytes: int  # the ONNX files on disk, for this model's tensors
    ratio: float  # size_bytes / the fp32 weights ("Base")
    guide_ratio: float  # the guide's rule of thumb: Base x 1 / 0.5 / 0.25 / 0.125
    ram_bytes: int  # peak RAM while converting
    cpu_ok: bool  # runs on CPUExecutionProvider
    note: str = ""


@dataclass(frozen=True)
class ConvertEvent:
    kind: str  # start | stage | log | done | error | cancelled
    message: str
    progress: float | None = None  # 0..1 when known
    elapsed: float = 0.0


@dataclass
class ConvertResult:
    ok: bool
    output_dir: Path | None
    log_path: Path | None
    error: str = ""
    verification: Verification | None = None
    elapsed_s: float = 0.0
    command: str = ""
    cancelled: bool = False
    config_path: Path | None = None
    issues: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "output_dir": str(self.output_dir) if self.output_dir else None,
            "log_path": str(self.log_path) if self.log_path else None,
            "error": self.error, "cancelled": self.cancelled,
            "elapsed_s": round(self.elapsed_s, 2), "command": self.command,
            "config_path": str(self.config_path) if self.config_path else None,
            "issues": [asdict(i) for i in self.issues],
            "verification": self.verification.to_dict() if self.verification else None,
        }


# ---------------------------------------------------------------- estimates

def estimate(info: ModelInfo, block_size: int = 32, symmetric: bool = True) -> list[SizeEstimate]:
    """Output size and conversion RAM per precision, from this model's own tensors.

    int4 (model builder, CPU): layer and lm_head MatMuls at 4 bits + one fp32 scale per block
    (+ a 4-bit zero point when asymmetric); the embedding stays fp32. int8 (our config): all
    MatMuls and the embedding at 8 bits + scales (+ 8-bit zero points). Norms stay fp32. A tied
    lm_head is written as its own MatMul, so it counts twice.
    """
    g = info.groups
    base = fp32_size_bytes(info)
    quantized = g.lm_head + g.linear
    sizes = {
        "fp32": 4 * (g.embedding + quantized + g.other),
        "fp16": 2 * (g.embedding + quantized + g.other),
        "int8": int((g.embedding + quantized) * (1 + (4 + (0 if symmetric else 1)) / block_size)
                    + 4 * g.other),
        "int4": int(quantized * (0.5 + (4 + (0 if symmetric else 0.5)) / block_size)
                    + 4 * (g.embedding + g.other)),
    }
    # The builder stores the rotary cos/sin caches in fp32: context x head_dim x 4 bytes.
    rotary = 0
    if info.context_length and info.hidden_size and info.num_heads:
        rotary = 4 * info.context_length * (info.hidden_size // info.num_heads)
    sizes = {p: n + rotary for p, n in sizes.items()}
    ram = 450_000_000 + 11 * base
    out = []
    for p in PRECISIONS:
        cpu_ok = p in PROVIDER_PRECISIONS[CPU_PROVIDER]
        out.append(SizeEstimate(
            precision=p, size_bytes=sizes[p], ratio=sizes[p] / base if base else 0.0,
            guide_ratio=GUIDE_RATIOS[p], ram_bytes=ram, cpu_ok=cpu_ok,
            note=PRECISION_HELP[p] if cpu_ok else "needs a GPU provider: not runnable on CPU",
        ))
    return out


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# ---------------------------------------------------------------- validation

def validate_options(opts: ConvertOptions, info: ModelInfo | None) -> list[Issue]:
    """Errors stop the conversion; warnings are shown and the user decides."""
    issues: list[Issue] = []

    def error(fld: str, msg: str) -> None:
        issues.append(Issue("error", fld, msg))

    def warn(fld: str, msg: str) -> None:
        issues.append(Issue("warning", fld, msg))

    if opts.method not in METHODS:
        error("method", f"Unknown method {opts.method!r}: use one of {', '.join(METHODS)}.")
    if opts.precision not in PRECISIONS:
        extra = " bf16 needs a GPU provider and has no CPU kernels." if opts.precision == "bf16" \
            else ""
        error("precision", f"Unknown precision {opts.precision!r}: use one of "
                           f"{', '.join(PRECISIONS)}.{extra}")
    if opts.provider not in PROVIDER_PRECISIONS:
        error("provider", f"Unknown execution provider {opts.provider!r}: use one of "
                          f"{', '.join(PROVIDER_PRECISIONS)}.")
    elif opts.provider != CPU_PROVIDER or opts.device != "cpu":
        error("provider", "slm-wizard converts for the CPU (device cpu, CPUExecutionProvider) and "
                          "verifies the result by running it on this machine; other providers "
                          "are not supported in this version.")
    if opts.precision in ("fp16", "bf16") and opts.provider == CPU_PROVIDER:
        error("precision",
              f"{opts.precision} needs a GPU execution provider: on CPUExecutionProvider Olive "
              "skips the pass (\"FP16 is not supported on CPU\"), exits 0 and writes nothing, and "
              "an fp16 model would not run on CPU anyway. Choose int4 (smallest, fastest on "
              "CPU), int8 or fp32.")
    if opts.block_size not in BLOCK_SIZES:
        error("block_size", f"Block size {opts.block_size} is not supported: use one of "
                            f"{', '.join(map(str, BLOCK_SIZES))}.")
    if opts.accuracy_level is not None and opts.accuracy_level not in ACCURACY_LEVELS:
        error("accuracy_level", "Accuracy level must be 1 (fp32), 2 (fp16), 3 (bf16) or 4 (int8).")
    if opts.int4_algo is not None and opts.int4_algo not in INT4_ALGOS:
        error("int4_algo", f"Unknown int4 algorithm {opts.int4_algo!r}: use one of "
                           f"{', '.join(INT4_ALGOS)}.")
    if opts.int4_op_types is not None and (
            not opts.int4_op_types or any(t not in INT4_OP_TYPES for t in opts.int4_op_types)):
        error("int4_op_types", f"int4 op types must be among {', '.join(INT4_OP_TYPES)}.")
    if opts.method == "auto-opt" and (opts.int4_algo is not None
                                      or opts.int4_op_types is not None):
        error("method", "`olive auto-opt` has no flags for the int4 algorithm or the op types "
                        "to quantize: choose the config-file method.")
    if opts.log_level not in range(0, 5):
        error("log_level", "Log level must be 0 (verbose) to 4 (critical only); 1 shows progress.")
    if opts.method == "auto-opt":
        if opts.precision == "int8":
            error("method",
                  "The one-command method cannot make int8 with Olive 0.13.0 and "
                  "onnxruntime-genai 0.14.1 (its model builder has no int8 and Olive reports "
                  "\"No output model produced\"). Choose the config-file method: it builds fp32 "
                  "and quantizes the weights to 8 bits with Olive's RTN pass.")
        elif opts.precision == "int4" and (
            opts.block_size != AUTO_OPT_INT4["block_size"] or not opts.symmetric
            or opts.accuracy_level not in (None, AUTO_OPT_INT4["accuracy_level"])
        ):
            error("method",
                  "`olive auto-opt` has no flags for block size, symmetry or accuracy level: it "
                  "always builds int4 block 32, symmetric, accuracy level 4. Choose the "
                  "config-file method to get the options you set.")
    if opts.adapter_dir is not None and opts.method != "auto-opt":
        error("method", "A LoRA adapter kept separate (adapter mode) is converted with `olive "
                        "auto-opt -a`: int4 block 32 symmetric or fp32 only. For int8 or other "
                        "int4 options, merge the adapter (--adapter-mode merge).")
    if opts.precision in ("fp32", "fp16") and (opts.block_size != 32 or not opts.symmetric
                                               or opts.accuracy_level is not None):
        warn("precision", f"Block size, symmetry and accuracy level apply to int4/int8 only: "
                          f"they are ignored at {opts.precision}.")

    import importlib.util

    for module, package in (("olive", "olive-ai==0.13.0"),
                            ("onnxruntime_genai", "onnxruntime-genai==0.14.1")):
        if importlib.util.find_spec(module) is None:
            error("toolchain", f"{package} is not installed in this Python ({sys.executable}): "
                               "install it with the Prerequisites step or "
                               "pip install 'slm-wizard[all]'.")
    if info is not None:
        if info.is_lora_adapter:
            error("model", "The model folder holds a LoRA adapter, not a full model: merge it "
                           "into its base model first (PEFT: merge_and_unload(), then "
                           "save_pretrained) and convert the merged folder.")
        if not info.builder_supported:
            error("model", f"Architecture {info.architecture or '(none)'} is not supported by "
                           "the ONNX model builder that Olive uses.")
        if not any(f in info.tokenizer_files for f in ("tokenizer.json", "tokenizer.model",
                                                        "vocab.json")):
            error("model", "The model folder has no tokenizer (tokenizer.json): save it next to "
                           "the model (tokenizer.save_pretrained(folder)).")
        if info.needs_remote_code:
            warn("model", "The model declares custom code (auto_map); it is not run, so the "
                          "conversion may fail if the architecture needs it.")
        if info.chat_template is None:
            warn("model", "No chat template: the converted model will not know how to format "
                          "chat prompts.")
    issues.extend(_output_issues(opts))
    if info is not None and opts.precision in PRECISIONS:
        issues.extend(_resource_issues(opts, info))
    return issues


def _output_issues(opts: ConvertOptions) -> list[Issue]:
    out = opts.output_dir
    if not str(out).strip() or str(out) == ".":
        return [Issue("error", "output_dir", "Enter an output folder.")]
    out = out.resolve()
    model = opts.model_dir.resolve()
    if out == model or out in model.parents or model in out.parents:
        return [Issue("error", "output_dir", "The output folder must not be the model folder, "
                                             "inside it, or one of its parents.")]
    if out.exists() and not out.is_dir():
        return [Issue("error", "output_dir", f"{out} is a file: choose a folder.")]
    above = next((p for p in out.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        return [Issue("error", "output_dir", f"{above} is a file, so no folder can be created "
                                             f"inside it: choose another output folder.")]
    from slm_wizard.core.base.owned import FolderRefused, check_replaceable

    try:
        replacing = check_replaceable(out, opts.replace)
    except FolderRefused as exc:
        return [Issue("error", "output_dir", str(exc))]
    if replacing:
        return [Issue("warning", "output_dir", f"{out} is not empty: its contents will be "
                                               "replaced when the conversion succeeds.")]
    anchor = out
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not os.access(anchor, os.W_OK):
        return [Issue("error", "output_dir", f"{anchor} is not writable.")]
    return []


@dataclass(frozen=True)
class Resources:
    """What a conversion needs versus what this machine has free now (None: unknown)."""

    disk_needed: int
    disk_free: int | None
    disk_at: Path
    ram_needed: int
    ram_free: int | None
    ram_total: int | None
    # The model's size on disk after converting (ONNX graph + weights): the same quantity, from
    # the same `estimate`, as the verification's "size on disk ... (estimated ...)" afterwards.
    output_bytes: int = 0

    def describe(self, with_free: bool = True) -> str:
        def free(n: int | None) -> str:
            if not with_free:
                return ""
            return " (free: unknown)" if n is None else f" ({human_bytes(n)} free)"

        size = (f"makes a model of about {human_bytes(self.output_bytes)} on disk (ONNX files) "
                "and " if self.output_bytes else "")
        return (f"{size}needs about {human_bytes(self.ram_needed)} of RAM{free(self.ram_free)} "
                f"and {human_bytes(self.disk_needed)} of free disk while converting"
                f"{free(self.disk_free)}")


def resources(opts: ConvertOptions, info: ModelInfo) -> Resources:
    est = next(e for e in estimate(info, opts.block_size, opts.symmetric)
               if e.precision == opts.precision)
    anchor = opts.output_dir.expanduser().resolve()
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    try:
        disk_free: int | None = shutil.disk_usage(anchor).free
    except OSError:
        disk_free = None
    ram_free = ram_total = None
    try:
        import psutil

        mem = psutil.virtual_memory()
        ram_free, ram_total = mem.available, mem.total
    except ImportError:
        pass
    # Olive keeps a copy of the output in its cache (in our work folder) next to the output.
    return Resources(2 * est.size_bytes + 50_000_000, disk_free, anchor, est.ram_bytes,
                     ram_free, ram_total, output_bytes=est.size_bytes)


def _resource_issues(opts: ConvertOptions, info: ModelInfo) -> list[Issue]:
    issues = []
    r = resources(opts, info)
    if r.disk_free is not None:
        if r.disk_free < r.disk_needed // 2:
            issues.append(Issue("error", "disk", f"Not enough disk space at {r.disk_at}: "
                                f"{human_bytes(r.disk_free)} free, the {opts.precision} model "
                                f"needs about {human_bytes(r.disk_needed)} while converting."))
        elif r.disk_free < r.disk_needed:
            issues.append(Issue("warning", "disk", f"Disk space is tight at {r.disk_at}: "
                                f"{human_bytes(r.disk_free)} free, about "
                                f"{human_bytes(r.disk_needed)} needed."))
    if r.ram_total is not None and r.ram_needed > r.ram_total:
        issues.append(Issue("error", "ram", f"Converting needs about "
                            f"{human_bytes(r.ram_needed)} of RAM (about 11x the fp32 weights); "
                            f"this machine has {human_bytes(r.ram_total)}."))
    elif r.ram_free is not None and r.ram_needed > r.ram_free:
        issues.append(Issue("warning", "ram", f"Converting needs about "
                            f"{human_bytes(r.ram_needed)} of RAM; {human_bytes(r.ram_free)} is "
                            "free now: close other programs."))
    return issues


# ---------------------------------------------------------------- commands and configs

def auto_opt_args(opts: ConvertOptions) -> list[str]:
    """The exact `olive auto-opt` command line (program name first), as a user would type it."""
    adapter = ["--adapter_path", str(opts.adapter_dir)] if opts.adapter_dir is not None else []
    return ["olive", "auto-opt", "--model_name_or_path", str(opts.model_dir), *adapter,
            "--device", opts.device, "--provider", opts.provider, "--use_model_builder",
            "--precision", opts.precision, "--output_path", str(opts.output_dir),
            "--log_level", str(opts.log_level)]


def config_args(config_path: Path | str) -> list[str]:
    return ["olive", "run", "--config", str(config_path)]


def build_config(opts: ConvertOptions) -> dict[str, Any]:
    """The `olive run` workflow: only ModelBuilder options Olive 0.13.0 really honours."""
    builder: dict[str, Any] = {"type": "ModelBuilder", "precision": opts.precision}
    passes: dict[str, Any] = {"builder": builder}
    if opts.precision == "int4":
        builder["int4_block_size"] = opts.block_size
        builder["int4_is_symmetric"] = opts.symmetric
        if opts.accuracy_level is not None:
            builder["int4_accuracy_level"] = opts.accuracy_level
        if opts.int4_algo is not None:
            builder["int4_algo_config"] = opts.int4_algo
        if opts.int4_op_types is not None:
            builder["int4_op_types_to_quantize"] = list(opts.int4_op_types)
    elif opts.precision == "int8":
        builder["precision"] = "fp32"
        rtn: dict[str, Any] = {"type": "OnnxBlockWiseRtnQuantization", "bits": 8,
                               "block_size": opts.block_size, "is_symmetric": opts.symmetric}
        if opts.accuracy_level is not None:
            rtn["accuracy_level"] = opts.accuracy_level
        passes["quantize_int8"] = rtn
        # The RTN pass renames the graph output logits -> logits_Q8; onnxruntime-genai needs it.
        passes["restore_logits_name"] = {
            "type": "GraphSurgeries",
            "surgeries": [{"surgeon": "RenameOutputs", "old_names": ["logits_Q8"],
                           "new_names": ["logits"]}],
        }
    return {
        "input_model": {"type": "HfModel", "model_path": str(opts.model_dir),
                        "load_kwargs": {"trust_remote_code": False}},
        "systems": {"local_system": {"type": "LocalSystem", "accelerators": [
            {"device": opts.device, "execution_providers": [opts.provider]}]}},
        "passes": passes,
        "host": "local_system",
        "target": "local_system",
        "log_severity_level": opts.log_level,
        "no_artifacts": True,
        "output_dir": str(opts.output_dir),
    }


def write_config(opts: ConvertOptions, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(build_config(opts), indent=2) + "\n")
    return path


def check_config_file(path: Path | str) -> list[str]:
    """Problems in an Olive config file, above all keys Olive silently ignores (with the fix)."""
    path = Path(path)
    try:
        data = read_json(path, what="Olive config file")
    except ValueError as exc:
        return [str(exc)]
    if not isinstance(data, dict):
        return [f"{path} is not a JSON object."]
    found: list[str] = []
    passes = data.get("passes")
    if not isinstance(passes, dict) or not passes:
        return found + ["No `passes`: Olive would not convert anything."]
    for name, entry in passes.items():
        entries = entry if isinstance(entry, list) else [entry]
        for item in entries:
            if isinstance(item, dict):
                problem = _pass_schema_problem(path, name, item)
                found.extend([problem] if problem else _check_pass(name, item))
    if "input_model" not in data:
        found.append("No `input_model`: add {\"type\": \"HfModel\", \"model_path\": \"...\"}.")
    return found


def _pass_schema_problem(path: Path, name: str, item: dict) -> str | None:
    """A ModelBuilder pass's options against their declared schema (types and ranges)."""
    from slm_wizard.core.base.schema import MODEL_BUILDER_PASS, SchemaError, check

    if str(item.get("type", "")).lower() != "modelbuilder":
        return None
    try:
        check(item, MODEL_BUILDER_PASS, f"{path}: passes.{name}")
    except SchemaError as exc:
        return str(exc)
    return None


def _check_pass(name: str, item: dict) -> list[str]:
    if str(item.get("type", "")).lower() != "modelbuilder":
        return []
    options = dict(item.get("config") or {}) if isinstance(item.get("config"), dict) else {}
    options.update({k: v for k, v in item.items() if k not in PASS_ENTRY_KEYS})
    found = []
    for key, value in options.items():
        if key in MODEL_BUILDER_KEYS:
            continue
        if key == "quantization_config" and isinstance(value, dict):
            fixes = ", ".join(f"\"{QUANT_KEY_MAP.get(k, k)}\": {json.dumps(v)}"
                              for k, v in value.items())
            found.append(f"Pass {name!r}: `quantization_config` is not a ModelBuilder option: "
                         f"Olive ignores it (block 32, symmetric is built instead). Put the "
                         f"options in the pass itself: {fixes}.")
        else:
            hint = f" Use {QUANT_KEY_MAP[key]!r}." if key in QUANT_KEY_MAP else ""
            found.append(f"Pass {name!r}: Olive ignores the key {key!r}.{hint}")
    precision = str(options.get("precision", "fp32")).lower()
    if precision in ("fp16", "bf16"):
        found.append(f"Pass {name!r}: precision {precision} does not run on CPU "
                     "(Olive skips the pass and writes nothing there).")
    elif precision == "int8":
        found.append(f"Pass {name!r}: the model builder of onnxruntime-genai 0.14.1 has no "
                     "int8: build fp32 and add an OnnxBlockWiseRtnQuantization pass with bits 8.")
    bs = options.get("int4_block_size")
    if bs is not None and bs not in BLOCK_SIZES:
        found.append(f"Pass {name!r}: int4_block_size {bs} must be one of "
                     f"{', '.join(map(str, BLOCK_SIZES))}.")
    level = options.get("int4_accuracy_level")
    if level is not None and level not in ACCURACY_LEVELS:
        found.append(f"Pass {name!r}: int4_accuracy_level must be 1, 2, 3 or 4.")
    return found


def display_command(opts: ConvertOptions) -> str:
    """The command shown to the user (copyable)."""
    if opts.method == "config":
        return shlex.join(config_args(CONFIG_NAME))
    return shlex.join(auto_opt_args(opts))


def choose_method(precision: str, block_size: int = 32, symmetric: bool = True,
                  accuracy_level: int | None = None) -> str:
    """auto-opt when the one command can build what is asked, else the config-file method."""
    simple = precision in ("fp32", "fp16") or (
        precision == "int4" and block_size == AUTO_OPT_INT4["block_size"] and symmetric
        and accuracy_level in (None, AUTO_OPT_INT4["accuracy_level"]))
    return "auto-opt" if simple else "config"


def default_output_dir(model_dir: Path, precision: str) -> Path:
    from slm_wizard.core.base.paths import data_dir

    return data_dir() / "models" / f"{Path(model_dir).name}-{precision}"


# ---------------------------------------------------------------- progress parsing

_PASS_RE = re.compile(r"Running pass (\S+?):")
_LAYER_RE = re.compile(r"Reading layer (\d+)")
_TQDM_RE = re.compile(r"^Saving .*?:\s+(\d+)%\|")
_KQUANT_RE = re.compile(r"^Progress: \[[# ]*\]\s+([\d.]+)%")  # neural-compressor's k-quant
_SAVED_RE = re.compile(r"Model is saved at (.+)$")
# Olive's last words: after these the output is complete (or definitely absent).
_FINISHED_RE = re.compile(r"Model is saved at |Saved output model to |No output model produced")
_ERRORISH_RE = re.compile(
    r"\[ERROR\]|\] (?:FP16|BF16).*not supported|pruned due to|^\w*(?:Error|Exception): |"
    r"No output model produced|is not supported"
)


class ProgressParser:
    """Turns Olive's output lines into stage messages and a real progress fraction.

    Bands: start-up 0-5 %, passes 5-95 % (the ModelBuilder pass weighs 10, others 1; inside it,
    reading layers is 5-65 % of the pass, one step per layer, quantizing 70-80 % and saving the
    tensors 80-98 %, one step per percent), saving 95-97 %. Every step has a stage message.
    """

    def __init__(self, passes: list[str], num_layers: int | None) -> None:
        self.passes = passes
        self.num_layers = num_layers or 0
        weights = [10.0 if p in ("builder", "model_builder") else 1.0 for p in passes] or [1.0]
        total = sum(weights)
        self.starts, acc = [], 0.0
        for w in weights:
            self.starts.append(acc / total)
            acc += w
        self.widths = [w / total for w in weights]
        self.current = -1
        self.progress = 0.0
        self.reasons: list[str] = []
        self.saved_at: str | None = None
        self.no_output = False
        self.tail: list[str] = []  # the last plain lines: the reason when nothing else says

    def _at(self, within: float) -> float:
        i = max(self.current, 0)
        i = min(i, len(self.widths) - 1)
        return 0.05 + 0.90 * (self.starts[i] + self.widths[i] * min(max(within, 0.0), 1.0))

    def _set(self, value: float) -> float:
        self.progress = max(self.progress, min(value, 1.0))
        return self.progress

    def feed(self, line: str) -> tuple[str | None, float]:
        """(stage message or None, progress) for one output line."""
        text = line.strip()
        if text and not _TQDM_RE.match(text):
            self.tail = [*self.tail[-2:], text]
        if _ERRORISH_RE.search(text):
            self.reasons.append(re.sub(r"^\[[^\]]*\] \[\w+\] \[[^\]]*\] ", "", text))
        if "No output model produced" in text:
            self.no_output = True
            return "Olive produced no output model", self.progress
        m = _PASS_RE.search(text)
        if m:
            name = m.group(1)
            self.current = self.passes.index(name) if name in self.passes else self.current + 1
            return f"Running pass {name}", self._set(self._at(0.0))
        if text.startswith("Loading HuggingFace model") or "Running workflow" in text:
            return "Starting the workflow", self._set(0.04)
        if text == "Reading embedding layer":
            return "Reading the embedding layer", self._set(self._at(0.04))
        m = _LAYER_RE.match(text)
        if m:
            i = int(m.group(1))
            n = max(self.num_layers, i + 1)
            return f"Reading layer {i + 1} of {n}", self._set(self._at(0.05 + 0.6 * (i + 1) / n))
        if text in ("Reading final norm", "Reading LM head"):
            return text, self._set(self._at(0.67))
        if text.startswith("Saving ONNX model"):
            return "Saving the ONNX model", self._set(self._at(0.70))
        m = _KQUANT_RE.match(text)
        if m:
            pct = float(m.group(1))
            return f"Quantizing the weights: {pct:.0f} %", self._set(self._at(0.70 + 0.1 * pct
                                                                              / 100))
        m = _TQDM_RE.match(text)
        if m:
            pct = int(m.group(1))
            return f"Saving the weights: {pct} %", self._set(self._at(0.80 + 0.18 * pct / 100))
        if text.startswith("Saving GenAI config"):
            return "Saving the GenAI config and tokenizer", self._set(self._at(0.98))
        if "Pass " in text and " finished in " in text:
            return f"Pass {text.split('Pass ', 1)[1].split(':', 1)[0]} finished", \
                self._set(self._at(1.0))
        if "Saved output model to" in text:
            return "Saving the output model", self._set(0.95)
        m = _SAVED_RE.search(text)
        if m:
            self.saved_at = m.group(1).strip()
            return "Olive finished", self._set(0.97)
        return None, self.progress

    def reason(self) -> str:
        seen: list[str] = []
        for r in self.reasons or self.tail:
            if r not in seen:
                seen.append(r)
        return " | ".join(seen[-4:])


def pass_names(opts: ConvertOptions) -> list[str]:
    if opts.method == "auto-opt":
        return ["model_builder", "extract_adapters"]
    return list(build_config(opts)["passes"])


# ---------------------------------------------------------------- running

def olive_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CI": "1",  # Olive's telemetry otherwise holds the process ~20 s at exit offline
        "ORT_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # The builder's cache and Olive's build marker go here, not to ~/.cache/huggingface.
        "HF_HUB_CACHE": str(work / "hf-cache"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    })
    return env


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        with contextlib.suppress(OSError):
            path.unlink()


def _find_model_folder(root: Path) -> Path | None:
    """The folder holding genai_config.json: `root` in Olive 0.13.0, a subfolder in others."""
    if (root / "genai_config.json").is_file():
        return root
    if root.is_dir():
        for p in sorted(root.rglob("genai_config.json"), key=lambda p: len(p.parts)):
            return p.parent
    return None


def run_conversion(
    opts: ConvertOptions,
    on_event: Callable[[ConvertEvent], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    verify: bool = True,
    timeout_s: float = 6 * 3600,
) -> ConvertResult:
    """Run Olive for `opts`, stream its progress, move the model into place, verify it."""
    t0 = time.monotonic()
    emit_cb = on_event or (lambda _e: None)

    def emit(kind: str, message: str, progress: float | None = None) -> None:
        emit_cb(ConvertEvent(kind, message, progress, time.monotonic() - t0))

    command = display_command(opts)
    try:
        info = inspect_model(opts.model_dir)
    except ModelFolderError as exc:
        emit("error", str(exc))
        return ConvertResult(False, None, None, str(exc), command=command,
                             elapsed_s=time.monotonic() - t0)
    issues = validate_options(opts, info)
    errors = [i.message for i in issues if i.is_error]
    if errors:
        msg = " ".join(errors)
        emit("error", msg)
        return ConvertResult(False, None, None, msg, command=command, issues=issues,
                             elapsed_s=time.monotonic() - t0)

    from slm_wizard.core.base.owned import clean_leftovers, temp_sibling, write_marker
    from slm_wizard.core.base.paths import logs_dir

    out = opts.output_dir.resolve()
    for left in clean_leftovers(out.parent, out.name, "slm-wizard"):
        emit("stage", f"Removed {left}, the work folder of an interrupted conversion.")
    work = temp_sibling(out, "slm-wizard")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = logs_dir() / f"convert-{info.name}-{opts.precision}-{stamp}.log"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work.mkdir()
        log_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"Cannot prepare the output folder or the log: {exc}"
        emit("error", msg)
        return ConvertResult(False, None, None, msg, command=command, issues=issues,
                             elapsed_s=time.monotonic() - t0)
    staged = work / "output"
    # Olive runs in the work folder: every path it gets must be absolute.
    staged_opts = ConvertOptions(**{**opts.__dict__, "output_dir": staged,
                                    "model_dir": info.path})
    config_path = None
    if opts.method == "config":
        run_cfg = write_config(staged_opts, work / CONFIG_NAME)
        config_path = log_path.with_suffix(".config.json")
        # The user's copy, with the real output folder.
        write_config(ConvertOptions(**{**opts.__dict__, "output_dir": out,
                                       "model_dir": info.path}), config_path)
        olive = ["run", "--config", str(run_cfg)]
    else:
        olive = auto_opt_args(staged_opts)[1:]
    argv = [sys.executable, "-m", "olive", *olive]
    result = ConvertResult(False, None, log_path, command=command, config_path=config_path,
                           issues=issues)
    parser = ProgressParser(pass_names(opts), info.num_layers)
    emit("start", f"Starting Olive ({opts.method}, {opts.precision}): {command}", 0.0)
    try:
        with log_path.open("w", encoding="utf-8") as log:
            log.write(f"# slm-wizard convert {json.dumps(opts.to_dict())}\n# {command}\n"
                      f"# run as: {shlex.join(argv)} (cwd {work})\n")
            code, stopped = _run_olive(argv, work, log, parser, emit, cancel, timeout_s)
            log.write(f"# exit code {code}\n")
        if stopped == "cancelled":
            result.cancelled, result.error = True, "Cancelled: no output was kept."
            emit("cancelled", result.error, None)
            return result
        if stopped == "timeout":
            result.error = f"Olive did not finish within {timeout_s:.0f} s; it was stopped."
            emit("error", result.error)
            return result
        if stopped == "error":
            result.error = f"Olive could not run: {parser.reason()}. Full log: {log_path}"
            emit("error", result.error)
            return result
        model = _find_model_folder(staged)
        if model is None:
            why = parser.reason() or "no reason in its output"
            result.error = (f"Olive exited with code {code} but produced no model "
                            f"(no genai_config.json): {why}. Full log: {log_path}")
            emit("error", result.error)
            return result
        if code != 0:
            result.error = f"Olive exited with code {code}: {parser.reason()}. Full log: {log_path}"
            emit("error", result.error)
            return result
        for leftover in model.glob("olive-cli-tmp-*"):  # auto-opt's temp folder, if cut short
            _remove_tree(leftover)
        if opts.adapter_dir is not None and not any(model.glob("*.onnx_adapter")):
            result.error = ("Olive wrote the base model but no .onnx_adapter file: the adapter "
                            f"was not converted. Full log: {log_path}")
            emit("error", result.error)
            return result
        _fix_paths(model, str(model), str(out))
        # The model's own evaluation set (the demo ships one) travels with it, so validation
        # of the converted folder finds it.
        if (info.path / DOMAIN_EVAL).is_file() and not (model / DOMAIN_EVAL).exists():
            shutil.copy2(info.path / DOMAIN_EVAL, model / DOMAIN_EVAL)
        _move_into_place(model, out, work)
        write_marker(out, "convert")
        result.output_dir = out
    except OSError as exc:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            result.error = (f"The disk holding {out.parent} is full: free some space (or choose "
                            "an output folder on another disk) and convert again; nothing was "
                            "kept.")
        else:
            result.error = f"Could not write the output: {exc.strerror or exc}"
        emit("error", result.error)
        return result
    finally:
        _remove_tree(work)
        result.elapsed_s = time.monotonic() - t0
    if verify:
        emit("stage", "Verifying the output (files, graph, a few generated tokens)", 0.97)
        est = {e.precision: e for e in estimate(info, opts.block_size, opts.symmetric)}
        result.verification = verify_output(
            out, opts, est[opts.precision].size_bytes if opts.precision in est else None)
        if not result.verification.ok:
            result.error = "Verification failed: " + "; ".join(result.verification.failures())
    result.ok = not result.error
    result.elapsed_s = time.monotonic() - t0
    if result.ok:
        emit("done", f"Converted to {opts.precision} in {result.elapsed_s:.1f} s: {out}", 1.0)
    else:
        emit("error", result.error, 1.0)
    return result


def _run_olive(argv: list[str], work: Path, log, parser: ProgressParser,
               emit: Callable[..., None], cancel: threading.Event | None,
               timeout_s: float) -> tuple[int | None, str]:
    """Run Olive with core.proc, feed every line to the log and the parser.

    Returns (exit code, stop reason: "" | "finished" | "cancelled" | "timeout" | "error")."""
    last = {"pct": -1, "stage": ""}

    def on_line(line: str) -> None:
        stage, progress = parser.feed(line)
        if _TQDM_RE.match(line.strip()):  # one line per tensor: log and show only new percents
            pct = int(progress * 100)
            if pct == last["pct"]:
                return
            last["pct"] = pct
        log.write(f"  {line}\n")
        if stage and stage != last["stage"]:
            last["stage"] = stage
            emit("stage", stage, progress)
        emit("log", line, progress)

    res = stream_command(
        argv, on_line, cancel=cancel, timeout=timeout_s, cwd=work, env=olive_env(work),
        keep_lines=50, grace=CANCEL_GRACE_S, split_cr=True,
        finished=lambda line: bool(_FINISHED_RE.search(line)), finish_grace=FINISH_GRACE_S,
    )
    if res.cut_short:
        log.write("# Olive printed its final line; its shutdown was cut short\n")
        return 0, "finished"
    if res.cancelled or res.timed_out:
        # Olive's build marker, in case it reached the default hub cache anyway.
        if res.pid is not None:
            with contextlib.suppress(OSError):
                (Path.home() / ".cache" / "huggingface" / "hub" / f".olive_build_{res.pid}"
                 ).unlink()
        stopped = "cancelled" if res.cancelled else "timeout"
        log.write(f"# stopped: {stopped}\n")
        return None, stopped
    if res.error:  # Olive could not start
        log.write(f"# {res.error}\n")
        parser.reasons.append(res.error)
        return None, "error"
    return res.returncode, ""


def _fix_paths(model: Path, old: str, new: str) -> None:
    """Olive's model_config.json names the folder it wrote to; point it at the final folder."""
    cfg = model / "model_config.json"
    if cfg.is_file():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = cfg.read_text(encoding="utf-8")
            write_text_atomic(cfg, text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1]))


def _move_into_place(model: Path, out: Path, work: Path) -> None:
    """Rename the finished model to `out`; an existing (confirmed) `out` is swapped out first."""
    if out.exists() or out.is_symlink():
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        else:
            os.replace(out, work / "previous-output")
    os.replace(model, out)
