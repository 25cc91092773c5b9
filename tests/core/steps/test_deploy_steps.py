"""The template and deploy step runners: one test prompt, one set of ModelConfig bounds, options
that round-trip through the headless command, and a record that keeps the cache and model id."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from slm_wizard.cli.main import build_parser
from slm_wizard.core.base.status import Status
from slm_wizard.core.deploy import foundry
from slm_wizard.core.deploy import inference_model as im
from slm_wizard.core.deploy.templates import template_for
from slm_wizard.core.steps import deploy as deploy_step
from slm_wizard.core.steps import template as template_step
from tests.helpers.templates import tiny_tokenizer_json


@pytest.fixture
def onnx_dir(tmp_path: Path) -> Path:
    """A folder that looks converted (genai_config.json of a Qwen2 model, context 512)."""
    folder = tmp_path / "model-onnx"
    folder.mkdir()
    (folder / "genai_config.json").write_text(json.dumps(
        {"model": {"type": "qwen2", "context_length": 512}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": CHATML}))
    (folder / "tokenizer.json").write_text(tiny_tokenizer_json(CHATML), encoding="utf-8")
    import onnx

    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([], "g", [], [])),
              str(folder / "model.onnx"))
    return folder


CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + "
          "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\n' }}{% endif %}")


def _parse_deploy(argv: list[str]) -> deploy_step.Options:
    from slm_wizard.cli.commands.deploy import options_from_args

    assert argv[:2] == ["slm-wizard", "deploy"]
    return options_from_args(build_parser().parse_args(argv[1:]))


def _parse_template(argv: list[str]) -> template_step.Options:
    from slm_wizard.cli.commands.template import options_from_args

    assert argv[:2] == ["slm-wizard", "template"]
    return options_from_args(build_parser().parse_args(argv[1:]))


# --------------------------------------------------------------------------- the test prompt


def test_test_prompt_is_the_first_domain_eval_prompt_next_to_the_model(onnx_dir: Path) -> None:
    (onnx_dir / "domain_eval.jsonl").write_text(
        "\n" + json.dumps({"prompt": "What is Lumo?", "expected": "x", "system": "Be brief."})
        + "\n" + json.dumps({"prompt": "Second?", "expected": "y"}) + "\n")
    assert deploy_step.choose_test_prompt(onnx_dir) == ("What is Lumo?", "Be brief.")


@pytest.mark.parametrize("content", [None, "{broken", json.dumps({"expected": "no prompt"})])
def test_without_a_usable_domain_eval_the_prompt_is_neutral(onnx_dir: Path,
                                                            content: str | None) -> None:
    if content is not None:
        (onnx_dir / "domain_eval.jsonl").write_text(content + "\n")
    assert deploy_step.choose_test_prompt(onnx_dir) == (deploy_step.NEUTRAL_PROMPT, None)


def test_the_cli_default_prompt_is_the_core_choice(onnx_dir: Path) -> None:
    (onnx_dir / "domain_eval.jsonl").write_text(json.dumps({"prompt": "Hi Lumo", "expected": "x"}))
    opts = _parse_deploy(["slm-wizard", "deploy", str(onnx_dir), "--name", "m",
                          "--cache-dir", "/tmp/c"])
    assert opts.prompt is None
    resolved = opts.resolved()
    assert (resolved.prompt, resolved.system) == ("Hi Lumo", None)
    # No family: the PromptTemplate is derived from the model's own chat template.
    assert resolved.family is None and resolved.max_length == 512  # context < 2048
    chosen = template_step.resolve(template_step.Options(onnx_dir))
    assert chosen.source == template_step.DERIVED and chosen.template == template_for("qwen")
    assert resolved.cache_dir == Path("/tmp/c")


# --------------------------------------------------------------------------- ModelConfig bounds


@pytest.mark.parametrize("key, value, ctx, message", [
    ("max_length", "0", None, "max_length must be at least 1"),
    ("max_length", "600", 512, "exceeds the model's context length 512"),
    ("max_length", "1.5", None, "whole number"),
    ("temperature", "0", None, "temperature must be > 0 and <= 2"),
    ("temperature", "abc", None, "temperature must be a number"),
    ("top_p", "1.01", None, "top_p must be > 0 and <= 1"),
    ("repetition_penalty", "0.5", None, "repetition_penalty must be between 1 and 2"),
])
def test_one_field_is_checked_by_the_core_validator(key: str, value: str, ctx: int | None,
                                                    message: str) -> None:
    with pytest.raises(im.InferenceModelError, match=message):
        im.validate_config_field(key, value, ctx)


def test_field_bounds_agree_with_the_whole_config_validator() -> None:
    assert im.validate_config_field("temperature", "2") == 2.0
    assert im.validate_config_field("max_length", "512", 512) == 512
    assert im.validate_config_field("repetition_penalty", 1) == 1.0
    assert im.default_max_length(None) == im.DEFAULT_MAX_LENGTH == im.ModelConfig().max_length
    assert im.default_max_length(300) == 300 and im.default_max_length(10_000) == 2048


# --------------------------------------------------------------------------- argv round trips


@pytest.mark.parametrize("opts", [
    deploy_step.Options(Path("/m/onnx"), "lumo-demo"),
    deploy_step.Options(Path("/m/onnx"), "lumo-demo", "3", Path("/c/cache"), family="llama3",
                        description="-a description with --dashes", max_length=256,
                        temperature=0.2, top_p=1.0, repetition_penalty=1.1,
                        search_defaults=True, prompt="--what is Lumo?", system="Be brief.",
                        max_tokens=16, replace=True),
    deploy_step.Options(Path("/m/onnx"), "x", cache_dir=Path("/c"),
                        prompt_template=Path("/m/onnx/custom.json"), prompt="Hello!"),
    deploy_step.Options(Path("/m/onnx"), "x", "2", Path("/c"), remove=True),
])
def test_deploy_argv_parses_back_to_the_same_options(opts: deploy_step.Options) -> None:
    assert _parse_deploy(opts.argv()) == opts


@pytest.mark.parametrize("opts", [
    template_step.Options(Path("/m/onnx")),
    template_step.Options(Path("/m/onnx"), family="phi3"),
    template_step.Options(Path("/m/onnx"), prompt_template=Path("/t.json")),
])
def test_template_argv_parses_back_to_the_same_options(opts: template_step.Options) -> None:
    assert _parse_template(opts.argv()) == opts


def test_resolved_deploy_options_round_trip_too(onnx_dir: Path) -> None:
    opts = deploy_step.Options(onnx_dir, "m", cache_dir=onnx_dir.parent / "cache").resolved()
    argv = opts.argv()
    assert not any(a.startswith("--family") for a in argv)  # derived again on a rerun
    assert f"--prompt={deploy_step.NEUTRAL_PROMPT}" in argv
    assert argv[argv.index("--cache-dir") + 1] == str(onnx_dir.parent / "cache")
    assert _parse_deploy(argv) == opts


# --------------------------------------------------------------------------- the template step


def test_a_custom_template_is_saved_next_to_the_model_and_named_by_file(
    onnx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The template as text (the Deploy screen's fields) is named by the plan, and only the run
    writes an edited one (next to the model, hidden), after the deployment went ahead."""
    calls: list[str] = []

    def fake_deploy(onnx, name, version, template, cfg, cache_dir, **kw):
        calls.append(template["system"])
        return _fake_deploy(deploy_step.Options(onnx, name, version, cache_dir))

    monkeypatch.setattr(foundry, "deploy", fake_deploy)
    cache = tmp_path / "cache"
    qwen = template_for("qwen")
    base = deploy_step.Options(onnx_dir, "m", cache_dir=cache)
    for family in ("qwen", None):  # the preset it was filled from; the derived template
        planned = deploy_step.plan(replace(base, family=family, template=qwen))
        assert (planned.options.family, planned.options.prompt_template) == (family, None)
        assert planned.options.template is None and planned.custom_template is None
    edited = {**qwen, "system": "<|im_start|>system\n{Content}<|im_end|>\n\n"}
    # (the extra blank line renders differently from the model's template: confirmed)
    opts = replace(base, family="qwen", template=edited, allow_template_mismatch=True)
    planned = deploy_step.plan(opts)
    path = planned.options.prompt_template
    assert planned.options.family is None and path is not None and path.parent == onnx_dir
    assert path.name.startswith(".")  # left out of the copy into the Foundry cache
    assert planned.template is not None and planned.template.source == template_step.CUSTOM
    assert not path.exists()  # the plan writes nothing
    with pytest.raises(ValueError, match="plan"):  # text has no command until it is named
        opts.argv()
    result = deploy_step.run(opts)
    assert result.ok and calls == [edited["system"]]
    assert result.options == planned.options
    back = template_step.resolve(template_step.Options(onnx_dir, prompt_template=path))
    assert back.family == "custom" and back.template == edited
    rec = deploy_step.to_record(result.options, result)
    assert f"--prompt-template={path}" in rec.command
    assert _parse_deploy(rec.command) == replace(result.options, replace=True)


def test_a_refused_edited_template_writes_nothing(onnx_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(foundry, "deploy", lambda *a, **kw: pytest.fail("deployed"))
    phi3 = {**template_for("phi3"), "system": "<|system|>\n{Content}<|end|>\n"}
    opts = deploy_step.Options(onnx_dir, "m", cache_dir=tmp_path / "c", family="phi3",
                               template=phi3)
    result = deploy_step.run(opts)  # a mismatch on a ChatML model: refused before writing
    assert result.template_refused and not result.ok
    with pytest.raises(deploy_step.DeployInputError, match="looks like a path"):
        deploy_step.run(replace(opts, name="../m", allow_template_mismatch=True))
    assert not template_step.custom_template_path(onnx_dir).exists()
    assert not (onnx_dir / im.FILENAME).exists() and not (tmp_path / "c").exists()


def test_the_plan_decides_the_cache_the_defaults_and_what_the_run_refuses(
    onnx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = foundry.CacheLocation(tmp_path / "found", "foundry cache location")
    monkeypatch.setattr(deploy_step, "cache_location", lambda cache_dir=None: found)
    planned = deploy_step.plan(deploy_step.Options(onnx_dir, "m"))
    assert planned.options.cache_dir == found.path
    assert planned.cache_source == "foundry cache location"
    assert planned.options.max_length == 512 and planned.options.prompt == \
        deploy_step.NEUTRAL_PROMPT
    assert planned.template is not None and planned.template.verdict == "match"
    assert planned.problems == [] and not planned.template_refused
    assert (Status.OK, f"Foundry Local cache: {found.path} (foundry cache location)") \
        in planned.info()
    chosen = deploy_step.plan(deploy_step.Options(onnx_dir, "m", cache_dir=tmp_path / "mine"))
    assert chosen.cache_source == deploy_step.YOUR_CHOICE
    # Bad input is listed, in the order the run checks it, and the run refuses the first.
    bad = deploy_step.Options(onnx_dir, "../m", "x", cache_dir=tmp_path / "c", top_p=0)
    planned = deploy_step.plan(bad)
    assert len(planned.problems) == 3 and "looks like a path" in planned.problems[0]
    assert "top_p" in planned.problems[-1]
    assert planned.template is not None  # the template is still planned and checked
    with pytest.raises(deploy_step.DeployInputError, match="looks like a path"):
        deploy_step.run(bad)
    # A mismatch the user did not confirm: planned as refused.
    assert deploy_step.plan(replace(bad, name="m", version="1", top_p=1.0,
                                    family="phi3")).template_refused


def test_dry_run_prints_the_plan_and_writes_nothing(onnx_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from slm_wizard.cli.main import main

    cache = tmp_path / "cache"
    argv = ["deploy", str(onnx_dir), "--name", "m", "--cache-dir", str(cache), "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "m:1" in out and f"Foundry Local cache: {cache} (your choice)" in out
    assert "PromptTemplate: derived" in out and "matches the model's chat template" in out
    assert "slm-wizard deploy " in out and "--dry-run" not in out
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model_id"] == "m:1" and data["problems"] == []
    assert data["template"]["verdict"] == "match" and data["cache_source"] == "your choice"
    assert _parse_deploy(data["command"]) == deploy_step.plan(
        deploy_step.Options(onnx_dir, "m", cache_dir=cache)).options
    assert main([*argv, "--family=phi3"]) == 0  # planned: the run would refuse the mismatch
    assert "--allow-template-mismatch" in capsys.readouterr().out
    assert main([*argv, "--top-p", "0"]) == 2
    assert "top_p" in capsys.readouterr().err
    assert main([*argv, "--remove"]) == 0
    assert f"m:1 from {cache}" in capsys.readouterr().out
    assert not cache.exists() and not (onnx_dir / im.FILENAME).exists()


def test_template_step_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(template_step.TemplateInputError, match="is not a folder"):
        template_step.run(template_step.Options(tmp_path / "missing"))
    (tmp_path / "config.json").write_text('{"model_type": "qwen2"}')
    (tmp_path / "tokenizer.json").write_text("{}")
    bad = tmp_path / "t.json"
    bad.write_text('{"system": "no placeholder"}')
    with pytest.raises(template_step.TemplateInputError, match="PromptTemplate"):
        template_step.run(template_step.Options(tmp_path, prompt_template=bad))
    assert isinstance(template_step.TemplateInputError("x"), ValueError)


# --------------------------------------------------------------------------- run and record


def test_deploy_refuses_bad_input_before_writing(onnx_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for opts, message in [
        (deploy_step.Options(tmp_path, "m", cache_dir=cache), "not a converted model"),
        (deploy_step.Options(onnx_dir, "../m", cache_dir=cache), "looks like a path"),
        (deploy_step.Options(onnx_dir, "m", cache_dir=cache, max_length=4096),
         "context length 512"),
        (deploy_step.Options(onnx_dir, "m", cache_dir=cache, top_p=0), "top_p"),
        # 0 was taken as "the default" (max_length) or found only after copy, register, load
        (deploy_step.Options(onnx_dir, "m", cache_dir=cache, max_length=0), "--max-length"),
        (deploy_step.Options(onnx_dir, "m", cache_dir=cache, max_tokens=0), "--max-tokens"),
        (deploy_step.Options(onnx_dir, "m", cache_dir=cache, max_tokens=10**9), "--max-tokens"),
    ]:
        with pytest.raises(deploy_step.DeployInputError, match=message):
            deploy_step.run(opts)
    assert not cache.exists() and not (onnx_dir / "inference_model.json").exists()


def _fake_deploy(opts: deploy_step.Options) -> foundry.DeployResult:
    assert opts.cache_dir is not None
    dep = foundry.DeployResult(opts.name, opts.version, f"{opts.name}:{opts.version}",
                               opts.cache_dir, opts.cache_dir / "custom" / opts.name,
                               run_command=f"foundry model run {opts.name}")
    dep.stages = [foundry.stage_result(s, Status.OK, "done", 0.5) for s in foundry.STAGES]
    return dep


def test_the_record_keeps_the_chosen_cache_the_model_id_and_the_command(onnx_dir: Path,
                                                                        tmp_path: Path) -> None:
    cache = tmp_path / "my cache"
    opts = deploy_step.Options(onnx_dir, "lumo", "2", cache, family="qwen").resolved()
    result = deploy_step.Result(opts, Status.OK, family="qwen", deploy=_fake_deploy(opts))
    rec = deploy_step.to_record(opts, result)
    assert rec.step == "deploy" and rec.status == Status.OK and rec.done
    assert rec.options["cache_dir"] == cache and rec.options["model_id"] == "lumo:2"
    assert rec.files["cache"] == str(cache)
    assert rec.figures["answer (s)"] == "0.50"
    # The reproduce command replaces what this run installed instead of asking.
    assert _parse_deploy(rec.command) == replace(opts, replace=True)
    saved = rec.to_dict()
    assert saved["options"]["cache_dir"] == str(cache)  # TOML-ready: the path as text

    failed = deploy_step.Result(opts, Status.FAIL, error="load failed: no")
    rec = deploy_step.to_record(opts, failed)
    assert rec.status == Status.FAIL and not rec.command and "load failed" in rec.outcome


def test_template_step_record_does_not_claim_a_deployment(onnx_dir: Path) -> None:
    opts = template_step.Options(onnx_dir, family="qwen")
    result = template_step.resolve(opts)
    rec = template_step.to_record(opts, result)
    assert rec.step == "deploy" and not rec.done
    assert rec.command == ["slm-wizard", "template", str(onnx_dir), "--family=qwen"]


def test_a_saved_run_keeps_the_chosen_cache_and_model_id(onnx_dir: Path, tmp_path: Path) -> None:
    """Resume used to forget the cache folder (foundry_cache = "" was saved)."""
    from slm_wizard.core.run.record import RunRecord
    from tests.helpers import converted_record

    cache = tmp_path / "chosen-cache"
    opts = deploy_step.Options(onnx_dir, "lumo", cache_dir=cache, family="qwen").resolved()
    result = deploy_step.Result(opts, Status.OK, family="qwen", deploy=_fake_deploy(opts))
    run = converted_record(None, onnx_dir)
    run.record(deploy_step.to_record(opts, result))
    back = RunRecord.from_dict(json.loads(json.dumps(run.to_dict())))
    assert back.foundry_cache == cache and back.deployed_id == "lumo:1"
    assert (back.deployed_name, back.deployed_version) == ("lumo", "1")  # stored apart
    rec = back.get("deploy")
    assert rec is not None and rec.done
    assert rec.options["cache_dir"] == str(cache) and rec.options["model_id"] == "lumo:1"
    assert _parse_deploy(rec.command).cache_dir == cache


def test_template_on_a_folder_that_is_not_a_model_exits_2_naming_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from slm_wizard.cli.main import main

    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(template_step.TemplateInputError) as err:
        template_step.run(template_step.Options(tmp_path))
    assert "genai_config.json" in str(err.value) and "tokenizer.json" in str(err.value)
    assert main(["template", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "is not a model folder" in captured.err and "genai_config.json" in captured.err
    assert "ChatML" not in captured.out and captured.out == ""


def test_template_step_default_is_derived_and_its_record_says_the_verdict(onnx_dir: Path) -> None:
    result = template_step.run(template_step.Options(onnx_dir))
    assert result.source == template_step.DERIVED and result.template == template_for("qwen")
    assert result.verdict == "match" and result.status == Status.OK
    rec = template_step.to_record(template_step.Options(onnx_dir), result)
    assert "matches the model's chat template" in rec.outcome
    assert rec.command == ["slm-wizard", "template", str(onnx_dir)]


def test_sample_conversation_comes_from_the_domain_eval_else_neutral(onnx_dir: Path) -> None:
    from slm_wizard.core.deploy.templates import SAMPLE_CONVERSATION

    assert template_step.sample_conversation(onnx_dir) == SAMPLE_CONVERSATION
    (onnx_dir / "domain_eval.jsonl").write_text(
        json.dumps({"prompt": "How do I reset the router?", "expected": "Hold the button.",
                    "system": "You help with routers."}) + "\n"
        + json.dumps({"prompt": "Which port is WAN?", "expected": "The blue one."}) + "\n")
    convo = template_step.sample_conversation(onnx_dir)
    assert [m["role"] for m in convo] == ["system", "user", "assistant", "user"]
    assert [m["content"] for m in convo] == ["You help with routers.",
                                             "How do I reset the router?", "Hold the button.",
                                             "Which port is WAN?"]
    check = template_step.check(onnx_dir, template_for("qwen"), "qwen")
    assert "How do I reset the router?" in check.prompt_template_text
    assert "How do I reset the router?" in (check.tokenizer_text or "")


def test_deploy_refuses_a_mismatching_template_unless_confirmed(
    onnx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from slm_wizard.cli.main import main

    calls: list[deploy_step.Options] = []

    def fake_deploy(onnx, name, version, template, cfg, cache_dir, **kw):
        opts = deploy_step.Options(onnx, name, version, cache_dir)
        calls.append(opts)
        return _fake_deploy(opts)

    monkeypatch.setattr(foundry, "deploy", fake_deploy)
    cache = tmp_path / "cache"
    # A Phi-3 template on a ChatML model: the one check finds a mismatch, nothing is deployed.
    opts = deploy_step.Options(onnx_dir, "m", cache_dir=cache, family="phi3")
    result = deploy_step.run(opts)
    assert result.status == Status.FAIL and result.template_refused and calls == []
    # The runtime renders the model's own template exactly; the PromptTemplate (older services)
    # is the mismatch that stops the run.
    assert result.template is not None and result.template.verdict == "match"
    assert result.template.prompt_template_verdict == "mismatch" and result.template.mismatch
    assert "--allow-template-mismatch" in result.error
    assert not (onnx_dir / "inference_model.json").exists()
    argv = ["deploy", str(onnx_dir), "--name", "m", "--cache-dir", str(cache), "--family=phi3"]
    assert main(argv) == 1 and calls == []
    assert "does not match the model's chat template" in capsys.readouterr().err
    # Confirmed: deployed, and the record says the user overrode the check.
    confirmed = replace(opts, allow_template_mismatch=True)
    result = deploy_step.run(confirmed)
    assert result.ok and len(calls) == 1
    rec = deploy_step.to_record(confirmed, result)
    # Deployed with a template warning: a warning, not "ok", in the record Summary shows.
    assert result.status == Status.WARN and rec.status == Status.WARN
    assert any("--allow-template-mismatch" in n for n in rec.notes)
    assert "--allow-template-mismatch" in rec.command
    assert _parse_deploy(rec.command).allow_template_mismatch
    # The derived template (no --family) matches and deploys without asking.
    result = deploy_step.run(deploy_step.Options(onnx_dir, "m", cache_dir=cache, replace=True))
    assert result.ok and result.template.verdict == "match" and len(calls) == 2
    assert deploy_step.to_record(result.options, result).status == Status.OK
    assert not any("allow" in n for n in deploy_step.to_record(result.options, result).notes)


def test_inference_model_json_gets_the_umask_mode_in_the_model_folder_and_the_cache(
    onnx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import stat

    monkeypatch.setattr(foundry, "sdk_available", lambda: False)  # export only: write + copy
    monkeypatch.setattr("slm_wizard.core.base.proc.which", lambda name: None)
    old = os.umask(0o022)
    try:
        result = deploy_step.run(deploy_step.Options(onnx_dir, "m", cache_dir=tmp_path / "c"))
    finally:
        os.umask(old)
    assert result.ok and result.deploy is not None and result.deploy.exported, result.error
    for path in (onnx_dir / im.FILENAME, tmp_path / "c" / "custom" / "m" / im.FILENAME):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


@pytest.mark.parametrize("folder, name", [
    ("Mon modèle ü-int4", "Mon-modele-u-int4"),  # accents keep their letter, no "--"
    ("my run  (v2)-int4", "my-run-v2-int4"),
    ("日本語-int4", "int4"),
    ("???", "my-model"),
])
def test_suggested_name_from_a_non_ascii_folder_is_readable_and_valid(folder, name,
                                                                     tmp_path) -> None:
    got = deploy_step.suggest_name(tmp_path / folder)
    assert got == name
    assert im.validate_name(got) == got


def test_the_prompt_template_is_derived_and_checked_from_the_chosen_chat_template(
    tmp_path: Path,
) -> None:
    """--chat-template tokenizer_config.json deploys that template: the PromptTemplate is
    derived from it and checked against it (Qwen2.5's default system text: the closest a
    PromptTemplate can be), not against chat_template.jinja's plain ChatML (token for token)."""
    import glob
    import tempfile

    from slm_wizard.core.deploy.template_check import LIMITED, MATCH
    from tests.helpers.templates import CHATML, QWEN25, make_template_onnx

    folder = make_template_onnx(tmp_path / "dual", "qwen")
    (folder / "chat_template.jinja").write_text(CHATML)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = QWEN25
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    before = set(glob.glob(f"{tempfile.gettempdir()}/slm-wizard-chosen-template-*"))
    plans = {source: deploy_step.plan(deploy_step.Options(
        folder, "dual", cache_dir=tmp_path / "cache", chat_template=source)).template
        for source in ("chat_template.jinja", "tokenizer_config.json")}
    assert plans["chat_template.jinja"].check.verdict == MATCH
    chosen = plans["tokenizer_config.json"]
    assert chosen.check.verdict == LIMITED
    assert any("default system text" in w for w in chosen.check.warnings)
    assert "You are Qwen" not in chosen.template["user"]
    assert set(glob.glob(f"{tempfile.gettempdir()}/slm-wizard-chosen-template-*")) == before
