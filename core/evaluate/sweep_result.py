"""The sweep's result: each variant's figures, the stated rule that recommends one (limits,
Pareto front, ranking), and how the result is shown (table, report, text and SVG plots).

The recommendation follows a stated rule (`rule_text`): the smallest variant whose mean KLD and
top-1 agreement stay within the limits, ties broken by decode speed; the runner-up is the next
one the rule would pick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from slm_wizard.core.base.reports import Report, Table
from slm_wizard.core.base.units import MB, human_bytes

MAX_KLD = 0.05  # mean KL divergence from fp32 (llama.cpp's Q4_K_M on 7-8B models: ~0.03)
MIN_TOP1 = 0.90  # share of answer tokens whose top token is fp32's
# The guide's nominal size of each precision relative to the full-precision model.
NOMINAL_SIZE = {"fp32": 1.0, "fp16": 0.5, "int8": 0.25, "int4": 0.125}


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
                v.name, _round(v.size_bytes / MB if v.size_bytes else None, 3),
                _round(ratio, 3), NOMINAL_SIZE.get(v.precision), _embedding_cell(v),
                _round(v.mean_kld, 6), _round(v.p99_kld, 6), _round(v.top1_agreement, 4),
                _round(v.perplexity, 4), _round(v.decode_tps, 1), _round(v.ttft_s, 4),
                _round(v.peak_rss_bytes / MB if v.peak_rss_bytes else None, 1),
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
        parts = [human_bytes(v.size_bytes)]
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
    """The plotted points; `size_mb` (like the table's MB columns) is bytes / units.MB (binary)."""
    return [{"name": v.name, "size_mb": round(v.size_bytes / MB, 4),
             "mean_kld": v.mean_kld, "decode_tps": v.decode_tps, "pareto": v.pareto}
            for v in result.variants if v.measured]


def plot_text(result: SweepResult, width: int = 56, height: int = 12) -> str:
    """A character plot: size (MB, x) against mean KLD (y), each point numbered; tok/s in the
    legend. Pareto points are marked with *."""
    pts = [v for v in result.ranked() if v.measured]
    if not pts:
        return "(nothing measured to plot)"
    xs = [v.size_bytes / MB for v in pts]
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
        lines.append(f"  {labels[v.name]}{star} {v.name:<22} {v.size_bytes / MB:8.3f} MB  "
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
        xs = [v.size_bytes / MB for v in pts]
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
