"""Benchmark and checklist figures (not tests): the demo model and, when it can be built, a
Qwen2.5-0.5B-shaped INT4 model (bench/qwen_shape.py). Prints the benchmark medians, decode
tok/s per input length, the soak's growth per 100 generations, the seconds each check takes,
and what measuring costs (the per-run sampler). No goal: figures to set thresholds by.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench._common import demo_onnx


def _one(label: str, onnx: Path, soak: int) -> None:
    """Through the same step runners as the wizard and the CLI (one loaded model shared)."""
    import tempfile

    from slm_wizard.core.evaluate.validate import LABEL
    from slm_wizard.core.runtime.backends import open_backend
    from slm_wizard.core.steps import bench as bench_step
    from slm_wizard.core.steps import checklist as checklist_step

    t0 = time.perf_counter()
    backend = open_backend("ort", onnx)
    print(f"{label}: loaded in {time.perf_counter() - t0:.2f} s (max_length {backend.max_length})")
    reports = tempfile.mkdtemp(prefix="b_validate-")
    try:
        opts = bench_step.Options(str(onnx), repeats=2, lengths=(16, 64, 256, 1024),
                                  max_tokens=32, report_dir=reports)
        bench = bench_step.run(opts, backend=backend).bench
        s = bench.summary()
        print(f"  prompt set: TTFT median {s['ttft_s'].median * 1000:.1f} ms, decode median "
              f"{s['decode_tps'].median:.1f} tok/s (stdev {s['decode_tps'].stdev:.1f}), "
              f"peak RSS {s['peak_rss_mb'].max:.0f} MB, CPU {s['cpu_percent'].median:.0f} %")
        for p in bench.lengths:
            print(f"  {p.prompt_tokens:5d} prompt tokens: TTFT {p.ttft_s.median * 1000:7.1f} ms, "
                  f"decode {p.decode_tps.median:8.1f} tok/s")
        print(f"  benchmark: {bench.elapsed_s:.1f} s")
        copts = checklist_step.Options(str(onnx), soak=soak, lengths=(16, 1024), repeats=1,
                                       checks=("leak", "consistency", "edge_cases"),
                                       report_dir=reports)
        result = checklist_step.run(copts, backend=backend).checklist
        for c in result.checks:
            print(f"  {c.id:12s} {LABEL[c.status]:4s} {c.found:40s} {c.seconds:6.1f} s")
    finally:
        backend.close()


def _meter_cost() -> None:
    from slm_wizard.core.evaluate.bench import _Meter

    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        with _Meter():
            pass
    print(f"per-run meter (sampler start/stop): {(time.perf_counter() - t0) / n * 1000:.2f} ms")


def main() -> None:
    _meter_cost()
    _one("demo (0.66 M params, int4)", demo_onnx("validate"), soak=100)
    try:
        from bench.qwen_shape import build_realistic_model

        onnx = build_realistic_model(print)
    except Exception as exc:  # figures for the demo are still worth printing
        print(f"Qwen2.5-0.5B shape skipped: {exc}")
        return
    _one("Qwen2.5-0.5B shape (494 M params, int4)", onnx, soak=30)


if __name__ == "__main__":
    main()
