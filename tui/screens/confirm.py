"""A yes/no question as a modal; dismisses with True or False.

The question scrolls when it is longer than the terminal (a template's diff at 80x24); the
buttons are docked under it, always in view, and fit side by side from 40 columns on."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from slm_wizard.tui.widgets.dialog import DialogBody


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > .dialog { width: 70; border: thick $warning; }
    ConfirmScreen .question { text-style: bold; }
    ConfirmScreen #confirm-body { margin-top: 1; }
    ConfirmScreen .dialog-buttons { padding-top: 1; }
    ConfirmScreen.-short .dialog-buttons { padding-top: 0; }
    ConfirmScreen.-short #confirm-body { margin-top: 0; }
    """
    VERTICAL_BREAKPOINTS = [(0, "-short"), (20, "-tall")]
    BINDINGS = [Binding("escape", "no", "Cancel")]

    def __init__(self, title: str, body: str, yes: str = "Yes", no: str = "Cancel",
                 detail: str = "") -> None:
        super().__init__()
        self.title_text, self.body, self.yes, self.no, self.detail = title, body, yes, no, detail

    def compose(self) -> ComposeResult:
        with DialogBody(classes="dialog", id="confirm-dialog"):
            yield Static(self.title_text, classes="question")
            yield Static(self.body, id="confirm-body")
            if self.detail:
                yield Static(self.detail, id="confirm-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)
