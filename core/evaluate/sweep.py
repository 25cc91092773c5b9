"""Quantization advisor: convert one model to several variants, measure each, recommend one.

The variants (fp32, int8, int4 with its algorithms, block sizes, symmetry and embedding) and
their names are core/evaluate/sweep_variants.py's.

Each variant is converted once and cached by (model content, options, tool versions) under
`<cache>/sweep/<model hash>/`; then measured in a fresh Python process (load time and peak RSS
belong to that variant alone): size on disk, TTFT, decode tok/s, peak RSS, domain score, and
fidelity against fp32 teacher forced through the domain set's reference answers (core.fidelity:
mean and 99th-percentile KL divergence, top-1 agreement, perplexity), or through a built-in
neutral text set when there is no domain data (`domain_source` says which).

The recommendation follows a stated rule (`rule_text`): the smallest variant whose mean KLD and
top-1 agreement stay within the limits, ties broken by decode speed; the runner-up is the next
one the rule would pick.

The parts: core/evaluate/sweep_variants.py (names and presets), sweep_cache.py (converted
variants kept), sweep_measure.py (one variant measured in a child process), sweep_result.py
(the rule, the table and the plots); this module runs a sweep through them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import onnx_size
from slm_wizard.core.evaluate.bench import Progress, ProgressFn
from slm_wizard.core.evaluate.sweep_cache import (
    cached_variant,
    default_cache_root,
    model_hash,
    tool_versions,
    variant_folder,
)
from slm_wizard.core.evaluate.sweep_measure import embedding_share, measure_in_child
from slm_wizard.core.evaluate.sweep_result import (
    MAX_KLD,
    MIN_TOP1,
    SweepResult,
    VariantResult,
    rank_and_front,
    recommend,
    rule_text,
)
from slm_wizard.core.evaluate.sweep_variants import (
    DEFAULT_VARIANTS,
    SweepError,
    Variant,
    parse_variant,
)
from slm_wizard.core.model.model_info import DOMAIN_FILE


def check_output_root(root: Path, inputs: tuple[Path, ...] = ()) -> None:
    """The sweep's cache folder must be new or empty, or one a sweep made (it carries the
    slm-wizard marker): SweepError otherwise. The marker is written as soon as the folder is
    accepted."""
    from slm_wizard.core.base.owned import FolderRefused, check_replaceable, write_marker

    try:
        check_replaceable(root, confirmed=True, flag="--output", inputs=inputs)
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
                 f"line) or a {DOMAIN_FILE} next to the model")


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
    if domain is None and (model_dir / DOMAIN_FILE).is_file():
        domain = model_dir / DOMAIN_FILE
    samples, source = fidelity_samples(domain)
    n_prompts = 0
    if domain is not None:
        from slm_wizard.core.evaluate.validate import load_domain_cases

        n_prompts = len(load_domain_cases(domain)[:max_prompts])
    check_output_root(root, (model_dir,))
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
                    "sweep", k, steps, f"{n}: {e.text}")) if e.phase == "stage" else None,
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
                "tools": tool_versions(), "convert_s": round(row.convert_s, 2),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        row.size_bytes = onnx_size(out)
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
            m = measure_in_child(out, domain, max_prompts, max_tokens,
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
