"""Resume is exact (issue 25, item 5): the Convert options come back as they were run, a model
converted last time that checks out is recognised (Continue enabled), a run the wizard quit
during is saved as started and named on resume."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from textual.widgets import Button, Input, Select, Static, Switch

from slm_wizard.core.base.status import Status
from slm_wizard.core.run.record import RunRecord, StepRecord, started_record
from slm_wizard.core.run.settings import Settings, load_settings, remember, restore, save_settings
from slm_wizard.core.steps import convert as convert_step
from slm_wizard.core.steps import resume as resume_step
from tests.helpers import converted_record, record_deployment
from tests.helpers.folders import make_model


def _quantized_onnx(folder: Path, bits: int = 8, block: int = 32) -> Path:
    """A converted-model folder whose graph holds one MatMulNBits of `bits` and `block`
    (symmetric: no zero points), as the verification reads it."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("MatMulNBits", ["A", "B", "scales"], ["Y"], domain="com.microsoft",
                            K=32, N=4, bits=bits, block_size=block)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [1, 32])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
        initializer=[helper.make_tensor("B", TensorProto.UINT8, [4, 1, 32 * bits // 8],
                                        [0] * (4 * 32 * bits // 8)),
                     helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0] * 4)])
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("com.microsoft", 1)]),
              str(folder / "model.onnx"))
    (folder / "genai_config.json").write_text(json.dumps(
        {"model": {"context_length": 128, "decoder": {"filename": "model.onnx"}},
         "search": {"max_length": 128}}))
    return folder


def test_interrupted_runs_are_saved_and_named(tmp_path: Path) -> None:
    record = converted_record(tmp_path / "hf", _quantized_onnx(tmp_path / "onnx", 4), "int4")
    opts = convert_step.Options(tmp_path / "hf", tmp_path / "o8", precision="int8")
    record.started(started_record("convert", "the int8 conversion into o8", opts.to_dict(),
                                  opts.argv()))
    settings = Settings()
    remember(settings, record, "convert")
    save_settings(settings, tmp_path / "cfg")
    again, _ = restore(load_settings(tmp_path / "cfg")[0], str(tmp_path / "hf"))
    said = again.interrupted()["convert"]
    assert said.startswith("Convert: the int8 conversion into o8 (started ")
    assert "was interrupted" in said
    assert resume_step.convert_options(again) == opts  # the interrupted run's options
    assert resume_step.convert_options(again, done=True).precision == "int4"  # what it made
    again.record(convert_step.to_record(opts, convert_step.failed("boom")))
    assert again.unfinished == {}  # a run that ends is no longer unfinished


async def test_convert_comes_back_with_its_options_and_its_model(wizard, tmp_path: Path) -> None:
    onnx = _quantized_onnx(tmp_path / "lumo-int8")
    record = converted_record(make_model(tmp_path / "hf"), onnx, "int8", block_size=32)
    record_deployment(record, "lumo", "1", tmp_path / "cache")
    assert record.get("convert").options["precision"] == "int8"
    async with wizard.run("convert", record) as pilot:
        screen = pilot.app.screen
        for _ in range(50):
            await pilot.pause(0.05)
            if not screen.query_one("#continue", Button).disabled:
                break
        assert screen.query_one("#precision", Select).value == "int8"  # not int4
        assert screen.query_one("#output", Input).value == str(onnx)
        summary = str(screen.query_one("#result-summary", Static).content)
        assert f"Found the verified INT8 model from last time: {onnx}" in summary
        assert not screen.query_one("#continue", Button).disabled
        assert pilot.app.state.deployed_name == "lumo"  # nothing reset


async def test_a_model_that_does_not_check_out_is_said_so(wizard, tmp_path: Path) -> None:
    onnx = _quantized_onnx(tmp_path / "lumo-int8", bits=4)  # the graph is not what was asked
    record = converted_record(make_model(tmp_path / "hf"), onnx, "int8")
    async with wizard.run("convert", record) as pilot:
        screen = pilot.app.screen
        for _ in range(50):
            await pilot.pause(0.05)
            if "check out" in str(screen.query_one("#result-summary", Static).content):
                break
        summary = str(screen.query_one("#result-summary", Static).content)
        assert "does not check out" in summary and "8-bit" in summary
        assert screen.query_one("#continue", Button).disabled


async def test_fp32_interrupted_comes_back_as_fp32(wizard, tmp_path: Path) -> None:
    hf = make_model(tmp_path / "hf")
    record = RunRecord(model_dir=hf)
    opts = convert_step.Options(hf, tmp_path / "mine-fp32", precision="fp32", symmetric=False)
    record.started(started_record("convert", "the fp32 conversion", opts.to_dict()))
    async with wizard.run("convert", record) as pilot:
        screen = pilot.app.screen
        await pilot.pause()
        assert screen.query_one("#precision", Select).value == "fp32"
        assert screen.query_one("#symmetric", Switch).value is False
        assert screen.query_one("#output", Input).value == str(tmp_path / "mine-fp32")
        assert "was interrupted" in str(screen.query_one("#result-summary", Static).content)
        assert pilot.app.state.unfinished == {}  # named once


async def test_a_conversion_under_way_is_saved_as_started(wizard, tmp_path: Path,
                                                          monkeypatch) -> None:
    """Quit during a conversion: the saved record holds it as started, with its options."""
    release = threading.Event()

    def slow_run(options, *, on_progress=None, cancel=None, plan=None):
        release.wait(10)
        return convert_step.failed("stopped")

    monkeypatch.setattr(convert_step, "run", slow_run)
    hf = make_model(tmp_path / "hf")
    async with wizard.run("convert", RunRecord(model_dir=hf)) as pilot:
        screen = pilot.app.screen
        screen.query_one("#precision", Select).value = "int8"
        await pilot.pause()
        plan = convert_step.plan(screen.options())
        screen._start(plan)
        await pilot.pause()
        saved, _ = load_settings(wizard.config_dir)
        rec = saved.projects[str(hf)]
        assert rec.unfinished["convert"].status == Status.RUNNING
        assert rec.unfinished["convert"].options["precision"] == "int8"
        release.set()


async def test_welcome_names_the_interrupted_run(wizard, tmp_path: Path) -> None:
    hf = make_model(tmp_path / "hf")
    record = RunRecord(model_dir=hf)
    record.started(StepRecord("convert", Status.RUNNING, "the int8 conversion into x"))
    settings = Settings()
    remember(settings, record, "convert")
    save_settings(settings, wizard.config_dir)
    async with wizard.run("welcome") as pilot:
        await pilot.pause()
        hint = str(pilot.app.screen.query_one("#resume-hint", Static).content)
        assert "Convert: the int8 conversion into x" in hint and "was interrupted" in hint


async def test_deploy_recognises_the_deployment_of_last_time(wizard, tmp_path: Path) -> None:
    from tests.helpers.folders import make_onnx

    onnx = make_onnx(tmp_path / "onnx")
    cache = tmp_path / "cache"
    record = converted_record(tmp_path / "hf", onnx, deployed="lumo-x", version="3",
                              foundry_cache=cache)
    (cache / "custom" / "lumo-x").mkdir(parents=True)
    (cache / "custom" / "lumo-x" / "inference_model.json").write_text("{}")
    async with wizard.run("deploy", record) as pilot:
        screen = pilot.app.screen
        await pilot.pause()
        assert screen.query_one("#name", Input).value == "lumo-x"
        assert screen.query_one("#version", Input).value == "3"
        assert "lumo-x:3 is still deployed" in str(
            screen.query_one("#deploy-outcome", Static).content)
        assert not screen.query_one("#continue", Button).disabled
    (cache / "custom" / "lumo-x" / "inference_model.json").unlink()
    async with wizard.run("deploy", record) as pilot:
        screen = pilot.app.screen
        await pilot.pause()
        assert "no longer in" in str(screen.query_one("#deploy-outcome", Static).content)
        assert screen.query_one("#continue", Button).disabled


def test_chat_settings_come_back_as_last_used(tmp_path: Path) -> None:
    from dataclasses import replace as with_

    from slm_wizard.core.runtime.chat import GenerationSettings
    from slm_wizard.core.steps import chat as chat_step

    record = converted_record(tmp_path / "hf", _quantized_onnx(tmp_path / "onnx"), "int8")
    assert resume_step.chat_settings(record, GenerationSettings()) is None
    log = chat_step.ChatLog()
    result = chat_step.Result(backend="ort", status=Status.OK, text="hi")
    first = chat_step.Options(str(tmp_path / "onnx"), system="Old.", temperature=0.2)
    log.add(with_(first, prompt="a"), result)
    log.add(with_(first, prompt="b", system="You are Lumo.", temperature=0.7, top_k=5,
                  max_tokens=99), result)
    record.record(log.to_record())
    again = RunRecord.from_dict(record.to_dict())  # as saved and read back
    system, settings, backend = resume_step.chat_settings(again, GenerationSettings())
    assert system == "You are Lumo." and backend == "ort"
    assert (settings.temperature, settings.top_k, settings.max_tokens) == (0.7, 5, 99)


async def test_chat_screen_resumes_with_the_system_prompt_used(wizard, tmp_path: Path) -> None:
    from slm_wizard.core.steps import chat as chat_step

    onnx = _quantized_onnx(tmp_path / "onnx")
    record = converted_record(tmp_path / "hf", onnx, "int8")
    log = chat_step.ChatLog()
    log.add(chat_step.Options(str(onnx), system="You are Lumo.", top_k=7, prompt="a"),
            chat_step.Result(backend="ort", status=Status.OK, text="hi"))
    record.record(log.to_record())
    async with wizard.run("chat", record) as pilot:
        await pilot.pause()
        config = pilot.app.screen.config
        assert config.system_prompt == "You are Lumo." and config.settings.top_k == 7


async def test_validate_choices_come_back_for_the_same_model_only(wizard, tmp_path: Path) -> None:
    """Issue 25 item 5: the Validate step's phases, size and domain file of its last run come
    back on resume; a record of another model's run restores nothing."""
    from textual.widgets import Checkbox

    from slm_wizard.core.steps import checklist as plan_step
    from tests.helpers.folders import make_onnx

    onnx = make_onnx(tmp_path / "onnx")
    domain = tmp_path / "mine.jsonl"
    domain.write_text(json.dumps({"prompt": "Q?", "expected": "A"}) + "\n", encoding="utf-8")
    state = converted_record(None, onnx)
    plan = plan_step.make_plan(state, ("checklist",), "standard", "ort", domain_file=str(domain))
    state.record(StepRecord("validate", Status.OK, "ran", options=plan.to_dict()))
    choices = plan_step.last_choices(state)
    assert choices == plan_step.Choices(("checklist",), "standard", "ort", str(domain))
    async with wizard.run("validate", state, size=(80, 24)) as pilot:
        screen = pilot.app.screen
        await pilot.pause()
        ticked = {p: screen.query_one(f"#run-{p}", Checkbox).value for p in ("bench",
                                                                            "checklist")}
        assert ticked == {"bench": False, "checklist": True}
        assert screen.query_one("#val-size", Select).value == "standard"
        assert screen.query_one("#val-domain", Input).value == str(domain)
    other = converted_record(None, make_onnx(tmp_path / "other"))
    other.record(StepRecord("validate", Status.OK, "ran", options=plan.to_dict()))
    assert plan_step.last_choices(other) is None  # it measured another model
