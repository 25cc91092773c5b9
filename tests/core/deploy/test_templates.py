"""Prompt templates: family detection, the PromptTemplate derived from the model's own chat
template, and the check that compares the token ids of both renderings on probe conversations.

Two sets of chat templates: the published templates of real instruct models under
tests/data/chat_templates (sources in its README), and hand-written ones in the style of each
preset family (markers, BOS handling, system-role rules). Each gets a model folder with a tiny
byte-level tokenizer built offline whose special tokens are the template's markers, so token ids
are compared, BOS included. The demo model (Qwen2/ChatML) is checked too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from slm_wizard.core.deploy import templates as T
from slm_wizard.core.deploy.chat_template import ENGINE, ChatTemplate, render_tokenizer_template
from slm_wizard.core.deploy.inference_model import InferenceModelError, build_inference_model
from slm_wizard.core.deploy.template_check import (
    LIMITED,
    MATCH,
    MISMATCH,
    UNCHECKED,
    TemplateCheck,
    changed_lines,
    check_template,
)
from slm_wizard.core.deploy.template_derive import (
    SYSTEM_FOLDED,
    SYSTEM_REFUSED,
    SYSTEM_SUPPORTED,
    derive_template,
    no_system_role_message,
    system_role,
)
from tests.helpers.templates import (
    DATA,
    FAMILY_LIMITS,
    FAMILY_TEMPLATES,
    GEMMA3,
    LLAMA31,
    PUBLISHED,
    QWEN25,
    tiny_tokenizer_json,
)


def make_model_folder(root: Path, name: str, model_type: str, template: str, bos: str | None,
                      eos: str | None) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    (folder / "tokenizer.json").write_text(tiny_tokenizer_json(template, bos, eos),
                                           encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template,
        "bos_token": bos, "eos_token": eos,
    }))
    return folder


def make_hf_folder(root: Path, family: str, tokenizer_json: str | None = None) -> Path:
    model_type, template, bos, eos = FAMILY_TEMPLATES[family]
    return make_model_folder(root, family, model_type, template, bos, eos)


def assert_probes(check: TemplateCheck, role: str, start: bool) -> None:
    """Token for token where a PromptTemplate can follow the model; the stated limits where
    it cannot."""
    assert check.tokens_compared
    probes = {p.name: p for p in check.probes}
    for name in ("user only", "user, assistant, user"):
        p = probes[name]
        assert p.model_ids is not None and p.template_ids is not None
        assert p.equal is (not start), (name, p.diff)
        if start:  # only the conversation-start tokens differ
            n = len(p.model_ids) - len(p.template_ids)
            assert n > 0 and p.model_ids[n:] == p.template_ids
    sys_probe = probes["system + user"]
    if role == SYSTEM_REFUSED:
        assert sys_probe.refused
    else:
        assert sys_probe.equal is (role == SYSTEM_SUPPORTED), sys_probe.diff
    exact = role == SYSTEM_SUPPORTED and not start
    assert check.verdict == (MATCH if exact else LIMITED), check.warnings
    assert check.matches and not check.mismatch


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_templates_detected_derived_and_checked_token_by_token(
    name: str, tmp_path: Path
) -> None:
    model_type, bos, eos, family, role, start = PUBLISHED[name]
    source = (DATA / f"{name}.jinja").read_text(encoding="utf-8")
    folder = make_model_folder(tmp_path, name, model_type, source, bos, eos)
    assert T.detect_family(folder)[0] == family
    derived = derive_template(ChatTemplate.from_folder(folder))
    assert derived.system_role == role and derived.start.startswith(start)
    assert bool(derived.start) is bool(start)
    assert T.validate_template(derived.template) == derived.template
    check = check_template(folder, derived.template, family)
    assert_probes(check, role, bool(start))
    if start:
        assert any("starts every conversation with" in w for w in check.warnings)
        # What a conversation without a system message misses is named truly: a BOS token only
        # when the start has one that is not also every turn's marker (SmolLM2's BOS is
        # "<|im_start|>"), the default system text whenever there is more than that.
        warn = next(w for w in derived.limitations if "starts every conversation" in w)
        real_bos = bool(bos) and derived.start.startswith(bos) and \
            bos not in derived.template["user"]
        assert ("BOS" in warn) is real_bos, warn
        assert ("default system text" in warn) is (derived.start != bos), warn
    if role == SYSTEM_REFUSED:
        assert any("no system role" in w for w in check.warnings)


def test_at_least_25_published_templates_with_their_source() -> None:
    files = sorted(p.stem for p in DATA.glob("*.jinja"))
    assert files == sorted(PUBLISHED) and len(files) >= 25
    readme = (DATA / "README.md").read_text()
    for name in files:
        assert f"`{name}.jinja`" in readme
    assert "ggml-org/llama.cpp" in readme and re.search(r"\b[0-9a-f]{40}\b", readme)


@pytest.mark.parametrize("family_id", list(FAMILY_TEMPLATES))
def test_family_templates_derived_and_checked_token_by_token(family_id: str,
                                                             tmp_path: Path) -> None:
    folder = make_hf_folder(tmp_path, family_id)
    fam, confidence, reasons = T.detect_family(folder)
    assert fam == family_id and confidence >= 0.9, reasons
    derived = derive_template(ChatTemplate.from_folder(folder))
    role, start = FAMILY_LIMITS[family_id]
    assert derived.system_role == role and bool(derived.start) is start
    check = check_template(folder, derived.template, family_id)
    assert_probes(check, role, start)


@pytest.mark.parametrize("template, role, start", [
    (QWEN25, SYSTEM_SUPPORTED, "<|im_start|>system\nYou are Qwen"),
    (LLAMA31, SYSTEM_SUPPORTED, "<|begin_of_text|><|start_header_id|>system"),
    (GEMMA3, SYSTEM_FOLDED, "<bos>"),
])
def test_default_system_text_and_folding_are_stated_limits(template: str, role: str, start: str,
                                                           tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path, "m", "x", template, "<bos>" if "gemma" in start or
                               start == "<bos>" else "<|begin_of_text|>", None)
    derived = derive_template(ChatTemplate.from_folder(folder))
    assert derived.system_role == role and derived.start.startswith(start)
    check = check_template(folder, derived.template)
    assert check.verdict == LIMITED
    if role == SYSTEM_SUPPORTED:  # a given system message renders exactly
        assert {p.name: p.equal for p in check.probes}["system + user"]
        if template == LLAMA31:  # the dated system header (today, as the runtime renders it)
            from datetime import datetime

            today = datetime.now().strftime("%d %b %Y")
            assert f"Cutting Knowledge Date: December 2023\nToday Date: {today}" in \
                derived.template["system"]
        assert any("default system text" in w or "BOS" in w for w in check.warnings)
    else:
        assert any("folds the system text" in w for w in check.warnings)


@pytest.mark.parametrize("family_id", list(FAMILY_TEMPLATES))
def test_every_family_preset_is_as_close_as_the_derived_template(family_id: str,
                                                                 tmp_path: Path) -> None:
    folder = make_hf_folder(tmp_path, family_id)
    check = check_template(folder, T.template_for(family_id), family_id)
    assert check.matches, check.warnings


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


@pytest.mark.parametrize("family_id", list(FAMILY_TEMPLATES))
def test_detects_family_and_compares_with_the_tokenizer(family_id: str, tmp_path: Path) -> None:
    folder = make_hf_folder(tmp_path, family_id)
    fam, confidence, reasons = T.detect_family(folder)
    assert fam == family_id, reasons
    assert confidence >= 0.9
    assert any("model_type" in r for r in reasons) and any("markers" in r for r in reasons)
    check = check_template(folder, T.template_for(family_id), family_id)
    assert check.engine == ENGINE and check.tokenizer_text


def test_gemma_refuses_a_system_message_and_the_check_says_so(tmp_path: Path) -> None:
    folder = make_hf_folder(tmp_path, "gemma")
    render = render_tokenizer_template(folder)
    assert "System role not supported" in render.notes[0]
    assert all(m["role"] != "system" for m in render.messages)
    assert render.text.startswith("<bos><start_of_turn>user\nWhat does the lock do?")
    assert system_role(folder) == (SYSTEM_REFUSED, "System role not supported")
    assert "no system role" in no_system_role_message(folder, "System role not supported")


def test_mistral_folds_the_system_text_into_the_last_user_turn(tmp_path: Path) -> None:
    folder = make_hf_folder(tmp_path, "mistral")
    check = check_template(folder, T.template_for("mistral"), "mistral")
    assert "[INST] You are a helpful assistant.\n\nHow long does the battery last?[/INST]" in \
        check.tokenizer_text
    changed = changed_lines(check.diff)
    assert any("How long does the battery last?" in ln for ln in changed)
    assert check.verdict == LIMITED
    assert any("folds the system text" in w for w in check.warnings)


def test_a_missing_bos_is_caught_token_by_token(tmp_path: Path) -> None:
    """The old Llama 3 check always had a system message: a template without BOS in the
    system field passed. The probes without a system message catch it, as token ids."""
    folder = make_hf_folder(tmp_path, "llama3")
    no_bos = {**T.template_for("llama3"),
              "system": T.template_for("llama3")["system"].replace("<|begin_of_text|>", "")}
    check = check_template(folder, no_bos, "llama3")
    assert check.verdict == MISMATCH and check.mismatch
    sys_probe = {p.name: p for p in check.probes}["system + user"]
    assert not sys_probe.equal and sys_probe.model_ids[1:] == sys_probe.template_ids
    assert "token ids differ from position 0" in sys_probe.first_token_difference()


def test_a_wrong_template_is_a_mismatch_with_the_differing_lines(tmp_path: Path) -> None:
    folder = make_hf_folder(tmp_path, "qwen")
    check = check_template(folder, T.template_for("phi3"), "phi3")
    assert not check.matches and check.verdict == MISMATCH
    assert "-<|im_start|>user⏎" in check.diff
    assert "+<|user|>⏎" in check.diff
    assert any("<|im_start|>user" in w and "<|user|>" in w for w in check.warnings)


def test_unknown_model_falls_back_to_custom_with_no_confidence(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    fam, confidence, reasons = T.detect_family(tmp_path)
    assert (fam, confidence) == ("custom", 0.0)
    assert any("no chat template" in r for r in reasons)
    check = check_template(tmp_path, T.template_for("custom"))
    assert check.tokenizer_text is None and "no chat template" in check.warnings[0]
    assert check.verdict == UNCHECKED and not check.matches


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


def test_demo_model_is_chatml_and_its_derived_template_is_as_close_as_possible(
    demo_onnx: Path,
) -> None:
    fam, confidence, reasons = T.detect_family(demo_onnx)
    assert fam == "qwen" and confidence >= 0.9, reasons
    derived = derive_template(ChatTemplate.from_folder(demo_onnx))
    assert derived.template == T.template_for("qwen")
    # The demo template inserts its own system prompt when none is given: a PromptTemplate
    # cannot, and the check says so (token ids from the converted model's tokenizer).
    assert derived.start.startswith("<|im_start|>system\n")
    check = check_template(demo_onnx, derived.template, "qwen")
    assert check.tokens_compared and check.verdict == LIMITED, check.warnings
    assert {p.name: p.equal for p in check.probes} == {
        "user only": False, "system + user": True, "user, assistant, user": False}
    assert any("default system text" in w for w in check.warnings)


def test_a_converted_folder_is_checked_without_loading_the_model(demo_onnx: Path,
                                                                 tmp_path: Path) -> None:
    # Like an fp16 model on a CPU-only machine: the runtime cannot load it, the template can
    # still be checked with the tokenizer files next to it.
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("genai_config.json", "tokenizer.json", "tokenizer_config.json",
                 "chat_template.jinja"):
        if (demo_onnx / name).is_file():
            (folder / name).write_bytes((demo_onnx / name).read_bytes())
    check = check_template(folder, T.template_for("qwen"), "qwen")
    assert check.engine == ENGINE and check.tokens_compared
    assert check.verdict == LIMITED, check.warnings


def test_one_field_rule_for_the_screen_and_the_whole_template() -> None:
    assert T.field_problem("user", "<|user|>{Content}") == ""
    assert "exactly once (found 2)" in T.field_problem("user", "{Content}{Content}")
    assert "missing" in T.field_problem("user", None)
    with pytest.raises(T.TemplateError, match=r"'prompt' must hold \{Content\} exactly once"):
        T.validate_template({**T.template_for("qwen"), "prompt": "no placeholder"})
