"""Foundry Local vs onnxruntime-genai on the same converted model with the same generation
settings (greedy, the same max tokens, the same prompt), alternating runs.

The model: the Qwen2.5-0.5B-shaped INT4 model (bench/qwen_shape.py; random weights, so greedy
replies run to max tokens on both backends), deployed into a temporary Foundry Local cache.

Tokens are counted the same way for both: the reply text re-encoded by the model's tokenizer
(the Foundry Local SDK streams text chunks, not tokens: counting chunks undercounts). Decode
tok/s = tokens after the first / time after the first, from the times the text reaches Python.
Each backend runs in the bench's process (no child), so both pay the same Python costs.

Printed: decode tok/s of each (median over rounds), the ratio Foundry / onnxruntime-genai, TTFT,
whether both gave the same text (same greedy path), and chunks vs tokens for Foundry.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

PROMPT = "What is Lumo?"
SYSTEM = "You are the Lumo support assistant. Answer briefly."


def _timed(backend, settings) -> tuple[str, list[float], float, object]:
    """One reply: its text, the time each streamed piece arrived, the start, the stats."""
    times: list[float] = []
    start = time.perf_counter()
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    reply = backend.generate(messages, settings,
                             on_text=lambda piece: times.append(time.perf_counter()))
    return reply.text, times, start, reply.stats


def compare(model_dir: Path, n: int, rounds: int) -> None:
    import onnxruntime_genai as og

    from slm_wizard.core.deploy import foundry, foundry_sdk
    from slm_wizard.core.deploy.inference_model import ModelConfig
    from slm_wizard.core.deploy.templates import template_for
    from slm_wizard.core.runtime.chat import GenerationSettings
    from slm_wizard.core.runtime.foundry_backend import FoundryBackend
    from slm_wizard.core.runtime.ort_backend import OrtBackend

    settings = GenerationSettings(max_tokens=n)  # greedy (temperature 0), as both are asked
    tokenizer = og.Tokenizer(og.Model(str(model_dir)))

    def tokens(text: str) -> int:
        return len(tokenizer.encode(text))

    with tempfile.TemporaryDirectory(prefix="slm-bench-backends-") as tmp:
        src = Path(tmp) / "onnx"
        shutil.copytree(model_dir, src)
        cache = Path(tmp) / "cache"
        result = foundry.deploy(src, "bench-backends", "1", template_for("qwen"), ModelConfig(),
                                cache, max_tokens=4)
        if not result.ok:
            print(f"  deployment failed, skipped: {result.error}")
            return
        ort = OrtBackend(model_dir)
        fl = FoundryBackend(result.model_id, cache_dir=cache)
        _timed(ort, GenerationSettings(max_tokens=8))  # warm-up
        _timed(fl, GenerationSettings(max_tokens=8))
        sampled = GenerationSettings(max_tokens=n, temperature=0.7, top_p=0.9, top_k=50)
        runs = (("ort greedy", ort, settings), ("foundry greedy", fl, settings),
                ("ort sampled", ort, sampled), ("foundry sampled", fl, sampled))
        rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in runs}
        same: list[bool] = []
        chunks: list[tuple[int, int]] = []
        for _ in range(rounds):
            texts = {}
            for name, backend, how in runs:
                text, times, start, stats = _timed(backend, how)
                # Replies of random weights run to max tokens: then the count is exact.
                count = n if stats.finish_reason == "length" else tokens(text)
                decode = (count - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
                rows[name].append((decode, times[0] - start if times else 0.0, stats.decode_tps))
                texts[name] = text
                if name == "foundry greedy":
                    chunks.append((len(times), count))
            same.append(texts["ort greedy"] == texts["foundry greedy"])
        fl.close()
        ort.close()
        foundry.undeploy("bench-backends", "1", cache)
        foundry_sdk.close_manager()
    print(f"  {n} tokens per reply, {rounds} rounds alternating; greedy, then sampled as "
          "ModelConfig's defaults (temperature 0.7, top_p 0.9, top_k 50)")
    med = {name: statistics.median(d for d, _, _ in r) for name, r in rows.items()}
    for name, r in rows.items():
        print(f"  {name:<16}: decode {med[name]:6.1f} tok/s (tokens counted), TTFT "
              f"{statistics.median(t for _, t, _ in r) * 1000:5.0f} ms; as the backend counts: "
              f"{statistics.median(x for _, _, x in r):6.1f} tok/s")

    def ratio(a: str, b: str) -> float:
        return statistics.median(x[0] / y[0] for x, y in zip(rows[a], rows[b], strict=True))

    print(f"  ratio Foundry / onnxruntime-genai, same settings (greedy): "
          f"{ratio('foundry greedy', 'ort greedy'):.3f}")
    print(f"  ratio Foundry / onnxruntime-genai, same settings (sampled): "
          f"{ratio('foundry sampled', 'ort sampled'):.3f}")
    print(f"  ratio sampled / greedy on onnxruntime-genai: "
          f"{ratio('ort sampled', 'ort greedy'):.3f}")
    print(f"  ratio Foundry sampled / onnxruntime-genai greedy (the settings differing): "
          f"{ratio('foundry sampled', 'ort greedy'):.3f}")
    print(f"  same greedy text from both: {sum(same)}/{len(same)} rounds")
    c, t = chunks[-1]
    print(f"  Foundry streamed {c} text chunks for {t} tokens (counting chunks as tokens "
          f"reads {c / t:.2f} of the rate)")


def main() -> None:
    try:
        from bench.qwen_shape import build_realistic_model

        big = build_realistic_model()
    except Exception as e:  # a bench reports, it does not crash the others
        print(f"Qwen2.5-0.5B-shaped model could not be built, skipped: {e}")
        return
    print(f"Qwen2.5-0.5B shape (INT4, random weights): {big}")
    compare(big, n=128, rounds=5)


if __name__ == "__main__":
    main()
