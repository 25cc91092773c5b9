"""A vertical scroll area that keeps the focused control out from under its docked bars.

Textual scrolls a newly focused widget into view only when it lies outside the scroll area, and
counts the rows under a docked bar (a step's action bar, a dialog's buttons) as in view: Tab
could focus a checkbox hidden behind the buttons, showing only its border. Here every focus
inside the area scrolls it into the rows the docked bars leave free."""

from __future__ import annotations

from textual import events
from textual.containers import VerticalScroll


class FocusScroll(VerticalScroll):
    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        widget = event.widget
        if widget is not self:
            self.call_after_refresh(self.scroll_to_widget, widget, animate=False)
