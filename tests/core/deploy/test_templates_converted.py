"""`slm-wizard template` on converted models of each preset family: tiny random models of each
architecture with that family's chat template and a tokenizer whose special tokens are the
template's markers, converted with the onnxruntime-genai model builder (offline, ~10 s each).
The command exits 0 and prints the derived PromptTemplate; its probe renderings match the
model's template token for token, or the printed limit is the only difference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slm_wizard.core.deploy.chat_template import ChatTemplate
from slm_wizard.core.deploy.template_derive import SYSTEM_SUPPORTED, derive_template
from tests.helpers.templates import FAMILY_LIMITS, FAMILY_TEMPLATES, tiny_tokenizer_json

pytestmark = pytest.mark.slow  # converts a tiny model of each family with Olive

# family -> (transformers config class, model class, extra config)
ARCH = {
    "llama3": ("LlamaConfig", "LlamaForCausalLM", {}),
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", {"pad_token_id": 0,
                                               "original_max_position_embeddings": 512}),
    "phi4-mini": ("Phi3Config", "Phi3ForCausalLM", {"pad_token_id": 0,
                                                    "original_max_position_embeddings": 512}),
    "gemma": ("Gemma2Config", "Gemma2ForCausalLM", {"head_dim": 16, "sliding_window": 128,
                                                    "query_pre_attn_scalar": 16}),
    "deepseek-r1-distill-qwen": ("Qwen2Config", "Qwen2ForCausalLM", {}),
}


def build_and_convert(root: Path, family: str) -> Path:
    """A tiny random model of the family's architecture, converted to INT4 ONNX."""
    pytest.importorskip("onnxruntime_genai")
    torch = pytest.importorskip("torch")
    import transformers

    model_type, template, bos, eos = FAMILY_TEMPLATES[family]
    hf, out = root / "hf", root / "onnx"
    hf.mkdir(parents=True)
    tok = tiny_tokenizer_json(template, bos, eos)
    (hf / "tokenizer.json").write_text(tok, encoding="utf-8")
    (hf / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template,
        "bos_token": bos, "eos_token": eos}))
    config_cls, model_cls, extra = ARCH[family]
    n_vocab = len(json.loads(tok)["model"]["vocab"]) + len(json.loads(tok)["added_tokens"])
    cfg = getattr(transformers, config_cls)(
        vocab_size=max(512, n_vocab), hidden_size=64, intermediate_size=128,
        num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=512, **extra)
    torch.manual_seed(0)
    getattr(transformers, model_cls)(cfg).save_pretrained(hf)
    run = subprocess.run(
        [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o", str(out),
         "-p", "int4", "-e", "cpu", "-c", str(root / "builder-cache")],
        capture_output=True, text=True, cwd=root, timeout=600)
    assert run.returncode == 0 and (out / "genai_config.json").is_file(), run.stderr[-2000:]
    return out


@pytest.mark.parametrize("family", list(ARCH))
def test_template_on_a_converted_model_of_each_family_exits_0(
    family: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from slm_wizard.cli.main import main

    onnx = build_and_convert(tmp_path, family)
    assert main(["template", str(onnx)]) == 0
    captured = capsys.readouterr()
    assert f"Detected family: {family}" in captured.out
    assert "PromptTemplate (derived from the model's chat template)" in captured.out
    role, start = FAMILY_LIMITS[family]
    if role == SYSTEM_SUPPORTED and not start:
        assert "on every probe conversation (token for token)" in captured.out
    else:
        assert "as closely as a PromptTemplate can" in captured.out
        if start:
            assert "starts every conversation with its BOS token" in captured.err
    # The printed PromptTemplate is the one derived from the converted folder.
    assert main(["template", str(onnx), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "derived" and data["matches"]
    derived = derive_template(ChatTemplate.from_folder(onnx)).template
    assert data["prompt_template"] == derived
    probes = {p["name"]: p for p in data["probes"]}
    assert all(p["model_ids"] is not None or p["refused"] for p in probes.values())
