"""Model: choose the folder (or the demo model) and see what it is before converting it.

The inspection is the Model step's runner (core.steps.inspect), run through `run_step` (group
"inspect"); its Result says what to show (facts, warnings, the verdict, whether to go on), and
this screen only renders it. "Use the demo model" builds it first with the demo step's runner.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Static

from slm_wizard.core.base.status import ICON, Progress, Status
from slm_wizard.core.steps import inspect as step
from slm_wizard.tui.screens.base import Outcome, StepScreen
from slm_wizard.tui.validators import ModelFolderValidator
from slm_wizard.tui.widgets.status import status_style

INTRO = ("The fine-tuned model to convert: a Hugging Face folder with config.json, the weights "
         "(safetensors) and the tokenizer. It is inspected without loading the weights.")


class ModelScreen(StepScreen):
    STEP_ID = "model"
    DEFAULT_CSS = """
    ModelScreen #model-intro { color: $text-muted; margin-bottom: 1; }
    ModelScreen #model-row { height: auto; }
    ModelScreen #model-path { width: 1fr; }
    ModelScreen #model-row Button { margin-left: 1; }
    ModelScreen #model-error { height: auto; }
    ModelScreen #model-info { height: auto; max-height: 12; margin-top: 1; }
    ModelScreen #model-problems { height: auto; margin-top: 1; color: $warning; }
    ModelScreen #model-actions { dock: bottom; height: auto; background: $surface; }
    ModelScreen #model-status { width: 1fr; height: 3; content-align: left middle;
        padding-left: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.result: step.Result | None = None  # the last inspection that worked
        self.is_demo = False

    @property
    def info(self):
        """The model's description (a LoRA adapter's base model's; None when not known)."""
        return self.result.info if self.result is not None else None

    def compose_body(self) -> ComposeResult:
        yield Static(INTRO, id="model-intro")
        with Horizontal(id="model-row"):
            yield Input(placeholder="/path/to/your/fine-tuned-model", id="model-path",
                        validators=[ModelFolderValidator()], validate_on=["submitted"])
            yield Button("Inspect", id="inspect")
            yield Button("Use the demo model", id="use-demo")
        yield Static("", id="model-error", classes="error")
        table = DataTable(id="model-info", show_cursor=False, show_header=False, zebra_stripes=True)
        table.add_columns("", "")
        yield table
        yield Static("", id="model-problems")
        with Horizontal(id="model-actions"):
            yield Button("Continue", id="continue", variant="primary", disabled=True)
            yield Static("", id="model-status")

    def on_mount(self) -> None:
        self.query_one("#model-info", DataTable).display = False
        state = self.app.state
        if state.model_dir is not None:
            self.query_one("#model-path", Input).value = str(state.model_dir)
            self._start(str(state.model_dir), state.is_demo)

    # ------------------------------------------------------------------ choosing

    @on(Button.Pressed, "#inspect")
    def inspect_pressed(self) -> None:
        self._start(self.query_one("#model-path", Input).value, False)

    @on(Input.Submitted, "#model-path")
    def path_submitted(self, event: Input.Submitted) -> None:
        self._start(event.value, False)

    def _start(self, value: str, is_demo: bool) -> None:
        try:
            folder = step.check_model_folder(value, allow_adapter=True)
        except step.TrainingOutputFolder as exc:  # offer the checkpoint it names
            self._show_error(f"{exc} Its path is filled in: press Enter to open it.")
            field = self.query_one("#model-path", Input)
            field.value = str(exc.run.chosen)
            field.focus()
            return
        except step.ModelFolderError as exc:
            self._show_error(str(exc))
            return
        self._busy(f"Inspecting {folder}…")
        self._inspect(folder, is_demo)

    def _inspect(self, folder: Path, is_demo: bool) -> None:
        self.run_step(step.run, step.Options(folder), group="inspect",
                      done=lambda outcome: self._inspected(folder, is_demo, outcome))

    def _busy(self, text: str) -> None:
        self.query_one("#model-error", Static).update("")
        self.query_one("#model-status", Static).update(text)
        self.query_one("#continue", Button).disabled = True
        self.query_one("#use-demo", Button).disabled = True

    @on(Button.Pressed, "#use-demo")
    def use_demo(self) -> None:
        from slm_wizard.core.steps import demo as demo_step

        start = "Preparing the demo model (built once on this machine, then cached)…"
        self._busy(start)

        def progress(event: Progress) -> None:
            self.query_one("#model-status", Static).update(Text(f"{start}\n{event.text}"))

        # The same group as an inspection: inspecting another folder meanwhile replaces it.
        self.run_step(demo_step.run, demo_step.Options(), group="inspect", progress=progress,
                      done=self._demo_built)

    def _demo_built(self, outcome: Outcome) -> None:
        result = outcome.result
        if outcome.ok and result.folder is not None:
            self._busy(f"Inspecting {result.folder}…")
            self._inspect(result.folder, True)
            return
        self.query_one("#use-demo", Button).disabled = False
        self._show_error(f"Demo model: {outcome.refused or outcome.error or result.error}")

    def _inspected(self, folder: Path, is_demo: bool, outcome: Outcome) -> None:
        self.query_one("#use-demo", Button).disabled = False
        result: step.Result | None = outcome.result if outcome.ok else None
        if self.app.screen is self:
            self._adopt(folder, is_demo, result, outcome)
        if result is None:
            if outcome.refused:
                self._show_error(outcome.refused)
            else:  # a bug: its message names the log file holding the traceback
                self._show_error(f"Inspection failed: {outcome.error}. The folder could not be "
                                 "read as a model: check its config.json and weight files, or "
                                 "choose another folder.")
            return
        self.result, self.is_demo = result, is_demo
        field = self.query_one("#model-path", Input)
        field.value = str(result.folder)
        field.remove_class("-invalid")
        self._show(result)

    def _adopt(self, folder: Path, is_demo: bool, result: step.Result | None,
               outcome: Outcome) -> None:
        """The inspected folder becomes the run's model (ctrl+n goes on with it, never with the
        previous one), and the inspection is recorded."""
        state = self.app.state
        if result is not None:
            folder = result.folder
        same = state.model_dir is not None and Path(state.model_dir).resolve() == folder
        self.app.set_model(folder, is_demo or (same and state.is_demo))
        options = step.Options(folder)
        self.app.record_step(step.to_record(options, result) if result is not None else
                             step.failure_record(options, outcome.refused or outcome.error))

    def _show_error(self, text: str) -> None:
        self.result = None
        self.query_one("#model-error", Static).update(Text(text))
        self.query_one("#model-path", Input).add_class("-invalid")
        self.query_one("#model-status", Static).update("")
        self.query_one("#model-info", DataTable).display = False
        self.query_one("#model-problems", Static).update("")
        self.query_one("#continue", Button).disabled = True

    def _show(self, result: step.Result) -> None:
        """The inspection's facts, warnings and verdict, as the step decided them."""
        table = self.query_one("#model-info", DataTable)
        table.clear()
        for key, value in result.facts:
            table.add_row(Text(key, style="bold"), value)
        table.display = True
        self.query_one("#model-problems", Static).update(
            Text("\n".join(f"{ICON[Status.WARN]} {p}" for p in result.warnings)))
        self.query_one("#continue", Button).disabled = not result.can_continue
        tone, text = result.verdict
        self.query_one("#model-status", Static).update(Text(text, style=status_style(tone)))
        if tone == Status.OK and self.app.screen is self:
            self.query_one("#continue", Button).focus()  # Enter goes on; focus scrolls it in view

    # ------------------------------------------------------------------ continue

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        if self.result is None or not self.result.can_continue:
            return
        # The model and its record were set when it was inspected; for an adapter whose base
        # is not found yet, the Convert step asks for the base folder.
        self.app.action_next_step()
