"""Quantization advisor costs (issue 16's goals, printed, not asserted):

1. the quick preset on the demo model from an empty cache (conversions included): goal ≤ 180 s
   on 2 cores; then the same again from the cache;
2. the fidelity pass of one variant (INT4) of the Qwen2.5-0.5B shape against its FP32
   reference, on the demo's domain answers (up to 1024 answer tokens): goal ≤ 60 s.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path


def _quick_on_demo() -> None:
    from slm_wizard.core.evaluate.sweep import run_sweep
    from slm_wizard.core.evaluate.sweep_variants import PRESETS
    from slm_wizard.core.model.demo import build_demo_model

    hf = build_demo_model()
    root = Path(tempfile.mkdtemp(prefix="b_sweep-"))
    try:
        for label in ("empty cache", "from the cache"):
            t0 = time.perf_counter()
            result = run_sweep(hf, PRESETS["quick"], output_root=root)
            took = time.perf_counter() - t0
            goal = " (goal ≤ 180 s)" if label == "empty cache" else ""
            print(f"quick preset on the demo, {label}: {took:.1f} s{goal}, "
                  f"recommended {result.recommended}")
        for v in result.ranked():
            kld = f"{v.mean_kld:.3g}" if v.mean_kld is not None else "–"
            print(f"  {v.name:<20} {(v.size_bytes or 0) / 1e6:7.3f} MB  mean KLD {kld:<9} "
                  f"top-1 {v.top1_agreement or 0:.3f}  {v.decode_tps or 0:7.0f} tok/s  "
                  f"convert {v.convert_s or 0:.1f} s  fidelity {v.fidelity_s or 0:.2f} s"
                  + ("" if v.ok else f"  FAILED: {v.error}"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _fidelity_on_qwen_shape() -> None:
    from bench.qwen_shape import build_fp32_reference, build_realistic_model, folder
    from slm_wizard.core.evaluate import fidelity as fid
    from slm_wizard.core.evaluate.validate import load_domain_cases
    from slm_wizard.core.model.demo import build_demo_model
    from slm_wizard.core.model.model_info import DOMAIN_FILE

    try:
        int4 = build_realistic_model(lambda s: print(f"  [qwen shape] {s}", flush=True))
        fp32 = build_fp32_reference(lambda s: print(f"  [qwen shape] {s}", flush=True))
    except Exception as exc:  # noqa: BLE001 - a bench prints what it could not do
        print(f"Qwen2.5-0.5B shape: could not be built ({exc}); skipped")
        return
    cases = load_domain_cases(build_demo_model() / DOMAIN_FILE)
    samples = [fid.Sample.of(c.prompt, c.expected, c.system) for c in cases if c.expected]
    ref_path = folder() / f"reference-{fid.samples_key(samples, fid.MAX_TOKENS)}.npy"
    ref = fid.Reference.load(ref_path)
    if ref is None:
        t0 = time.perf_counter()
        ref = fid.build_reference(fp32, samples, ref_path)
        print(f"Qwen2.5-0.5B shape: FP32 reference log-probs ({ref.tokens} tokens x "
              f"{ref.vocab}) built in {time.perf_counter() - t0:.1f} s (once per model and set)")
    result = fid.compare(int4, ref)
    print(f"Qwen2.5-0.5B shape: fidelity pass of INT4 against FP32: {result.seconds:.1f} s for "
          f"{result.tokens} answer tokens in {result.samples} answers (goal ≤ 60 s); mean KLD "
          f"{result.mean_kld:.4g}, p99 {result.p99_kld:.4g}, top-1 {result.top1_agreement:.3f}")


def main() -> None:
    _quick_on_demo()
    _fidelity_on_qwen_shape()


if __name__ == "__main__":
    main()
