"""The notice shown instead of the wizard's screens while the terminal is smaller than 80x24:
the panels would collapse (a chat log of no rows, buttons off-screen). It goes away by itself
once the window is big enough again; ctrl+q still quits."""

from __future__ import annotations

from textual import events
from textual.app import App, ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Static

MIN_SIZE = (80, 24)  # columns, rows: the smallest terminal the wizard is laid out for


def too_small(width: int, height: int) -> bool:
    return width < MIN_SIZE[0] or height < MIN_SIZE[1]


def cover_if_too_small(app: App, size: tuple[int, int] | None = None) -> None:
    """Below 80x24 the notice covers the step screens (their panels would collapse); it goes
    away by itself when the window is big enough. Dialogs fit smaller terminals (the quit
    question fits 40x12): over a dialog nothing is pushed; the step screen under it asks again
    when it comes back."""
    from slm_wizard.tui.screens.base import StepScreen

    if too_small(*(size or app.size)) and isinstance(app.screen, StepScreen):
        app.push_screen(TooSmallScreen())


class TooSmallScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; background: $background; }
    TooSmallScreen > Static { width: 100%; max-width: 60; height: auto; padding: 0 1;
        border: round $warning; text-align: center; }
    """

    def compose(self) -> ComposeResult:
        yield Static(self.notice(), id="too-small")

    def notice(self, size: tuple[int, int] | None = None) -> str:
        w, h = size or self.app.size
        return (f"The window is {w}x{h}: make it at least {MIN_SIZE[0]}x{MIN_SIZE[1]}.\n"
                "The wizard comes back as soon as it is (ctrl+q quits).")

    def on_resize(self, event: events.Resize) -> None:
        self._check(event.size)

    def on_screen_resume(self) -> None:
        self._check(self.app.size)

    def _check(self, size: tuple[int, int]) -> None:
        if not too_small(*size):
            if self.app.screen is self:
                self.dismiss()
            return
        self.query_one("#too-small", Static).update(self.notice(size))
