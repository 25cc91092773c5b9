"""A one-line indicator of the wizard's steps: done, current, to do, or not in this version."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.steps import STEPS, is_available


class StepBar(Static):
    DEFAULT_CSS = """
    StepBar { height: 1; padding: 0 1; background: $boost; }
    """

    def __init__(self, current: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current = current

    def on_mount(self) -> None:
        self.refresh_steps()

    def refresh_steps(self) -> None:
        done = getattr(self.app, "state", None)
        done_ids = done.done if done is not None else set()
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, s in enumerate(STEPS):
            if i:
                text.append(" › ", style="dim")
            if s.id == self.current:
                text.append(f"● {s.title}", style="bold reverse")
            elif s.id in done_ids:
                text.append(f"✔ {s.title}", style="green")
            elif not is_available(s.id):
                text.append(f"{s.title} (coming)", style="dim italic")
            else:
                text.append(f"○ {s.title}")
        self.update(text)
