"""Model: choose the folder (or the demo model) and see what it is before converting it."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Static
from textual.worker import Worker, WorkerState

from slm_wizard.core.base.status import Status
from slm_wizard.core.model.model_info import ModelFolderError, ModelInfo, check_model_folder
from slm_wizard.core.run.record import StepRecord
from slm_wizard.core.steps import inspect as step
from slm_wizard.core.steps.inspect import blocking_problems
from slm_wizard.tui.screens.base import StepScreen
from slm_wizard.tui.validators import ModelFolderValidator

log = logging.getLogger(__name__)

INTRO = ("The fine-tuned model to convert: a Hugging Face folder with config.json, the weights "
         "(safetensors) and the tokenizer. It is inspected without loading the weights.")


def info_rows(info: ModelInfo) -> list[tuple[str, str]]:
    from slm_wizard.core.base.units import human_bytes
    from slm_wizard.core.model.model_info import fp32_size_bytes

    count = f"{info.param_count:,}" + ("" if info.param_count_exact else " (estimated)")
    return [
        ("Architecture", f"{info.architecture or '?'} ({info.model_type or '?'})"),
        ("Family", info.family),
        ("Shape", f"hidden {info.hidden_size}, {info.num_layers} layers, {info.num_heads} heads "
                  f"({info.num_kv_heads} KV), vocab {info.vocab_size}"),
        ("Context length", str(info.context_length)),
        ("Parameters", f"{count} · fp32 weights {human_bytes(fp32_size_bytes(info))} "
                       f"· stored as {info.dtype}"),
        ("Weights", ", ".join(info.weight_files) or "none"),
        ("Tokenizer", ", ".join(info.tokenizer_files) or "none"),
        ("Chat template", "yes" if info.chat_template else "no"),
        ("Model builder", "supports this architecture" if info.builder_supported
         else "does NOT support this architecture"),
    ]


def adapter_rows(result: step.Result) -> list[tuple[str, str]]:
    """The rows of a LoRA adapter's description (and its base model when found)."""
    a = result.adapter
    assert a is not None
    rows = [
        ("LoRA adapter", f"{a.peft_type}, rank {a.rank}, alpha {a.alpha}"),
        ("Target modules", ", ".join(a.target_modules) or "?"),
        ("Base model named", a.base_model or "(none)"),
        ("Adapter weights", f"{', '.join(a.weight_files)} · {a.param_count:,} parameters"),
    ]
    if result.info is not None:
        i = result.info
        rows.append(("Base folder", f"{i.path} · {i.architecture} · hidden {i.hidden_size}"))
    else:
        rows.append(("Base folder", "not found: " + a.needs))
    return rows


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
    ModelScreen #model-actions { height: auto; margin-top: 1; }
    ModelScreen #model-status { width: 1fr; height: 3; content-align: left middle;
        padding-left: 1; }
    """

    class Inspected(Message):
        """An inspection ended: `result` when it worked, else `error` (and the folder if known)."""

        def __init__(self, run: int, folder: Path | None, is_demo: bool,
                     result: step.Result | None = None, error: str = "") -> None:
            self.run, self.folder, self.is_demo = run, folder, is_demo
            self.result, self.error = result, error
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.info: ModelInfo | None = None
        self.adapter_result: step.Result | None = None  # a LoRA adapter's inspection
        self.is_demo = False
        self._run = 0
        self._pending: tuple[Path | None, bool] = (None, False)  # what the worker inspects

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

    @on(Button.Pressed, "#use-demo")
    def use_demo(self) -> None:
        self._busy("Preparing the demo model (built once on this machine, then cached)…")
        self._launch(None, True)

    def _start(self, value: str, is_demo: bool) -> None:
        try:
            folder = check_model_folder(value, allow_adapter=True)
        except ModelFolderError as exc:
            self._show_error(str(exc))
            return
        self._busy(f"Inspecting {folder}…")
        self._launch(folder, is_demo)

    def _launch(self, folder: Path | None, is_demo: bool) -> None:
        self._run += 1
        self._pending = (folder, is_demo)
        self.inspect_worker(self._run, folder, is_demo)

    def _busy(self, text: str) -> None:
        self.query_one("#model-error", Static).update("")
        self.query_one("#model-status", Static).update(text)
        self.query_one("#continue", Button).disabled = True
        self.query_one("#use-demo", Button).disabled = True

    @work(thread=True, exclusive=True, group="model-inspect", exit_on_error=False)
    def inspect_worker(self, run: int, folder: Path | None, is_demo: bool) -> None:
        if folder is None:
            from slm_wizard.core.model.demo import DemoError, build_demo_model

            try:
                folder = build_demo_model()
            except DemoError as exc:
                self.post_message(self.Inspected(run, None, True, error=f"Demo model: {exc}"))
                return
            self._pending = (folder, True)
        try:
            result = step.run(step.Options(folder))
        except ModelFolderError as exc:
            self.post_message(self.Inspected(run, folder, is_demo, error=str(exc)))
            return
        self.post_message(self.Inspected(run, folder, is_demo, result=result))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "model-inspect" and event.state == WorkerState.ERROR:
            error = event.worker.error
            log.error("inspecting %s failed", self._pending[0], exc_info=error)
            folder, is_demo = self._pending
            self.post_message(self.Inspected(
                self._run, folder, is_demo,
                error=f"Inspection failed: {type(error).__name__}: {error}. The folder could not "
                      "be read as a model: check its config.json and weight files, or choose "
                      "another folder. The log file has the details."))

    def on_model_screen_inspected(self, message: Inspected) -> None:
        if message.run != self._run:
            return  # a newer inspection is on its way
        self.query_one("#use-demo", Button).disabled = False
        if message.folder is not None and self.app.screen is self:
            self._adopt(message)
        if message.result is None:
            self._show_error(message.error)
            return
        if message.result.adapter is not None:
            self.adapter_result = message.result
            self.info, self.is_demo = message.result.info, message.is_demo
            self.query_one("#model-path", Input).value = str(message.result.adapter.path)
            self.query_one("#model-path", Input).remove_class("-invalid")
            self._show_adapter(message.result)
            return
        self.adapter_result = None
        info = message.result.info
        self.info, self.is_demo = info, message.is_demo
        self.query_one("#model-path", Input).value = str(info.path)
        self.query_one("#model-path", Input).remove_class("-invalid")
        self._show_info(info)

    def _adopt(self, message: Inspected) -> None:
        """The inspected folder becomes the run's model (ctrl+n goes on with it, never with the
        previous one), and the inspection is recorded."""
        state = self.app.state
        if message.result is None:
            folder = message.folder
        elif message.result.adapter is not None:
            folder = message.result.adapter.path
        else:
            folder = message.result.info.path
        same = state.model_dir is not None and Path(state.model_dir).resolve() == folder
        self.app.set_model(folder, message.is_demo or (same and state.is_demo))
        if message.result is not None:
            rec = step.to_record(step.Options(folder), message.result)
        else:
            rec = StepRecord(step.STEP, Status.FAIL, message.error,
                             options={"model_dir": folder}, files={"model": str(folder)},
                             command=step.Options(folder).argv())
        self.app.record_step(rec)

    def _show_error(self, text: str) -> None:
        self.info = None
        self.query_one("#model-error", Static).update(Text(text))
        self.query_one("#model-path", Input).add_class("-invalid")
        self.query_one("#model-status", Static).update("")
        self.query_one("#model-info", DataTable).display = False
        self.query_one("#model-problems", Static).update("")
        self.query_one("#continue", Button).disabled = True

    def _show_adapter(self, result: step.Result) -> None:
        """A LoRA adapter: what it is, its base model (found and matching, or what it needs)."""
        a = result.adapter
        assert a is not None
        table = self.query_one("#model-info", DataTable)
        table.clear()
        for key, value in adapter_rows(result):
            table.add_row(Text(key, style="bold"), value)
        table.display = True
        problems = "\n".join(f"⚠ {p}" for p in [*a.problems, *result.base_problems])
        self.query_one("#model-problems", Static).update(Text(problems))
        blocking = result.blocking
        self.query_one("#continue", Button).disabled = result.info is None or bool(blocking)
        if result.info is None:
            status = Text(f"LoRA adapter: needs {a.needs} Give the base folder on the Convert "
                          "step.", style="yellow")
        elif blocking:
            status = Text(f"The base model does not match: {'; '.join(blocking)}.", style="red")
        else:
            status = Text(f"{a.name}: LoRA adapter ready to convert with its base "
                          f"{result.info.name}.", style="green")
        if result.info is None:
            self.query_one("#continue", Button).disabled = False  # the base is asked next
        self.query_one("#model-status", Static).update(status)

    def _show_info(self, info: ModelInfo) -> None:
        table = self.query_one("#model-info", DataTable)
        table.clear()
        for key, value in info_rows(info):
            table.add_row(Text(key, style="bold"), value)
        table.display = True
        problems = "\n".join(f"⚠ {p}" for p in info.problems)
        self.query_one("#model-problems", Static).update(Text(problems))
        blocking = blocking_problems(info)
        self.query_one("#continue", Button).disabled = bool(blocking)
        status = (Text(f"Cannot be converted: {', '.join(blocking)}.", style="red") if blocking
                  else Text(f"{info.name}: ready to convert.", style="green"))
        self.query_one("#model-status", Static).update(status)
        if not blocking and self.app.screen is self:
            self.query_one("#continue", Button).focus()  # Enter goes on; focus scrolls it in view

    # ------------------------------------------------------------------ continue

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        if self.adapter_result is not None:
            if self.adapter_result.info is not None and self.adapter_result.blocking:
                return
            self.app.action_next_step()  # the Convert step asks for the base folder
            return
        if self.info is None or blocking_problems(self.info):
            return
        self.app.action_next_step()  # the model and its record were set when it was inspected
