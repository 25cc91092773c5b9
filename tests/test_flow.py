"""The whole wizard under Pilot, on the demo model, as a first-time user walks it.

Welcome (use the demo) -> Prerequisites -> Model -> Convert (INT4, real Olive) -> Deploy (a temp
Foundry Local cache, real SDK) -> Chat (a domain question answered) -> Validate (checklist) ->
Summary; then a second app instance resumes from the saved settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Button

from slm_wizard.core.settings import load_settings
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
        assert app.state.deployed_name and app.state.deployed_name.endswith(":1")
        name = app.state.deployed_name.split(":")[0]
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
        report_dir = Path(app.state.options["validate"]["report_dir"])
        assert report_dir.is_dir() and any(report_dir.iterdir())
        await _click(pilot, "#val-continue")
        await wait_until(pilot, lambda: app.current_step == "summary", what="the Summary")

        commands = app.screen.query_one("#commands").text
        assert f"slm-wizard convert {demo_model}" in commands
        assert f"--name {name}" in commands
        assert app.state.figures.get("quality checklist")

    settings, notice = load_settings(cfg)
    assert notice is None and settings.recent == [str(demo_model)]
    assert settings.projects[str(demo_model)]["last_step"] == "summary"

    again = WizardApp(config_dir=cfg)
    async with again.run_test(size=SIZE) as pilot:
        await _click(pilot, "#resume")
        await wait_until(pilot, lambda: again.current_step == "summary", what="resume")
        assert again.state.onnx_dir == onnx
        assert again.state.deployed_name == f"{name}:1"
        assert {"convert", "deploy", "chat", "validate"} <= again.state.done
