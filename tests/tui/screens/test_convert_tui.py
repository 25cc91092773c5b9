"""The Model and Convert screens, driven with Pilot (one real conversion) and a snapshot."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input, ProgressBar, Select, Static, TextArea

from slm_wizard.core.run.record import RunRecord
from slm_wizard.core.steps import inspect as inspect_step
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.widgets.run_pane import RunPane
from tests.helpers import spy_everywhere, wait_until

SIZE = (100, 32)
SNAP_DIR = Path("/tmp/slm-wizard-snapshots/convert")


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def _ready(pilot, app) -> None:
    await wait_until(pilot, lambda: getattr(app.screen, "info", None) is not None, 30,
                     "the model inspection")
    await _planned(pilot, app.screen)


async def _planned(pilot, screen) -> None:
    """Wait for the plan of the form as it is now (a change is planned in a worker)."""
    await pilot.pause()
    await wait_until(pilot, screen.plan_current, 30, "the plan of the form")
    await pilot.pause()


async def test_convert_without_a_model_names_the_step_that_provides_it(wizard, tmp_path) -> None:
    app = wizard("convert")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "the Model step provides it" in _text(app, "#convert-model")
        assert app.screen.query_one("#run", Button).disabled


async def test_form_refuses_fp16_and_the_plan_picks_the_config_method_for_int8(wizard,
        demo_model, tmp_path):
    state = RunRecord(model_dir=demo_model, is_demo=True)
    app = wizard("convert", state)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        screen = app.screen
        # The same fp32-weights text as the Model screen's facts (one formatter, one unit).
        params = dict(inspect_step.model_facts(screen.info))["Parameters"]
        weights = f"fp32 weights {inspect_step.fp32_weights(screen.info)}"
        assert weights in params and weights in _text(app, "#convert-model")
        assert not screen.query_one("#run", Button).disabled
        assert screen.query_one("#output", Input).value.endswith(f"{demo_model.name}-int4")
        preview = screen.query_one("#preview", TextArea)
        assert preview.text.startswith("olive auto-opt --model_name_or_path")
        assert "auto-opt: one command" in _text(app, "#method-help")
        screen.query_one("#precision", Select).value = "fp16"
        await _planned(pilot, screen)
        assert "needs a GPU execution provider" in _text(app, "#convert-issues")
        assert screen.query_one("#run", Button).disabled
        screen.query_one("#precision", Select).value = "int8"
        await _planned(pilot, screen)
        # The plan chooses the method and says why; the form's choice stays "auto".
        assert screen.query_one("#method", Select).value == "auto"
        assert screen.plan.method == "config"
        assert "config (switched from auto-opt): olive auto-opt cannot build int8" in \
            _text(app, "#method-help")
        assert "The method switched to the config file" in _text(app, "#convert-issues")
        assert '"bits": 8' in preview.text and "OnnxBlockWiseRtnQuantization" in preview.text
        assert "olive run --config" in _text(app, "#preview-head")
        assert screen.query_one("#output", Input).value.endswith(f"{demo_model.name}-int8")
        assert not screen.query_one("#run", Button).disabled
        table = screen.query_one("#estimates", DataTable)
        marked = [str(table.get_row_at(i)[0]) for i in range(table.row_count)
                  if "chosen" in str(table.get_row_at(i)[5])]
        assert marked == ["int8"]
        screen.query_one("#method", Select).value = "auto-opt"  # an explicit choice: checked
        await _planned(pilot, screen)
        assert "cannot make int8" in _text(app, "#convert-issues")
        assert "your choice" in _text(app, "#method-help")
        assert screen.query_one("#run", Button).disabled


async def test_a_real_conversion_from_the_screen(wizard, demo_model, tmp_path) -> None:
    out = tmp_path / "converted"
    out.mkdir()
    (out / "old.txt").write_text("an earlier run")
    from slm_wizard.core.base.owned import write_marker

    write_marker(out, "convert")  # an earlier conversion's folder: replaced after confirmation
    state = RunRecord(model_dir=demo_model, is_demo=True)
    app = wizard("convert", state)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        screen = app.screen
        screen.query_one("#output", Input).value = str(out)
        await _planned(pilot, screen)
        assert "is not empty" in _text(app, "#convert-issues")
        screen.query_one("#run", Button).press()
        await wait_until(pilot, lambda: app.screen.query("#yes"), 10, "the confirmation")
        await pilot.pause()
        app.screen.query_one("#yes", Button).press()
        await wait_until(pilot, lambda: screen.result is not None, 240, "the conversion")
        result = screen.result
        assert result is not None and result.ok, result.error if result else None
        assert not (out / "old.txt").exists() and (out / "genai_config.json").is_file()
        assert state.onnx_dir == out and state.precision == "int4"
        assert "convert" in state.done
        assert "Converted and verified" in _text(app, "#result-summary")
        table = screen.query_one("#verification", DataTable)
        checks = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert checks == ["files", "weights", "graph", "generation"]
        log = "\n".join(screen.query_one(RunPane).log_lines)
        assert "Reading layer 1" in log and "Running pass model_builder" in log
        assert "INFO Running pass model_builder" in log  # Olive's prefix stripped by the step
        assert "[INFO] [" not in log
        assert not screen.query_one("#continue", Button).disabled
        # The result in view and Enter goes on (issue 14): Continue is focused, and the
        # estimate before is the size after, in the same words.
        await pilot.pause()
        assert app.focused is screen.query_one("#continue", Button)
        summary = screen.query_one("#result-summary")
        await pilot.pause()
        first_line = summary.region
        top, _ = screen.get_widget_at(first_line.x + 2, first_line.y)
        assert first_line.height > 0 and top is summary  # scrolled to, not under the buttons
        assert "Model size on disk (ONNX files)" in _text(app, "#result-summary")
        assert "estimated before:" in _text(app, "#result-summary")


async def test_cancel_from_the_screen_keeps_nothing(wizard, demo_model, tmp_path) -> None:
    out = tmp_path / "cancelled"
    state = RunRecord(model_dir=demo_model, is_demo=True)
    app = wizard("convert", state)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        screen = app.screen
        screen.query_one("#output", Input).value = str(out)
        await pilot.pause()
        screen.query_one("#run", Button).press()
        bar = screen.query_one(RunPane).query_one(ProgressBar)
        await wait_until(pilot, lambda: bar.progress >= 5, 120, "Olive's first pass")
        screen.query_one("#cancel", Button).press()
        await wait_until(pilot, lambda: not screen.running, 30, "the cancel")
        assert screen.result is not None and screen.result.cancelled
        assert "Cancelled" in _text(app, "#result-summary")
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if "slm-wizard" in p.name]  # no work folder
        assert state.onnx_dir is None and "convert" not in state.done
        assert not screen.query_one("#run", Button).disabled  # ready to run again


async def test_a_failing_conversion_call_is_shown_and_the_app_keeps_running(wizard,
        demo_model, tmp_path, monkeypatch) -> None:
    from slm_wizard.core.steps import convert as convert_step

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(convert_step, "run", boom)
    state = RunRecord(model_dir=demo_model, is_demo=True)
    app = wizard("convert", state)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        screen = app.screen
        screen.query_one("#output", Input).value = str(tmp_path / "out")
        await pilot.pause()
        screen.query_one("#run", Button).press()
        await wait_until(pilot, lambda: screen.result is not None, 30, "the failure")
        await pilot.pause()
        assert app.is_running and app.screen is screen
        summary = _text(app, "#result-summary")
        assert "The conversion could not run: RuntimeError: boom" in summary
        assert "run it again" in summary
        from slm_wizard.core.base.logfile import log_path

        assert str(log_path()) in summary  # the traceback is there, and the line says so
        assert not screen.running and not screen.query_one("#run", Button).disabled
        assert screen.query_one("#continue", Button).disabled
        assert state.onnx_dir is None and "convert" in state.steps
        assert not state.is_done("convert")
        assert not (tmp_path / "out").exists()


async def test_a_failing_model_inspection_is_shown(demo_model, tmp_path, monkeypatch) -> None:
    from slm_wizard.core.steps import convert as convert_step

    def boom(folder):
        raise RuntimeError("boom")

    monkeypatch.setattr(convert_step, "inspect_model", boom)
    app = WizardApp(state=RunRecord(model_dir=demo_model, is_demo=True), start="convert",
                    config_dir=tmp_path / "cfg")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "boom" in _text(app, "#convert-model"), 30,
                         "the inspection error")
        assert app.is_running
        assert "Choose another in the Model step" in _text(app, "#convert-model")
        assert app.screen.query_one("#run", Button).disabled
        from slm_wizard.core.base.logfile import log_path

        assert str(log_path()) in _text(app, "#convert-model")


async def test_the_plan_is_made_off_the_ui_thread_and_the_run_inspects_nothing_again(wizard,
        demo_model, tmp_path, monkeypatch) -> None:
    """One inspection per conversion: the form's plans reuse it, the run uses the plan shown
    (no inspection, no second check of the options); no plan is made on the UI thread, and a
    burst of keystrokes is planned once it rests."""
    from slm_wizard.core.convert import run as olive_run
    from slm_wizard.core.convert import validation
    from slm_wizard.core.model import model_info
    from slm_wizard.core.steps import convert as convert_step

    inspections = spy_everywhere(monkeypatch, model_info, "inspect_model")
    checks = spy_everywhere(monkeypatch, validation, "validate_options")
    plans = spy_everywhere(monkeypatch, convert_step, "plan")
    olive_threads: list = []
    seen_by_olive: list = []  # (inspections, checks) made when Olive starts

    def no_olive(argv, work, log, parser, emit, cancel, timeout_s):
        olive_threads.append(threading.current_thread())
        seen_by_olive.append((len(inspections), len(checks)))
        emit("log", "[2026-01-01 10:00:00,000] [INFO] [engine.py:1:run] Running pass x", 0.5)
        return 1, ""

    monkeypatch.setattr(olive_run, "_run_olive", no_olive)
    state = RunRecord(model_dir=demo_model, is_demo=True)
    app = wizard("convert", state)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        screen = app.screen
        screen.query_one("#precision", Select).value = "int8"
        await _planned(pilot, screen)
        before = len(plans)
        field = screen.query_one("#output", Input)
        field.focus()
        await pilot.pause()
        field.value = str(tmp_path)
        field.action_end()
        await pilot.press(*"/out-x")
        await _planned(pilot, screen)
        assert len(plans) - before <= 2, "each keystroke was planned"
        assert screen.plan.options.output_dir == tmp_path / "out-x"
        checked = len(checks)
        screen.query_one("#run", Button).press()
        await wait_until(pilot, lambda: screen.result is not None, 60, "the run")
        assert not screen.result.ok and "produced no model" in screen.result.error
        assert olive_threads and olive_threads[0] is not threading.main_thread()
        assert len(inspections) == 1, inspections
        assert seen_by_olive == [(1, checked)]  # the run checked nothing again
        main = threading.main_thread()
        assert all(t is not main for t in inspections + checks + plans)
        assert screen.query_one(RunPane).log_lines == ["INFO Running pass x"]


async def test_model_screen_inspects_and_continues(wizard, demo_model, tmp_path) -> None:
    state = RunRecord()
    app = wizard("model", state)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.query_one("#model-path", Input).value = str(tmp_path / "missing")
        await pilot.click("#inspect")
        await pilot.pause()
        assert "does not exist" in _text(app, "#model-error")
        assert screen.query_one("#continue", Button).disabled
        await pilot.click("#use-demo")
        await wait_until(pilot, lambda: screen.info is not None, 120, "the demo inspection")
        await pilot.pause()
        assert screen.info.path == demo_model.resolve()
        table = screen.query_one("#model-info", DataTable)
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1])
                for i in range(table.row_count)}
        assert rows["Architecture"].startswith("Qwen2ForCausalLM")
        assert f"{screen.info.param_count:,}" in rows["Parameters"]
        assert "ready to convert" in _text(app, "#model-status")
        await pilot.click("#continue")
        await wait_until(pilot, lambda: app.current_step == "convert", 10, "the Convert step")
        # Another model starts a new run record (app.set_model): read the app's record.
        assert app.state is not state
        assert app.state.model_dir == demo_model.resolve() and app.state.is_demo
        assert "model" in app.state.done
        await _ready(pilot, app)  # the Convert step took the new model
        assert app.screen.model_dir == demo_model.resolve()


@pytest.fixture
def snap_model(demo_model: Path) -> Path:
    """The demo model at a fixed path, so the snapshot shows no temporary folder."""
    model = SNAP_DIR / "lumo-faq"
    if SNAP_DIR.exists():
        shutil.rmtree(SNAP_DIR)
    shutil.copytree(demo_model, model)
    yield model
    shutil.rmtree(SNAP_DIR, ignore_errors=True)


def test_options_form_snapshot(wizard, snap_compare, snap_model: Path, tmp_path: Path) -> None:
    state = RunRecord(model_dir=snap_model, is_demo=True)
    app = wizard("convert", state)

    async def ready(pilot) -> None:
        await _ready(pilot, app)
        app.screen.query_one("#output", Input).value = str(SNAP_DIR / "out" / "lumo-faq-int4")
        await _planned(pilot, app.screen)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_options_form_snapshot_80x24(wizard, snap_compare, snap_model: Path,
        tmp_path: Path) -> None:
    """Issue 14: at 80x24 each help text wraps under its field; Run conversion is focused."""
    state = RunRecord(model_dir=snap_model, is_demo=True)
    app = wizard("convert", state)

    async def ready(pilot) -> None:
        await _ready(pilot, app)
        app.screen.query_one("#output", Input).value = str(SNAP_DIR / "out" / "lumo-faq-int4")
        await _planned(pilot, app.screen)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)
