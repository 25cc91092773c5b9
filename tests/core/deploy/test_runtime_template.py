"""The prompt Foundry Local's runtime really sends: every chat template rendered by the runtime's
own engine (onnxruntime-genai-core, the library foundry-local-sdk loads) and by transformers,
compared token for token; the two template places; repairs; malformed templates.

The folders hold only the tokenizer files (the engine reads no weights): a tiny byte-level
tokenizer whose special tokens are the template's markers, so BOS and markers are one id each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_wizard.core.deploy import templates as T
from slm_wizard.core.deploy.runtime_engine import render_in_runtime
from slm_wizard.core.deploy.runtime_template import (
    MATCH,
    MISMATCH,
    ORIGINAL_FILE,
    REPAIRED,
    UNCHECKED,
    check_runtime,
    deployed_template_files,
    repair_template,
)
from tests.helpers.templates import (
    DATA,
    FAMILY_TEMPLATES,
    GEMMA3,
    LLAMA31,
    PUBLISHED,
    QWEN25,
    tiny_tokenizer_json,
)

pytest.importorskip("onnxruntime_genai_core")
pytest.importorskip("transformers")


def tokenizer_folder(root: Path, name: str, template: str | None, bos: str | None = "<s>",
                     eos: str | None = "</s>", jinja: str | None = None,
                     config_template: object = "same") -> Path:
    """A converted-looking folder: genai_config.json, tokenizer.json, tokenizer_config.json
    (its chat_template: `template`, or `config_template` when given), chat_template.jinja."""
    folder = root / name
    folder.mkdir()
    markers = (template or "") + (jinja or "")
    (folder / "tokenizer.json").write_text(tiny_tokenizer_json(markers, bos, eos),
                                           encoding="utf-8")
    cfg: dict = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos,
                 "eos_token": eos}
    value = template if config_template == "same" else config_template
    if value is not None:
        cfg["chat_template"] = value
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    if jinja is not None:
        (folder / "chat_template.jinja").write_text(jinja, encoding="utf-8")
    (folder / "genai_config.json").write_text(json.dumps({"model": {
        "type": "qwen2", "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1,
        "context_length": 512, "vocab_size": 300}}))
    return folder


def runtime_ids_of(folder: Path, messages) -> list[int]:
    """What Foundry Local's runtime sends for `messages` as the folder stands."""
    answer = render_in_runtime(folder, [list(messages)])
    assert answer.renders[0].text is not None, answer.renders[0].error
    return answer.renders[0].ids


def as_deployed(root: Path, folder: Path, check) -> Path:
    """A copy of `folder` with the files a deployment writes into its copy."""
    import shutil

    copy = root / (folder.name + "-deployed")
    shutil.copytree(folder, copy)
    for name, text in deployed_template_files(folder, check).items():
        (copy / name).write_text(text, encoding="utf-8")
    return copy


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_published_template_renders_in_the_runtime_as_in_transformers(
    name: str, tmp_path: Path,
) -> None:
    _, bos, eos, _, role, _ = PUBLISHED[name]
    source = (DATA / f"{name}.jinja").read_text(encoding="utf-8")
    check = check_runtime(tokenizer_folder(tmp_path, name, source, bos, eos))
    assert check.verdict in (MATCH, REPAIRED), check.warnings
    assert check.engine.startswith("onnxruntime-genai 0.18")
    for p in check.probes:  # the runtime's token ids, the proof
        assert p.equal and (p.refused or p.runtime_ids == p.reference_ids)
    refused = {p.name for p in check.refused}
    assert ("system + user" in refused) is (role == "refused"), refused
    assert all(p.reference_error and p.runtime_error for p in check.refused)
    # TinyLlama's template relies on jinja2's trim_blocks: repaired; every other one renders
    # exactly as it is.
    assert (check.verdict == REPAIRED) is (name == "ollama-tinyllama-1.1b"), check.repairs
    # What a deployment writes is what the runtime then sends, as checked.
    deployed = as_deployed(tmp_path, tmp_path / name, check)
    count = check.count_probe()
    assert count is not None
    assert runtime_ids_of(deployed, count.messages) == count.reference_ids


@pytest.mark.parametrize("template, bos, eos", [
    *[(t, b, e) for _, t, b, e in FAMILY_TEMPLATES.values()],
    (QWEN25, None, "<|im_end|>"), (LLAMA31, "<|begin_of_text|>", "<|eot_id|>"),
    (GEMMA3, "<bos>", "<eos>"),
])
def test_hand_written_family_templates_match_in_the_runtime(template, bos, eos,
                                                             tmp_path: Path) -> None:
    check = check_runtime(tokenizer_folder(tmp_path, "m", template, bos, eos))
    assert check.verdict == MATCH, check.warnings
    # No "limited": the runtime renders the template itself, BOS and default system text too.
    assert "limited" not in check.summary and "closely" not in check.summary


def test_a_dated_template_is_rendered_with_todays_date_by_both(tmp_path: Path) -> None:
    from datetime import datetime

    check = check_runtime(tokenizer_folder(tmp_path, "m", LLAMA31, "<|begin_of_text|>",
                                           "<|eot_id|>"))
    today = datetime.now().strftime("%d %b %Y")
    probe = check.count_probe()
    assert check.verdict == MATCH and probe is not None
    assert f"Today Date: {today}" in (probe.runtime or "") + (probe.reference or "")
    assert "26 Jul 2024" not in (probe.runtime or "")


TRIM = ("{% for m in messages %}\n    {% if m['role'] == 'system' %}\n<|system|>{{ m['content'] }}"
        "<|end|>\n    {% else %}\n<|{{ m['role'] }}|>{{ m['content'] }}<|end|>\n    {% endif %}\n"
        "{% endfor %}\n{% if add_generation_prompt %}\n<|assistant|>\n{% endif %}")
TOOLS = ("{% if tools is not none %}You may call tools.{% endif %}{% for m in messages %}<|"
         "{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
ESCAPE = ("{% for m in messages %}{{ '<|' + m['role'] + '|>\\\n' + m['content'] + '<|end|>' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}")


@pytest.mark.parametrize("template, what", [
    (TRIM, "whitespace control"), (TOOLS, "tools defined as none"),
    (ESCAPE, "backslash escapes"),
])
def test_a_template_the_runtime_renders_differently_is_repaired_and_proven(
    template: str, what: str, tmp_path: Path,
) -> None:
    folder = tokenizer_folder(tmp_path, "m", template)
    check = check_runtime(folder)
    assert check.verdict == REPAIRED, check.warnings
    assert any(what in r for r in check.repairs)
    assert check.snippet  # what the runtime would have sent without the repair
    assert check.template != check.original == template
    # Deployed: the repaired template in both places, the original kept beside it; the runtime
    # then sends exactly transformers' rendering of the original, probe by probe.
    files = deployed_template_files(folder, check)
    assert files[ORIGINAL_FILE] == template and files["chat_template.jinja"] == check.template
    assert json.loads(files["tokenizer_config.json"])["chat_template"] == check.template
    deployed = as_deployed(tmp_path, folder, check)
    for p in check.probes:
        assert runtime_ids_of(deployed, p.messages) == p.reference_ids
    # Without the repair the runtime sends something else.
    assert runtime_ids_of(folder, check.probes[0].messages) != check.probes[0].reference_ids


def test_the_repair_leaves_a_template_without_those_constructs_alone() -> None:
    text = "{%- for m in messages %}{{- m['content'] }}{%- endfor %}"
    assert repair_template(text) == (text, [])


def test_a_template_that_cannot_be_repaired_is_a_mismatch_with_the_first_difference(
    tmp_path: Path,
) -> None:
    upper = ("{% for m in messages %}{{ '<|' + m['role'].upper() + '|>' + m['content'] }}"
             "{% endfor %}")
    check = check_runtime(tokenizer_folder(tmp_path, "m", upper))
    assert check.verdict == MISMATCH and not check.ok
    assert "only the runtime refuses it" in check.snippet and "upper" in check.snippet
    assert check.snippet in check.summary


def test_two_different_template_places_are_shown_and_deploy_writes_transformers_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    chatml = FAMILY_TEMPLATES["qwen"][1]
    other = chatml.replace("<|im_start|>", "<|im_start|> ")
    folder = tokenizer_folder(tmp_path, "m", other, None, "<|im_end|>", jinja=chatml)
    sources = T.template_sources(folder)
    assert sources.differ and sources.reference == chatml and sources.runtime == other
    check = check_runtime(folder)
    assert check.verdict == MATCH and check.template == chatml
    assert any("two different chat templates" in w for w in check.warnings)
    assert any(ln.startswith("+") and "<|im_start|> " in ln for ln in check.sources_differ)
    # As the folder stands, the runtime would send tokenizer_config.json's template ...
    probe = check.count_probe()
    assert probe is not None
    assert runtime_ids_of(folder, probe.messages) != probe.reference_ids
    # ... the deployed copy holds chat_template.jinja's in both places: checked, sent.
    files = deployed_template_files(folder, check)
    assert json.loads(files["tokenizer_config.json"])["chat_template"] == chatml
    assert "chat_template.jinja" not in files and ORIGINAL_FILE not in files
    assert runtime_ids_of(as_deployed(tmp_path, folder, check), probe.messages) == \
        probe.reference_ids
    # The source folder is left as it is.
    assert T.template_sources(folder).runtime == other
    # `slm-wizard template` warns and shows the difference.
    from slm_wizard.cli.main import main

    assert main(["template", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "two different chat templates" in captured.err
    assert "tokenizer_config.json chat_template (Foundry Local's runtime uses it)" in \
        captured.out


@pytest.mark.parametrize("value, words", [
    (5, "malformed: a number"), ([{"template": 3}], "a list without named templates"),
    ({"default": "x"}, "malformed: an object"),
])
def test_a_malformed_chat_template_is_reported_as_malformed_not_absent(
    value: object, words: str, tmp_path: Path,
) -> None:
    folder = tokenizer_folder(tmp_path, "m", None, config_template=value)
    sources = T.template_sources(folder)
    assert words in sources.config_problem and sources.runtime is None
    with pytest.raises(T.TemplateError, match="malformed"):
        T.chat_template_text(folder)
    assert any("malformed" in r for r in T.detect_family(folder)[2])
    check = check_runtime(folder)
    assert check.verdict == UNCHECKED and any(words in w for w in check.warnings)
    assert not any("has no chat template" in w and "malformed" not in w
                   for w in check.warnings[:1])


def test_named_templates_are_read_and_deployed_as_one_string(tmp_path: Path) -> None:
    chatml = FAMILY_TEMPLATES["qwen"][1]
    folder = tokenizer_folder(tmp_path, "m", None, None, "<|im_end|>", config_template=[
        {"name": "default", "template": chatml}, {"name": "tool_use", "template": "x"}])
    (folder / "tokenizer.json").write_text(tiny_tokenizer_json(chatml, "<|im_end|>"))
    check = check_runtime(folder)
    assert check.verdict == MATCH and any("named templates" in w for w in check.warnings)
    files = deployed_template_files(folder, check)
    assert json.loads(files["tokenizer_config.json"])["chat_template"] == chatml


def test_a_prompt_template_field_that_is_not_a_string_says_so() -> None:
    assert T.field_problem("system", 5) == "'system' is not a string (found a number)"
    assert T.field_problem("system", None) == "'system' is missing"
    with pytest.raises(T.TemplateError, match="'user' is not a string"):
        T.validate_template({**T.template_for("qwen"), "user": ["{Content}"]})


UPPER = ("{% for m in messages %}{{ '<|' + m['role'].upper() + '|>' + m['content'] }}"
         "{% endfor %}")


@pytest.mark.parametrize("template, code, verdict", [
    (FAMILY_TEMPLATES["qwen"][1], 0, MATCH), (TRIM, 0, REPAIRED), (UPPER, 1, MISMATCH),
])
def test_template_command_exit_codes_and_both_verdicts_in_json(
    template: str, code: int, verdict: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from slm_wizard.cli.main import main

    folder = tokenizer_folder(tmp_path, "m", template)
    assert main(["template", str(folder), "--json"]) == code
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == verdict == data["runtime"]["verdict"]
    assert data["prompt_template_check"]["applies_to"] == \
        "older Foundry Local services that read inference_model.json"
    assert main(["template", str(folder)]) == code
    out = capsys.readouterr().out
    assert "Foundry Local's runtime (onnxruntime-genai 0.18" in out
    if verdict == REPAIRED:
        assert "repaired: whitespace control made explicit" in out
    if verdict == MISMATCH:
        assert "could not be repaired" in out and "upper" in out


def test_template_command_on_a_folder_that_is_not_a_model_exits_2(tmp_path: Path) -> None:
    from slm_wizard.cli.main import main

    assert main(["template", str(tmp_path)]) == 2


def test_deploy_refuses_a_template_that_cannot_be_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import onnx

    from slm_wizard.core.deploy import foundry
    from slm_wizard.core.steps import deploy as deploy_step

    folder = tokenizer_folder(tmp_path, "m", UPPER)
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([], "g", [], [])),
              str(folder / "model.onnx"))
    calls: list[str] = []
    monkeypatch.setattr(foundry, "deploy", lambda *a, **k: calls.append("deploy"))
    opts = deploy_step.Options(folder, "m", cache_dir=tmp_path / "cache",
                               template=dict(T.template_for("phi4-mini")), family="phi4-mini")
    result = deploy_step.run(opts)
    assert result.template_refused and calls == [] and not result.ok
    assert result.template is not None and result.template.verdict == MISMATCH
    assert "Foundry Local's runtime renders the template differently" in result.error
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.onnx"))


def test_a_hugging_face_folder_is_checked_as_foundry_local_will_render_it(
    tmp_path: Path,
) -> None:
    """Before conversion (config.json, no genai_config.json): the runtime's engine still reads
    its tokenizer and template, so `template` on the source folder proves the prompt too."""
    folder = tokenizer_folder(tmp_path, "hf", LLAMA31, "<|begin_of_text|>", "<|eot_id|>")
    (folder / "genai_config.json").unlink()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "bos_token_id": 0,
                                                    "eos_token_id": [1, 2]}))
    check = check_runtime(folder)
    assert check.verdict == MATCH, check.warnings
    assert not (folder / "genai_config.json").exists()  # the folder is left as it is


def test_the_other_template_place_can_be_chosen_and_the_command_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from slm_wizard.cli.commands.template import options_from_args
    from slm_wizard.cli.main import build_parser, main
    from slm_wizard.core.deploy.runtime_template import CONFIG
    from slm_wizard.core.steps import deploy as deploy_step
    from slm_wizard.core.steps import template as template_step

    chatml = FAMILY_TEMPLATES["qwen"][1]
    other = chatml.replace("<|im_start|>", "<|im_start|> ")
    folder = tokenizer_folder(tmp_path, "m", other, None, "<|im_end|>", jinja=chatml)
    check = check_runtime(folder, CONFIG)
    assert check.verdict == MATCH and check.template == other
    files = deployed_template_files(folder, check)
    assert files["chat_template.jinja"] == other and "tokenizer_config.json" not in files
    # The choice is in the command that reproduces the run, for template and deploy alike.
    opts = template_step.Options(folder, chat_template=CONFIG)
    assert "--chat-template=tokenizer_config.json" in opts.argv()
    assert options_from_args(build_parser().parse_args(opts.argv()[1:])) == opts
    argv = deploy_step.Options(folder, "m", cache_dir=tmp_path / "c", chat_template=CONFIG).argv()
    assert "--chat-template=tokenizer_config.json" in argv
    assert main(["template", str(folder), "--chat-template=tokenizer_config.json", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runtime"]["verdict"] == MATCH
