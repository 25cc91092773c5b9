"""Toggles whose state reads in plain text too (no colour needed): ✓ or ● when on, blank when
off."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox, RadioButton, Switch


class StateCheckbox(Checkbox):
    """A Checkbox that shows ✓ when on and an empty box when off (Textual's shows X for both)."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✓" if self.value else " "
        return super()._button


class StateRadioButton(RadioButton):
    """A RadioButton that shows ● when chosen and an empty circle when not (Textual's shows ● for
    both, apart only by colour)."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button


class OnOffSwitch(Switch):
    """A Switch that says what it is: `[✓] on` / `[ ] off`, readable without colour."""

    DEFAULT_CSS = """
    OnOffSwitch { width: 9; height: 1; border: none; padding: 0; }
    OnOffSwitch:focus { background: $boost; text-style: bold; }
    """

    def render(self) -> Content:
        return Content("[✓] on " if self.value else "[ ] off")

    def get_content_width(self, container, viewport) -> int:  # noqa: ANN001 - Textual's API
        return 7
