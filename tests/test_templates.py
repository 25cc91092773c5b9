"""Prompt-template presets, family detection and the check against the tokenizer's own template.

Each family gets a small Hugging Face tokenizer folder whose chat template follows that family's
published template (markers, BOS handling, system-role rules); transformers renders it, never a
hand-written engine. The demo model (Qwen2/ChatML) is checked through onnxruntime-genai too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_wizard.core import templates as T
from slm_wizard.core.inference_model import InferenceModelError, build_inference_model

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
DEEPSEEK = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}{% endif %}"
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ '<｜User｜>' + m['content'] }}"
    "{% elif m['role'] == 'assistant' %}{{ '<｜Assistant｜>' + m['content'] + "
    "'<｜end▁of▁sentence｜>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\n' }}{% endif %}"
)
PHI3 = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ '<|system|>\n' + m['content'] + "
    "'<|end|>\n' }}{% elif m['role'] == 'user' %}{{ '<|user|>\n' + m['content'] + '<|end|>\n' }}"
    "{% elif m['role'] == 'assistant' %}{{ '<|assistant|>\n' + m['content'] + '<|end|>\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
PHI4_MINI = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
    "'<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)
MISTRAL = (
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}"
    "{%- endif %}{{- bos_token }}{%- for m in loop_messages %}{%- if m['role'] == 'user' %}"
    "{%- if loop.last and system_message is defined %}"
    "{{- '[INST] ' + system_message + '\n\n' + m['content'] + '[/INST]' }}"
    "{%- else %}{{- '[INST] ' + m['content'] + '[/INST]' }}{%- endif %}"
    "{%- elif m['role'] == 'assistant' %}{{- ' ' + m['content'] + eos_token }}{%- endif %}"
    "{%- endfor %}"
)
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + m['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# family id -> (model_type, chat template, bos, eos, preset matches the tokenizer exactly)
CASES = {
    "qwen": ("qwen2", CHATML, None, "<|im_end|>", True),
    "deepseek-r1-distill-qwen": ("qwen2", DEEPSEEK, "<｜begin▁of▁sentence｜>",
                                 "<｜end▁of▁sentence｜>", True),
    "phi3": ("phi3", PHI3, "<s>", "<|endoftext|>", True),
    "phi4-mini": ("phi3", PHI4_MINI, "<|endoftext|>", "<|endoftext|>", True),
    "llama3": ("llama", LLAMA3, "<|begin_of_text|>", "<|eot_id|>", True),
    "mistral": ("mistral", MISTRAL, "<s>", "</s>", False),
    "gemma": ("gemma2", GEMMA2, "<bos>", "<eos>", False),
}


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path.read_text()


def make_hf_folder(root: Path, family: str, tokenizer_json: str) -> Path:
    model_type, template, bos, eos, _ = CASES[family]
    folder = root / family
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    (folder / "tokenizer.json").write_text(tokenizer_json)
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template,
        "bos_token": bos, "eos_token": eos, "unk_token": "[UNK]",
    }))
    return folder


@pytest.mark.parametrize("family_id", list(T.FAMILIES))
def test_every_preset_is_valid_and_renders(family_id: str) -> None:
    template = T.template_for(family_id)
    assert T.validate_template(template) == template
    text = T.render_prompt_template(template)
    for m in T.SAMPLE_CONVERSATION:
        assert text.count(m["content"]) == 1
    # The conversation order is kept and the text ends ready for the assistant's answer.
    positions = [text.index(m["content"]) for m in T.SAMPLE_CONVERSATION]
    assert positions == sorted(positions)
    assert not text.endswith(T.SAMPLE_CONVERSATION[-1]["content"])
    # It is accepted as a PromptTemplate of inference_model.json.
    build_inference_model("m", "1", template, {"max_length": 256, "temperature": 0.7,
                                               "top_p": 0.9, "repetition_penalty": 1.0})


@pytest.mark.parametrize("family_id", list(CASES))
def test_detects_family_and_compares_with_the_tokenizer(
    family_id: str, tmp_path: Path, tokenizer_json: str
) -> None:
    folder = make_hf_folder(tmp_path, family_id, tokenizer_json)
    fam, confidence, reasons = T.detect_family(folder)
    assert fam == family_id, reasons
    assert confidence >= 0.9
    assert any("model_type" in r for r in reasons) and any("markers" in r for r in reasons)

    check = T.check_template(folder, T.template_for(family_id), family_id)
    assert check.engine == "transformers"
    assert check.tokenizer_text
    exact = CASES[family_id][4]
    assert check.matches is exact, "\n".join(check.diff)
    if exact:
        assert check.warnings == []
    else:
        assert check.warnings and "differing line" in check.warnings[-1]


def test_gemma_refuses_a_system_message_and_the_check_says_so(
    tmp_path: Path, tokenizer_json: str
) -> None:
    folder = make_hf_folder(tmp_path, "gemma", tokenizer_json)
    render = T.render_tokenizer_template(folder)
    assert "System role not supported" in render.notes[0]
    assert all(m["role"] != "system" for m in render.messages)
    assert render.text.startswith("<bos><start_of_turn>user\nWhat does the lock do?")


def test_mistral_folds_the_system_text_into_the_last_user_turn(
    tmp_path: Path, tokenizer_json: str
) -> None:
    folder = make_hf_folder(tmp_path, "mistral", tokenizer_json)
    check = T.check_template(folder, T.template_for("mistral"), "mistral")
    assert "[INST] You are a helpful assistant.\n\nHow long does the battery last?[/INST]" in \
        check.tokenizer_text
    changed = [ln for ln in check.diff if ln.startswith(("-", "+")) and ln[:3] not in ("---",
                                                                                      "+++")]
    assert any("How long does the battery last?" in ln for ln in changed)


def test_a_wrong_template_is_a_warning_with_the_differing_lines(
    tmp_path: Path, tokenizer_json: str
) -> None:
    folder = make_hf_folder(tmp_path, "qwen", tokenizer_json)
    check = T.check_template(folder, T.template_for("phi3"), "phi3")
    assert not check.matches
    assert "-<|im_start|>user⏎" in check.diff
    assert "+<|user|>⏎" in check.diff
    assert "<|im_start|>user" in check.warnings[0] and "<|user|>" in check.warnings[0]


def test_unknown_model_falls_back_to_custom_with_no_confidence(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    fam, confidence, reasons = T.detect_family(tmp_path)
    assert (fam, confidence) == ("custom", 0.0)
    assert any("no chat template" in r for r in reasons)
    check = T.check_template(tmp_path, T.template_for("custom"))
    assert check.tokenizer_text is None and "no chat template" in check.warnings[0]


@pytest.mark.parametrize("bad, message", [
    ({"system": "{Content}", "user": "{Content}", "assistant": "{Content}"}, "'prompt' is missing"),
    ({"system": "x", "user": "{Content}", "assistant": "{Content}", "prompt": "{Content}"},
     "'system' must hold {Content} exactly once (found 0)"),
    ({"system": "{Content}{Content}", "user": "{Content}", "assistant": "{Content}",
      "prompt": "{Content}"}, "(found 2)"),
    ("not a dict", "must be an object"),
])
def test_prompt_template_without_content_is_refused(bad, message: str) -> None:
    with pytest.raises(T.TemplateError, match=None) as err:
        T.validate_template(bad)
    assert message in str(err.value)
    with pytest.raises(InferenceModelError):
        build_inference_model("m", "1", bad, {"max_length": 256, "temperature": 0.7,
                                              "top_p": 0.9, "repetition_penalty": 1.0})


def test_demo_model_is_chatml_and_matches_through_onnxruntime_genai(demo_onnx: Path) -> None:
    fam, confidence, reasons = T.detect_family(demo_onnx)
    assert fam == "qwen" and confidence >= 0.9, reasons
    check = T.check_template(demo_onnx, T.template_for("qwen"), "qwen")
    assert check.engine == "onnxruntime-genai"
    assert check.matches, "\n".join(check.diff)
    # The demo template inserts its own system prompt when none is given: the PromptTemplate
    # without a system turn then differs, and the check shows it.
    no_system = [m for m in T.SAMPLE_CONVERSATION if m["role"] != "system"]
    render = T.render_tokenizer_template(demo_onnx, no_system)
    assert render.text.startswith("<|im_start|>system\n")
    assert T.diff_lines(render.text, T.render_prompt_template(T.template_for("qwen"), no_system))


def test_unloadable_converted_model_falls_back_to_transformers(demo_onnx: Path,
                                                               tmp_path: Path) -> None:
    # Like an fp16 model on a CPU-only machine: onnxruntime-genai cannot load it, the template
    # can still be checked with the tokenizer files next to it.
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("genai_config.json", "tokenizer.json", "tokenizer_config.json",
                 "chat_template.jinja"):
        if (demo_onnx / name).is_file():
            (folder / name).write_bytes((demo_onnx / name).read_bytes())
    check = T.check_template(folder, T.template_for("qwen"), "qwen")
    assert check.engine == "transformers"
    assert check.matches, "\n".join(check.diff)
    assert any("onnxruntime-genai could not load the model" in w for w in check.warnings)


def test_one_field_rule_for_the_screen_and_the_whole_template() -> None:
    assert T.field_problem("user", "<|user|>{Content}") == ""
    assert "exactly once (found 2)" in T.field_problem("user", "{Content}{Content}")
    assert "missing" in T.field_problem("user", None)
    with pytest.raises(T.TemplateError, match=r"'prompt' must hold \{Content\} exactly once"):
        T.validate_template({**T.template_for("qwen"), "prompt": "no placeholder"})
