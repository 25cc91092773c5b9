"""The sweep's variants: the presets, and the names `fp32`, `int8` and
`int4[-<algo>][-b<block>][-asym][-embfp32]` parsed into the Olive options that build each one.

Variants (names parsed by `parse_variant`):
- `fp32`: the reference every other variant is measured against (always converted);
- `int8`: Olive's 8-bit block-wise RTN on the fp32 build (embedding quantized too);
- `int4[-<algo>][-b<block>][-asym][-embfp32]`: onnxruntime-genai's builder through Olive's
  ModelBuilder pass, accuracy level 4. `<algo>` is the builder's `int4_algo_config`: `default`
  (omitted in names), `rtn`, `rtn_last`, `k_quant`, `k_quant_mixed` (int4 + int8 for the
  sensitive layers), `k_quant_last`. With the default algorithm the embedding table is quantized
  too (`int4_op_types_to_quantize` MatMul/Gather), so int4 stays smaller than int8 on models
  with tied embeddings; `-embfp32` keeps it fp32 (what `olive auto-opt` builds). The other
  algorithms quantize MatMuls only and the builder's `shared_embeddings` is dropped by Olive
  0.13's ModelBuilder pass (it replaces the builder's embedding code): their embedding stays fp32.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slm_wizard.core.base.status import Refused

PRESETS: dict[str, tuple[str, ...]] = {
    "quick": ("fp32", "int8", "int4", "int4-k_quant_mixed"),
    "full": ("fp32", "int8", "int4", "int4-asym", "int4-b64", "int4-b64-asym", "int4-b128",
             "int4-b128-asym", "int4-embfp32", "int4-rtn", "int4-k_quant_mixed",
             "int4-k_quant_last"),
}
DEFAULT_PRESET = "quick"
DEFAULT_VARIANTS: tuple[str, ...] = PRESETS[DEFAULT_PRESET]
INT4_ALGOS = ("default", "rtn", "rtn_last", "k_quant", "k_quant_mixed", "k_quant_last")
BLOCK_SIZES = (16, 32, 64, 128, 256)
INT4_ACCURACY_LEVEL = 4  # int8 activations in MatMulNBits on CPU


class SweepError(Refused):
    """Bad sweep input (a variant name, a folder, a limit); the message is for the user."""


@dataclass(frozen=True)
class Variant:
    name: str
    precision: str
    block_size: int = 32
    symmetric: bool = True
    algo: str = "default"
    quantize_embedding: bool = True  # int4 default algorithm only

    def describe(self) -> str:
        if self.precision != "int4":
            return {"fp32": "FP32 (reference)", "int8": "INT8 RTN, block 32, symmetric"}.get(
                self.precision, self.precision.upper())
        emb = ("embedding int4" if self.algo == "default" and self.quantize_embedding
               else "embedding fp32")
        algo = "" if self.algo == "default" else f"{self.algo}, "
        return (f"INT4 {algo}block {self.block_size}, "
                f"{'symmetric' if self.symmetric else 'asymmetric'}, {emb}")

    def convert_kwargs(self) -> dict[str, Any]:
        """The core.convert.ConvertOptions fields that build this variant (config method)."""
        kw: dict[str, Any] = {"precision": self.precision, "method": "config"}
        if self.precision == "int4":
            kw.update(block_size=self.block_size, symmetric=self.symmetric,
                      accuracy_level=INT4_ACCURACY_LEVEL, int4_algo=self.algo)
            if self.algo == "default" and self.quantize_embedding:
                kw["int4_op_types"] = ("MatMul", "Gather")
        return kw

    def builder_options(self) -> dict[str, Any]:
        """What Olive's passes are given for this variant (the `options` of the JSON)."""
        from slm_wizard.core.convert.olive_config import build_config
        from slm_wizard.core.convert.options import ConvertOptions

        cfg = build_config(ConvertOptions(Path("model"), Path("out"), **self.convert_kwargs()))
        return cfg["passes"]


def parse_variant(name: str) -> Variant:
    """`fp32`, `int8` or `int4[-<algo>][-b<block>][-sym|-asym][-embfp32]` (SweepError if not)."""
    text = name.strip().lower()
    parts = text.split("-")
    head, rest = parts[0], [p for p in parts[1:]]
    usage = ("use fp32, int8 or int4[-<algo>][-b<block>][-asym][-embfp32], e.g. int4, "
             "int4-b128-asym, int4-k_quant_mixed")
    if head not in ("fp32", "fp16", "int8", "int4") or any(not p for p in rest):
        raise SweepError(f"unknown variant {name!r}: {usage}")
    if head != "int4":
        if rest:
            raise SweepError(f"{name!r}: block size, symmetry, algorithm and embedding apply "
                             "to int4 only")
        return Variant(text, head)
    algo, block, sym, emb = "default", 32, True, True
    for p in rest:
        if p in INT4_ALGOS:
            algo = p
        elif re.fullmatch(r"b\d+", p):
            block = int(p[1:])
            if block not in BLOCK_SIZES:
                raise SweepError(f"{name!r}: the int4 block size must be 16, 32, 64, 128 or 256")
        elif p in ("sym", "asym"):
            sym = p == "sym"
        elif p == "embfp32":
            emb = False
        else:
            raise SweepError(f"unknown variant {name!r}: {p!r} is not an int4 option "
                             f"(algorithms: {', '.join(INT4_ALGOS)}); {usage}")
    if not emb and algo != "default":
        raise SweepError(f"{name!r}: -embfp32 applies to the default algorithm only (the "
                         "others keep the embedding fp32 anyway)")
    canon = "-".join(["int4"] + ([algo] if algo != "default" else [])
                     + ([f"b{block}"] if block != 32 else []) + ([] if sym else ["asym"])
                     + ([] if emb else ["embfp32"]))
    return Variant(canon, "int4", block, sym, algo, emb)


def parse_variants(text: str | Sequence[str]) -> list[Variant]:
    names = text.split(",") if isinstance(text, str) else list(text)
    variants = [parse_variant(n) for n in names if n.strip()]
    if not variants:
        raise SweepError("name at least one variant, e.g. fp32,int8,int4")
    seen: set[str] = set()
    unique = []
    for v in variants:
        if v.name not in seen:
            seen.add(v.name)
            unique.append(v)
    return unique
