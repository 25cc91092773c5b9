"""The frame every step screen shares: header, step bar, body, footer, and step navigation."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from slm_wizard.tui.widgets.key_bar import KeyBar
from slm_wizard.tui.widgets.step_bar import StepBar


class StepScreen(Screen):
    STEP_ID: ClassVar[str] = ""
    # Screens reflow below 100 columns (stacked panels, shorter labels): `-narrow` on the screen.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    BINDINGS = [
        Binding("ctrl+b", "app.prev_step", "Back", id="back"),
        Binding("ctrl+n", "app.next_step", "Next", id="next"),
    ]

    DEFAULT_CSS = """
    #title-bar { height: 1; background: $panel; color: $foreground; text-align: center; }
    """

    def compose(self) -> ComposeResult:
        # A plain title line: Textual's Header adds a clock and races with fast screen switches.
        yield Static(f"[b]{self.app.title}[/b] · {self.app.sub_title}", id="title-bar")
        yield StepBar(self.STEP_ID, id="step-bar")
        body = VerticalScroll(id="body")
        body.can_focus = False  # keys go to the step's first control, not to the scroll area
        with body:
            yield from self.compose_body()
        yield KeyBar()  # one line of keys (Textual's Footer costs a quarter of the start-up)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        self.query_one(StepBar).refresh_steps()
