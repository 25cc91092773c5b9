"""Conversion progress goes step by step (per stage, per layer: a 24-layer model shows 24 steps),
and the size estimate before converting is the size reported after it (issue 14, items 6-7)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from slm_wizard.core.base.fileio import onnx_size
from slm_wizard.core.convert.estimate import estimate, resources
from slm_wizard.core.convert.olive_log import ProgressParser
from slm_wizard.core.convert.options import ConvertOptions
from slm_wizard.core.convert.run import run_conversion
from slm_wizard.core.model.model_info import inspect_model


def _builder_log(layers: int) -> list[str]:
    """The lines Olive + onnxruntime-genai's builder print for a model with `layers` layers."""
    lines = ["[2026-01-01 00:00:00,000] [INFO] [run.py:99:run_engine] Running workflow default",
             "[2026-01-01 00:00:00,100] [INFO] [engine.py:665:_run_pass] Running pass "
             "model_builder:ModelBuilder",
             "Reading embedding layer"]
    lines += [f"Reading layer {i}" for i in range(layers)]
    lines += ["Reading final norm", "Reading LM head", "Saving ONNX model in /x"]
    lines += [f"Saving model.layers.{i}.mlp.weight (f32, [8]):  {p}%|█| {i}/10 [00:00<00:00]"
              for i, p in enumerate(range(10, 101, 10))]
    lines += ["Saving GenAI config in /x",
              "[2026-01-01 00:00:09,000] [INFO] [engine.py:733:_run_pass] Pass "
              "model_builder:ModelBuilder finished in 9.0 seconds",
              "[2026-01-01 00:00:09,100] [INFO] [engine.py:235:run] Saved output model to /x"]
    return lines


def test_a_24_layer_model_shows_24_layer_steps() -> None:
    parser = ProgressParser(["model_builder", "extract_adapters"], 24)
    seen: list[tuple[str, float]] = []
    for line in _builder_log(24):
        stage, progress = parser.feed(line)
        assert stage, line  # every builder line moves the stage text on
        seen.append((stage, progress))
    layers = [(s, p) for s, p in seen if s.startswith("Reading layer ")]
    assert [s for s, _ in layers] == [f"Reading layer {i} of 24" for i in range(1, 25)]
    values = [p for _, p in seen]
    assert values == sorted(values)  # never goes back
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    # Gradual: no step jumps more than a tenth of the bar (the issue saw 0 % then 97 %).
    assert max(steps) <= 0.10, list(zip(seen, [0.0, *steps], strict=True))
    layer_values = [p for _, p in layers]
    assert all(b > a for a, b in zip(layer_values, layer_values[1:], strict=False))
    assert layer_values[0] < 0.3 and layer_values[-1] > 0.5


def _several_layer_model(demo_model: Path, out: Path, layers: int) -> Path:
    """A random-weight model shaped like the demo but with `layers` layers (its tokenizer)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(demo_model)
    config.num_hidden_layers = layers
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[0]] * layers
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "chat_template.jinja", "generation_config.json"):
        if (demo_model / name).is_file():
            shutil.copy(demo_model / name, out / name)
    return out


def test_real_conversion_of_a_six_layer_model_reports_each_layer(demo_model: Path,
                                                                 tmp_path: Path) -> None:
    src = _several_layer_model(demo_model, tmp_path / "six", 6)
    info = inspect_model(src)
    assert info.num_layers == 6
    events = []
    opts = ConvertOptions(src, tmp_path / "onnx", precision="int4", method="auto-opt")
    result = run_conversion(opts, on_event=events.append)
    assert result.ok, result.error
    stages = [(e.text, e.fraction) for e in events if e.phase == "stage"]
    layer_stages = [m for m, _ in stages if m.startswith("Reading layer ")]
    assert layer_stages == [f"Reading layer {i} of 6" for i in range(1, 7)], stages
    values = [p for _, p in stages if p is not None]
    assert values == sorted(values)
    every = [e.fraction for e in events if e.fraction is not None]  # what the bar shows
    jumps = [b - a for a, b in zip(every, every[1:], strict=False)]
    assert max(jumps) <= 0.10, stages  # gradual: never 0 % then 97 %
    # One estimate: before (resources, the screen's line) = the verification's "estimated".
    before = resources(opts, info).output_bytes
    v = result.verification
    assert v is not None and v.estimate_bytes == before
    assert abs(v.size_bytes - before) <= 0.10 * v.size_bytes, (v.size_bytes, before)


def test_demo_estimate_agrees_with_its_size_on_disk(demo_model: Path, demo_onnx: Path) -> None:
    # demo_onnx: the demo converted with auto-opt int4 (block 32, symmetric).
    est = next(e for e in estimate(inspect_model(demo_model), 32, True) if e.precision == "int4")
    size = onnx_size(demo_onnx)
    assert abs(size - est.size_bytes) <= 0.10 * size, (size, est.size_bytes)


QWEN05_SHAPE = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
                "tie_word_embeddings": True}
# model.onnx + model.onnx.data of bench/qwen_shape.py's model converted to int4 by
# onnxruntime-genai's builder (block 32, symmetric) on this project's pinned versions.
QWEN05_INT4_BYTES = 179_359 + 861_828_608


def _shape_folder(folder: Path, shape: dict) -> Path:
    """config.json and a sparse model.safetensors whose header lists Qwen2's tensors (bf16): the
    model's exact tensor shapes at no disk cost (nothing is read past the header)."""
    h, inter, n = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    kv = shape["num_key_value_heads"] * h // shape["num_attention_heads"]
    tensors: dict[str, list[int]] = {"model.embed_tokens.weight": [shape["vocab_size"], h],
                                     "model.norm.weight": [h]}
    for i in range(n):
        p = f"model.layers.{i}."
        tensors |= {p + "self_attn.q_proj.weight": [h, h], p + "self_attn.q_proj.bias": [h],
                    p + "self_attn.k_proj.weight": [kv, h], p + "self_attn.k_proj.bias": [kv],
                    p + "self_attn.v_proj.weight": [kv, h], p + "self_attn.v_proj.bias": [kv],
                    p + "self_attn.o_proj.weight": [h, h],
                    p + "mlp.gate_proj.weight": [inter, h], p + "mlp.up_proj.weight": [inter, h],
                    p + "mlp.down_proj.weight": [h, inter],
                    p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h]}
    header, offset = {}, 0
    for name, dims in tensors.items():
        size = 2
        for d in dims:
            size *= d
        header[name] = {"dtype": "BF16", "shape": dims, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "model.safetensors").open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.truncate(8 + len(raw) + offset)
    (folder / "config.json").write_text(json.dumps(
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
         "torch_dtype": "bfloat16", **shape}))
    return folder


def test_qwen05_shaped_estimate_agrees_with_its_int4_size(tmp_path: Path) -> None:
    info = inspect_model(_shape_folder(tmp_path / "qwen05", QWEN05_SHAPE))
    assert 490e6 < info.param_count < 500e6  # 494 M, as Qwen2.5-0.5B
    est = next(e for e in estimate(info, 32, True) if e.precision == "int4")
    assert abs(est.size_bytes - QWEN05_INT4_BYTES) <= 0.10 * QWEN05_INT4_BYTES, est.size_bytes
    opts = ConvertOptions(tmp_path / "qwen05", tmp_path / "out", precision="int4")
    assert resources(opts, info).output_bytes == est.size_bytes
    assert "makes a model of about" in resources(opts, info).describe(with_free=False)
    from slm_wizard.core.base.paths import cache_dir

    built = cache_dir() / "bench-qwen2.5-0.5b-shape" / "int4"
    if built.is_dir():  # the bench's real conversion, when it was built on this machine
        size = onnx_size(built)
        assert abs(size - est.size_bytes) <= 0.10 * size


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_resources_says_the_output_size_for_every_precision(demo_model: Path, tmp_path: Path,
                                                            precision: str) -> None:
    info = inspect_model(demo_model)
    opts = ConvertOptions(demo_model, tmp_path / "o", precision=precision)
    est = next(e for e in estimate(info, opts.block_size, opts.symmetric)
               if e.precision == precision)
    assert resources(opts, info).output_bytes == est.size_bytes > 0


def test_the_precision_hint_follows_the_estimates(tmp_path: Path) -> None:
    """INT4 keeps the embedding table fp32, so on a Qwen2.5-0.5B shape (a 136 M-parameter tied
    embedding) it is larger than INT8: the hint and the notes say so, not "int4 smallest"."""
    from slm_wizard.core.convert.estimate import precision_hint
    from slm_wizard.core.steps import convert as step

    big_vocab = inspect_model(_shape_folder(tmp_path / "qwen05", QWEN05_SHAPE))
    est = {e.precision: e for e in estimate(big_vocab, 32, True)}
    assert est["int4"].size_bytes > est["int8"].size_bytes  # the real sizes (test above)
    hint = precision_hint(list(est.values()))
    assert hint.startswith("int8 smallest for this model") and "int4 smallest" not in hint
    assert "larger than int8" in est["int4"].note and "smallest" in est["int8"].note
    plan = step.plan(step.Options(tmp_path / "qwen05", tmp_path / "out"))
    assert plan.precision_hint == hint

    small_vocab = inspect_model(_shape_folder(tmp_path / "small", {**QWEN05_SHAPE,
                                                                   "vocab_size": 1024}))
    est = {e.precision: e for e in estimate(small_vocab, 32, True)}
    assert est["int4"].size_bytes < est["int8"].size_bytes
    assert precision_hint(list(est.values())).startswith("int4 smallest")
    assert "smallest" in est["int4"].note


def test_the_plan_says_when_int8_switches_the_method(tmp_path: Path) -> None:
    from slm_wizard.core.steps import convert as step

    folder = _shape_folder(tmp_path / "m", {**QWEN05_SHAPE, "vocab_size": 1024,
                                            "num_hidden_layers": 2})
    int4 = step.plan(step.Options(folder, tmp_path / "o4"))
    assert int4.method == "auto-opt" and not any(i.field == "method" for i in int4.issues)
    int8 = step.plan(step.Options(folder, tmp_path / "o8", precision="int8"))
    assert int8.method == "config" and "switched from auto-opt" in int8.method_reason
    said = [i for i in int8.issues if i.field == "method"]
    assert len(said) == 1 and said[0].level == "warning"
    assert "switched to the config file" in said[0].message and "int8" in said[0].message
    assert said[0] in int8.shown_issues  # the screen shows it
    # Chosen by the user: nothing switched, nothing to say.
    chosen = step.plan(step.Options(folder, tmp_path / "o8", precision="int8", method="config"))
    assert not any(i.field == "method" for i in chosen.issues)
