"""The welcome screen under Pilot: a bad folder is explained, a good one moves on, resume works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_wizard.core.run.settings import load_settings
from slm_wizard.tui.app import WizardApp
from tests.helpers import wait_until


def _hf_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    return folder


async def test_bad_paths_are_explained(wizard, tmp_path: Path) -> None:
    app = wizard()
    async with app.run_test(size=(100, 32)) as pilot:
        error = app.screen.query_one("#path-error")
        for value, expected in (
            (str(tmp_path / "nope"), "does not exist"),
            (str(tmp_path), "no config.json"),
        ):
            field = app.screen.query_one("#model-path")
            field.value = value
            field.focus()
            await pilot.press("enter")
            await pilot.pause()
            assert expected in str(error.content)
            assert app.current_step == "welcome"
        (tmp_path / "adapter").mkdir()
        (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
        app.screen.query_one("#model-path").value = str(tmp_path / "adapter")
        await pilot.click("#open-folder")
        await pilot.pause()
        assert "LoRA adapter" in str(error.content)


async def test_open_folder_moves_on_and_is_remembered(tmp_path: Path) -> None:
    folder = _hf_folder(tmp_path)
    cfg = tmp_path / "cfg"
    app = WizardApp(config_dir=cfg)
    async with app.run_test(size=(100, 32)) as pilot:
        app.screen.query_one("#model-path").value = str(folder)
        await pilot.click("#open-folder")
        await wait_until(pilot, lambda: app.current_step == "prereqs", what="the next step")
        assert app.state.model_dir == folder.resolve()
        assert "welcome" in app.state.done
    settings, notice = load_settings(cfg)
    assert notice is None
    assert settings.recent == [str(folder.resolve())]
    assert settings.projects[str(folder.resolve())].last_step == "prereqs"

    # A second instance offers to resume and lands on the step reached.
    app2 = WizardApp(config_dir=cfg)
    async with app2.run_test(size=(100, 32)) as pilot:
        assert app2.screen.query("#resume")
        await pilot.click("#resume")
        await wait_until(pilot, lambda: app2.current_step == "prereqs", what="resume")
        assert app2.state.model_dir == folder.resolve()


async def test_corrupt_settings_are_moved_aside(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "settings.toml").write_text("recent = [unclosed")
    app = WizardApp(config_dir=cfg)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        assert any("could not be used" in n.message and "moved to" in n.message
                   for n in app._notifications)
        assert not app.screen.query("#resume")
    aside = list(cfg.glob("settings.toml.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "recent = [unclosed"


async def test_steps_without_input_say_which_step_provides_it(wizard, tmp_path: Path) -> None:
    app = wizard()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("alt+6")  # Chat, without a converted model
        await pilot.pause()
        assert app.current_step == "welcome"
        assert any("Convert step" in n.message for n in app._notifications)
        await pilot.press("f1")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "WelcomeScreen"


async def test_enter_on_the_first_screen_takes_the_demo_path(wizard, tmp_path: Path,
                                                             demo_model: Path) -> None:
    """A newcomer who just presses Enter gets the demo model (focus starts on that button)."""
    app = wizard()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "use-demo"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_step == "prereqs", 120, "the demo model")
        assert app.state.model_dir == demo_model and app.state.is_demo
        rec = app.state.steps["welcome"]
        assert rec.done and rec.command == ["slm-wizard", "demo"]
        assert rec.files["model"] == str(demo_model) and rec.figures["build time"].endswith(" s")


async def test_a_crash_while_building_the_demo_is_shown(
        tmp_path: Path, demo_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected failure of the demo build stays on the screen; the app keeps running, a
    second try works, and Resume afterwards still works."""
    import slm_wizard.core.model.demo as demo

    real = demo.build_demo_model

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(demo, "build_demo_model", boom)
    cfg = tmp_path / "cfg"
    app = WizardApp(config_dir=cfg)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.click("#use-demo")
        error = app.screen.query_one("#path-error")
        await wait_until(pilot, lambda: "boom" in str(error.content), 30, "the error")
        assert "Could not build the demo model: RuntimeError: boom" in str(error.content)
        assert "try again" in str(error.content)
        # A bug: the message names the log file, which holds its traceback.
        from slm_wizard.core.base.logfile import log_path

        assert str(log_path()) in str(error.content)
        assert "RuntimeError: boom" in log_path().read_text(encoding="utf-8")
        pane = app.screen.query_one("#demo-run")
        assert "Could not build the demo model" in pane.stage and not pane.running
        assert app.is_running and app.current_step == "welcome"
        assert not app.screen.query_one("#use-demo").disabled
        monkeypatch.setattr(demo, "build_demo_model", real)
        # A button ignores clicks during its 0.2 s press animation: the first failed that fast.
        button = app.screen.query_one("#use-demo")
        await wait_until(pilot, lambda: not button.has_class("-active"), 5, "the button")
        button.press()
        await wait_until(pilot, lambda: app.current_step == "prereqs", 120, "the demo model")
        assert app.state.steps["welcome"].command == ["slm-wizard", "demo"]
    app2 = WizardApp(config_dir=cfg)
    async with app2.run_test(size=(100, 32)) as pilot:
        await pilot.click("#resume")
        await wait_until(pilot, lambda: app2.current_step == "prereqs", 10, "resume")
        assert app2.state.model_dir == demo_model and app2.state.is_demo
        assert app2.state.steps["welcome"].command == ["slm-wizard", "demo"]


async def test_a_demo_build_that_cannot_be_done_says_why(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A known failure (not a bug) is shown with its own reason, in the run pane and under the
    buttons; nothing is recorded and the button works again."""
    import slm_wizard.core.model.demo as demo

    def cannot(*_a, **_k):
        raise demo.DemoError("cannot create /nowhere: permission denied")

    monkeypatch.setattr(demo, "build_demo_model", cannot)
    app = wizard()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.click("#use-demo")
        error = app.screen.query_one("#path-error")
        await wait_until(pilot, lambda: "permission denied" in str(error.content), 10, "error")
        assert str(error.content).startswith(
            "Could not build the demo model: cannot create /nowhere: permission denied. Press")
        assert "Could not build" in app.screen.query_one("#demo-run").stage
        assert not app.screen.query_one("#use-demo").disabled
        assert app.current_step == "welcome" and "welcome" not in app.state.steps


async def test_the_demo_build_progress_is_in_view_at_80x24(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 80x24 the run pane lands below the fold: it is scrolled into view as the build starts."""
    import threading

    import slm_wizard.core.model.demo as demo

    release = threading.Event()

    def slow_build(*args, progress=None, cancel=None, **kwargs):
        progress("training step 1 of 300")
        release.wait(30)
        raise demo.DemoError("stopped by the test")

    monkeypatch.setattr(demo, "build_demo_model", slow_build)
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.screen.query("#demo-run")), 10, "the pane")
        pane = app.screen.query_one("#demo-run")
        await wait_until(pilot, lambda: pane.log_lines == ["training step 1 of 300"], 10, "a line")
        await pilot.pause()
        stage = pane.query_one(".run-stage")
        assert stage.region.y >= 2 and stage.region.bottom <= 23, stage.region  # above the keys
        release.set()
        await wait_until(pilot, lambda: not pane.running, 10, "the end")


def _burst(app: WizardApp, text: str) -> None:
    """Keys as a terminal sends a fast burst (a paste without bracketed paste mode, a typing
    tool): all queued at once, none waiting for the previous one's effects."""
    from textual import events
    from textual.keys import _character_to_key

    for ch in text:
        key = events.Key(_character_to_key(ch), ch)
        key.set_sender(app)
        app._driver.send_message(key)


@pytest.fixture
def no_demo_build(monkeypatch) -> list:
    """The demo build replaced by a recorder: a test sees whether the button was pressed."""
    from slm_wizard.core.steps import demo as demo_step

    calls: list = []

    def fake(options, **kw):
        calls.append(options)
        raise demo_step.DemoRefused("not in this test")

    monkeypatch.setattr(demo_step, "run", fake)
    return calls


@pytest.mark.parametrize("text", ["/tmp/my fine tuned model", "/données/modèle ü 2", "~/a b"])
async def test_a_fast_typed_burst_reaches_the_field_whole(text: str, tmp_path: Path,
                                                          no_demo_build: list) -> None:
    app = WizardApp(config_dir=tmp_path / "cfg")
    async with app.run_test(size=(100, 32)) as pilot:
        assert app.screen.focused is app.screen.query_one("#use-demo")
        _burst(app, text)
        await pilot.pause()
        await pilot.pause()
        field = app.screen.query_one("#model-path")
        assert field.value == text  # spaces and non-ASCII letters kept
        assert app.screen.focused is field
        assert no_demo_build == []  # the space never pressed the demo button
        await pilot.press("space")  # once in the field, a space is text
        assert field.value == text + " "


async def test_a_bracketed_paste_on_a_button_goes_to_the_field(tmp_path: Path,
                                                               no_demo_build: list) -> None:
    from textual import events

    folder = _hf_folder(tmp_path)
    app = WizardApp(config_dir=tmp_path / "cfg")
    async with app.run_test(size=(100, 32)) as pilot:
        app._driver.send_message(events.Paste(f"{folder}\n"))
        await pilot.pause()
        field = app.screen.query_one("#model-path")
        assert field.value == str(folder) and app.screen.focused is field
        await pilot.press("enter")  # opens the pasted folder, does not build the demo
        await wait_until(pilot, lambda: app.current_step == "prereqs", what="the next step")
        assert no_demo_build == []


async def test_a_lone_space_is_not_text_and_enter_still_builds_the_demo(
        tmp_path: Path, no_demo_build: list) -> None:
    app = WizardApp(config_dir=tmp_path / "cfg")
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("space")
        assert app.screen.query_one("#model-path").value == ""
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(no_demo_build) == 1, what="the demo build")
