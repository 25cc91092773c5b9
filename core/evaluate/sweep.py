"""Quantization advisor: convert one model to several variants, measure each, recommend one.

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

Each variant is converted once and cached by (model content, options, tool versions) under
`<cache>/sweep/<model hash>/`; then measured in a fresh Python process (load time and peak RSS
belong to that variant alone): size on disk, TTFT, decode tok/s, peak RSS, domain score, and
fidelity against fp32 teacher forced through the domain set's reference answers (core.fidelity:
mean and 99th-percentile KL divergence, top-1 agreement, perplexity), or through a built-in
neutral text set when there is no domain data (`domain_source` says which).

The recommendation follows a stated rule (`rule_text`): the smallest variant whose mean KLD and
top-1 agreement stay within the limits, ties broken by decode speed; the runner-up is the next
one the rule would pick.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.reports import Report, Table
from slm_wizard.core.evaluate.bench import Progress, ProgressFn

PRESETS: dict[str, tuple[str, ...]] = {
    "quick": ("fp32", "int8", "int4", "int4-k_quant_mixed"),
    "full": ("fp32", "int8", "int4", "int4-asym", "int4-b64", "int4-b64-asym", "int4-b128",
             "int4-b128-asym", "int4-embfp32", "int4-rtn", "int4-k_quant_mixed",
             "int4-k_quant_last"),
}
DEFAULT_PRESET = "quick"
DEFAULT_VARIANTS: tuple[str, ...] = PRESETS[DEFAULT_PRESET]
MAX_KLD = 0.05  # mean KL divergence from fp32 (llama.cpp's Q4_K_M on 7-8B models: ~0.03)
MIN_TOP1 = 0.90  # share of answer tokens whose top token is fp32's
INT4_ALGOS = ("default", "rtn", "rtn_last", "k_quant", "k_quant_mixed", "k_quant_last")
BLOCK_SIZES = (16, 32, 64, 128, 256)
INT4_ACCURACY_LEVEL = 4  # int8 activations in MatMulNBits on CPU
# The guide's nominal size of each precision relative to the full-precision model.
NOMINAL_SIZE = {"fp32": 1.0, "fp16": 0.5, "int8": 0.25, "int4": 0.125}
RESULT_PREFIX = "SWEEP-RESULT "
PROGRESS_PREFIX = "SWEEP-PROGRESS "
CACHE_FORMAT = 1
MARKER = "sweep-variant.json"


class SweepError(ValueError):
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


def preset_variants(preset: str) -> tuple[str, ...]:
    if preset not in PRESETS:
        raise SweepError(f"unknown preset {preset!r}: choose {' or '.join(PRESETS)}")
    return PRESETS[preset]


def rule_text(max_kld: float, min_top1: float) -> str:
    return (f"the smallest variant whose mean KL divergence from fp32 is at most {max_kld:g} "
            f"and whose top-1 agreement with fp32 is at least {min_top1:.0%} (ties: the faster "
            "decode)")


@dataclass
class VariantResult:
    name: str
    description: str
    precision: str
    options: dict[str, Any] = field(default_factory=dict)
    output_dir: str = ""
    cached: bool = False
    ok: bool = False
    error: str = ""
    convert_s: float | None = None
    size_bytes: int | None = None
    embedding_bytes: int | None = None  # the token embedding table (some variants keep fp32)
    embedding_type: str = ""
    load_s: float | None = None
    ttft_s: float | None = None
    decode_tps: float | None = None
    peak_rss_bytes: int | None = None
    domain_score: float | None = None
    mean_kld: float | None = None
    p99_kld: float | None = None
    top1_agreement: float | None = None
    perplexity: float | None = None
    fidelity_tokens: int | None = None
    fidelity_s: float | None = None
    pareto: bool = False
    rank: int | None = None  # by mean KLD, 1 = closest to fp32

    @property
    def measured(self) -> bool:
        return self.ok and self.size_bytes is not None and self.mean_kld is not None


@dataclass
class SweepResult:
    model: str
    variants: list[VariantResult] = field(default_factory=list)
    reference: str = "fp32"
    recommended: str | None = None
    runner_up: str | None = None
    recommendation: str = ""
    rule: str = ""
    max_kld: float = MAX_KLD
    min_top1: float = MIN_TOP1
    domain_source: str = ""
    prompts: int = 0
    elapsed_s: float = 0.0
    cancelled: bool = False

    def variant(self, name: str) -> VariantResult | None:
        return next((v for v in self.variants if v.name == name), None)

    def ranked(self) -> list[VariantResult]:
        """Measured variants by mean KLD (closest to fp32 first), then failed ones."""
        return sorted(self.variants, key=lambda v: (v.rank is None, v.rank or 0))

    def table(self) -> Table:
        base = self.variant(self.reference)
        table = Table("variants", "Variants (Pareto table: size against mean KLD)",
                      ["variant", "size (MB)", "size vs fp32", "guide", "embeddings",
                       "mean KLD", "p99 KLD", "top-1", "perplexity", "decode tok/s",
                       "TTFT (s)", "peak RSS (MB)", "domain score", "pareto", "status"])
        for v in self.ranked():
            ratio = (v.size_bytes / base.size_bytes
                     if base and base.size_bytes and v.size_bytes else None)
            table.rows.append([
                v.name, _round(v.size_bytes / 1e6 if v.size_bytes else None, 3),
                _round(ratio, 3), NOMINAL_SIZE.get(v.precision), _embedding_cell(v),
                _round(v.mean_kld, 6), _round(v.p99_kld, 6), _round(v.top1_agreement, 4),
                _round(v.perplexity, 4), _round(v.decode_tps, 1), _round(v.ttft_s, 4),
                _round(v.peak_rss_bytes / 2**20 if v.peak_rss_bytes else None, 1),
                _round(v.domain_score, 3), v.pareto, self.status_of(v),
            ])
        return table

    def status_of(self, v: VariantResult) -> str:
        if not v.ok:
            return f"failed: {v.error}"
        if v.name == self.recommended:
            return "recommended"
        if v.name == self.runner_up:
            return "runner-up"
        if v.name == self.reference:
            return "reference"
        why = limit_problem(v, self.max_kld, self.min_top1)
        return f"over limit: {why}" if why else "within limits"

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `slm-wizard sweep --json` (and the report's data)."""
        keys = ("name", "description", "options", "size_bytes", "decode_tps", "ttft_s",
                "peak_rss_bytes", "mean_kld", "p99_kld", "top1_agreement", "perplexity",
                "domain_score", "load_s", "convert_s", "cached", "embedding_bytes",
                "embedding_type", "fidelity_tokens", "fidelity_s", "pareto", "rank",
                "output_dir", "ok", "error")
        return {
            "model": self.model, "reference": self.reference, "recommended": self.recommended,
            "runner_up": self.runner_up, "rule": self.rule,
            "limits": {"max_kld": self.max_kld, "min_top1": self.min_top1},
            "recommendation": self.recommendation, "domain_source": self.domain_source,
            "cancelled": self.cancelled, "elapsed_s": round(self.elapsed_s, 2),
            "variants": [{k: asdict(v)[k] for k in keys} | {"status": self.status_of(v)}
                         for v in self.variants],
            "plot": plot_points(self),
        }

    def to_report(self) -> Report:
        meta = {"model": self.model, "reference": self.reference,
                "fidelity measured on": self.domain_source, "rule": self.rule,
                "recommendation": self.recommendation, "elapsed (s)": round(self.elapsed_s, 1)}
        notes = [
            "mean/p99 KLD: KL divergence of each variant's next-token distribution from fp32's, "
            "per answer token, teacher forced (llama.cpp's --kl-divergence figures); top-1: "
            "share of answer tokens where both rank the same token first",
            "perplexity: of the expected answers under that variant",
            "size vs fp32 is measured on disk; 'guide' is the nominal ratio the guide gives",
            "embeddings: element type of the token embedding table and its share of the size",
            "pareto: no other variant is both smaller and closer to fp32",
            "int4 algorithms other than the default keep the embedding fp32: Olive 0.13's "
            "ModelBuilder pass drops the builder's shared_embeddings",
        ]
        return Report("sweep", "Quantization advisor", meta, [self.table()], notes,
                      self.to_dict())


def _embedding_cell(v: VariantResult) -> str:
    if not v.embedding_bytes or not v.size_bytes:
        return ""
    return f"{v.embedding_type} {v.embedding_bytes / v.size_bytes:.0%}"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def model_size(folder: Path) -> int:
    """Bytes of the ONNX model files (model.onnx and its external data)."""
    files = [f for f in Path(folder).rglob("*") if f.is_file() and ".onnx" in f.name]
    if not files:
        files = [f for f in Path(folder).rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files)


_DTYPE_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8,
                16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 21: 0.5, 22: 0.5}  # 21/22: 4-bit


def embedding_share(folder: Path) -> tuple[int, str] | None:
    """(bytes, element type) of the token embedding table(s) in model.onnx, or None."""
    try:
        import onnx
    except ImportError:
        return None
    path = Path(folder) / "model.onnx"
    if not path.is_file():
        return None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # unreadable graph: leave the column empty
        return None
    total, kinds = 0.0, set()
    for t in model.graph.initializer:
        if "embed" not in t.name.lower():
            continue
        n = 1
        for d in t.dims:
            n *= d
        total += n * _DTYPE_BYTES.get(t.data_type, 4)
        kinds.add(onnx.TensorProto.DataType.Name(t.data_type).lower())
    return (int(total), "/".join(sorted(kinds))) if total else None


# ----------------------------------------------------------------------------- the rule


def limit_problem(v: VariantResult, max_kld: float, min_top1: float) -> str:
    """Why `v` is outside the limits ('' when within)."""
    if v.mean_kld is None or v.top1_agreement is None:
        return "fidelity not measured"
    if v.mean_kld > max_kld:
        return f"mean KLD {v.mean_kld:.4g} > {max_kld:g}"
    if v.top1_agreement < min_top1:
        return f"top-1 agreement {v.top1_agreement:.1%} < {min_top1:.0%}"
    return ""


def pareto_front(variants: Sequence[VariantResult]) -> set[str]:
    """Names of the measured variants no other one beats on both size and mean KLD."""
    done = [v for v in variants if v.measured]
    front = set()
    for v in done:
        beaten = any(
            o is not v and o.size_bytes <= v.size_bytes and o.mean_kld <= v.mean_kld
            and (o.size_bytes < v.size_bytes or o.mean_kld < v.mean_kld) for o in done)
        if not beaten:
            front.add(v.name)
    return front


def recommend(variants: Sequence[VariantResult], *, max_kld: float = MAX_KLD,
              min_top1: float = MIN_TOP1,
              reference: str = "fp32") -> tuple[str | None, str | None, str]:
    """(recommended, runner-up, why) by the rule in `rule_text`."""
    done = [v for v in variants if v.ok and v.size_bytes]
    ref = next((v for v in done if v.name == reference), None)
    if ref is None or ref.mean_kld is None:
        return None, None, ("no recommendation: the fp32 reference could not be measured, so "
                            "no variant's fidelity is known")
    fit = sorted((v for v in done if not limit_problem(v, max_kld, min_top1)),
                 key=lambda v: (v.size_bytes, -(v.decode_tps or 0.0)))
    best = fit[0]
    runner = fit[1] if len(fit) > 1 else None

    def figures(v: VariantResult) -> str:
        parts = [f"{v.size_bytes / 1e6:.3g} MB"]
        if v is not ref:
            parts.append(f"{ref.size_bytes / v.size_bytes:.1f}× smaller than fp32")
            parts.append(f"mean KLD {v.mean_kld:.3g}, top-1 {v.top1_agreement:.1%}")
        if v.decode_tps:
            parts.append(f"{v.decode_tps:.0f} tok/s")
        return ", ".join(parts)

    text = f"Recommended: {best.name} ({best.description}): {figures(best)}."
    if runner is not None:
        text += (f" Runner-up: {runner.name} ({figures(runner)}), "
                 f"{runner.size_bytes / best.size_bytes:.2f}× the size")
        if runner.mean_kld is not None and best.mean_kld is not None \
                and runner.mean_kld < best.mean_kld:
            text += ", closer to fp32"
        text += "."
    out = [f"{v.name}: {limit_problem(v, max_kld, min_top1)}" for v in done
           if limit_problem(v, max_kld, min_top1)]
    if out:
        text += " Over the limits: " + "; ".join(out) + "."
    failed = [v.name for v in variants if not v.ok]
    if failed:
        text += " Failed: " + ", ".join(failed) + "."
    return best.name, runner.name if runner else None, text


def rank_and_front(variants: Sequence[VariantResult]) -> None:
    front = pareto_front(variants)
    order = sorted((v for v in variants if v.measured), key=lambda v: (v.mean_kld, v.size_bytes))
    for v in variants:
        v.pareto = v.name in front
        v.rank = None
    for i, v in enumerate(order, start=1):
        v.rank = i


# ----------------------------------------------------------------------------- the plot


def plot_points(result: SweepResult) -> list[dict[str, Any]]:
    return [{"name": v.name, "size_mb": round(v.size_bytes / 1e6, 4),
             "mean_kld": v.mean_kld, "decode_tps": v.decode_tps, "pareto": v.pareto}
            for v in result.variants if v.measured]


def plot_text(result: SweepResult, width: int = 56, height: int = 12) -> str:
    """A character plot: size (MB, x) against mean KLD (y), each point numbered; tok/s in the
    legend. Pareto points are marked with *."""
    pts = [v for v in result.ranked() if v.measured]
    if not pts:
        return "(nothing measured to plot)"
    xs = [v.size_bytes / 1e6 for v in pts]
    ys = [v.mean_kld for v in pts]
    x0, x1 = min(xs), max(xs)
    y1 = max(ys) or 1.0
    grid = [[" "] * width for _ in range(height)]
    labels = {}
    for i, v in enumerate(pts):
        label = str(i + 1) if i < 9 else chr(ord("a") + i - 9)
        labels[v.name] = label
        col = 0 if x1 == x0 else round((xs[i] - x0) / (x1 - x0) * (width - 1))
        row = height - 1 - round(ys[i] / y1 * (height - 1))
        grid[row][col] = label if grid[row][col] == " " else "+"
    ylab = f"{y1:.3g}"
    pad = max(len(ylab), 3)
    lines = ["mean KLD (from fp32, up) against size (MB, right)"]
    for r, cells in enumerate(grid):
        tick = ylab if r == 0 else ("0" if r == height - 1 else "")
        lines.append(f"{tick:>{pad}} |" + "".join(cells))
    lines.append(" " * pad + " +" + "-" * width)
    lines.append(" " * pad + f"  {x0:<.3g}" + f"{x1:.3g} MB".rjust(width - len(f"{x0:.3g}")))
    for v in pts:
        tps = f"{v.decode_tps:.0f} tok/s" if v.decode_tps else "tok/s –"
        star = "*" if v.pareto else " "
        lines.append(f"  {labels[v.name]}{star} {v.name:<22} {v.size_bytes / 1e6:8.3f} MB  "
                     f"KLD {v.mean_kld:.4g}  {tps}")
    lines.append("  * on the Pareto front (no variant both smaller and closer to fp32)")
    return "\n".join(lines)


def plot_svg(result: SweepResult, width: int = 640, height: int = 400) -> str:
    """The same plot as an SVG image (for the Markdown report): point area ~ decode tok/s."""
    from xml.sax.saxutils import escape

    pts = [v for v in result.variants if v.measured]
    m = 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<line x1="{m}" y1="{height - m}" x2="{width - 20}" y2="{height - m}" stroke="black"/>',
           f'<line x1="{m}" y1="20" x2="{m}" y2="{height - m}" stroke="black"/>',
           f'<text x="{width / 2}" y="{height - 15}" text-anchor="middle">size on disk (MB)'
           '</text>',
           f'<text x="15" y="{height / 2}" transform="rotate(-90 15 {height / 2})" '
           'text-anchor="middle">mean KL divergence from fp32</text>']
    if pts:
        xs = [v.size_bytes / 1e6 for v in pts]
        ys = [v.mean_kld for v in pts]
        x0, x1 = min(xs) * 0.95, max(xs) * 1.05
        y1 = (max(ys) or 1.0) * 1.1
        tmax = max((v.decode_tps or 0.0) for v in pts) or 1.0
        out.append(f'<text x="{m}" y="{height - m + 15}" text-anchor="middle">{x0:.3g}</text>')
        out.append(f'<text x="{width - 20}" y="{height - m + 15}" text-anchor="middle">'
                   f'{x1:.3g}</text>')
        out.append(f'<text x="{m - 5}" y="24" text-anchor="end">{y1:.2g}</text>')
        out.append(f'<text x="{m - 5}" y="{height - m}" text-anchor="end">0</text>')
        for v, x, y in zip(pts, xs, ys, strict=True):
            px = m + (x - x0) / (x1 - x0) * (width - 20 - m)
            py = height - m - y / y1 * (height - m - 20)
            r = 3 + 9 * ((v.decode_tps or 0.0) / tmax) ** 0.5
            color = "#2a7" if v.name == result.recommended else (
                "#36c" if v.pareto else "#999")
            tps = f", {v.decode_tps:.0f} tok/s" if v.decode_tps else ""
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{r:.1f}" fill="{color}" '
                       'fill-opacity="0.7"/>')
            out.append(f'<text x="{px + r + 2:.1f}" y="{py + 4:.1f}">'
                       f'{escape(v.name)}{escape(tps)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- caching


def model_hash(model_dir: Path) -> str:
    """SHA-256 of the model folder's files (names and bytes), hidden files left out."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        rel = f.relative_to(model_dir).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        h.update(rel.encode("utf-8") + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _tool_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("olive-ai", "onnxruntime-genai", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = ""
    return out


def variant_key(variant: Variant) -> str:
    blob = json.dumps({"options": variant.convert_kwargs(), "tools": _tool_versions(),
                       "format": CACHE_FORMAT}, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:10]


def default_cache_root() -> Path:
    from slm_wizard.core.base.paths import cache_dir

    return cache_dir() / "sweep"


def variant_folder(root: Path, mhash: str, variant: Variant) -> Path:
    return Path(root) / mhash[:16] / f"{variant.name}-{variant_key(variant)}"


def cached_variant(folder: Path) -> dict[str, Any] | None:
    """The marker of a finished conversion in `folder` (None: absent, convert again)."""
    from slm_wizard.core.base.fileio import read_json_object

    marker = folder.with_name(folder.name + ".json")
    if not (folder / "genai_config.json").is_file() or not marker.is_file():
        return None
    try:
        return read_json_object(marker, what="sweep cache marker")
    except ValueError:
        return None


# ----------------------------------------------------------------------------- measuring


def _peak_rss_bytes() -> int:
    import psutil

    info = psutil.Process().memory_info()
    peak = getattr(info, "peak_wset", None)  # Windows
    if peak is None:
        try:
            import resource

            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak = kb if sys.platform == "darwin" else kb * 1024
        except ImportError:
            peak = info.rss
    return int(peak)


def measure_variant(onnx_dir: Path, domain_file: Path | None, max_prompts: int,
                    max_tokens: int = 64, say: Any = None, *,
                    reference: Path | None = None, samples_file: Path | None = None,
                    fidelity_tokens: int = 0) -> dict[str, Any]:
    """Load one converted model and measure it (runs in the child process).

    With `samples_file`, this is the reference: its log-probs are written to `reference`
    (unless already there). Otherwise the fidelity is measured against `reference`.
    """
    from slm_wizard.core.evaluate import fidelity as fid
    from slm_wizard.core.evaluate.bench import BUILTIN_PROMPTS, run_benchmark
    from slm_wizard.core.evaluate.validate import answer_domain, check_domain, load_domain_cases
    from slm_wizard.core.runtime.chat import GenerationSettings, open_backend

    say = say or (lambda text: None)
    t0 = time.perf_counter()
    backend = open_backend("ort", str(onnx_dir))
    load_s = time.perf_counter() - t0
    try:
        cases = load_domain_cases(domain_file)[:max_prompts] if domain_file else []
        score = None
        if cases:
            say(f"answering {len(cases)} domain prompts")
            answers = answer_domain(backend, cases,
                                    settings=GenerationSettings(max_tokens=max_tokens))
            score = check_domain(answers).data.get("score")
        prompts = [{"prompt": c.prompt, **({"system": c.system} if c.system else {})}
                   for c in cases[:4]] or list(BUILTIN_PROMPTS)
        say("timing")
        # Every timed reply has exactly max_tokens tokens, so the variants' rates compare.
        bench = run_benchmark(backend, prompts, warmup=1, repeats=2, lengths=None,
                              settings=GenerationSettings(max_tokens=max_tokens,
                                                          min_tokens=max_tokens))
        summary = bench.summary()
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()
    found: dict[str, Any] = {
        "load_s": load_s,
        "ttft_s": summary["ttft_s"].median if summary["ttft_s"] else None,
        "decode_tps": summary["decode_tps"].median if summary["decode_tps"] else None,
        "peak_rss_bytes": _peak_rss_bytes(),  # before the fidelity pass adds the reference
        "domain_score": score,
    }
    if reference is not None:
        def tick(i: int, n: int) -> None:
            say(f"fidelity: {i}/{n} answers")

        ref = fid.Reference.load(reference)
        if samples_file is not None:
            if ref is None:
                data = json.loads(samples_file.read_text(encoding="utf-8"))
                samples = [fid.Sample(tuple(tuple(m) for m in s["messages"]), s["answer"])
                           for s in data]
                say("fidelity: reference log-probabilities")
                ref = fid.build_reference(onnx_dir, samples, reference,
                                          max_tokens=fidelity_tokens or fid.MAX_TOKENS,
                                          on_progress=tick)
            found["fidelity"] = fid.of_reference(ref).to_dict()
        else:
            if ref is None:
                raise SweepError("the fp32 reference's log-probabilities are missing")
            result = fid.compare(onnx_dir, ref, on_progress=tick)
            found["fidelity"] = result.to_dict() if result else None
    return found


def _measure_in_child(onnx_dir: Path, domain_file: Path | None, max_prompts: int,
                      max_tokens: int, say: Any, cancel: threading.Event | None,
                      timeout_s: float, reference: Path | None, samples_file: Path | None,
                      fidelity_tokens: int) -> dict[str, Any]:
    from slm_wizard.core.base.proc import stream_command

    args = [sys.executable, "-m", "slm_wizard.core.evaluate.sweep", "measure", str(onnx_dir),
            "--max-prompts", str(max_prompts), "--max-tokens", str(max_tokens),
            "--fidelity-tokens", str(fidelity_tokens)]
    if domain_file:
        args += ["--domain", str(domain_file)]
    if reference:
        args += ["--reference", str(reference)]
    if samples_file:
        args += ["--samples", str(samples_file)]
    found: dict[str, Any] = {}

    def on_line(line: str) -> None:
        if line.startswith(RESULT_PREFIX):
            found.update(json.loads(line[len(RESULT_PREFIX):]))
        elif line.startswith(PROGRESS_PREFIX):
            say(line[len(PROGRESS_PREFIX):])

    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("ORT_DISABLE_TELEMETRY", "1")
    result = stream_command(args, on_line, cancel=cancel, timeout=timeout_s, env=env, grace=2.0)
    if result.cancelled:
        raise SweepError("cancelled while measuring")
    if "error" in found:
        raise SweepError(found["error"])
    if not result.ok or not found:
        last = result.stdout.strip().splitlines()[-1:] if result.stdout.strip() else []
        raise SweepError(result.error or f"measuring failed: {' '.join(last) or 'no output'}")
    return found


def check_output_root(root: Path) -> None:
    """The sweep's cache folder must be new or empty, or one a sweep made (it carries the
    slm-wizard marker): SweepError otherwise. The marker is written as soon as the folder is
    accepted."""
    from slm_wizard.core.base.owned import FolderRefused, check_replaceable, write_marker

    try:
        check_replaceable(root, confirmed=True, flag="--output")
    except FolderRefused as exc:
        raise SweepError(str(exc)) from None
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_marker(root, "sweep")
    except OSError as exc:
        raise SweepError(f"cannot create the output folder {root}: {exc.strerror or exc}") \
            from None


# How to add domain data, said wherever a sweep ran without it (result, report, screen, CLI).
NO_DOMAIN_HOW = ("; add your own with --domain FILE (JSONL, one {\"prompt\", \"expected\"} per "
                 "line) or a domain_eval.jsonl next to the model")


def fidelity_samples(domain: Path | None) -> tuple[list[Any], str]:
    """(samples, where they come from): the domain set's expected answers, else neutral text."""
    from slm_wizard.core.evaluate import fidelity as fid
    from slm_wizard.core.evaluate.validate import ValidateError, load_domain_cases

    if domain is not None:
        try:
            cases = load_domain_cases(domain)
        except ValidateError as exc:
            raise SweepError(str(exc)) from exc
        samples = [fid.Sample.of(c.prompt, c.expected, c.system) for c in cases if c.expected]
        if samples:
            return samples, f"domain set {domain} ({len(samples)} reference answers)"
        return fid.neutral_samples(), (f"built-in neutral text ({len(fid.NEUTRAL_SAMPLES)} "
                                       f"answers): the domain set {domain} has no expected "
                                       "answers")
    return fid.neutral_samples(), (f"built-in neutral text ({len(fid.NEUTRAL_SAMPLES)} answers):"
                                   " no domain data was given" + NO_DOMAIN_HOW)


def run_sweep(
    model_dir: str | Path,
    variants: Sequence[str | Variant] = DEFAULT_VARIANTS,
    *,
    output_root: str | Path | None = None,
    domain_file: str | Path | None = None,
    max_prompts: int = 20,
    max_tokens: int = 64,
    max_kld: float = MAX_KLD,
    min_top1: float = MIN_TOP1,
    fidelity_tokens: int = 0,
    measure_timeout_s: float = 1800.0,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> SweepResult:
    """Convert `model_dir` (a Hugging Face folder) to every variant (cached), measure, compare.

    `output_root` is the cache root (default `<cache>/sweep`); `fidelity_tokens` 0 means
    core.fidelity.MAX_TOKENS answer tokens.
    """
    from slm_wizard.core.base.fileio import write_json_atomic, write_text_atomic
    from slm_wizard.core.convert.options import ConvertOptions
    from slm_wizard.core.convert.run import run_conversion
    from slm_wizard.core.evaluate import fidelity as fid
    from slm_wizard.core.model.model_info import ModelFolderError, inspect_model

    try:  # the whole folder is read before anything is converted
        model_dir = inspect_model(model_dir).path
    except ModelFolderError as exc:
        raise SweepError(str(exc)) from exc
    chosen = [v if isinstance(v, Variant) else parse_variant(v) for v in variants]
    if not chosen:
        raise SweepError("name at least one variant, e.g. fp32,int8,int4")
    if any(v.precision == "fp16" for v in chosen):
        raise SweepError("fp16 does not run on the CPU (onnxruntime's CPU provider has no fp16 "
                         "kernels): sweep fp32, int8 and int4 here")
    if not max_kld > 0 or not 0 <= min_top1 <= 1:
        raise SweepError("--max-kld must be above 0 and --min-top1 between 0 and 1")
    # fp32 first: it is the reference every other variant is measured against.
    chosen = [parse_variant("fp32")] + [v for v in chosen if v.name != "fp32"]
    root = Path(output_root) if output_root else default_cache_root()
    domain = Path(domain_file) if domain_file else None
    if domain is None and (model_dir / "domain_eval.jsonl").is_file():
        domain = model_dir / "domain_eval.jsonl"
    samples, source = fidelity_samples(domain)
    n_prompts = 0
    if domain is not None:
        from slm_wizard.core.evaluate.validate import load_domain_cases

        n_prompts = len(load_domain_cases(domain)[:max_prompts])
    check_output_root(root)
    tokens = fidelity_tokens or fid.MAX_TOKENS
    report = on_progress or (lambda p: None)
    started = time.perf_counter()
    report(Progress("sweep", 0, 2 * len(chosen), "hashing the model folder"))
    mhash = model_hash(model_dir)
    base = root / mhash[:16]
    base.mkdir(parents=True, exist_ok=True)
    samples_file = base / f"samples-{fid.samples_key(samples, tokens)}.json"
    write_text_atomic(samples_file, json.dumps(
        [{"messages": [list(m) for m in s.messages], "answer": s.answer} for s in samples],
        ensure_ascii=False) + "\n")
    result = SweepResult(str(model_dir), prompts=n_prompts, domain_source=source,
                         max_kld=max_kld, min_top1=min_top1, rule=rule_text(max_kld, min_top1))
    steps = 2 * len(chosen)
    ref_path: Path | None = None
    for i, variant in enumerate(chosen):
        if cancel is not None and cancel.is_set():
            break
        row = VariantResult(variant.name, variant.describe(), variant.precision,
                            options=variant.builder_options())
        result.variants.append(row)
        out = variant_folder(root, mhash, variant)
        row.output_dir = str(out)
        marker = cached_variant(out)
        if marker is not None:
            row.cached, row.convert_s = True, marker.get("convert_s")
            report(Progress("sweep", 2 * i, steps, f"{variant.name}: converted before (cache)"))
        else:
            report(Progress("sweep", 2 * i, steps, f"{variant.name}: converting"))
            t0 = time.perf_counter()
            converted = run_conversion(
                ConvertOptions(model_dir=model_dir, output_dir=out, replace=True,
                               **variant.convert_kwargs()),
                on_event=lambda e, n=variant.name, k=2 * i: report(Progress(
                    "sweep", k, steps, f"{n}: {e.message}")) if e.kind == "stage" else None,
                cancel=cancel,
                # core.verify checks plain int4 (one bit width, the asked symmetry); mixed
                # algorithms fail that by design: they are checked by running them below.
                verify=variant.algo == "default")
            row.convert_s = time.perf_counter() - t0
            if not converted.ok:
                row.error = ("cancelled" if converted.cancelled
                             else str(converted.error or "conversion failed"))
                continue
            write_json_atomic(out.with_name(out.name + ".json"), {
                "variant": variant.name, "model_hash": mhash, "options": variant.convert_kwargs(),
                "tools": _tool_versions(), "convert_s": round(row.convert_s, 2),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        row.size_bytes = model_size(out)
        emb = embedding_share(out)
        if emb is not None:
            row.embedding_bytes, row.embedding_type = emb
        is_ref = variant.name == result.reference
        if is_ref:
            ref_path = base / f"reference-{out.name}-{samples_file.stem}.npy"
            for old in base.glob("reference-*.npy"):  # one reference kept: they are large
                if old != ref_path:
                    old.unlink(missing_ok=True)
                    old.with_suffix(".json").unlink(missing_ok=True)
        report(Progress("sweep", 2 * i + 1, steps, f"{variant.name}: measuring"))
        try:
            m = _measure_in_child(out, domain, max_prompts, max_tokens,
                                  lambda text, n=variant.name, k=2 * i + 1: report(
                                      Progress("sweep", k, steps, f"{n}: {text}")),
                                  cancel, measure_timeout_s, ref_path,
                                  samples_file if is_ref else None, tokens)
        except SweepError as exc:
            row.error = str(exc)
            if is_ref:
                ref_path = None
            continue
        row.ok = True
        row.load_s, row.ttft_s, row.decode_tps = m["load_s"], m["ttft_s"], m["decode_tps"]
        row.peak_rss_bytes, row.domain_score = m["peak_rss_bytes"], m["domain_score"]
        f = m.get("fidelity")
        if f:
            row.mean_kld, row.p99_kld = f["mean_kld"], f["p99_kld"]
            row.top1_agreement, row.perplexity = f["top1_agreement"], f["perplexity"]
            row.fidelity_tokens, row.fidelity_s = f["tokens"], f["seconds"]
    rank_and_front(result.variants)
    result.recommended, result.runner_up, result.recommendation = recommend(
        result.variants, max_kld=max_kld, min_top1=min_top1, reference=result.reference)
    result.cancelled = cancel is not None and cancel.is_set()
    if result.cancelled:
        result.recommendation = "Cancelled: " + result.recommendation
    result.elapsed_s = time.perf_counter() - started
    report(Progress("sweep", steps, steps, "done"))
    return result


def _child_main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m slm_wizard.core.evaluate.sweep")
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("onnx_dir")
    m.add_argument("--domain")
    m.add_argument("--max-prompts", type=int, default=20)
    m.add_argument("--max-tokens", type=int, default=64)
    m.add_argument("--reference")
    m.add_argument("--samples")
    m.add_argument("--fidelity-tokens", type=int, default=0)
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(PROGRESS_PREFIX + text, flush=True)

    try:
        found = measure_variant(Path(args.onnx_dir), Path(args.domain) if args.domain else None,
                                args.max_prompts, args.max_tokens, say,
                                reference=Path(args.reference) if args.reference else None,
                                samples_file=Path(args.samples) if args.samples else None,
                                fidelity_tokens=args.fidelity_tokens)
    except Exception as exc:  # reported to the parent as the variant's error
        print(RESULT_PREFIX + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(RESULT_PREFIX + json.dumps(found), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
