"""The endpoint of `slm-wizard serve` against Foundry Local in process, same model and prompt.

Three ways to the same deployed model, alternating runs, each streamed and timed where the text
reaches the client's Python:
- in process: core's Foundry Local backend (foundry-local-sdk's chat client in this process);
- endpoint: the real `openai` client against the serve step's base URL (the child process's
  measuring relay in front of Foundry Local's web service);
- direct: the same client against Foundry Local's web service itself (behind the relay, on
  loopback), so the relay's own cost shows apart.

Tokens are counted the same way for all (the reply re-encoded by the model's tokenizer; greedy, the
same max tokens). Decode tok/s = tokens after the first / time after the first.
Printed: decode tok/s and TTFT of each (median over rounds); endpoint decode ÷ in process (goal
>= 0.95 on the Qwen2.5-0.5B shape); added TTFT, endpoint - in process and endpoint - direct
(goal <= 20 ms, median over rounds); what the relay itself measured for the same requests.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench._common import demo_onnx

PROMPT = "What is Lumo?"
SYSTEM = "You are the Lumo support assistant. Answer briefly."
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]


def _http(client, model_id: str, n: int) -> tuple[str, list[float], float]:
    times: list[float] = []
    parts: list[str] = []
    start = time.perf_counter()
    stream = client.chat.completions.create(model=model_id, messages=MESSAGES, max_tokens=n,
                                            temperature=0.0, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            times.append(time.perf_counter())
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts), times, start


def _in_process(backend, n: int) -> tuple[str, list[float], float]:
    from slm_wizard.core.runtime.chat import GenerationSettings

    times: list[float] = []
    start = time.perf_counter()
    reply = backend.generate(MESSAGES, GenerationSettings(max_tokens=n),
                             on_text=lambda piece: times.append(time.perf_counter()))
    return reply.text, times, start


def compare(label: str, model_dir: Path, n: int, rounds: int) -> None:
    from openai import OpenAI

    from slm_wizard.core.deploy import foundry, foundry_sdk
    from slm_wizard.core.deploy.inference_model import ModelConfig
    from slm_wizard.core.deploy.template_check import tokenizer_encoder
    from slm_wizard.core.deploy.templates import template_for
    from slm_wizard.core.runtime.foundry_backend import FoundryBackend
    from slm_wizard.core.runtime.serveproc import ServiceProcess

    print(f"{label}: {model_dir}", flush=True)
    encode = tokenizer_encoder(model_dir)
    with tempfile.TemporaryDirectory(prefix="slm-bench-serve-") as tmp:
        src, cache = Path(tmp) / "onnx", Path(tmp) / "cache"
        shutil.copytree(model_dir, src)
        deployed = foundry.deploy(src, "bench-serve", "1", template_for("qwen"), ModelConfig(),
                                  cache, max_tokens=4)
        if not deployed.ok:
            print(f"  deployment failed, skipped: {deployed.error}")
            return
        service = ServiceProcess(deployed.model_id, cache, "127.0.0.1", 0)
        inproc = FoundryBackend(deployed.model_id, cache_dir=cache)
        endpoint = OpenAI(base_url=service.base_url, api_key="x", max_retries=0, timeout=600)
        direct = OpenAI(base_url=service.upstream, api_key="x", max_retries=0, timeout=600)
        ways = {"in process": lambda: _in_process(inproc, n),
                "endpoint": lambda: _http(endpoint, deployed.model_id, n),
                "direct": lambda: _http(direct, deployed.model_id, n)}
        try:
            for way in ways.values():  # warm-up
                way()
            rows: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
            for _ in range(rounds):
                for name, way in ways.items():
                    text, times, start = way()
                    count = len(encode(text)) if encode and text else len(times)
                    decode = (count - 1) / (times[-1] - times[0]) if len(times) > 1 and \
                        times[-1] > times[0] else float("nan")
                    rows[name].append((decode, times[0] - start if times else float("nan")))
            relay: list[dict] = []
            while (event := service.next_event(0.5)) is not None and event["event"] == "request":
                relay.append(event)
        finally:
            endpoint.close()
            direct.close()
            inproc.close()
            service.stop()
            foundry_sdk.close_manager()
    print(f"  {n} max tokens, greedy, {rounds} rounds alternating (+1 warm-up)")
    for name, r in rows.items():
        print(f"  {name:<10}: decode {statistics.median(d for d, _ in r):7.1f} tok/s, TTFT "
              f"{statistics.median(t for _, t in r) * 1000:6.1f} ms")
    ratio = statistics.median(e[0] / i[0] for e, i in zip(rows["endpoint"], rows["in process"],
                                                           strict=True))
    added = statistics.median(e[1] - i[1] for e, i in zip(rows["endpoint"], rows["in process"],
                                                           strict=True))
    relay_cost = statistics.median(e[1] - d[1] for e, d in zip(rows["endpoint"], rows["direct"],
                                                               strict=True))
    print(f"  endpoint decode ÷ in process: {ratio:.3f} (goal >= 0.95 on the 0.5B shape)")
    print(f"  added TTFT, endpoint - in process: {added * 1000:+.1f} ms (goal <= 20 ms)")
    print(f"  added TTFT, endpoint - direct (the relay itself): {relay_cost * 1000:+.1f} ms")
    measured = [e for e in relay if e.get("ttft_s") is not None]
    if measured:
        print(f"  the relay measured {len(measured)} streamed requests: TTFT median "
              f"{statistics.median(e['ttft_s'] for e in measured) * 1000:.1f} ms, decode median "
              f"{statistics.median(e['decode_tps'] or 0 for e in measured):.1f} tok/s")


def main() -> None:
    try:
        demo = demo_onnx("serve")
    except Exception as e:  # a bench reports, it does not crash the others
        print(f"demo model unavailable, skipped: {e}")
    else:
        compare("demo model (INT4, ~1 M parameters)", demo, n=256, rounds=9)
    try:
        from bench.qwen_shape import build_realistic_model

        print("\nQwen2.5-0.5B shape: building or reusing the cached model…", flush=True)
        big = build_realistic_model(lambda s: print(f"  {s}", flush=True))
    except Exception as e:
        print(f"Qwen2.5-0.5B-shaped model could not be built, skipped: {e}")
        return
    compare("Qwen2.5-0.5B shape (INT4, random weights)", big, n=128, rounds=5)


if __name__ == "__main__":
    main()
