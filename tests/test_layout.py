"""Every screen lays out at 80x24 (the smallest supported terminal) in light and dark themes."""

from __future__ import annotations

from pathlib import Path

import pytest

from slm_wizard.core.state import WizardState
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.steps import STEPS
from tests.helpers import wait_until


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_every_screen_at_80x24(theme: str, demo_model: Path, demo_onnx: Path,
                                     tmp_path: Path) -> None:
    state = WizardState(model_dir=demo_model, is_demo=True, onnx_dir=demo_onnx, precision="int4")
    app = WizardApp(state=state, start="welcome", config_dir=tmp_path / "cfg")
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = theme
        for s in STEPS:
            app.goto(s.id)
            await wait_until(pilot, lambda c=s.cls: type(app.screen).__name__ == c, 10, s.title)
            await pilot.pause()
            screen = app.screen
            # The frame is there and inside the terminal: title, step bar, body, footer.
            for selector in ("#title-bar", "#step-bar", "#body", "Footer"):
                region = screen.query_one(selector).region
                assert region.width > 0 and region.height > 0, (s.id, selector)
                assert region.right <= 80 and region.bottom <= 24, (s.id, selector, region)
            bar = str(screen.query_one("#step-bar").render())
            assert f"{STEPS.index(s) + 1} {s.title}" in bar, bar
        assert app.theme == theme
