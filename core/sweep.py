"""Precision sweep: convert one model to several precisions and measure each, side by side.

Variants are named `fp32`, `int8`, `int4` (block 32, symmetric: the builder's default) and
`int4-b<N>[-asym]` (e.g. `int4-b128-asym`). Each is converted with `core.convert`, then
measured in a fresh Python process (so load time and peak RSS belong to that variant alone):
size on disk, load time, TTFT, decode tokens/s, peak RSS, domain score, and agreement with fp32
(greedy replies compared token by token on the domain prompts).

The recommendation follows from the numbers: the smallest variant (then the fastest) whose
domain score stays within `score_tolerance` of fp32's, whose agreement with fp32 is at least
`min_agreement`, and which decodes at least about as fast as fp32.
"""

from __future__ import annotations

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

from slm_wizard.core.bench import Progress, ProgressFn
from slm_wizard.core.reports import Report, Table, slug

DEFAULT_VARIANTS: tuple[str, ...] = ("fp32", "int8", "int4", "int4-b128-asym")
# The guide's nominal size of each precision relative to the full-precision model.
NOMINAL_SIZE = {"fp32": 1.0, "fp16": 0.5, "int8": 0.25, "int4": 0.125}
RESULT_PREFIX = "SWEEP-RESULT "
PROGRESS_PREFIX = "SWEEP-PROGRESS "


class SweepError(ValueError):
    """Bad sweep input (a variant name, a folder); the message is for the user."""


@dataclass(frozen=True)
class Variant:
    name: str
    precision: str
    block_size: int = 32
    symmetric: bool = True

    def describe(self) -> str:
        if self.precision != "int4":
            return self.precision.upper()
        return f"INT4 block {self.block_size}, {'symmetric' if self.symmetric else 'asymmetric'}"


_VARIANT_RE = re.compile(r"^(fp32|fp16|int8|int4)(?:-b(\d+))?(?:-(sym|asym))?$")


def parse_variant(name: str) -> Variant:
    text = name.strip().lower()
    m = _VARIANT_RE.match(text)
    if not m:
        raise SweepError(f"unknown precision {name!r}: use fp32, int8, int4 or int4-b<block>"
                         "[-asym] (e.g. int4-b128-asym)")
    precision, block, sym = m.group(1), m.group(2), m.group(3)
    if precision != "int4" and (block or sym):
        raise SweepError(f"{name!r}: block size and symmetry apply to int4 only")
    size = int(block) if block else 32
    if size not in (16, 32, 64, 128, 256):
        raise SweepError(f"{name!r}: the int4 block size must be 16, 32, 64, 128 or 256")
    return Variant(text, precision, size, sym != "asym")


def parse_variants(text: str | Sequence[str]) -> list[Variant]:
    names = text.split(",") if isinstance(text, str) else list(text)
    variants = [parse_variant(n) for n in names if n.strip()]
    if not variants:
        raise SweepError("name at least one precision, e.g. fp32,int8,int4")
    seen: set[str] = set()
    unique = []
    for v in variants:
        if v.name not in seen:
            seen.add(v.name)
            unique.append(v)
    return unique


@dataclass
class VariantResult:
    name: str
    description: str
    precision: str
    output_dir: str = ""
    ok: bool = False
    error: str = ""
    convert_s: float | None = None
    size_bytes: int | None = None
    embedding_bytes: int | None = None  # the token embedding table (a precision may keep fp32)
    embedding_type: str = ""
    load_s: float | None = None
    ttft_s: float | None = None
    decode_tps: float | None = None
    peak_rss_mb: float | None = None
    domain_score: float | None = None
    agreement: float | None = None  # mean share of reply tokens equal to fp32's (prefix)
    exact_match: float | None = None  # share of replies identical to fp32's
    replies: list[list[str]] = field(default_factory=list)  # tokens of each domain reply


@dataclass
class SweepResult:
    model: str
    variants: list[VariantResult] = field(default_factory=list)
    recommended: str | None = None
    recommendation: str = ""
    prompts: int = 0
    elapsed_s: float = 0.0
    cancelled: bool = False

    def variant(self, name: str) -> VariantResult | None:
        return next((v for v in self.variants if v.name == name), None)

    def table(self) -> Table:
        base = self.variant("fp32")
        table = Table("variants", "Precision comparison",
                      ["variant", "size (MB)", "size vs fp32", "guide", "embeddings",
                       "load (s)", "TTFT (s)",
                       "decode tok/s", "peak RSS (MB)", "domain score", "agreement",
                       "status"])
        for v in self.variants:
            ratio = (v.size_bytes / base.size_bytes
                     if base and base.size_bytes and v.size_bytes else None)
            nominal = NOMINAL_SIZE.get(v.precision)
            table.rows.append([
                v.name, _round(v.size_bytes / 1e6 if v.size_bytes else None, 3),
                _round(ratio, 3), nominal, _embedding_cell(v), _round(v.load_s, 3),
                _round(v.ttft_s, 4),
                _round(v.decode_tps, 1), _round(v.peak_rss_mb, 1), _round(v.domain_score, 3),
                _round(v.agreement, 3),
                ("recommended" if v.name == self.recommended else "ok") if v.ok
                else f"failed: {v.error}",
            ])
        return table

    def to_report(self) -> Report:
        meta = {"model": self.model, "domain prompts": self.prompts,
                "recommendation": self.recommendation, "elapsed (s)": round(self.elapsed_s, 1)}
        notes = ["size vs fp32 is measured on disk; 'guide' is the nominal ratio the guide gives",
                 "embeddings: the element type of the token embedding table and its share of "
                 "the size (kept in fp32 it weighs as much as many quantized layers)",
                 "agreement: mean share of each greedy reply's tokens that match fp32's "
                 "(common prefix over the longer reply)"]
        data = {"variants": [{k: val for k, val in asdict(v).items() if k != "replies"}
                             for v in self.variants],
                "recommended": self.recommended}
        return Report("sweep", "Precision sweep", meta, [self.table()], notes, data)


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
                16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 21: 1, 22: 1}  # 21/22: 4-bit, packed in uint8


def embedding_share(folder: Path) -> tuple[int, str] | None:
    """(bytes, element type) of the token embedding table(s) in model.onnx, or None.

    Quantizers treat embeddings differently (onnxruntime-genai's int4 keeps them fp32, Olive's
    int8 quantizes them), which explains sizes that stray from the nominal ratios.
    """
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
    total, kinds = 0, set()
    for t in model.graph.initializer:
        if "embed" not in t.name.lower():
            continue
        n = 1
        for d in t.dims:
            n *= d
        total += n * _DTYPE_BYTES.get(t.data_type, 4)
        kinds.add(onnx.TensorProto.DataType.Name(t.data_type).lower())
    return (total, "/".join(sorted(kinds))) if total else None


def prefix_agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of tokens the two greedy replies have in common before they first differ."""
    if not a and not b:
        return 1.0
    same = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        same += 1
    return same / max(len(a), len(b))


def agreement(replies: Sequence[Sequence[str]],
              reference: Sequence[Sequence[str]]) -> tuple[float, float] | None:
    """(mean prefix agreement, exact-match share) against the reference replies."""
    pairs = list(zip(replies, reference, strict=False))
    if not pairs:
        return None
    mean = sum(prefix_agreement(a, b) for a, b in pairs) / len(pairs)
    exact = sum(1 for a, b in pairs if list(a) == list(b)) / len(pairs)
    return mean, exact


def recommend(variants: Sequence[VariantResult], *, score_tolerance: float = 0.05,
              min_agreement: float = 0.9, min_speed: float = 0.9) -> tuple[str | None, str]:
    """The smallest (then fastest) variant that keeps fp32's quality and speed, and why.

    Kept: domain score within `score_tolerance` of fp32's, agreement with fp32 at least
    `min_agreement`, decode at least `min_speed` × fp32's (a quantization that makes the
    model slower on this machine defeats its purpose). fp32 itself is always a candidate.
    """
    done = [v for v in variants if v.ok and v.size_bytes]
    if not done:
        return None, "no variant could be measured: nothing to recommend"
    base = next((v for v in done if v.precision == "fp32"), None)

    def verdict(v: VariantResult) -> str:
        if base is None or v is base:
            return ""
        if v.domain_score is not None and base.domain_score is not None \
                and v.domain_score < base.domain_score - score_tolerance:
            return f"domain score {v.domain_score:.0%} vs fp32 {base.domain_score:.0%}"
        if v.agreement is not None and v.agreement < min_agreement:
            return f"agreement with fp32 {v.agreement:.0%} < {min_agreement:.0%}"
        if v.decode_tps and base.decode_tps and v.decode_tps < min_speed * base.decode_tps:
            return (f"decodes slower than fp32 ({v.decode_tps:.0f} vs "
                    f"{base.decode_tps:.0f} tok/s)")
        return ""

    why_not = {v.name: verdict(v) for v in done}
    fit = [v for v in done if not why_not[v.name]]
    best = min(fit, key=lambda v: (v.size_bytes, -(v.decode_tps or 0.0)))
    parts = [f"{best.name} ({best.description})"]
    if base is not None and best is not base:
        parts.append(f"{base.size_bytes / best.size_bytes:.1f}× smaller than fp32")
        if best.decode_tps and base.decode_tps:
            parts.append(f"{best.decode_tps / base.decode_tps:.1f}× its decode speed "
                         f"({best.decode_tps:.0f} vs {base.decode_tps:.0f} tok/s)")
        if best.domain_score is not None and base.domain_score is not None:
            parts.append(f"domain score {best.domain_score:.0%} (fp32 {base.domain_score:.0%})")
        if best.agreement is not None:
            parts.append(f"{best.agreement:.0%} agreement with fp32")
    elif best.decode_tps:
        parts.append(f"{best.decode_tps:.0f} tok/s")
    text = "Recommended: " + ", ".join(parts) + "."
    rejected = [f"{name}: {why}" for name, why in why_not.items() if why]
    if rejected:
        text += " Left out: " + "; ".join(rejected) + "."
    if base is None:
        text += " (no fp32 reference was measured: quality was not compared)"
    return best.name, text


# ----------------------------------------------------------------------------- measuring


def _peak_rss_mb() -> float:
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
    return peak / 2**20


def measure_variant(onnx_dir: Path, domain_file: Path | None, max_prompts: int,
                    max_tokens: int = 64, say: Any = None) -> dict[str, Any]:
    """Load one converted model and measure it (runs in the child process)."""
    from slm_wizard.core.bench import BUILTIN_PROMPTS, run_benchmark
    from slm_wizard.core.chat import GenerationSettings, open_backend
    from slm_wizard.core.validate import answer_domain, check_domain, load_domain_cases

    say = say or (lambda text: None)
    t0 = time.perf_counter()
    backend = open_backend("ort", str(onnx_dir))
    load_s = time.perf_counter() - t0
    try:
        cases = load_domain_cases(domain_file)[:max_prompts] if domain_file else []
        say(f"answering {len(cases)} domain prompts")
        answers = answer_domain(backend, cases, settings=GenerationSettings(max_tokens=max_tokens))
        score = check_domain(answers).data.get("score") if cases else None
        prompts = [{"prompt": c.prompt, **({"system": c.system} if c.system else {})}
                   for c in cases[:4]] or list(BUILTIN_PROMPTS)
        say("timing")
        bench = run_benchmark(backend, prompts, warmup=1, repeats=2, lengths=None,
                              settings=GenerationSettings(max_tokens=max_tokens))
        summary = bench.summary()
        replies = [a.tokens for a in answers]
        if not cases:  # agreement on the built-in prompts, greedy
            for p in BUILTIN_PROMPTS:
                pieces: list[str] = []
                backend.generate([{"role": "user", "content": p["prompt"]}],
                                 GenerationSettings(max_tokens=max_tokens), on_text=pieces.append)
                replies.append(pieces)
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()
    return {
        "load_s": load_s,
        "ttft_s": summary["ttft_s"].median if summary["ttft_s"] else None,
        "decode_tps": summary["decode_tps"].median if summary["decode_tps"] else None,
        "peak_rss_mb": _peak_rss_mb(),
        "domain_score": score,
        "replies": replies,
    }


def _measure_in_child(onnx_dir: Path, domain_file: Path | None, max_prompts: int,
                      max_tokens: int, say: Any, cancel: threading.Event | None,
                      timeout_s: float) -> dict[str, Any]:
    from slm_wizard.core.proc import stream_command

    args = [sys.executable, "-m", "slm_wizard.core.sweep", "measure", str(onnx_dir),
            "--max-prompts", str(max_prompts), "--max-tokens", str(max_tokens)]
    if domain_file:
        args += ["--domain", str(domain_file)]
    found: dict[str, Any] = {}

    def on_line(line: str) -> None:
        if line.startswith(RESULT_PREFIX):
            found.update(json.loads(line[len(RESULT_PREFIX):]))
        elif line.startswith(PROGRESS_PREFIX):
            say(line[len(PROGRESS_PREFIX):])

    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    result = stream_command(args, on_line, cancel=cancel, timeout=timeout_s, env=env)
    if "error" in found:
        raise SweepError(found["error"])
    if not result.ok or not found:
        last = result.stdout.strip().splitlines()[-1:] if result.stdout.strip() else []
        raise SweepError(result.error or f"measuring failed: {' '.join(last) or 'no output'}")
    return found


def check_output_root(root: Path) -> None:
    """The sweep's output folder must be new or empty, or one a sweep made (it carries the
    slm-wizard marker; its variant folders are then replaced): SweepError otherwise. The marker
    is written as soon as the folder is accepted."""
    from slm_wizard.core.owned import FolderRefused, check_replaceable, write_marker

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


def run_sweep(
    model_dir: str | Path,
    variants: Sequence[str | Variant] = DEFAULT_VARIANTS,
    *,
    output_root: str | Path | None = None,
    domain_file: str | Path | None = None,
    max_prompts: int = 20,
    max_tokens: int = 64,
    method: str = "config",
    score_tolerance: float = 0.05,
    min_agreement: float = 0.9,
    measure_timeout_s: float = 1800.0,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> SweepResult:
    """Convert `model_dir` (a Hugging Face folder) to every variant, measure, compare.

    `method` "config" (Olive's config-file method) is the one that builds every variant,
    int8 and the int4 block/symmetry options included, so all rows are built the same way.
    """
    from slm_wizard.core.convert import ConvertOptions, run_conversion
    from slm_wizard.core.model_info import ModelFolderError, inspect_model
    from slm_wizard.core.paths import data_dir

    try:  # the whole folder is read before anything is converted
        model_dir = inspect_model(model_dir).path
    except ModelFolderError as exc:
        raise SweepError(str(exc)) from exc
    chosen = [v if isinstance(v, Variant) else parse_variant(v) for v in variants]
    if not chosen:
        raise SweepError("name at least one precision, e.g. fp32,int8,int4")
    if any(v.precision == "fp16" for v in chosen):
        raise SweepError("fp16 does not run on the CPU (onnxruntime's CPU provider has no fp16 "
                         "kernels): sweep fp32, int8 and int4 here")
    root = Path(output_root) if output_root else (
        data_dir() / "sweeps" / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug(model_dir.name)}")
    domain = Path(domain_file) if domain_file else None
    if domain is None and (model_dir / "domain_eval.jsonl").is_file():
        domain = model_dir / "domain_eval.jsonl"
    if domain is not None:
        from slm_wizard.core.validate import ValidateError, load_domain_cases

        try:
            n_prompts = len(load_domain_cases(domain)[:max_prompts])
        except ValidateError as exc:
            raise SweepError(str(exc)) from exc
    else:
        n_prompts = 0
    check_output_root(root)
    # fp32 first: the others are compared with it.
    chosen.sort(key=lambda v: v.precision != "fp32")
    result = SweepResult(str(model_dir), prompts=n_prompts)
    report = on_progress or (lambda p: None)
    started = time.perf_counter()
    steps = 2 * len(chosen)
    for i, variant in enumerate(chosen):
        if cancel is not None and cancel.is_set():
            break
        row = VariantResult(variant.name, variant.describe(), variant.precision)
        result.variants.append(row)
        out = root / variant.name
        row.output_dir = str(out)
        report(Progress("sweep", 2 * i, steps, f"{variant.name}: converting"))
        kwargs: dict[str, Any] = {"model_dir": model_dir, "output_dir": out,
                                  "precision": variant.precision, "replace": True}
        if variant.precision == "int4":
            kwargs.update(block_size=variant.block_size, symmetric=variant.symmetric)
        kwargs["method"] = method
        t0 = time.perf_counter()
        converted = run_conversion(ConvertOptions(**kwargs), cancel=cancel)
        row.convert_s = time.perf_counter() - t0
        if not converted.ok:
            row.error = str(converted.error or "conversion failed")
            continue
        out = Path(converted.output_dir)
        row.output_dir = str(out)
        row.size_bytes = model_size(out)
        emb = embedding_share(out)
        if emb is not None:
            row.embedding_bytes, row.embedding_type = emb
        report(Progress("sweep", 2 * i + 1, steps, f"{variant.name}: measuring"))
        try:
            m = _measure_in_child(out, domain, max_prompts, max_tokens,
                                  lambda text, n=variant.name, k=2 * i + 1: report(
                                      Progress("sweep", k, steps, f"{n}: {text}")),
                                  cancel, measure_timeout_s)
        except SweepError as exc:
            row.error = str(exc)
            continue
        row.ok = True
        row.load_s, row.ttft_s, row.decode_tps = m["load_s"], m["ttft_s"], m["decode_tps"]
        row.peak_rss_mb, row.domain_score = m["peak_rss_mb"], m["domain_score"]
        row.replies = m["replies"]
    base = result.variant("fp32")
    for row in result.variants:
        if row.ok and base is not None and base.ok:
            pair = agreement(row.replies, base.replies)
            if pair is not None:
                row.agreement, row.exact_match = pair
    result.recommended, result.recommendation = recommend(
        result.variants, score_tolerance=score_tolerance, min_agreement=min_agreement)
    result.cancelled = cancel is not None and cancel.is_set()
    result.elapsed_s = time.perf_counter() - started
    report(Progress("sweep", steps, steps, "done"))
    return result


def _child_main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m core.sweep")
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("onnx_dir")
    m.add_argument("--domain")
    m.add_argument("--max-prompts", type=int, default=20)
    m.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(PROGRESS_PREFIX + text, flush=True)

    try:
        found = measure_variant(Path(args.onnx_dir), Path(args.domain) if args.domain else None,
                                args.max_prompts, args.max_tokens, say)
    except Exception as exc:  # reported to the parent as the variant's error
        print(RESULT_PREFIX + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(RESULT_PREFIX + json.dumps(found), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
