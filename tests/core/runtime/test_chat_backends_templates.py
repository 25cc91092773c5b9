"""Chat on both backends (onnxruntime-genai and Foundry Local) with respect to the template
issues: exact generated-token counts on the Foundry backend (the same count as onnxruntime-genai
for the same model, prompt and greedy settings), and a model without a system role refuses a
system prompt with advice instead of a template error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slm_wizard.core.deploy import foundry, foundry_sdk
from slm_wizard.core.deploy.inference_model import ModelConfig
from slm_wizard.core.deploy.templates import template_for
from slm_wizard.core.model.demo import load_domain_eval
from slm_wizard.core.runtime.backends import open_backend
from slm_wizard.core.runtime.chat import ChatError, ChatSession, GenerationSettings

GREEDY = GenerationSettings(max_tokens=24, temperature=0.0)
# Gemma-2's own rule: its chat template refuses a system message.
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<|im_start|>' + role + '\n' + m['content'] | trim + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _deploy(src: Path, cache: Path, name: str) -> str:
    result = foundry.deploy(src, name, "1", template_for("qwen"), ModelConfig(), cache,
                            max_tokens=8)
    assert result.ok, [s.found for s in result.stages]
    return f"{name}:1"


@pytest.fixture(scope="module")
def deployed(demo_onnx: Path, tmp_path_factory: pytest.TempPathFactory):
    """The demo model and a copy whose template has no system role, both deployed."""
    if not foundry_sdk.sdk_available():
        pytest.skip("foundry-local-sdk is not installed")
    root = tmp_path_factory.mktemp("chat-templates")
    cache = root / "cache"
    demo = root / "demo"
    shutil.copytree(demo_onnx, demo)
    nosys = root / "nosys"
    shutil.copytree(demo_onnx, nosys)
    (nosys / "chat_template.jinja").write_text(GEMMA2)
    ids = (_deploy(demo, cache, "lumo-count"), _deploy(nosys, cache, "lumo-nosys"))
    yield demo, nosys, cache, ids
    for model_id in ids:
        foundry.undeploy(model_id.split(":")[0], "1", cache)
    foundry_sdk.close_manager()


def test_foundry_counts_the_same_generated_tokens_as_onnxruntime_genai(
    deployed, demo_model: Path,
) -> None:
    demo, _, cache, (model_id, _) = deployed
    rows = load_domain_eval(demo_model / "domain_eval.jsonl")[:3]
    ort = open_backend("ort", demo)
    fdy = open_backend("foundry", model_id, cache_dir=cache)
    try:
        for row in rows:
            a = ChatSession(ort, system_prompt=row.get("system"), settings=GREEDY).send(
                row["prompt"])
            b = ChatSession(fdy, system_prompt=row.get("system"), settings=GREEDY).send(
                row["prompt"])
            assert a.text == b.text
            assert a.stats.generated_tokens == b.stats.generated_tokens > 0
            assert a.stats.prompt_tokens == b.stats.prompt_tokens
        # Cut by max tokens: both stop at the same count.
        short = GenerationSettings(max_tokens=5, temperature=0.0)
        a = ChatSession(ort, settings=short).send("Tell me everything about Lumo.")
        b = ChatSession(fdy, settings=short).send("Tell me everything about Lumo.")
        assert a.stats.generated_tokens == b.stats.generated_tokens
    finally:
        ort.close()
        fdy.close()


@pytest.mark.parametrize("kind", ["ort", "foundry"])
def test_a_model_without_a_system_role_refuses_a_system_prompt_with_advice(
    deployed, kind: str,
) -> None:
    _, nosys, cache, (_, nosys_id) = deployed
    backend = open_backend("ort", nosys) if kind == "ort" else \
        open_backend("foundry", nosys_id, cache_dir=cache)
    try:
        with pytest.raises(ChatError) as err:
            ChatSession(backend, system_prompt="Be brief.", settings=GREEDY).send("Hi")
        message = str(err.value)
        assert "no system role" in message and "System role not supported" in message
        assert "Clear the system prompt" in message
        # Even when the check before sending misses it, the runtime's own refusal ("System
        # role not supported at row 1, column 74: ...") reaches the user as a sentence.
        backend.system_refusal = ""
        with pytest.raises(ChatError) as err:
            ChatSession(backend, system_prompt="Be brief.", settings=GREEDY).send("Hi")
        message = str(err.value)
        assert message.startswith("The model's chat template refused this conversation: "
                                  "System role not supported.")
        assert "Clear the system prompt" in message and "row 1" not in message
        # Without a system prompt it answers as usual.
        reply = ChatSession(backend, settings=GREEDY).send("What does the lock do?")
        assert reply.stats.generated_tokens > 0
    finally:
        backend.close()


def test_foundry_reply_tokens_are_counted_with_the_tokenizer_not_the_chunks(
    demo_onnx: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK's streamed chunks are not tokens (a multi-byte character or a merged piece comes
    as one chunk or none): the count is the reply encoded with the model's tokenizer."""
    import threading
    from types import SimpleNamespace

    from slm_wizard.core.runtime import chat, foundry_backend

    text = "It locks the bike, and the battery lasts 40 km."
    chunks = [text[:20], "", text[20:]]  # three chunks, two of them with text

    class FakeClient:
        settings = SimpleNamespace(max_tokens=0, temperature=0, top_p=0, top_k=0)

        def complete_streaming_chat(self, messages):
            def gen():
                for i, piece in enumerate(chunks):
                    delta = SimpleNamespace(content=piece, role=None)
                    finish = "stop" if i == len(chunks) - 1 else None
                    yield SimpleNamespace(choices=[SimpleNamespace(delta=delta,
                                                                   finish_reason=finish)])
            return gen()

    backend = object.__new__(foundry_backend.FoundryBackend)
    backend._lock, backend._model, backend._client = threading.Lock(), object(), FakeClient()
    backend.max_length, backend.model_id = 512, "fake:1"
    backend._pattern = chat.special_pattern([])
    backend._encode = chat.reply_encoder(demo_onnx)
    backend.system_refusal = ""
    monkeypatch.setattr(backend, "_prompt_tokens", lambda safe: 7, raising=False)
    reply = backend.generate([{"role": "user", "content": "Hi"}], GREEDY)
    assert reply.text == text
    expected = len(backend._encode(text))
    assert expected > 2 and reply.stats.generated_tokens == expected
    assert reply.stats.prompt_tokens == 7


@pytest.mark.parametrize("pieces", [[], ["", "\ufffd"], ["ab"]])
def test_foundry_reply_cut_by_max_tokens_counts_max_tokens(pieces, monkeypatch) -> None:
    """A reply the runtime cut at max tokens has exactly max tokens, even when they decode to
    little or no text (a random model's stray bytes): it is not "0 tokens · max tokens"."""
    import threading
    from types import SimpleNamespace

    from slm_wizard.core.runtime import chat, foundry_backend

    class FakeClient:
        settings = SimpleNamespace(max_tokens=0, temperature=0, top_p=0, top_k=0)

        def complete_streaming_chat(self, messages):
            def gen():
                for piece in pieces:
                    delta = SimpleNamespace(content=piece, role=None)
                    yield SimpleNamespace(choices=[SimpleNamespace(delta=delta,
                                                                   finish_reason=None)])
                end = SimpleNamespace(content=None, role=None)
                yield SimpleNamespace(choices=[SimpleNamespace(delta=end, finish_reason="length")])
            return gen()

    backend = object.__new__(foundry_backend.FoundryBackend)
    backend._lock, backend._model, backend._client = threading.Lock(), object(), FakeClient()
    backend.max_length, backend.model_id = 512, "fake:1"
    backend._pattern = chat.special_pattern([])
    backend._encode = lambda text: list(text.encode())  # one id per byte
    backend.system_refusal = ""
    monkeypatch.setattr(backend, "_prompt_tokens", lambda safe: 7, raising=False)
    reply = backend.generate([{"role": "user", "content": "Hi"}],
                             GenerationSettings(max_tokens=8, temperature=0.0))
    assert reply.text == "".join(pieces)
    assert reply.stats.generated_tokens == 8 and reply.stats.finish_reason == "length"
    assert 0 <= reply.stats.ttft_s <= reply.stats.total_s


def test_a_folder_with_two_chat_templates_is_chatted_with_the_checked_one(
    demo_onnx: Path, tmp_path: Path,
) -> None:
    """tokenizer_config.json's chat_template differs from chat_template.jinja: onnxruntime-genai
    would render the former, while transformers, the template check and deploy's copy use the
    latter. The ort chat renders the checked one (same prompt tokens as the folder with only
    it), and the one-shot chat says so."""
    import json

    from slm_wizard.core.steps import chat as step

    dual = tmp_path / "dual dir"
    shutil.copytree(demo_onnx, dual)
    config = json.loads((dual / "tokenizer_config.json").read_text())
    config["chat_template"] = GEMMA2.replace("raise_exception('System role not supported')",
                                             "'<|im_start|>system\\nDefault text.<|im_end|>\\n'")
    (dual / "tokenizer_config.json").write_text(json.dumps(config))
    user = [{"role": "user", "content": "What does the lock do?"}]
    want = open_backend("ort", demo_onnx)
    got = open_backend("ort", dual)
    try:
        assert got.count_tokens(user) == want.count_tokens(user)
        assert got.prompt(user) == want.prompt(user)
    finally:
        want.close()
        got.close()
    seen: list = []
    result = step.run(step.Options(str(dual), prompt="Hi", max_tokens=4, in_process=True),
                      on_progress=seen.append)
    assert not result.error and result.stats.generated_tokens > 0
    assert any(p.phase == "warning" and "two different chat templates" in p.text for p in seen)
