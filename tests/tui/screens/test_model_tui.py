"""The Model step under Pilot: inspecting a new folder switches the run to it and records it;
an unexpected failure is shown on the screen, the app keeps running and resume still works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static

import slm_wizard.core.steps.inspect as inspect_step
from slm_wizard.core.base.status import Status
from slm_wizard.core.run.record import RunRecord
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.screens.model import ModelScreen
from tests.helpers import wait_until

SIZE = (100, 32)


def model_screen(app: WizardApp) -> ModelScreen:
    return app.get_screen("model")


def status_text(app: WizardApp) -> str:
    return str(model_screen(app).query_one("#model-status", Static).content)


def error_text(app: WizardApp) -> str:
    return str(model_screen(app).query_one("#model-error", Static).content)


async def inspect_folder(pilot, app: WizardApp, folder: Path) -> None:
    field = model_screen(app).query_one("#model-path", Input)
    field.value = str(folder)
    await pilot.click("#inspect")


async def test_a_new_folder_becomes_the_runs_model(wizard, demo_model: Path,
        tmp_path: Path) -> None:
    other = Path(shutil.copytree(demo_model, tmp_path / "other-model"))
    state = RunRecord(model_dir=demo_model, is_demo=True)
    app = wizard("model", state)
    async with app.run_test(size=SIZE) as pilot:
        # The folder already chosen is inspected and recorded on arrival.
        await wait_until(pilot, lambda: "ready to convert" in status_text(app), 30, "inspection")
        assert app.state is state and state.steps["model"].command == [
            "slm-wizard", "inspect", str(demo_model)]
        await inspect_folder(pilot, app, other)
        await wait_until(pilot, lambda: app.state.model_dir == other.resolve(), 30,
                         "the run to switch to the new folder")
        rec = app.state.steps["model"]
        assert rec.status == Status.OK and rec.done
        assert rec.command == ["slm-wizard", "inspect", str(other.resolve())]
        assert not app.state.is_demo and "welcome" not in app.state.steps
        assert rec.figures["parameters"].replace(",", "").isdigit()
        # ctrl+n goes on with the folder just inspected, never with the previous model.
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.current_step == "convert", 10, "the Convert step")
        assert app.state.model_dir == other.resolve()


async def test_a_crash_in_inspect_is_shown_and_resume_still_works(
        demo_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Path(shutil.copytree(demo_model, tmp_path / "broken-model"))
    real_run = inspect_step.run

    def boom(options, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(inspect_step, "run", boom)
    cfg = tmp_path / "cfg"
    app = WizardApp(state=RunRecord(model_dir=demo_model, is_demo=True), start="model",
                    config_dir=cfg)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "boom" in error_text(app), 30, "the error on screen")
        await inspect_folder(pilot, app, broken)
        await wait_until(pilot, lambda: app.state.model_dir == broken.resolve(), 30,
                         "the failed folder to be the run's model")
        assert app.is_running and app.screen is model_screen(app)
        assert "Inspection failed: RuntimeError: boom" in error_text(app)
        assert "choose another folder" in error_text(app)
        from slm_wizard.core.base.logfile import log_path

        assert str(log_path()) in error_text(app)  # the file that holds the traceback
        assert model_screen(app).query_one("#continue", Button).disabled
        assert not model_screen(app).query_one("#use-demo", Button).disabled
        rec = app.state.steps["model"]
        assert rec.status == Status.FAIL and not rec.done
    assert not app.return_code  # ended by the test, not by the failure

    # Resume the saved run: the Model step shows the failure again, and the app keeps running.
    app2 = WizardApp(config_dir=cfg)
    async with app2.run_test(size=SIZE) as pilot:
        await pilot.click("#resume")
        await wait_until(pilot, lambda: app2.current_step == "model", 10, "resume")
        assert app2.state.model_dir == broken.resolve()
        await wait_until(pilot, lambda: "boom" in error_text(app2), 30, "the error again")
        assert app2.is_running
        # Once inspect works again, the same screen recovers.
        monkeypatch.setattr(inspect_step, "run", real_run)
        await pilot.click("#inspect")
        await wait_until(pilot, lambda: "ready to convert" in status_text(app2), 30,
                         "the inspection")
        assert app2.state.steps["model"].done
        assert not model_screen(app2).query_one("#continue", Button).disabled


async def test_the_inspection_runs_off_the_ui_thread_and_the_screen_shows_its_result(
        demo_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The step's Result decides the facts, warnings and verdict; the screen renders them."""
    import threading

    real_run = inspect_step.run
    threads: list[threading.Thread] = []
    results: list[inspect_step.Result] = []

    def spy(options, **kwargs):
        threads.append(threading.current_thread())
        results.append(real_run(options, **kwargs))
        return results[-1]

    monkeypatch.setattr(inspect_step, "run", spy)
    app = WizardApp(state=RunRecord(model_dir=demo_model, is_demo=True), start="model",
                    config_dir=tmp_path / "cfg")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "ready to convert" in status_text(app), 30, "inspection")
        assert threads and threads[0] is not threading.main_thread()
        (result,) = results
        tone, verdict = result.verdict
        assert tone == Status.OK and status_text(app) == verdict
        table = model_screen(app).query_one("#model-info")
        shown = [(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[1]))
                 for i in range(table.row_count)]
        assert shown == result.facts
        assert "fp32 weights" in dict(result.facts)["Parameters"]
        assert app.state.steps["model"].figures["fp32 weights"] in dict(result.facts)["Parameters"]
        assert not model_screen(app).query_one("#continue", Button).disabled


async def test_a_demo_build_that_fails_is_shown_on_the_model_screen(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import slm_wizard.core.model.demo as demo

    def cannot(*_a, **_k):
        raise demo.DemoError("cannot create /nowhere: permission denied")

    monkeypatch.setattr(demo, "build_demo_model", cannot)
    app = wizard("model")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#use-demo")
        await wait_until(pilot, lambda: "permission denied" in error_text(app), 10, "the error")
        assert error_text(app) == "Demo model: cannot create /nowhere: permission denied"
        assert not model_screen(app).query_one("#use-demo", Button).disabled
        assert model_screen(app).query_one("#continue", Button).disabled
        assert app.is_running and "model" not in app.state.steps
