"""The checks of a conversion's options before it runs: errors stop it, warnings are shown and the
user decides (options, toolchain, model folder, output folder, disk and RAM).
"""

from __future__ import annotations

import os
import sys

from slm_wizard.core.base.units import human_bytes
from slm_wizard.core.convert.estimate import resources
from slm_wizard.core.convert.options import (
    ACCURACY_LEVELS,
    AUTO_OPT_INT4,
    BLOCK_SIZES,
    CPU_PROVIDER,
    INT4_ALGOS,
    INT4_OP_TYPES,
    METHODS,
    PRECISIONS,
    PROVIDER_PRECISIONS,
    ConvertOptions,
    Issue,
)
from slm_wizard.core.model.model_info import ModelInfo


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
              "an fp16 model would not run on CPU anyway. Choose int4 (fastest on "
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
                        "auto-opt -a`: fp32 only. For int8 or int4, merge the adapter "
                        "(--adapter-mode merge).")
    elif opts.adapter_dir is not None and opts.precision == "int4":
        # Measured (olive 0.13, onnxruntime-genai 0.14.1): the builder quantizes the LoRA
        # MatMuls, and the model then fails to run with the adapter off (an empty lora_A weight).
        error("precision", "A LoRA adapter kept separate (adapter mode) converts at fp32 only: "
                           "at int4 the LoRA weights are quantized into the graph and the model "
                           "cannot run with the adapter off. Choose --precision fp32, or merge "
                           "the adapter (--adapter-mode merge) for int4.")
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
    from slm_wizard.core.base.owned import FolderRefused, check_replaceable, refuse_output_place

    try:  # `/` and the home folder first: they hold the model too, but that is not the point
        refuse_output_place(out)
    except FolderRefused as exc:
        return [Issue("error", "output_dir", str(exc))]
    out = out.resolve()
    model = opts.model_dir.resolve()
    if out == model or out in model.parents or model in out.parents:
        return [Issue("error", "output_dir", "The output folder must not be the model folder, "
                                             "inside it, or one of its parents.")]
    if out.exists() and not out.is_dir():
        return [Issue("error", "output_dir", f"{out} is a file: choose a folder.")]
    from slm_wizard.core.base.paths import reserved_name_problem

    if reserved_name_problem(out, "the output folder"):
        return [Issue("error", "output_dir", reserved_name_problem(out, "the output folder"))]
    above = next((p for p in out.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        return [Issue("error", "output_dir", f"{above} is a file, so no folder can be created "
                                             f"inside it: choose another output folder.")]
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
