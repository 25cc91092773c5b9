"""Measuring one converted variant in a fresh Python process (load time and peak RSS belong to
that variant alone): size on disk, TTFT, decode tok/s, peak RSS, domain score, and fidelity
against the fp32 reference (core/evaluate/fidelity.py).

The parent runs `python -m slm_wizard.core.evaluate.sweep_measure measure ...` and reads the
child's progress and result lines.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slm_wizard.core.evaluate.sweep_variants import SweepError

RESULT_PREFIX = "SWEEP-RESULT "
PROGRESS_PREFIX = "SWEEP-PROGRESS "


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
    from slm_wizard.core.runtime.backends import open_backend
    from slm_wizard.core.runtime.chat import GenerationSettings

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


def measure_in_child(onnx_dir: Path, domain_file: Path | None, max_prompts: int,
                      max_tokens: int, say: Any, cancel: threading.Event | None,
                      timeout_s: float, reference: Path | None, samples_file: Path | None,
                      fidelity_tokens: int) -> dict[str, Any]:
    from slm_wizard.core.base.proc import stream_command

    args = [sys.executable, "-m", "slm_wizard.core.evaluate.sweep_measure", "measure",
            str(onnx_dir), "--max-prompts", str(max_prompts), "--max-tokens", str(max_tokens),
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



def _child_main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m slm_wizard.core.evaluate.sweep_measure")
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
