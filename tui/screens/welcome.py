"""Welcome: choose the demo model or open your own model folder."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input, Log, Static
from textual.worker import Worker, WorkerState

from slm_wizard.tui.screens.base import StepScreen
from slm_wizard.tui.steps import STEP_IDS, step
from slm_wizard.tui.validators import ModelFolderValidator

logger = logging.getLogger(__name__)

INTRO = """\
[b]slm-wizard[/b] takes a fine-tuned small language model (a Hugging Face folder) to a quantized \
ONNX model running in Foundry Local, step by step:

  1. [b]Prerequisites[/b]: Python, RAM, disk, CMake, Foundry Local and the Python packages
  2. [b]Convert[/b]: Olive conversion and quantization (FP32 / INT8 / INT4), verified
  3. [b]Deploy[/b]: inference_model.json with the right prompt template, installed in Foundry Local
  4. [b]Chat and validate[/b]: live chat with tokens/s, time to first token and memory; a \
benchmark and the quality checklist

New here? Start with the demo model: a tiny model fine-tuned on a fictional product's FAQ, built \
on this machine in seconds, with no download."""


class WelcomeScreen(StepScreen):
    STEP_ID = "welcome"
    AUTO_FOCUS = "#resume, #use-demo"  # Enter starts the newcomer's path at once
    # The first screen reflows by itself: no breakpoint classes (a restyle of every widget at
    # start-up, measured in bench/b_startup.py).
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = []
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = []

    class DemoProgress(Message):
        def __init__(self, line: str) -> None:
            self.line = line
            super().__init__()

    class DemoReady(Message):
        def __init__(self, path: Path | None, error: str = "", seconds: float = 0.0) -> None:
            self.path = path
            self.error = error
            self.seconds = seconds
            super().__init__()

    def compose_body(self) -> ComposeResult:
        yield Static(INTRO, id="intro")
        resume = self._resume_target()
        if resume:
            folder, last = resume
            yield Static(f"Last time you worked on [b]{folder}[/b] (step: {last}).",
                         classes="hint")
            yield Button(f"Resume at {last}", id="resume", variant="success")
        yield Button("Use the demo model", id="use-demo", variant="primary")
        yield Static("…or open a model folder (it must hold config.json):", classes="hint")
        with Horizontal(id="open-row"):
            yield Input(
                placeholder="/path/to/your/fine-tuned-model",
                id="model-path",
                validators=[ModelFolderValidator()],
                validate_on=["submitted"],
            )
            yield Button("Open", id="open-folder")
        yield Static("", id="path-error", classes="error")

    def __init__(self) -> None:
        super().__init__()
        self._demo_cancel = threading.Event()  # set when the wizard quits during a demo build

    def cancel_work(self) -> None:
        """Quitting stops a demo build at its next training step (nothing of it is kept)."""
        self._demo_cancel.set()

    def on_key(self, event: events.Key) -> None:
        """Typing a path while a button is focused goes to the folder field (no Tab needed)."""
        if isinstance(self.focused, Button) and event.is_printable and event.character \
                and event.character not in " \t" and event.character in "/~.\\" \
                + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
            field = self.query_one("#model-path", Input)
            field.select_on_focus = False  # keep what is typed (no select-all on focus)
            field.insert_text_at_cursor(event.character)
            field.focus()
            event.stop()
            event.prevent_default()

    def _resume_target(self) -> tuple[str, str] | None:
        settings = getattr(self.app, "settings", None)
        if settings is None or not settings.recent:
            return None
        folder = settings.recent[0]
        if not Path(folder).is_dir():
            return None
        record = settings.projects.get(folder)
        last = record.last_step if record is not None else "prereqs"
        return folder, step(last).title if last in STEP_IDS else "Prerequisites"

    @on(Button.Pressed, "#resume")
    def resume_pressed(self) -> None:
        target = self._resume_target()
        if target:
            self.app.resume(target[0])

    @on(Button.Pressed, "#use-demo")
    def use_demo(self) -> None:
        self.query_one("#use-demo", Button).disabled = True
        if not self.query("#demo-log"):  # mounted when needed: the first screen starts lighter
            self.query_one("#body").mount(Log(id="demo-log", auto_scroll=True))
        log = self.query_one("#demo-log", Log)
        log.write_line("Preparing the demo model (built once, then cached)…")
        self._demo_cancel.clear()  # here, not in the worker: a quit before it starts still counts
        self.build_demo()

    @work(thread=True, exclusive=True, group="demo", exit_on_error=False)
    def build_demo(self) -> None:
        from slm_wizard.core.model.demo import DemoError, build_demo_model

        started = time.monotonic()
        try:
            path = build_demo_model(progress=lambda s: self.post_message(self.DemoProgress(s)),
                                    cancel=self._demo_cancel)
        except DemoError as exc:
            self.post_message(self.DemoReady(None, str(exc)))
            return
        self.post_message(self.DemoReady(path, seconds=time.monotonic() - started))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "demo" and event.state == WorkerState.ERROR:
            error = event.worker.error
            logger.error("building the demo model failed", exc_info=error)
            self.post_message(self.DemoReady(None, f"{type(error).__name__}: {error}"))

    def on_welcome_screen_demo_progress(self, message: DemoProgress) -> None:
        self.query_one("#demo-log", Log).write_line(message.line)

    def on_welcome_screen_demo_ready(self, message: DemoReady) -> None:
        self.query_one("#use-demo", Button).disabled = False
        log = self.query_one("#demo-log", Log)
        error = self.query_one("#path-error", Static)
        if message.path is None:
            text = (f"Could not build the demo model: {message.error}. Press \"Use the demo "
                    "model\" to try again, or open your own model folder; the log file has the "
                    "details.")
            log.write_line(text)
            error.update(Text(text))
            return
        error.update("")
        log.write_line(f"Demo model ready: {message.path}")
        from slm_wizard.core.model.demo import demo_record

        self.app.choose_model(message.path, is_demo=True,
                              rec=demo_record(message.path, seconds=message.seconds))

    @on(Button.Pressed, "#open-folder")
    def open_pressed(self) -> None:
        self.open_folder(self.query_one("#model-path", Input).value)

    @on(Input.Submitted, "#model-path")
    def path_submitted(self, event: Input.Submitted) -> None:
        self.open_folder(event.value)

    def open_folder(self, value: str) -> None:
        error = self.query_one("#path-error", Static)
        from slm_wizard.core.model.model_info import ModelFolderError, check_model_folder

        try:
            folder = check_model_folder(value)
        except ModelFolderError as exc:
            error.update(str(exc))
            self.query_one("#model-path", Input).add_class("-invalid")
            return
        error.update("")
        self.app.choose_model(folder, is_demo=False)
