"""The whole wizard under Pilot, on the demo model, as a first-time user walks it.

Welcome (use the demo) -> Prerequisites -> Model -> Convert (INT4, real Olive) -> Deploy (a temp
Foundry Local cache, real SDK) -> Chat (a domain question answered) -> Validate (checklist) ->
Summary; then a second app instance resumes from the saved settings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from textual.widgets import Button

from slm_wizard.core.convert.verify import inspect_graph
from slm_wizard.core.run.settings import load_settings
from slm_wizard.core.run.summary import as_shell, reproduce_commands
from slm_wizard.tui.app import WizardApp
from tests.helpers import wait_until

SIZE = (120, 40)


async def _click(pilot, selector: str, timeout: float = 120.0) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: not screen.query_one(selector, Button).disabled, timeout,
                     what=f"{selector} to be enabled on {type(screen).__name__}")
    button = screen.query_one(selector, Button)
    button.scroll_visible(animate=False)
    await pilot.pause()
    button.press()
    await pilot.pause()


async def test_whole_flow_then_resume(demo_model: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    cache = tmp_path / "foundry"
    question = json.loads((demo_model / "domain_eval.jsonl").read_text().splitlines()[1])

    app = WizardApp(config_dir=cfg)
    async with app.run_test(size=SIZE) as pilot:
        await _click(pilot, "#use-demo")
        await wait_until(pilot, lambda: app.current_step == "prereqs", 300, "the demo model")
        assert app.state.model_dir == demo_model and app.state.is_demo

        await _click(pilot, "#continue")  # prerequisites
        await wait_until(pilot, lambda: app.current_step == "model", what="the Model step")
        await _click(pilot, "#continue")  # model inspected
        await wait_until(pilot, lambda: app.current_step == "convert", what="the Convert step")

        await _click(pilot, "#run")
        await wait_until(pilot, lambda: "convert" in app.state.done, 300, "the conversion")
        onnx = app.state.onnx_dir
        assert onnx is not None and (onnx / "genai_config.json").is_file()
        assert app.state.precision == "int4"
        await _click(pilot, "#continue")
        await wait_until(pilot, lambda: app.current_step == "deploy", what="the Deploy step")

        app.screen.query_one("#cache-dir").value = str(cache)
        await pilot.pause()
        await _click(pilot, "#deploy")
        await wait_until(pilot, lambda: "deploy" in app.state.done, 300, "the deployment")
        assert app.state.deployed_name and app.state.deployed_version == "1"
        name = app.state.deployed_name
        assert (cache / "custom" / name / "inference_model.json").is_file()
        await _click(pilot, "#continue")
        await wait_until(pilot, lambda: app.current_step == "chat", what="the Chat step")

        chat = app.screen
        await wait_until(pilot, lambda: chat.session is not None, 120, "the model to load")
        chat.query_one("#prompt").value = question["prompt"]
        chat.query_one("#prompt").focus()
        await pilot.press("enter")

        def shown() -> str:
            return " ".join(str(w.source) for w in chat.query("Markdown"))

        await wait_until(pilot, lambda: question["expected"] in shown() and not chat.generating,
                         120, "the expected answer on screen")
        await _click(pilot, "#chat-continue")
        await wait_until(pilot, lambda: app.current_step == "validate", what="the Validate step")

        validate = app.screen
        validate.query_one("#run-bench").value = False
        await pilot.pause()
        await _click(pilot, "#val-run")
        await wait_until(pilot, lambda: "validate" in app.state.done, 600, "the checklist")
        report_dir = Path(app.state.steps["validate"].options["report_dir"])
        assert report_dir.is_dir() and any(report_dir.iterdir())
        await _click(pilot, "#val-continue")
        await wait_until(pilot, lambda: app.current_step == "serve", what="the Serve step")
        assert not app.screen.query_one("#serve-start").disabled  # the deployed model: ready
        await pilot.press("ctrl+n")  # on to the Summary without serving
        await wait_until(pilot, lambda: app.current_step == "summary", what="the Summary")

        commands = app.screen.query_one("#commands").text
        assert f"slm-wizard convert {demo_model}" in commands
        assert f"--name {name}" in commands
        assert app.state.steps["validate"].figures
        recipe = reproduce_commands(app.state)
        assert commands == as_shell(recipe)
        # Every step the walk passed through is recorded as done (Continue or ctrl+n alike).
        assert {"welcome", "prereqs", "model", "convert", "deploy", "chat",
                "validate"} <= app.state.done

    settings, notice = load_settings(cfg)
    assert notice is None and settings.recent == [str(demo_model)]
    assert settings.projects[str(demo_model)].last_step == "summary"

    _rerun_headless(recipe, onnx, cache, name, report_dir, tmp_path)

    again = WizardApp(config_dir=cfg)
    async with again.run_test(size=SIZE) as pilot:
        await _click(pilot, "#resume")
        await wait_until(pilot, lambda: again.current_step == "summary", what="resume")
        assert again.state.onnx_dir == onnx
        assert (again.state.deployed_name, again.state.deployed_version) == (name, "1")
        assert {"convert", "deploy", "chat", "validate"} <= again.state.done


def _rerun_headless(recipe: list[list[str]], onnx: Path, cache: Path, name: str,
                    report_dir: Path, tmp_path: Path) -> None:
    """Run the Summary's commands headless, with fresh settings, and compare what they make
    with what the wizard made: the same quantization in the graph, the same PromptTemplate and
    model id in the same cache, the same checklist items."""
    wizard_graph = inspect_graph(onnx / "model.onnx")
    deployed = cache / "custom" / name / "inference_model.json"
    wizard_im = json.loads(deployed.read_text())
    wizard_checks = [c["id"] for c in
                     json.loads((report_dir / "validate.json").read_text())["data"]["checks"]]
    shutil.move(onnx, tmp_path / "wizard-onnx")  # the recipe converts into the same folder

    exe = Path(sys.executable).with_name("slm-wizard")
    env = {**os.environ, "SLM_WIZARD_CONFIG_DIR": str(tmp_path / "fresh-cfg"),
           "SLM_WIZARD_DATA_DIR": str(tmp_path / "fresh-data")}
    kinds = [cmd[1] for cmd in recipe]
    assert kinds[0] == "demo"
    assert {"check", "inspect", "convert", "deploy", "chat", "validate"} <= set(kinds)
    outputs = {}
    for cmd in recipe:
        assert cmd[0] == "slm-wizard"
        res = subprocess.run([str(exe), *cmd[1:]], env=env, capture_output=True, text=True,
                             timeout=600, stdin=subprocess.DEVNULL)
        assert "Traceback" not in res.stderr, res.stderr
        # check may report a warning (exit 1 on a machine without Foundry's CLI); the rest succeed
        assert res.returncode == 0 or cmd[1] == "check", (cmd, res.stdout, res.stderr)
        outputs[cmd[1]] = res.stdout

    assert inspect_graph(onnx / "model.onnx") == wizard_graph
    headless_im = json.loads(deployed.read_text())
    assert headless_im["PromptTemplate"] == wizard_im["PromptTemplate"]
    assert headless_im["Name"] == wizard_im["Name"] and headless_im.get("Version") == \
        wizard_im.get("Version")
    reports = sorted((tmp_path / "fresh-data").rglob("validate.json"))
    assert len(reports) == 1
    headless_checks = [c["id"] for c in json.loads(reports[0].read_text())["data"]["checks"]]
    assert headless_checks == wizard_checks


async def test_a_chosen_sweep_variant_is_recorded_and_resumed(wizard, tmp_path: Path) -> None:
    """Convert -> Validate (a sweep) -> "Use this variant" -> Deploy, by the steps' own records
    (no conversion runs): the variant is the current model, the Summary says so, the reproduce
    commands come in the order the steps ran, and a resumed wizard has the same run."""
    from textual.widgets import DataTable

    from slm_wizard.core.base.status import Status
    from slm_wizard.core.evaluate.sweep import SweepResult, VariantResult
    from slm_wizard.core.steps import checklist
    from slm_wizard.core.steps import sweep as sweep_step
    from tests.helpers import converted_record, record_deployment

    model, onnx = tmp_path / "hf", tmp_path / "hf-int4"
    variant_dir = tmp_path / "sweep" / "0123456789abcdef" / "int8-k"
    for folder in (onnx, variant_dir):
        folder.mkdir(parents=True)
        (folder / "genai_config.json").write_text("{}")
    state = converted_record(model, onnx, "int4")
    measured = dict(ok=True, size_bytes=2_000_000, mean_kld=0.01, top1_agreement=0.97,
                    decode_tps=100.0)
    sweep = SweepResult(str(model), [
        VariantResult("fp32", "FP32 (reference)", "fp32", output_dir=str(tmp_path / "fp32"),
                      **{**measured, "size_bytes": 8_000_000, "mean_kld": 0.0}),
        VariantResult("int8", "INT8 RTN, block 32, symmetric", "int8",
                      output_dir=str(variant_dir), **measured)], recommended="int8")
    # The Validate step's record of its plan, a sweep alone, as its screen records it.
    plan = checklist.make_plan(state, ("sweep",), "quick", report_dir=tmp_path / "r")
    plan = replace(plan, sweep=replace(plan.sweep, precisions=("int8", "int4"),
                                       output=str(tmp_path / "sweep")))
    done = checklist.PlanResult(plan, {"sweep": sweep_step.Result(Status.OK, sweep)})
    state.record(checklist.plan_record(done))
    app = wizard("validate", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.show_sweep(sweep)
        await pilot.pause()
        table = screen.query_one("#sweep-table", DataTable)
        table.move_cursor(row=table.get_row_index("int8"))
        await _click(pilot, "#sweep-use")
        await wait_until(pilot, lambda: app.current_step == "deploy", 10, "the Deploy step")
        assert (app.state.onnx_dir, app.state.precision) == (variant_dir, "int8")
        record_deployment(app.state, "lumo", "1", tmp_path / "cache")  # the deploy runner's
        app.save_progress()
        app.goto("summary")
        await pilot.pause()
        steps = app.screen.query_one("#steps", DataTable)
        rows = [steps.get_row_at(i) for i in range(steps.row_count)]
        titles = [r[0] for r in rows]
        assert titles.index("Chosen variant") == titles.index("Validate") + 1
        chosen = rows[titles.index("Chosen variant")]
        assert chosen[1].plain == "✓ ok" and str(variant_dir) in chosen[2]
        assert str(onnx) in rows[titles.index("Convert")][2]
        assert "deployed" in rows[titles.index("Deploy")][2]
        cmds = reproduce_commands(app.state)
        assert [c[1] for c in cmds] == ["convert", "sweep", "sweep", "deploy"]
        assert cmds[1][cmds[1].index("--variants") + 1] == "int8,int4"  # the whole sweep
        assert cmds[2][cmds[2].index("--variants") + 1] == "int8"  # the variant's folder
        assert cmds[3][2] == str(variant_dir)  # the variant is deployed, after it was made
        text = app.screen.query_one("#commands").text
        assert text == as_shell(cmds)
    settings, _ = load_settings(tmp_path / "cfg")
    again = wizard()
    async with again.run_test(size=SIZE) as pilot:
        again.resume(str(model))
        await pilot.pause()
        assert (again.state.onnx_dir, again.state.precision) == (variant_dir, "int8")
        assert (again.state.deployed_name, again.state.deployed_version) == ("lumo", "1")
        assert list(again.state.steps) == list(settings.projects[str(model)].steps)
        assert reproduce_commands(again.state) == cmds
