"""What Olive is asked to do: the `olive auto-opt` command line, the `olive run` workflow config,
and the check of a user's config file for keys Olive silently ignores.

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
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import read_json, write_text_atomic
from slm_wizard.core.convert.options import ACCURACY_LEVELS, BLOCK_SIZES, ConvertOptions

CONFIG_NAME = "finetuned_conversion_config.json"
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


def pass_names(opts: ConvertOptions) -> list[str]:
    if opts.method == "auto-opt":
        return ["model_builder", "extract_adapters"]
    return list(build_config(opts)["passes"])
