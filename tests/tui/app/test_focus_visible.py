"""Focus is visible on every focusable widget of the wizard, in the dark and the light theme: the
cells a focused widget covers differ clearly from the same cells unfocused (another character, a
text style such as bold or reverse, or a colour at least a few shades away, not a 5% tint)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from rich.style import Style
from textual.widget import Widget

from slm_wizard.core.steps import chat as chat_step
from slm_wizard.tui.steps import STEPS
from tests.helpers import FakeChatBackend, converted_record, wait_until
from tests.helpers.templates import make_template_onnx

CLEAR = 40  # RGB distance (0..441) a colour must move by to count as a visible change


def _cells(widget: Widget) -> list[tuple[str, Style]]:
    """(character, style) of every cell the widget covers on screen."""
    screen = widget.screen
    region = screen.find_widget(widget).visible_region
    strips = screen._compositor.render_strips()
    out: list[tuple[str, Style]] = []
    for y in range(region.y, region.bottom):
        for text, style, _ in strips[y].crop(region.x, region.right):
            out.extend((ch, style or Style()) for ch in text)
    return out


def _rgb(color) -> tuple[int, int, int] | None:
    return None if color is None else tuple(color.get_truecolor())


def _distance(a, b) -> float:
    ra, rb = _rgb(a), _rgb(b)
    if ra is None or rb is None:
        return 0.0 if ra == rb else 255.0
    return math.dist(ra, rb)


def clearly_differs(before: list[tuple[str, Style]], after: list[tuple[str, Style]]) -> bool:
    if len(before) != len(after):
        return True
    for (c1, s1), (c2, s2) in zip(before, after, strict=True):
        if c1 != c2 and (c1.strip() or c2.strip()):
            return True
        if (s1.bold, s1.reverse, s1.underline, s1.italic) != \
                (s2.bold, s2.reverse, s2.underline, s2.italic):
            return True
        if _distance(s1.color, s2.color) >= CLEAR and (c1.strip() or c2.strip()):
            return True
        if _distance(s1.bgcolor, s2.bgcolor) >= CLEAR:
            return True
    return False


async def _focus_shows(pilot, widget: Widget) -> bool:
    app = pilot.app
    widget.scroll_visible(animate=False, immediate=True)
    app.screen.set_focus(None)
    await pilot.pause()
    region = widget.region
    before = _cells(widget)
    widget.focus(scroll_visible=False)
    await pilot.pause()
    assert widget.has_focus, widget
    assert widget.region == region, widget  # in the same place: the same cells compared
    return clearly_differs(before, _cells(widget))


def _focusables(screen) -> list[Widget]:
    return [w for w in screen.focus_chain if w.focusable]


@pytest.mark.slow  # every screen and dialog, twice (about 12 s a theme)
@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_focus_changes_every_focusable_widget(wizard, tmp_path: Path, monkeypatch,
                                                    theme: str) -> None:
    monkeypatch.setattr(chat_step, "open_backend", lambda options: FakeChatBackend())
    onnx = make_template_onnx(tmp_path / "onnx")
    app = wizard("welcome", converted_record(tmp_path / "hf", onnx))
    checked: set[str] = set()
    invisible: list[str] = []

    async def check(where: str) -> None:
        for widget in _focusables(app.screen):
            if not await _focus_shows(pilot, widget):
                invisible.append(f"{where}: {widget!r}")
            checked.add(type(widget).__name__)

    async with app.run_test(size=(100, 40)) as pilot:
        app.theme = theme
        for s in STEPS:
            app.goto(s.id)
            await wait_until(pilot, lambda c=s.cls: type(app.screen).__name__ == c, 10, s.title)
            if s.id == "deploy":  # its first plan fills the fields: compare once they are set
                await wait_until(pilot, lambda: app.screen.template_check is not None, 20,
                                 "the template check")
            await pilot.pause(0.3)
            app.clear_notifications()
            await check(s.id)
        # The dialogs' own widgets: chat settings (text area, inputs), the step picker.
        app.goto("chat")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ChatScreen", 10, "chat")
        await wait_until(pilot, lambda: app.screen.session is not None, 10, "the model")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ChatSettingsScreen", 5,
                         "the dialog")
        await check("chat settings")
        await pilot.press("escape")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "StepPicker", 5, "picker")
        await check("step picker")
    assert not invisible, "focus is not visible on:\n" + "\n".join(invisible)
    # Every kind of focusable widget the wizard uses was checked.
    assert {"Button", "Input", "Select", "StateCheckbox", "Checkbox", "RadioSet", "OptionList",
            "DataTable", "CheckTable", "TextArea", "OnOffSwitch", "Conversation",
            "ContentTabs"} <= checked, checked


def test_the_measure_sees_a_5_percent_tint_as_invisible() -> None:
    from rich.color import Color

    dark, tinted = Color.parse("#1e1e1e"), Color.parse("#292929")
    plain = [("a", Style(color="#e0e0e0", bgcolor=dark))]
    assert not clearly_differs(plain, [("a", Style(color="#e0e0e0", bgcolor=tinted))])
    assert clearly_differs(plain, [("a", Style(color="#e0e0e0", bgcolor=dark, bold=True))])
    assert clearly_differs(plain, [("a", Style(color="#e0e0e0", bgcolor=Color.parse("#0178d4")))])
