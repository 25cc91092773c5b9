"""The options of a conversion (precision, method, builder options), their allowed values, and
the choice of method for what is asked.

What the installed toolchain (olive-ai 0.13.0 + onnxruntime-genai 0.14.1) can build is in
core/convert/olive_config.py; the checks of a set of options against it and this machine are in
core/convert/validation.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
# Defaults of `olive auto-opt --use_model_builder` at int4 on CPU (it has no flags to change them).
AUTO_OPT_INT4 = {"block_size": 32, "symmetric": True, "accuracy_level": 4}
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



def choose_method(precision: str, block_size: int = 32, symmetric: bool = True,
                  accuracy_level: int | None = None) -> str:
    """auto-opt when the one command can build what is asked, else the config-file method."""
    simple = precision in ("fp32", "fp16") or (
        precision == "int4" and block_size == AUTO_OPT_INT4["block_size"] and symmetric
        and accuracy_level in (None, AUTO_OPT_INT4["accuracy_level"]))
    return "auto-opt" if simple else "config"


def default_output_dir(model_dir: Path, precision: str) -> Path:
    """<data dir>/models/<name>-<precision>; a training checkpoint is named after its run."""
    from slm_wizard.core.base.paths import data_dir, short_stem
    from slm_wizard.core.model.checkpoints import output_name

    return data_dir() / "models" / f"{short_stem(output_name(model_dir))}-{precision}"

