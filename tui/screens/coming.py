"""Stands in, honestly, for a step this version does not have yet."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from slm_wizard.tui.screens.base import StepScreen


class ComingScreen(StepScreen):
    def __init__(self, step_id: str, title: str) -> None:
        self.STEP_ID = step_id
        self.title_text = title
        super().__init__()

    def compose_body(self) -> ComposeResult:
        yield Static(f"[b]{self.title_text}[/b]", classes="title")
        yield Static(
            "This step is not in this version of slm-wizard yet. Nothing here runs; "
            "use Back (ctrl+b) to return.",
            classes="hint",
        )
