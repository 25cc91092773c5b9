"""A yes/no question as a modal; dismisses with True or False."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 70; max-width: 90%; height: auto; padding: 1 2;
        border: thick $warning; background: $surface; }
    ConfirmScreen .question { text-style: bold; margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "no", "Cancel")]

    def __init__(self, title: str, body: str, yes: str = "Yes", no: str = "Cancel",
                 detail: str = "") -> None:
        super().__init__()
        self.title_text, self.body, self.yes, self.no, self.detail = title, body, yes, no, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="question")
            yield Static(self.body)
            if self.detail:
                yield Static(self.detail, id="confirm-detail")
            with Horizontal():
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)
