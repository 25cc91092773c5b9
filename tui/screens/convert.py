"""Convert: Olive options with their reasons, a live command preview, the run, the proof."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Log,
    ProgressBar,
    Select,
    Static,
    Switch,
    TextArea,
)
from textual.worker import Worker, WorkerState

from slm_wizard.core.base.paths import logs_dir
from slm_wizard.core.base.status import Progress as StepProgress
from slm_wizard.core.base.units import human_bytes
from slm_wizard.core.convert.estimate import estimate, resources
from slm_wizard.core.convert.olive_config import CONFIG_NAME, build_config, display_command
from slm_wizard.core.convert.options import (
    ACCURACY_LEVELS,
    BLOCK_SIZES,
    METHODS,
    PRECISION_CHOICES,
    Issue,
    default_output_dir,
)
from slm_wizard.core.convert.run import ConvertResult
from slm_wizard.core.convert.validation import validate_options
from slm_wizard.core.model.adapter import (
    ADAPTER_MODES,
    DEFAULT_ADAPTER_MODE,
    is_adapter_folder,
)
from slm_wizard.core.model.model_info import ModelFolderError, ModelInfo, inspect_model
from slm_wizard.core.steps import convert as convert_step
from slm_wizard.tui.screens.base import StepScreen
from slm_wizard.tui.screens.confirm import ConfirmScreen
from slm_wizard.tui.widgets.toggles import OnOffSwitch

HELP = {
    "precision": "int4 smallest/fastest on CPU · int8 near-fp32 quality · fp16 needs a GPU",
    "method": "auto-opt: one command (int4 block 32 symmetric) · config: a file with every "
              "option",
    "block": "one scale per block: smaller blocks are more accurate and a bit larger",
    "accuracy": "int4 MatMul compute type on CPU: 4 (int8) is the fastest",
    "symmetric": "off = asymmetric: a zero point per block, a bit more accurate and larger",
    "output": "new or empty; a non-empty folder is replaced only after you confirm",
    "base": "the LoRA adapter's base model: a local folder, checked against the adapter",
    "adapter": "merge: one model (deployable) · adapter: base + .onnx_adapter "
               "(onnxruntime-genai only)",
}
PRECISION_OPTIONS = [(f"{p} · {label}", p) for p, label in PRECISION_CHOICES]
METHOD_LABELS = {"auto-opt": "one command (olive auto-opt)",
                 "config": f"config file ({CONFIG_NAME})"}
METHOD_OPTIONS = [(METHOD_LABELS.get(m, m), m) for m in METHODS]
ACCURACY_OPTIONS = [("default (builder's choice)", 0),
                    *((f"{n} · {kind}", n) for n, kind in ACCURACY_LEVELS.items())]
ADAPTER_MODE_LABELS = {"merge": "merge into the base (PEFT)",
                       "adapter": "keep separate (.onnx_adapter)"}
log = logging.getLogger(__name__)


_LOG_PREFIX = re.compile(r"^\[[\d\- :,]+\] \[(\w+)\] \[[^\]]*\] ")


class OutputFolderValidator(Validator):
    def validate(self, value: str) -> ValidationResult:
        text = value.strip()
        if not text:
            return self.failure("Enter an output folder.")
        path = Path(text).expanduser()
        if path.exists() and not path.is_dir():
            return self.failure(f"{path} is a file: choose a folder.")
        return self.success()


class ConvertScreen(StepScreen):
    STEP_ID = "convert"
    AUTO_FOCUS = "#run"  # focused once the model is inspected (Run is disabled until then)
    DEFAULT_CSS = """
    ConvertScreen #convert-model { height: auto; margin-bottom: 1; }
    ConvertScreen #convert-form { grid-size: 3; grid-columns: 15 32 1fr; grid-rows: auto;
        grid-gutter: 0 1; height: auto; }
    ConvertScreen #convert-form Label { text-style: bold; }
    ConvertScreen #convert-form .help { color: $text-muted; height: auto; }
    ConvertScreen.-narrow #convert-form { layout: vertical; }
    ConvertScreen.-narrow #convert-form Label { margin-top: 1; }
    ConvertScreen #convert-form Switch { width: auto; height: 1; border: none; padding: 0; }
    ConvertScreen #convert-issues { height: auto; margin-top: 1; }
    ConvertScreen #preview-head { height: auto; margin-top: 1; text-style: bold; }
    ConvertScreen #preview-row { height: 8; }
    ConvertScreen #preview { width: 1fr; height: 8; }
    ConvertScreen #copy-preview { margin-left: 1; }
    ConvertScreen #estimates { height: auto; max-height: 7; margin-top: 1; }
    ConvertScreen #convert-actions { dock: bottom; height: auto; background: $surface; }
    ConvertScreen #convert-actions Button { margin-right: 1; }
    ConvertScreen #run-pane { height: auto; margin-top: 1; }
    ConvertScreen #run-row { height: 1; }
    ConvertScreen #run-progress { width: 1fr; }
    ConvertScreen #run-elapsed { width: 12; text-align: right; }
    ConvertScreen #run-stage { height: auto; }
    ConvertScreen #run-log { height: 10; border: round $primary; }
    ConvertScreen #result-pane { height: auto; margin-top: 1; }
    ConvertScreen #result-summary { height: auto; }
    ConvertScreen #verification { height: auto; max-height: 8; }
    """

    class Progress(Message):
        def __init__(self, event: StepProgress) -> None:
            self.event = event
            super().__init__()

    class Finished(Message):
        def __init__(self, result: convert_step.Result) -> None:
            self.result = result
            super().__init__()

    class Inspected(Message):
        def __init__(self, info: ModelInfo | None, error: str, adapter=None) -> None:
            self.info, self.error = info, error
            self.adapter = adapter  # core.adapter.AdapterInfo for a LoRA adapter folder
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.info: ModelInfo | None = None  # for a LoRA adapter: its base model's
        self.adapter = None  # core.adapter.AdapterInfo when the model folder is an adapter
        self.model_dir: Path | None = None
        self.running = False
        self.started_at = 0.0
        self._cancel = threading.Event()
        self._output_touched = False
        self._setting_output = False
        self._setting_base = False
        self._run_options: convert_step.Options | None = None
        self.result: convert_step.Result | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="convert-model")
        with Grid(id="convert-form"):
            yield Label("Precision")
            yield Select(PRECISION_OPTIONS, value=convert_step.DEFAULT_PRECISION,
                         allow_blank=False, id="precision",
                         compact=True)
            yield Static(HELP["precision"], classes="help")
            yield Label("Method")
            yield Select(METHOD_OPTIONS, value="auto-opt", allow_blank=False, id="method",
                         compact=True)
            yield Static(HELP["method"], classes="help")
            yield Label("Block size")
            yield Select([(str(b), b) for b in BLOCK_SIZES],
                         value=convert_step.DEFAULT_BLOCK_SIZE, allow_blank=False,
                         id="block-size", compact=True)
            yield Static(HELP["block"], classes="help")
            yield Label("Accuracy level")
            yield Select(ACCURACY_OPTIONS, value=0, allow_blank=False, id="accuracy", compact=True)
            yield Static(HELP["accuracy"], classes="help")
            yield Label("Symmetric")
            yield OnOffSwitch(value=True, id="symmetric")
            yield Static(HELP["symmetric"], classes="help")
            yield Label("Output folder")
            yield Input(id="output", validators=[OutputFolderValidator()],
                        validate_on=["changed", "submitted"], compact=True)
            yield Static(HELP["output"], classes="help")
            yield Label("Base model", classes="adapter-row")
            yield Input(id="base", placeholder="/path/to/the/base-model", compact=True,
                        classes="adapter-row")
            yield Static(HELP["base"], classes="help adapter-row")
            yield Label("LoRA route", classes="adapter-row")
            yield Select([(ADAPTER_MODE_LABELS[m], m) for m in ADAPTER_MODES],
                         value=DEFAULT_ADAPTER_MODE, allow_blank=False, id="adapter-mode",
                         compact=True, classes="adapter-row")
            yield Static(HELP["adapter"], classes="help adapter-row")
        yield Static("", id="convert-issues")
        with Horizontal(id="convert-actions"):
            yield Button("Run conversion", id="run", variant="primary", disabled=True)
            yield Button("Cancel", id="cancel", variant="error", disabled=True)
            yield Button("Continue", id="continue", variant="success", disabled=True)
        with Vertical(id="run-pane", classes="hidden"):
            with Horizontal(id="run-row"):
                yield ProgressBar(total=100, show_eta=False, id="run-progress")
                yield Static("", id="run-elapsed")
            yield Static("", id="run-stage")
        with Vertical(id="result-pane", classes="hidden"):
            yield Static("", id="result-summary")
            vt = DataTable(id="verification", show_cursor=False)
            vt.add_columns("check", "", "detail")
            yield vt
        yield Log(id="run-log", auto_scroll=True, classes="hidden")
        yield Static("", id="preview-head")
        with Horizontal(id="preview-row"):
            yield TextArea("", read_only=True, soft_wrap=True, id="preview")
            yield Button("Copy", id="copy-preview")
        table = DataTable(id="estimates", show_cursor=False, zebra_stripes=True)
        table.add_columns("precision", "size on disk", "× fp32 weights", "guide", "on CPU", "")
        yield table

    def on_mount(self) -> None:
        for w in self.query(".adapter-row"):
            w.display = False
        self.set_interval(0.5, self._tick)
        self._load_model()

    def on_screen_resume(self) -> None:
        if not self.running and getattr(self.app.state, "model_dir", None) != self.model_dir:
            self._load_model()

    # ------------------------------------------------------------------ the model

    def _load_model(self) -> None:
        self.model_dir = self.app.state.model_dir
        head = self.query_one("#convert-model", Static)
        if self.model_dir is None:
            self.info = None
            head.update(Text("No model folder chosen yet: the Model step provides it "
                             "(Back, ctrl+b).", style="bold red"))
            self._refresh()
            return
        head.update(f"Inspecting {Path(self.model_dir).name}…")
        self.inspect_worker(Path(self.model_dir), self._base_dir())

    def _base_dir(self) -> Path | None:
        value = self.query_one("#base", Input).value.strip()
        return Path(value) if value else None

    @work(thread=True, exclusive=True, group="convert-inspect", exit_on_error=False)
    def inspect_worker(self, folder: Path, base: Path | None = None) -> None:
        if is_adapter_folder(folder):
            from slm_wizard.core.steps import inspect as inspect_step

            try:
                r = inspect_step.run(inspect_step.Options(folder, base))
            except ModelFolderError as exc:
                self.post_message(self.Inspected(None, str(exc)))
                return
            error = "; ".join(r.base_problems)
            self.post_message(self.Inspected(None if error else r.info, error, r.adapter))
            return
        try:
            self.post_message(self.Inspected(inspect_model(folder), ""))
        except ModelFolderError as exc:
            self.post_message(self.Inspected(None, str(exc)))

    def on_convert_screen_inspected(self, message: Inspected) -> None:
        self.info = message.info
        self.adapter = message.adapter
        head = self.query_one("#convert-model", Static)
        for w in self.query(".adapter-row"):
            w.display = message.adapter is not None
        if message.adapter is not None:
            a = message.adapter
            base_field = self.query_one("#base", Input)
            if message.info is not None and base_field.value.strip() != str(message.info.path):
                self._setting_base = True
                base_field.value = str(message.info.path)
            if message.info is None:
                head.update(Text.assemble(
                    ("LoRA adapter ", "bold"), (a.name, "bold cyan"),
                    f" · rank {a.rank} · {', '.join(a.target_modules)} · ",
                    (f"base model: {message.error} Enter its folder below.", "red")))
            else:
                head.update(Text.assemble(
                    ("LoRA adapter ", "bold"), (a.name, "bold cyan"),
                    f" · rank {a.rank} · on base {message.info.name} · "
                    f"{message.info.architecture} · {message.info.param_count:,} parameters"))
            if not self._output_touched:
                self._set_default_output()
        elif message.info is None:
            head.update(Text(f"The model folder cannot be used: {message.error} Choose another "
                             "in the Model step.", style="red"))
        else:
            i = message.info
            head.update(Text.assemble(
                ("Model ", "bold"), (i.name, "bold cyan"),
                f" · {i.architecture} · {i.param_count:,} parameters · fp32 weights "
                f"{human_bytes(i.param_count * 4)}"))
            if not self._output_touched:
                self._set_default_output()
        self._refresh()
        run = self.query_one("#run", Button)
        if not run.disabled and not self.running and self.app.screen is self and \
                not isinstance(self.focused, (Input, Select)):
            run.focus(scroll_visible=False)  # Enter runs the conversion with these options

    def _set_default_output(self) -> None:
        if self.model_dir is None:
            return
        precision = self.query_one("#precision", Select).value
        value = str(default_output_dir(Path(self.model_dir), str(precision)))
        field = self.query_one("#output", Input)
        if field.value != value:
            self._setting_output = True
            field.value = value
            self.call_after_refresh(self._show_path_end, field)

    @staticmethod
    def _show_path_end(field: Input) -> None:
        """Scroll the folder field to the end of its path (its own folder name shows)."""
        field.cursor_position = 0
        field.cursor_position = len(field.value)

    # ------------------------------------------------------------------ the form

    def options(self) -> convert_step.Options | None:
        """The step's options as the form shows them (method and output folder explicit)."""
        if self.model_dir is None:
            return None
        level = self.query_one("#accuracy", Select).value
        adapter = {}
        if self.adapter is not None:
            adapter = {"base_dir": self._base_dir(),
                       "adapter_mode": str(self.query_one("#adapter-mode", Select).value)}
        return convert_step.Options(
            model_dir=Path(self.model_dir),
            output_dir=Path(self.query_one("#output", Input).value.strip() or "."),
            precision=str(self.query_one("#precision", Select).value),
            method=str(self.query_one("#method", Select).value),
            block_size=int(self.query_one("#block-size", Select).value),
            symmetric=self.query_one("#symmetric", Switch).value,
            accuracy_level=int(level) if level else None,
            replace=True,  # a non-empty folder is confirmed in a modal before the run
            **adapter,
        )

    @on(Select.Changed)
    def select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "precision" and not self._output_touched:
            self._set_default_output()
        if event.select.id == "precision" and event.value == "int8":
            # Only the config method can make int8 with this Olive: pick it for the user.
            self.query_one("#method", Select).value = "config"
        self._refresh()

    @on(Switch.Changed)
    def switch_changed(self) -> None:
        self._refresh()

    @on(Input.Changed, "#base")
    def base_changed(self) -> None:
        """Another base folder: check it against the adapter again."""
        if self._setting_base:
            self._setting_base = False
            return
        if self.model_dir is not None and self.adapter is not None:
            self.inspect_worker(Path(self.model_dir), self._base_dir())

    @on(Input.Changed, "#output")
    def output_changed(self) -> None:
        if self._setting_output:
            self._setting_output = False
        else:
            self._output_touched = True
        self._refresh()

    def _refresh(self) -> None:
        step_opts = self.options()
        opts = step_opts.resolved() if step_opts is not None else None
        quantized = str(self.query_one("#precision", Select).value) in ("int4", "int8")
        for wid in ("#block-size", "#accuracy", "#symmetric"):
            self.query_one(wid).disabled = not quantized or self.running
        issues_box = self.query_one("#convert-issues", Static)
        preview = self.query_one("#preview", TextArea)
        if opts is None or self.info is None:
            issues_box.update("")
            preview.text = ""
            self.query_one("#run", Button).disabled = True
            return
        if self.adapter is not None:
            try:  # the adapter's plan: its base checked, the route's own conversion options
                p = convert_step.plan(step_opts)
                opts, all_issues = p.conversion, p.issues
            except convert_step.ConvertRefused as exc:
                all_issues = [Issue("error", "base", str(exc))]
        else:
            all_issues = validate_options(opts, self.info)
        issues = [i for i in all_issues
                  if not (i.field == "output_dir" and i.level == "warning")]
        out = opts.output_dir.expanduser()
        lines = Text()
        for i in issues:
            style = "red" if i.is_error else "yellow"
            lines.append(f"{'✖' if i.is_error else '⚠'} {i.message}\n", style=style)
        if self.result is not None and self.result.ok and out == self.result.output_dir:
            lines.append("The model converted above is in this folder: running again asks "
                         "before replacing it.\n", style="green")
        elif out.is_dir() and any(out.iterdir()):
            lines.append(f"⚠ {out} is not empty: you will be asked before it is replaced.\n",
                         style="yellow")
        if opts.precision in ("fp32", "int8", "int4"):
            # Free amounts appear in a warning only when they fall short.
            needs = resources(opts, self.info).describe(with_free=False)
            lines.append(f"This conversion {needs}.", style="dim")
        issues_box.update(lines)
        if opts.method == "config":
            self.query_one("#preview-head", Static).update(
                f"Preview: {display_command(opts)}, with this file:")
            preview.soft_wrap = False  # keep the JSON's indentation
            preview.text = json.dumps(build_config(opts), indent=2)
        else:
            self.query_one("#preview-head", Static).update("Preview: the exact command")
            preview.soft_wrap = True
            preview.text = display_command(opts)
            if self.adapter is not None and step_opts.adapter_mode == "merge":
                preview.text = (f"1. merge {self.adapter.path} into {opts.model_dir} with PEFT "
                                "(a temporary model, removed afterwards)\n2. "
                                + display_command(opts).replace(str(opts.model_dir),
                                                                "<merged model>"))
        self._fill_estimates(opts)
        self.query_one("#run", Button).disabled = self.running or any(i.is_error for i in issues)

    def _fill_estimates(self, opts) -> None:
        table = self.query_one("#estimates", DataTable)
        table.clear()
        if self.info is None:
            return
        for e in estimate(self.info, opts.block_size, opts.symmetric):
            mark = "◀ chosen" if e.precision == opts.precision else ""
            table.add_row(e.precision, human_bytes(e.size_bytes), f"{e.ratio:.3f}",
                          f"Base × {e.guide_ratio:g}", "yes" if e.cpu_ok else "no (GPU)",
                          mark)

    @on(Button.Pressed, "#copy-preview")
    def copy_preview(self) -> None:
        self.app.copy_to_clipboard(self.query_one("#preview", TextArea).text)
        self.notify("Copied to the clipboard.")

    # ------------------------------------------------------------------ running

    @on(Button.Pressed, "#run")
    def run_pressed(self) -> None:
        opts = self.options()
        if opts is None or self.running:
            return
        out = opts.output_dir.expanduser()
        if out.is_dir() and any(out.iterdir()):
            self.app.push_screen(
                ConfirmScreen("Replace the output folder?",
                              f"{out} is not empty. Its contents will be replaced once the new "
                              "model is converted and in place (nothing is removed if the "
                              "conversion fails or is cancelled).",
                              yes="Replace"),
                lambda yes: self._start(opts) if yes else None)
            return
        self._start(opts)

    def _start(self, opts: convert_step.Options) -> None:
        self.running = True
        self.result = None
        self._run_options = opts
        self._cancel = threading.Event()
        self.started_at = time.monotonic()
        self.query_one("#run-pane").remove_class("hidden")
        self.query_one("#run-log").remove_class("hidden")
        self.query_one("#result-pane").add_class("hidden")
        self.query_one("#run-log", Log).clear()
        self.query_one("#run-progress", ProgressBar).update(progress=0, total=100)
        self.query_one("#run-stage", Static).update("Starting Olive…")
        self._set_running_controls()
        self.query_one("#run-pane").scroll_visible()
        self.convert_worker(opts, self._cancel)

    def _set_running_controls(self) -> None:
        for wid in ("#precision", "#method", "#output", "#block-size", "#accuracy",
                    "#symmetric", "#base", "#adapter-mode"):
            self.query_one(wid).disabled = self.running
        self.query_one("#run", Button).disabled = self.running
        self.query_one("#cancel", Button).disabled = not self.running
        if not self.running:
            self._refresh()

    @work(thread=True, exclusive=True, group="convert-run", exit_on_error=False)
    def convert_worker(self, opts: convert_step.Options, cancel: threading.Event) -> None:
        result = convert_step.run(opts, on_progress=lambda e: self.post_message(self.Progress(e)),
                                  cancel=cancel)
        self.post_message(self.Finished(result))

    def cancel_work(self) -> None:
        """Called by the app when the user quits: stop Olive and remove partial output."""
        self._cancel.set()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        if self.running:
            self._cancel.set()
            self.query_one("#cancel", Button).disabled = True
            self.query_one("#run-stage", Static).update("Cancelling…")

    def on_convert_screen_progress(self, message: Progress) -> None:
        e = message.event
        if e.fraction is not None:
            self.query_one("#run-progress", ProgressBar).update(progress=e.fraction * 100)
        if e.log:  # without Olive's "[time] [LEVEL] [file:line:function]" prefix
            self.query_one("#run-log", Log).write_line(_LOG_PREFIX.sub(r"\1 ", e.text))
        else:
            self.query_one("#run-stage", Static).update(Text(e.text))

    def _tick(self) -> None:
        if self.running:  # a timer: never raise, even while the screen is being removed
            for label in self.query("#run-elapsed").results(Static):
                label.update(f"{time.monotonic() - self.started_at:5.1f} s")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "convert-run":
            if isinstance(error, convert_step.ConvertRefused):
                text = f"The options were refused: {error}"
            else:
                log.error("the conversion worker failed", exc_info=error)
                text = (f"The conversion could not run: {error}. Nothing was written to the "
                        f"output folder. Check the options and run it again; if it fails again, "
                        f"the conversion logs are in {logs_dir()}.")
            self.post_message(self.Finished(convert_step.result_of(
                ConvertResult(False, None, None, text))))
        elif event.worker.group == "convert-inspect":
            log.error("the model inspection failed", exc_info=error)
            self.post_message(self.Inspected(None, f"{error}."))

    def on_convert_screen_finished(self, message: Finished) -> None:
        r = self.result = message.result
        opts = self._run_options
        self.running = False
        self._set_running_controls()
        self.query_one("#run-elapsed", Static).update(f"{r.conversion.elapsed_s:5.1f} s")
        if r.ok:
            self.query_one("#run-progress", ProgressBar).update(progress=100)
        self._show_result(r)
        if opts is None or r.cancelled:
            return
        if r.ok and r.output_dir is not None:
            self.query_one("#continue", Button).disabled = False
            self.query_one("#continue", Button).focus(scroll_visible=False)
        # The record keeps an earlier conversion whose output is still in place over a failure.
        self.app.record_step(convert_step.to_record(opts, r))

    def _show_result(self, r: convert_step.Result) -> None:
        pane = self.query_one("#result-pane")
        pane.remove_class("hidden")
        summary = Text()
        c = r.conversion
        if r.ok:
            summary.append(f"✔ Converted and verified in {c.elapsed_s:.1f} s: {r.output_dir}\n",
                           style="bold green")
        elif r.cancelled:
            summary.append("Cancelled: the partial output and Olive's leftovers were removed.\n",
                           style="bold yellow")
            self.query_one("#run-stage", Static).update("Cancelled.")
        else:
            summary.append(f"✖ {r.error}\n", style="bold red")
        v = c.verification
        if v is not None:
            if v.mismatches:
                summary.append("MISMATCH between what was asked and what was built:\n",
                               style="bold red reverse")
                for m in v.mismatches:
                    summary.append(f"  • {m}\n", style="bold red")
            if v.estimate_bytes:
                summary.append(f"Model size on disk (ONNX files) {human_bytes(v.size_bytes)}"
                               f" (estimated before: {human_bytes(v.estimate_bytes)}).\n")
        if c.log_path:
            summary.append(f"Full log: {c.log_path}\n", style="dim")
        if c.config_path:
            summary.append(f"Config file: {c.config_path}\n", style="dim")
        self.query_one("#result-summary", Static).update(summary)
        # Once laid out (its new height known), above the docked buttons.
        self.call_after_refresh(pane.scroll_visible, animate=False, top=True)
        table = self.query_one("#verification", DataTable)
        table.clear()
        for check in r.checks:
            table.add_row(check.id, Text("✔", style="green") if check.ok else
                          Text("✖", style="bold red"), check.found)
        table.display = bool(r.checks)

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        self.app.action_next_step()
