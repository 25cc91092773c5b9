"""Chat speed: decode tokens/s through core/runtime/chat.py (in process), through the child
process the Chat step uses (core/runtime/genproc.py) and through the Chat screen (headless
run_test; its model runs in the child) versus a bare onnxruntime-genai loop on the same model
and settings, measured in the same run; and the CPU cost of the metrics sampler at 4 Hz.

Goals: core/runtime/chat.py >= 0.98 of the bare loop; the Chat screen >= 0.97 on the
Qwen2.5-0.5B shape and >= 0.90 on the demo; the sampler <= 1 % of a core.
Models: the demo model (INT4) and a Qwen2.5-0.5B-shaped model with random weights (INT4, built
once by bench/qwen_shape.py; skipped with a message if it cannot be built).

Every run generates exactly N tokens (greedy, end of sequence suppressed with min_length), from
the same prompt; runs alternate between the three ways and the median of each is compared.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

from bench._common import converted_record, demo_onnx

PROMPT = "What is Lumo?"
SYSTEM = "You are the Lumo support assistant. Answer briefly."



def bare_loop(model_dir: Path, n: int, og_model=None) -> float:
    """Decode tokens/s of the plain streaming loop from onnxruntime-genai's examples."""
    import onnxruntime_genai as og

    model = og_model or og.Model(str(model_dir))
    tok = og.Tokenizer(model)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    ids = tok.encode(tok.apply_chat_template(json.dumps(messages), add_generation_prompt=True))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + n, min_length=len(ids) + n, do_sample=False)
    gen = og.Generator(model, params)
    stream = tok.create_stream()
    gen.append_tokens(ids)
    count, first, last = 0, 0.0, 0.0
    while not gen.is_done():
        gen.generate_next_token()
        stream.decode(gen.get_next_tokens()[0])
        last = time.perf_counter()
        count += 1
        if count == 1:
            first = last
    return (count - 1) / (last - first)


def chat_core(backend, n: int) -> float:
    from slm_wizard.core.runtime.chat import ChatSession, GenerationSettings

    session = ChatSession(backend, system_prompt=SYSTEM,
                          settings=GenerationSettings(max_tokens=n, min_tokens=n))
    parts: list[str] = []
    reply = session.send(PROMPT, on_text=parts.append)
    assert reply.stats.generated_tokens == n, reply.stats
    return reply.stats.decode_tps


def chat_child(backend, n: int) -> float:
    return chat_core(backend, n)


class ScreenRunner:
    """The Chat screen in a headless app, kept open across runs."""

    def __init__(self, model_dir: Path, n: int) -> None:
        self.model_dir, self.n = model_dir, n

    async def run(self, rounds: int, between) -> list[float]:
        from textual.widgets import Input

        from slm_wizard.core.runtime.chat import GenerationSettings
        from slm_wizard.tui.app import WizardApp

        app = WizardApp(state=converted_record(self.model_dir), start="chat")
        rates: list[float] = []
        async with app.run_test(size=(100, 32)) as pilot:
            screen = app.screen
            deadline = time.monotonic() + 120
            while screen.session is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the Chat screen did not load the model: "
                                       + str(screen.query_one("#chat-status").content))
                await pilot.pause(0.05)
            for _ in range(rounds):
                between()
                screen.session.reset()
                screen.session.system_prompt = SYSTEM
                screen.session.settings = GenerationSettings(max_tokens=self.n,
                                                             min_tokens=self.n)
                before = screen.replies
                prompt = screen.query_one("#prompt", Input)
                prompt.value = PROMPT
                await prompt.action_submit()
                deadline = time.monotonic() + 600
                while screen.replies == before:
                    if time.monotonic() > deadline or (
                            not screen.generating and screen.session is None):
                        raise RuntimeError("the Chat screen gave no reply: "
                                           + str(screen.query_one("#chat-status").content))
                    await asyncio.sleep(0.02)
                stats = screen.last_reply.stats
                assert stats.generated_tokens == self.n, stats
                rates.append(stats.decode_tps)
                await pilot.pause(0.1)
        return rates


def compare(label: str, model_dir: Path, n: int, rounds: int, screen_goal: float) -> None:
    import onnxruntime_genai as og

    from slm_wizard.core.steps import chat as step

    print(f"\n{label}: {model_dir}")
    print(f"  {n} tokens per reply, greedy, {rounds} rounds alternating")
    og_model = og.Model(str(model_dir))
    backend = step.open_backend(step.Options(str(model_dir), in_process=True))
    child = step.open_backend(step.Options(str(model_dir)))  # as the CLI and the screen do
    bare_loop(model_dir, min(n, 32), og_model)  # warm-up
    chat_core(backend, min(n, 32))
    chat_child(child, min(n, 32))
    bare: list[float] = []
    core: list[float] = []
    kid: list[float] = []
    bare2: list[float] = []
    for _ in range(rounds):  # each run right after a bare run: pairs see the same load
        bare.append(bare_loop(model_dir, n, og_model))
        core.append(chat_core(backend, n))
        bare2.append(bare_loop(model_dir, n, og_model))
        kid.append(chat_child(child, n))
    backend.close()
    child.close()
    # The screen holds its own model; a bare run goes right before each of its replies.
    screen_bare: list[float] = []
    screen = asyncio.run(ScreenRunner(model_dir, n).run(
        rounds, lambda: screen_bare.append(bare_loop(model_dir, n, og_model))))
    everything = bare + bare2 + screen_bare
    b = statistics.median(everything)
    c, k, s = statistics.median(core), statistics.median(kid), statistics.median(screen)
    rc = statistics.median(x / y for x, y in zip(core, bare, strict=True))
    rk = statistics.median(x / y for x, y in zip(kid, bare2, strict=True))
    rs = statistics.median(x / y for x, y in zip(screen, screen_bare, strict=True))
    ok = "met" if rs >= screen_goal else "NOT met"
    print(f"  bare onnxruntime-genai loop       : {b:9.1f} tok/s (median of {len(everything)})")
    print(f"  runtime/chat.py (in process)      : {c:9.1f} tok/s  ratio {rc:.3f} (goal >= 0.98)")
    print(f"  runtime/genproc.py (child)        : {k:9.1f} tok/s  ratio {rk:.3f}")
    print(f"  Chat screen (run_test, child)     : {s:9.1f} tok/s  ratio {rs:.3f} "
          f"(goal >= {screen_goal:.2f}: {ok})")
    each = ", ".join(f"{x / y:.3f}" for x, y in zip(screen, screen_bare, strict=True))
    print(f"  Chat screen runs: {each}")
    print("  (ratio: median over rounds of the run / the bare run just before it; decode tok/s "
          "= tokens after the first / time after the first)")


def sampler_cost(seconds: float = 10.0) -> None:
    from slm_wizard.core.runtime.metrics import ProcessSampler

    sampler = ProcessSampler(interval=0.25)
    t0 = time.perf_counter()
    with sampler:
        time.sleep(seconds)
    wall = time.perf_counter() - t0
    n = len(sampler.snapshot())
    pct = 100 * sampler.own_cpu_s / wall
    print(f"\nmetrics sampler at 4 Hz: {n} samples in {wall:.1f} s, its thread used "
          f"{sampler.own_cpu_s * 1000:.1f} ms of CPU = {pct:.3f} % of a core (goal <= 1 %)")


def main() -> None:
    sampler_cost()
    try:
        demo = demo_onnx("chat")
    except Exception as e:  # a bench reports, it does not crash the others
        print(f"demo model unavailable, skipped: {e}")
    else:
        compare("demo model (INT4, ~1 M parameters)", demo, n=1800, rounds=11, screen_goal=0.90)
    try:
        from bench.qwen_shape import build_realistic_model

        print("\nQwen2.5-0.5B shape: building or reusing the cached model…", flush=True)
        big = build_realistic_model(lambda s: print(f"  {s}", flush=True))
    except Exception as e:
        print(f"Qwen2.5-0.5B-shaped model could not be built, skipped: {e}")
        return
    compare("Qwen2.5-0.5B shape (INT4, random weights)", big, n=128, rounds=5, screen_goal=0.97)


if __name__ == "__main__":
    main()
