"""The body of a dialog (a ModalScreen): it is never taller than the terminal, scrolls when its
text is longer, and its buttons (`.dialog-buttons`, docked) stay in view under the text.

It takes the focus (Tab, arrows and PageUp/PageDown then scroll it; its border lights up) only
when there is something to scroll, so a short dialog's Tab goes from button to button."""

from __future__ import annotations

from slm_wizard.tui.widgets.scroll import FocusScroll


class DialogBody(FocusScroll):
    DEFAULT_CSS = """
    DialogBody { width: 76; max-width: 100%; height: auto; max-height: 100%; padding: 0 1;
        border: thick $primary; background: $surface; }
    DialogBody > .dialog-buttons { dock: bottom; height: auto; align-horizontal: right;
        background: $surface; }
    DialogBody > .dialog-buttons Button { margin-left: 1; }
    DialogBody.dialog:focus { border: thick $accent; }
    """

    def allow_focus(self) -> bool:
        return self.max_scroll_y > 0
