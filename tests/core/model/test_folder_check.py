"""The complete pre-conversion check of a model folder (core.model.folder_check): one place used
by inspect, convert's plan and the wizard's Model step; every problem named, no tensor loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_wizard.core.model.folder_check import findings
from slm_wizard.core.model.model_info import ModelFolderError, inspect_model
from tests.helpers.folders import GOOD_CONFIG, GOOD_HEADER, make_model, safetensors


def test_a_good_folder_has_no_findings(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    (folder / "tokenizer.json").write_text(json.dumps(
        {"model": {"vocab": {"a": 0, "b": 1, "c": 2}}, "added_tokens": [{"id": 3}]}))
    assert findings(folder, GOOD_CONFIG) == []
    assert inspect_model(folder).vocab_size == 4


def test_a_real_sharded_layout_passes(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    (folder / "model-00001-of-00002.safetensors").write_bytes(
        safetensors(GOOD_HEADER, b"\0" * 32))
    (folder / "model-00002-of-00002.safetensors").write_bytes(safetensors(
        {"lm_head.weight": {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, 32]}},
        b"\0" * 32))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "lm_head.weight": "model-00002-of-00002.safetensors"}}))
    assert findings(folder, GOOD_CONFIG) == []
    (folder / "model-00002-of-00002.safetensors").unlink()
    found = findings(folder, GOOD_CONFIG)
    assert len(found) == 1 and "model-00002-of-00002.safetensors" in found[0]


def test_head_dim_given_lifts_the_divisibility_rule(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    config = {**GOOD_CONFIG, "num_attention_heads": 3}
    assert "does not divide hidden_size" in findings(folder, config)[0]
    assert findings(folder, {**config, "head_dim": 4}) == []


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32", "auto", "torch.float16"])
def test_known_dtypes_pass(dtype: str, tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m")
    assert findings(folder, {**GOOD_CONFIG, "torch_dtype": dtype}) == []


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", {**GOOD_CONFIG, "torch_dtype": "int7",
                                         "vocab_size": 3})
    (folder / "tokenizer_config.json").write_text("")
    with pytest.raises(ModelFolderError) as err:
        inspect_model(folder)
    text = str(err.value)
    assert "3 problems" in text
    assert "tokenizer_config.json is empty" in text and "'int7'" in text
    assert "vocab_size 3 does not match the weights" in text


def test_multimodal_text_config_sizes_are_checked(tmp_path: Path) -> None:
    config = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
              "text_config": {"hidden_size": 2, "num_attention_heads": 1, "vocab_size": 5}}
    folder = make_model(tmp_path / "m", config)
    assert any("vocab_size 5" in f for f in findings(folder, config))
