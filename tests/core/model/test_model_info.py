"""core.model_info on the demo model and on broken folders (no conversions: fast)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from slm_wizard.cli.main import main
from slm_wizard.core.model.model_info import ModelFolderError, fp32_size_bytes, inspect_model


@pytest.fixture
def model_copy(demo_model: Path, tmp_path: Path) -> Path:
    """A copy of the demo model to break."""
    return Path(shutil.copytree(demo_model, tmp_path / "model"))


def _safetensors_count(path: Path) -> int:
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    total = 0
    for name, meta in header.items():
        if name != "__metadata__":
            n = 1
            for d in meta["shape"]:
                n *= d
            total += n
    return total


def test_demo_model_is_described(demo_model: Path) -> None:
    info = inspect_model(demo_model)
    cfg = json.loads((demo_model / "config.json").read_text())
    assert info.architecture == "Qwen2ForCausalLM"
    assert info.model_type == "qwen2"
    assert info.family == "qwen"
    assert (info.hidden_size, info.num_layers, info.num_heads, info.num_kv_heads) == (
        cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
        cfg["num_key_value_heads"])
    assert info.vocab_size == cfg["vocab_size"]
    assert info.context_length == cfg["max_position_embeddings"]
    assert info.dtype == "float32"
    assert info.param_count_exact
    assert info.param_count == _safetensors_count(demo_model / "model.safetensors")
    assert fp32_size_bytes(info) == 4 * info.param_count
    assert info.weight_files == ("model.safetensors",)
    assert "tokenizer.json" in info.tokenizer_files
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert info.builder_supported and not info.needs_remote_code and not info.is_lora_adapter
    assert info.problems == []
    g = info.groups
    assert g.embedding == cfg["vocab_size"] * cfg["hidden_size"]
    assert g.lm_head == g.embedding  # tied: the builder writes the lm_head as its own MatMul


def test_config_estimate_matches_the_exact_count(model_copy: Path) -> None:
    exact = inspect_model(model_copy).param_count
    (model_copy / "model.safetensors").rename(model_copy / "pytorch_model.bin")
    info = inspect_model(model_copy)
    assert not info.param_count_exact
    assert info.weight_files == ("pytorch_model.bin",)
    # From config.json alone: within 1 % of the safetensors count.
    assert abs(info.param_count - exact) / exact < 0.01


@pytest.mark.parametrize("break_it, message", [
    (lambda d: shutil.rmtree(d), "does not exist"),
    (lambda d: (d / "config.json").unlink(), "has no config.json"),
    (lambda d: (d / "config.json").write_text("{not json"), "is not valid JSON"),
    (lambda d: (d / "model.safetensors").unlink(), "has no weights"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\x05\x00"), "truncated"),
    (lambda d: (d / "model.safetensors").write_bytes(struct.pack("<Q", 10) + b"not json!!"),
     "not a valid safetensors file"),
    (lambda d: (d / "config.json").write_text("{}"), "neither `model_type` nor `architectures`"),
    # Malformed headers (a list; a shape that is not numbers) once raised TypeError/ValueError.
    (lambda d: (d / "model.safetensors").write_bytes(struct.pack("<Q", 2) + b"[]"),
     "safetensors header\\): \\(top level\\): expected a JSON object"),
    (lambda d: (d / "model.safetensors").write_bytes(
        struct.pack("<Q", 27) + b'{"w": {"shape": ["x", 2]}}'),
     "safetensors header\\): w.dtype: missing"),
])
def test_fatal_problems_have_specific_messages(model_copy: Path, break_it, message) -> None:
    break_it(model_copy)
    with pytest.raises(ModelFolderError, match=message):
        inspect_model(model_copy)


def test_a_file_and_an_empty_path_are_refused(model_copy: Path) -> None:
    with pytest.raises(ModelFolderError, match="is a file, not a folder"):
        inspect_model(model_copy / "config.json")
    with pytest.raises(ModelFolderError, match="Enter the path"):
        inspect_model("  ")


def test_lora_adapter_is_explained(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ModelFolderError, match="LoRA adapter.*merge_and_unload"):
        inspect_model(tmp_path)


def test_lora_next_to_a_config_is_flagged(model_copy: Path) -> None:
    (model_copy / "model.safetensors").rename(model_copy / "adapter_model.safetensors")
    (model_copy / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    info = inspect_model(model_copy)
    assert info.is_lora_adapter
    assert any("merge" in p for p in info.problems)


def test_unsupported_architecture_missing_tokenizer_and_remote_code(model_copy: Path) -> None:
    cfg = json.loads((model_copy / "config.json").read_text())
    cfg["architectures"] = ["FancyNewForCausalLM"]
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_fancy.FancyNewForCausalLM"}
    (model_copy / "config.json").write_text(json.dumps(cfg))
    (model_copy / "tokenizer.json").unlink()
    info = inspect_model(model_copy)
    assert not info.builder_supported and info.needs_remote_code
    text = " ".join(info.problems)
    assert "FancyNewForCausalLM is not supported by the ONNX model builder" in text
    assert "No tokenizer" in text
    assert "auto_map" in text


def test_chat_template_from_tokenizer_config_and_families(model_copy: Path) -> None:
    (model_copy / "chat_template.jinja").unlink()
    tok = json.loads((model_copy / "tokenizer_config.json").read_text())
    tok["chat_template"] = "{{ '<｜User｜>' + messages[0]['content'] + '<｜Assistant｜>' }}"
    (model_copy / "tokenizer_config.json").write_text(json.dumps(tok))
    info = inspect_model(model_copy)
    assert info.chat_template is not None and "<｜User｜>" in info.chat_template
    assert info.family == "deepseek"  # a DeepSeek distill reports qwen2: its template tells
    for arch, family in [("Phi3ForCausalLM", "phi"), ("LlamaForCausalLM", "llama"),
                         ("MistralForCausalLM", "mistral"), ("Gemma2ForCausalLM", "gemma")]:
        cfg = json.loads((model_copy / "config.json").read_text())
        cfg["architectures"], cfg["model_type"] = [arch], arch.removesuffix("ForCausalLM").lower()
        (model_copy / "config.json").write_text(json.dumps(cfg))
        tok["chat_template"] = "{{ messages }}"
        (model_copy / "tokenizer_config.json").write_text(json.dumps(tok))
        assert inspect_model(model_copy).family == family


def test_cli_inspect_json_and_errors(demo_model: Path, tmp_path: Path, capsys) -> None:
    assert main(["inspect", str(demo_model), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["architecture"] == "Qwen2ForCausalLM" and data["param_count_exact"]
    assert {e["precision"] for e in data["estimates"]} == {"fp32", "fp16", "int8", "int4"}
    assert main(["inspect", str(demo_model)]) == 0
    assert "Qwen2ForCausalLM" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path)]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_inspect_step_runner(demo_model: Path, tmp_path: Path) -> None:
    from slm_wizard.core.base.status import Status
    from slm_wizard.core.steps import inspect as step

    opts = step.Options(demo_model)
    assert opts.argv() == ["slm-wizard", "inspect", str(demo_model)]
    seen: list[str] = []
    result = step.run(opts, on_progress=seen.append)
    assert [(p.phase, p.text) for p in seen] == [("inspect", f"Inspecting {demo_model}…")]
    assert result.status == Status.OK and result.blocking == []
    assert [e.precision for e in result.estimates] == ["fp32", "fp16", "int8", "int4"]
    rec = step.to_record(opts, result)
    assert (rec.step, rec.status, rec.command) == ("model", Status.OK, opts.argv())
    assert rec.figures["parameters"] == f"{result.info.param_count:,}"
    assert rec.files["model"] == str(demo_model)
    with pytest.raises(ModelFolderError, match="does not exist"):
        step.run(step.Options(tmp_path / "nope"))


@pytest.mark.parametrize("jinja, config, words", [
    ("{{ 'A' }}", "{{ 'B' }}", "Two different chat templates"),
    ("{{ 'A' }}", 5, "is malformed (int, not a template)"),
    (None, [{"template": 1}], "is malformed (a list without named templates)"),
])
def test_the_two_template_places_are_checked(model_copy: Path, jinja, config,
                                              words: str) -> None:
    """Foundry Local's runtime reads tokenizer_config.json's chat_template first, transformers
    chat_template.jinja: two different ones, or a malformed one, are told at inspection."""
    cfg_path = model_copy / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "chat_template": config}))
    jinja_path = model_copy / "chat_template.jinja"
    if jinja is None:
        jinja_path.unlink(missing_ok=True)
    else:
        jinja_path.write_text(jinja)
    problems = inspect_model(model_copy).problems
    assert any(words in p for p in problems), problems
    # A malformed one is not reported as absent.
    assert not any(p.startswith("No chat template") for p in problems)
