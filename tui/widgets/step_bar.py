"""A one-line indicator of the wizard's steps: done, current, to do, or not in this version."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from slm_wizard.tui.steps import STEPS
from slm_wizard.tui.widgets.status import status_text


class StepBar(Widget):
    DEFAULT_CSS = """
    StepBar { height: 1; padding: 0 1; background: $boost; }
    """

    def __init__(self, current: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current = current

    def _build(self, short: bool) -> Text:
        state = getattr(self.app, "state", None)
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, s in enumerate(STEPS, start=1):
            if i > 1:
                text.append(" › " if not short else " ", style="dim")
            label = f"{i} {s.title}" if not short or s.id == self.current else f"{i}"
            if s.id == self.current:
                text.append(f"● {label} ", style="bold reverse")
            elif state is not None and (status := state.status_of(s.id)) is not None:
                # What the run record says: done, done with warnings, failed, skipped.
                text.append(status_text(status, label))
            else:
                text.append(f"○ {label}")
        return text

    def refresh_steps(self) -> None:
        self.refresh()  # built when painted, from the run record and the width at that time

    def render(self) -> Text:
        text = self._build(short=False)
        width = self.size.width - 2 if self.size.width else 200
        if text.cell_len > width:
            text = self._build(short=True)
            text.append(" ·", style="dim")  # a visible separator (leading spaces vanish in SVG)
            text.append(f" step {self._index()} of {len(STEPS)}", style="dim")
        return text

    def _index(self) -> int:
        return next((i for i, s in enumerate(STEPS, start=1) if s.id == self.current), 0)
