"""Quitting while work runs asks first, then cancels the work cleanly (no partial output)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from slm_wizard.core.run.record import RunRecord
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.screens.confirm import ConfirmScreen
from tests.helpers import wait_until


async def test_quit_during_conversion_asks_then_cancels(demo_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out-int4"
    app = WizardApp(state=RunRecord(model_dir=demo_model, is_demo=True), start="convert",
                    config_dir=tmp_path / "cfg")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: not screen.query_one("#run").disabled, 60, "the form")
        screen.query_one("#output").value = str(out)
        await pilot.pause()
        screen.query_one("#run").press()
        await wait_until(pilot, lambda: screen.running, 30, "the conversion to start")

        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the question")
        await pilot.click("#no")  # keep working: nothing is cancelled
        await pilot.pause()
        assert screen.running and not screen._cancel.is_set()

        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the question")
        await pilot.click("#yes")
    # The worker finishes its clean-up within a few seconds of the app's exit.
    deadline = time.monotonic() + 15
    while any(p.name != "cfg" for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg"]  # no temp sibling left either
    # The settings name the conversion the quit interrupted, with its options (issue 25).
    from slm_wizard.core.run.settings import load_settings

    saved = load_settings(tmp_path / "cfg")[0].projects[str(demo_model)]
    assert "was interrupted" in saved.interrupted()["convert"]
    assert saved.unfinished["convert"].options["output_dir"] == str(out)


@pytest.mark.slow  # trains the demo with torch
async def test_quit_during_demo_build_stops_the_training(wizard, tmp_path: Path,
        monkeypatch) -> None:
    """Quitting while the demo model trains stops the training (it used to run to the end, so
    the app's exit waited for it) and keeps nothing of it."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SLM_WIZARD_CACHE_DIR", str(cache))
    app = wizard()
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.screen
        await pilot.click("#use-demo")

        def training() -> bool:
            pane = screen.query("#demo-run")  # the run pane, mounted when the build starts
            return bool(pane) and any("training a Qwen2 model" in line
                                      for line in pane[0].log_lines)

        await wait_until(pilot, training, 120, "the training to start")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the question")
        await pilot.click("#yes")
    # The build's temporary folder goes when the build ends: cancelled, nothing was moved in.
    # (A build that went on would end by moving a complete model into place.)
    deadline = time.monotonic() + 300
    while cache.exists() and any(p.name.startswith(".") for p in cache.iterdir()) \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not cache.exists() or sorted(p.name for p in cache.iterdir()) == []
