"""Every reply says why it ended (issue 14 item 8): end of sequence, max tokens, context full,
stopped by you — in the reply's summary line (the chat transcript) and in `chat --json`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from slm_wizard.core.runtime.chat import GenerationSettings
from slm_wizard.core.runtime.metrics import FINISH_REASONS, STOP_REASONS, ReplyClock
from slm_wizard.core.runtime.ort_backend import OrtBackend


@pytest.mark.parametrize("reason, words", [("eos", "end of sequence"), ("length", "max tokens"),
                                           ("context", "context full"),
                                           ("cancelled", "stopped by you")])
def test_every_finish_reason_is_said_in_words(reason: str, words: str) -> None:
    clock = ReplyClock()
    clock.token()
    st = clock.stats(prompt_tokens=5, finish_reason=reason)
    assert st.stop_reason == words
    assert st.summary().endswith(f"· {words}")  # the transcript's line under each reply
    assert st.to_dict()["stop_reason"] == words  # chat --json
    assert set(STOP_REASONS) == set(FINISH_REASONS)


@pytest.fixture(scope="module")
def ort(demo_onnx: Path) -> OrtBackend:
    return OrtBackend(demo_onnx)


def _messages(demo_model: Path) -> list[dict[str, str]]:
    from slm_wizard.core.model.demo import load_domain_eval

    row = load_domain_eval(demo_model / "domain_eval.jsonl")[0]
    return [{"role": "system", "content": row["system"]},
            {"role": "user", "content": row["prompt"]}]


def test_real_replies_say_max_tokens_context_full_and_stopped(ort: OrtBackend,
                                                              demo_model: Path) -> None:
    messages = _messages(demo_model)
    reply = ort.generate(messages, GenerationSettings(max_tokens=3))
    assert reply.stats.finish_reason == "length" and reply.stats.stop_reason == "max tokens"
    # The context is full before max tokens: a model that takes only 2 tokens more.
    n_prompt = ort.count_tokens(messages)
    full = ort.max_length
    try:
        ort.max_length = n_prompt + 2
        reply = ort.generate(messages, GenerationSettings(max_tokens=64))
    finally:
        ort.max_length = full
    assert reply.stats.generated_tokens == 2
    assert reply.stats.stop_reason == "context full", reply.stats
    cancel = threading.Event()
    cancel.set()
    reply = ort.generate(messages, GenerationSettings(max_tokens=64), cancel=cancel)
    assert reply.stats.stop_reason == "stopped by you"
    assert "stopped by you" in reply.stats.summary()
