"""Welcome: choose the demo model or open your own model folder."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Static

from slm_wizard.tui.screens.base import Outcome, StepScreen
from slm_wizard.tui.steps import STEP_IDS, step
from slm_wizard.tui.validators import ModelFolderValidator

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

    def compose_body(self) -> ComposeResult:
        yield Static(INTRO, id="intro")
        resume = self._resume_target()
        if resume:
            folder, last, interrupted = resume
            text = Text.assemble("Last time you worked on ", (folder, "bold"),
                                 f" (step: {last}).")
            for line in interrupted:  # named: a run the wizard quit during
                text.append(f"\n{line}.", style="yellow")
            yield Static(text, classes="hint", id="resume-hint")
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

    # A burst of typed text on its way to the folder field: the field's focus lands only after
    # the keys already sent, so they still reach the button here (and were lost).
    _typing = False

    def on_key(self, event: events.Key) -> None:
        """Typing a path while a button is focused goes to the folder field (no Tab needed):
        every printable character, non-ASCII letters included; a space once typing began (a
        space alone is not a path)."""
        if not isinstance(self.focused, Button) or not event.is_printable \
                or not event.character or event.character == "\t":
            return
        if event.character == " " and not self._typing:
            return
        self._to_field(event.character)
        event.stop()
        event.prevent_default()

    def on_paste(self, event: events.Paste) -> None:
        """A bracketed paste while a button is focused goes to the folder field (a button
        ignores it, and the next Enter would press the button)."""
        if not isinstance(self.focused, Button):
            return
        text = next((line.strip() for line in event.text.splitlines() if line.strip()), "")
        if text:
            self._to_field(text)
        event.stop()
        event.prevent_default()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._typing = False  # the focus landed (on the field, or a button the user chose)

    def _to_field(self, text: str) -> None:
        field = self.query_one("#model-path", Input)
        field.select_on_focus = False  # keep what is typed (no select-all on focus)
        field.insert_text_at_cursor(text)
        field.focus()
        self._typing = True

    def _resume_target(self) -> tuple[str, str, list[str]] | None:
        settings = getattr(self.app, "settings", None)
        if settings is None or not settings.recent:
            return None
        folder = settings.recent[0]
        if not Path(folder).is_dir():
            return None
        record = settings.projects.get(folder)
        last = record.last_step if record is not None else "prereqs"
        interrupted = list(record.interrupted().values()) if record is not None else []
        return folder, step(last).title if last in STEP_IDS else "Prerequisites", interrupted

    @on(Button.Pressed, "#resume")
    def resume_pressed(self) -> None:
        target = self._resume_target()
        if target:
            self.app.resume(target[0])

    @on(Button.Pressed, "#use-demo")
    async def use_demo(self) -> None:
        # Imported and mounted when needed: the first screen starts lighter (bench/b_startup.py).
        from slm_wizard.core.steps import demo as demo_step
        from slm_wizard.tui.widgets.run_pane import RunPane

        self.query_one("#use-demo", Button).disabled = True
        if not self.query("#demo-run"):
            await self.query_one("#body").mount(RunPane(id="demo-run"))
        options = demo_step.Options()
        pane = self.query_one(RunPane)
        self.run_step(demo_step.run, options, group="demo", pane=pane,
                      done=lambda outcome: self._demo_done(options, outcome),
                      start_text="Preparing the demo model (built once, then cached)…")
        # The pane sits below the fold at 80x24: bring the build's progress into view.
        self.call_after_refresh(pane.scroll_visible, animate=False)

    def _demo_done(self, options, outcome: Outcome) -> None:
        from slm_wizard.core.steps import demo as demo_step

        self.query_one("#use-demo", Button).disabled = False
        pane = self.query_one("#demo-run")
        error = self.query_one("#path-error", Static)
        result = outcome.result
        if outcome.ok and result.folder is not None:
            error.update("")
            pane.finish(f"Demo model ready: {result.folder}", ok=True)
            self.app.choose_model(result.folder, is_demo=True,
                                  rec=demo_step.to_record(options, result))
            return
        why = outcome.refused or outcome.error or result.error
        text = (f"Could not build the demo model: {why}. Press \"Use the demo model\" to try "
                "again, or open your own model folder.")
        pane.finish(text)
        error.update(Text(text))

    @on(Button.Pressed, "#open-folder")
    def open_pressed(self) -> None:
        self.open_folder(self.query_one("#model-path", Input).value)

    @on(Input.Submitted, "#model-path")
    def path_submitted(self, event: Input.Submitted) -> None:
        self.open_folder(event.value)

    def open_folder(self, value: str) -> None:
        error = self.query_one("#path-error", Static)
        from slm_wizard.core.steps.inspect import (
            ModelFolderError,
            TrainingOutputFolder,
            check_model_folder,
        )

        try:
            folder = check_model_folder(value)
        except TrainingOutputFolder as exc:  # offer the checkpoint it names
            error.update(Text(f"{exc} Its path is filled in: press Enter to open it."))
            field = self.query_one("#model-path", Input)
            field.value = str(exc.run.chosen)
            field.remove_class("-invalid")
            field.focus()
            return
        except ModelFolderError as exc:
            error.update(str(exc))
            self.query_one("#model-path", Input).add_class("-invalid")
            return
        error.update("")
        self.app.choose_model(folder, is_demo=False)
