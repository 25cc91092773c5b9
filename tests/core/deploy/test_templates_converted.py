"""Converted models of each preset family: tiny random models of each architecture with that
family's chat template and a tokenizer whose special tokens are the template's markers, converted
with the onnxruntime-genai model builder (offline, ~10 s each, once per family for this module).

`slm-wizard template` exits 0, with the runtime's verdict match and the derived PromptTemplate
(its probe renderings match the model's template token for token, or the printed limit is the
only difference). Each one deploys into Foundry Local (a temporary cache) with the runtime
verdict match, and Foundry Local's own prompt token count equals the checked one."""

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
    "phi3": ("Phi3Config", "Phi3ForCausalLM", {"pad_token_id": 0, "eos_token_id": 2,
                                               "original_max_position_embeddings": 512}),
    "phi4-mini": ("Phi3Config", "Phi3ForCausalLM", {"pad_token_id": 0, "eos_token_id": 2,
                                                    "original_max_position_embeddings": 512}),
    "gemma": ("Gemma2Config", "Gemma2ForCausalLM", {"head_dim": 16, "sliding_window": 128,
                                                    "query_pre_attn_scalar": 16}),
    "deepseek-r1-distill-qwen": ("Qwen2Config", "Qwen2ForCausalLM", {"bos_token_id": 0,
                                                                     "eos_token_id": 1}),
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


_CONVERTED: dict[str, Path] = {}


@pytest.fixture
def converted(tmp_path_factory: pytest.TempPathFactory):
    """family -> its converted tiny model, converted once for the whole module (the tests only
    read the folder: deploy copies it)."""
    def get(family: str) -> Path:
        if family not in _CONVERTED:
            _CONVERTED[family] = build_and_convert(tmp_path_factory.mktemp(family), family)
        return _CONVERTED[family]
    return get


@pytest.mark.parametrize("family", list(ARCH))
def test_template_on_a_converted_model_of_each_family_exits_0(
    family: str, converted, capsys: pytest.CaptureFixture[str],
) -> None:
    from slm_wizard.cli.main import main

    onnx = converted(family)
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
    # The headline is the runtime's: what Foundry Local sends is the model's own template.
    assert data["verdict"] == "match" and data["runtime"]["verdict"] == "match"
    assert data["prompt_template_check"]["applies_to"].startswith("older Foundry Local")
    assert "Foundry Local's runtime renders the model's chat template exactly" in \
        main_output(onnx, capsys)


def main_output(onnx: Path, capsys: pytest.CaptureFixture[str]) -> str:
    from slm_wizard.cli.main import main

    main(["template", str(onnx)])
    return capsys.readouterr().out


@pytest.mark.parametrize("family", list(ARCH))
def test_each_family_deploys_with_foundry_locals_prompt_as_checked(
    family: str, converted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    from slm_wizard.core.deploy.runtime_template import COUNT_PROBE
    from slm_wizard.core.steps import deploy as deploy_step

    pytest.importorskip("foundry_local_sdk")
    monkeypatch.setenv("PATH", str(tmp_path))  # no foundry CLI: the SDK alone
    onnx = tmp_path / "onnx"
    shutil.copytree(converted(family), onnx)
    # The test question carries a system prompt, as a fine-tuned model's domain_eval does: a
    # model without a system role (Gemma) gets its text at the start of the prompt instead.
    (onnx / "domain_eval.jsonl").write_text(json.dumps(
        {"prompt": "What does the lock do?", "system": "Answer briefly."}) + "\n")
    opts = deploy_step.Options(onnx, f"tiny-{family}", cache_dir=tmp_path / "cache",
                               max_tokens=4)
    result = deploy_step.run(opts)
    assert result.ok, (result.error, result.deploy.stages if result.deploy else None)
    t = result.template
    assert t is not None and t.verdict == "match" and t.runtime is not None
    dep = result.deploy
    assert dep is not None and not dep.exported
    stages = {s.id: s for s in dep.stages}
    assert stages["prompt"].status.value == "ok" and stages["answer"].status.value != "fail"
    expected = next(p for p in t.runtime.probes if p.name == COUNT_PROBE)
    assert dep.prompt_tokens == len(expected.reference_ids) > 0
    # The deployed copy holds the checked template in both places; the source is untouched.
    deployed = json.loads((dep.target / "tokenizer_config.json").read_text())["chat_template"]
    assert deployed == (dep.target / "chat_template.jinja").read_text() == t.runtime.template
    # The id the user sees is the one Foundry Local reports (the registered name:version).
    from slm_wizard.core.deploy import foundry_sdk

    assert dep.model_id == result.model_id == f"tiny-{family}:1"
    assert dep.model_id in [m.id for m in foundry_sdk.local_catalog(dep.cache_dir).list_models()]
    refuses = FAMILY_LIMITS[family][0] == "refused"
    assert (result.options.system is None) is refuses
    if refuses:
        assert result.options.prompt.startswith("Answer briefly.\n\n")
