"""The slm-wizard Textual app: the steps as installed screens over one WizardState."""

from __future__ import annotations

import importlib
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from core.state import WizardState
from tui.steps import STEP_IDS, is_available, step


class WizardApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "slm-wizard"
    SUB_TITLE = "fine-tuned model → ONNX → Foundry Local"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="quit")]

    def __init__(self, state: WizardState | None = None, start: str = "welcome") -> None:
        super().__init__()
        self.state = state or WizardState()
        self.current_step = start

    def on_mount(self) -> None:
        self.push_screen(self._screen_for(self.current_step))

    def _screen_for(self, step_id: str) -> str:
        """Install the step's screen once (so it keeps its state) and return its name."""
        if not self.is_screen_installed(step_id):
            s = step(step_id)
            if is_available(step_id):
                screen = getattr(importlib.import_module(s.module), s.cls)()
            else:
                from tui.screens.coming import ComingScreen

                screen = ComingScreen(s.id, s.title)
            self.install_screen(screen, name=step_id)
        return step_id

    def goto(self, step_id: str) -> None:
        self.current_step = step_id
        self.switch_screen(self._screen_for(step_id))

    def action_next_step(self) -> None:
        i = STEP_IDS.index(self.current_step)
        if i + 1 < len(STEP_IDS):
            self.goto(STEP_IDS[i + 1])

    def action_prev_step(self) -> None:
        i = STEP_IDS.index(self.current_step)
        if i > 0:
            self.goto(STEP_IDS[i - 1])

    def choose_model(self, folder: Path, is_demo: bool) -> None:
        self.state.model_dir = folder
        self.state.is_demo = is_demo
        self.state.mark_done("welcome", f"model: {folder}")
        self.notify(f"Model: {folder}", title="Model chosen")
        self.goto("prereqs")


def run_app() -> int:
    WizardApp().run()
    return 0
