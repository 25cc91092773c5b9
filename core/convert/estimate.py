"""What a conversion will cost: the output size per precision from the model's own tensors, the RAM
and disk it needs, and what this machine has free.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from slm_wizard.core.base.units import human_bytes
from slm_wizard.core.convert.options import (
    CPU_PROVIDER,
    PRECISION_HELP,
    PRECISIONS,
    PROVIDER_PRECISIONS,
    ConvertOptions,
)
from slm_wizard.core.model.model_info import ModelInfo, fp32_size_bytes

GUIDE_RATIOS = {"fp32": 1.0, "fp16": 0.5, "int8": 0.25, "int4": 0.125}


@dataclass(frozen=True)
class SizeEstimate:
    precision: str
    size_bytes: int  # the ONNX files on disk, for this model's tensors
    ratio: float  # size_bytes / the fp32 weights ("Base")
    guide_ratio: float  # the guide's rule of thumb: Base x 1 / 0.5 / 0.25 / 0.125
    ram_bytes: int  # peak RAM while converting
    cpu_ok: bool  # runs on CPUExecutionProvider
    note: str = ""



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
    notes = dict(PRECISION_HELP)
    if sizes["int4"] >= sizes["int8"]:  # a large embedding table, kept fp32 at int4
        notes["int4"] = ("4-bit weights: fastest on CPU, but larger than int8 for this model: "
                         "its embedding table (" + human_bytes(4 * g.embedding) + ") stays fp32.")
        notes["int8"] = ("8-bit weights: the smallest for this model (its embedding table is "
                         "quantized too), near-fp32 quality.")
    out = []
    for p in PRECISIONS:
        cpu_ok = p in PROVIDER_PRECISIONS[CPU_PROVIDER]
        out.append(SizeEstimate(
            precision=p, size_bytes=sizes[p], ratio=sizes[p] / base if base else 0.0,
            guide_ratio=GUIDE_RATIOS[p], ram_bytes=ram, cpu_ok=cpu_ok,
            note=notes[p] if cpu_ok else "needs a GPU provider: not runnable on CPU",
        ))
    return out


def precision_hint(estimates: list[SizeEstimate]) -> str:
    """One line on the precisions for this model: which is smallest on CPU, by the estimates
    (INT4 keeps the embedding table fp32, so a model with a large one is smaller at INT8)."""
    size = {e.precision: e.size_bytes for e in estimates if e.cpu_ok}
    if size and min(size, key=lambda p: size[p]) == "int8":
        return ("int8 smallest for this model (int4 keeps the embedding fp32) · int4 fastest "
                "on CPU · fp16 needs a GPU")
    return "int4 smallest/fastest on CPU · int8 near-fp32 quality · fp16 needs a GPU"


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
