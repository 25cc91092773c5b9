"""Every screen is whole at 80x24 (the smallest supported terminal) in light and dark themes.

Whole means: every button, input and status line is fully inside the screen (not clipped by the
terminal or by a scrolling container once scrolled to), its label is not cut, and no other widget
is drawn over it (compared cell by cell with the compositor's topmost widget)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slm_wizard.tui.steps import STEPS
from tests.helpers import converted_record, wait_until
from tests.helpers.screens import layout_problems


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_every_screen_at_80x24(wizard, theme: str, demo_model: Path, demo_onnx: Path,
                                     tmp_path: Path) -> None:
    state = converted_record(demo_model, demo_onnx, "int4", is_demo=True)
    app = wizard("welcome", state)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = theme
        for s in STEPS:
            app.goto(s.id)
            await wait_until(pilot, lambda c=s.cls: type(app.screen).__name__ == c, 10, s.title)
            await pilot.pause()
            screen = app.screen
            if s.id == "deploy":  # its template check (a child process) changes the layout
                await wait_until(pilot, lambda sc=screen: sc.template_check is not None, 60,
                                 "the template check")
            # The frame is there and inside the terminal: title, step bar, body, footer.
            for selector in ("#title-bar", "#step-bar", "#body", "KeyBar"):
                region = screen.query_one(selector).region
                assert region.width > 0 and region.height > 0, (s.id, selector)
                assert region.right <= 80 and region.bottom <= 24, (s.id, selector, region)
            bar = str(screen.query_one("#step-bar").render())
            assert f"{STEPS.index(s) + 1} {s.title}" in bar, bar
            app.clear_notifications()
            await pilot.pause()
            problems = await layout_problems(pilot, screen)
            assert not problems, (s.id, problems)
        assert app.theme == theme


async def test_long_results_stay_whole_at_80x24(wizard, demo_model: Path, demo_onnx: Path,
                                                tmp_path: Path) -> None:
    """A status line long enough to wrap (a settings summary, a failure with its fix) grows
    instead of being cut (the issue saw Chat's status end at `top_p 0.9,`)."""
    state = converted_record(demo_model, demo_onnx, "int4", is_demo=True)
    app = wizard("chat", state)
    long = ("Settings saved: system prompt on, temperature 0.7, top_p 0.9, top_k 40, "
            "repetition penalty 1.1, max tokens 256, min tokens 0, sampling on, adapter none.")
    async with app.run_test(size=(80, 24)) as pilot:
        for step, status in (("chat", "#chat-status"), ("validate", "#val-status")):
            app.goto(step)
            await wait_until(pilot, lambda s=status: bool(app.screen.query(s)), 10, step)
            if step == "chat":  # the loaded model's "Ready" line comes first
                await wait_until(pilot, lambda: app.screen.session is not None, 60, "the model")
            await pilot.pause()
            app.screen.set_status(long)
            await pilot.pause()
            app.clear_notifications()
            await pilot.pause()
            assert not await layout_problems(pilot, app.screen), step
            shown = str(app.screen.query_one(status).render())
            assert "adapter none." in shown.replace("\n", " ")
