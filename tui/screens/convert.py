"""Convert: Olive options with their reasons, a live preview of the step's plan, the run, the
proof.

The screen decides nothing about the conversion: every change of the form asks the step for its
plan (core/steps/convert.py `plan`, in a worker, debounced) and renders it (method and why, the
issues, the command or config file, the estimates, what it needs); Run runs that same plan.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Select,
    Static,
    Switch,
    TextArea,
)

from slm_wizard.core.base.status import Status
from slm_wizard.core.base.units import human_bytes
from slm_wizard.core.run.record import started_record
from slm_wizard.core.steps import convert as convert_step
from slm_wizard.core.steps import inspect as inspect_step
from slm_wizard.core.steps import resume as resume_step
from slm_wizard.tui.screens.base import Outcome, StepScreen
from slm_wizard.tui.screens.confirm import ConfirmScreen
from slm_wizard.tui.widgets.run_pane import RunPane
from slm_wizard.tui.widgets.status import status_text
from slm_wizard.tui.widgets.toggles import OnOffSwitch

HELP = {
    "precision": "int4 smallest/fastest on CPU · int8 near-fp32 quality · fp16 needs a GPU",
    "method": "auto: the plan picks auto-opt (one command) or config (a file with every option)",
    "block": "one scale per block: smaller blocks are more accurate and a bit larger",
    "accuracy": "int4 MatMul compute type on CPU: 4 (int8) is the fastest",
    "symmetric": "off = asymmetric: a zero point per block, a bit more accurate and larger",
    "output": "new or empty; a non-empty folder is replaced only after you confirm",
    "base": "the LoRA adapter's base model: a local folder, checked against the adapter",
    "adapter": "merge: one model (deployable) · adapter: base + .onnx_adapter "
               "(fp32; onnxruntime-genai only)",
}
PRECISION_OPTIONS = [(f"{p} · {label}", p) for p, label in convert_step.PRECISION_CHOICES]
AUTO = "auto"  # the method the plan chooses (Options.method None)
METHOD_LABELS = {AUTO: "auto (the plan's choice)", "auto-opt": "one command (olive auto-opt)",
                 "config": f"config file ({convert_step.CONFIG_NAME})"}
METHOD_OPTIONS = [(METHOD_LABELS.get(m, m), m) for m in (AUTO, *convert_step.METHODS)]
ACCURACY_OPTIONS = [("default (builder's choice)", 0),
                    *((f"{n} · {kind}", n) for n, kind in convert_step.ACCURACY_LEVELS.items())]
ADAPTER_MODE_LABELS = {"merge": "merge into the base (PEFT)",
                       "adapter": "keep separate (.onnx_adapter)"}
PLAN_DELAY_S = 0.25  # a change of the form is planned once it rests this long (latest wins)


def _plan_or_refusal(options: convert_step.Options, **kwargs):
    """The step's plan, or its refusal as a value (an adapter's refusal names the adapter)."""
    try:
        return convert_step.plan(options, **kwargs)
    except convert_step.ConvertRefused as exc:
        return exc


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
    ConvertScreen #result-pane { height: auto; margin-top: 1; }
    ConvertScreen #result-summary { height: auto; }
    ConvertScreen #verification { height: auto; max-height: 8; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.plan: convert_step.Plan | None = None  # the plan shown (None: none yet, or refused)
        self.info = None  # the plan's model (for a LoRA adapter: its base model's)
        self.adapter = None  # the plan's LoRA adapter, when the model folder is one
        self.model_dir: Path | None = None
        self._cancel = threading.Event()  # the conversion's (run_step's) cancel event
        self._plan_timer = None
        self._run_requested = False  # Run was pressed before the plan of the form arrived
        self._focus_run = False  # focus Run when the first plan of this model arrives
        self._output_touched = False
        self._setting_output = False
        self._run_options: convert_step.Options | None = None
        self.result: convert_step.Result | None = None

    @property
    def running(self) -> bool:
        return self.step_running("step")

    def compose_body(self) -> ComposeResult:
        yield Static("", id="convert-model")
        with Grid(id="convert-form"):
            yield Label("Precision")
            yield Select(PRECISION_OPTIONS, value=convert_step.DEFAULT_PRECISION,
                         allow_blank=False, id="precision",
                         compact=True)
            yield Static(HELP["precision"], id="precision-help", classes="help")
            yield Label("Method")
            yield Select(METHOD_OPTIONS, value=AUTO, allow_blank=False, id="method",
                         compact=True)
            yield Static(HELP["method"], id="method-help", classes="help")
            yield Label("Block size")
            yield Select([(str(b), b) for b in convert_step.BLOCK_SIZES],
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
            yield Select([(ADAPTER_MODE_LABELS[m], m) for m in convert_step.ADAPTER_MODES],
                         value=convert_step.DEFAULT_ADAPTER_MODE, allow_blank=False,
                         id="adapter-mode", compact=True, classes="adapter-row")
            yield Static(HELP["adapter"], classes="help adapter-row")
        yield Static("", id="convert-issues")
        with Horizontal(id="convert-actions"):
            yield Button("Run conversion", id="run", variant="primary", disabled=True)
            yield Button("Cancel", id="cancel", variant="error", disabled=True)
            yield Button("Continue", id="continue", variant="success", disabled=True)
        yield RunPane(id="run-pane")
        with Vertical(id="result-pane", classes="hidden"):
            yield Static("", id="result-summary")
            vt = DataTable(id="verification", show_cursor=False)
            vt.add_columns("check", "", "detail")
            yield vt
        yield Static("", id="preview-head")
        with Horizontal(id="preview-row"):
            yield TextArea("", read_only=True, soft_wrap=True, id="preview")
            yield Button("Copy", id="copy-preview")
        table = DataTable(id="estimates", show_cursor=False, zebra_stripes=True)
        table.add_columns(*convert_step.ESTIMATE_COLUMNS)
        yield table

    def on_mount(self) -> None:
        for w in self.query(".adapter-row"):
            w.display = False
        self._load_model()

    def on_screen_resume(self) -> None:
        if not self.running and self.app.state.model_dir != self.model_dir:
            self._load_model()

    # ------------------------------------------------------------------ the model

    def _load_model(self) -> None:
        self.model_dir = self.app.state.model_dir
        self.plan = self.info = self.adapter = None  # another model: inspected again
        head = self.query_one("#convert-model", Static)
        if self.model_dir is None:
            head.update(Text("No model folder chosen yet: the Model step provides it "
                             "(Back, ctrl+b).", style="bold red"))
            self._render_plan()
            return
        head.update(f"Inspecting {Path(self.model_dir).name}…")
        if not self._output_touched:
            self._set_default_output()
        restored = resume_step.convert_options(self.app.state)
        if restored is not None:  # resumed: the options as they were last run
            self._restore(restored)
        self._focus_run = True
        self._request_plan(now=True)
        self._look_for_last_model()

    def _restore(self, opts: convert_step.Options) -> None:
        """Set the form to options run before (a resumed run's, or an interrupted one's)."""
        self.query_one("#precision", Select).value = opts.precision
        self.query_one("#method", Select).value = opts.method or AUTO
        self.query_one("#block-size", Select).value = opts.block_size
        self.query_one("#accuracy", Select).value = opts.accuracy_level or 0
        self.query_one("#symmetric", Switch).value = opts.symmetric
        self.query_one("#adapter-mode", Select).value = opts.adapter_mode
        if opts.base_dir is not None:
            self.query_one("#base", Input).value = str(opts.base_dir)
        if opts.output_dir is not None:
            default = convert_step.Options(opts.model_dir, precision=opts.precision)
            self._output_touched = opts.output_dir != default.chosen_output
            self._setting_output = True
            self.query_one("#output", Input).value = str(opts.output_dir)
        interrupted = self.app.state.unfinished.get(self.STEP_ID)
        if interrupted is not None:
            said = self.app.state.interrupted()[self.STEP_ID]
            self._show_resumed(status_text(Status.WARN, f"{said}; its options are back in "
                                                        "the form.\n"))
            self.app.state.ended(self.STEP_ID)  # named once; the next run records anew

    def _look_for_last_model(self) -> None:
        """A model converted last time and still on disk: checked again in a worker."""
        opts = resume_step.convert_options(self.app.state, done=True)
        if opts is None or self.app.state.onnx_dir is None:
            return
        self.run_step(resume_step.check_converted, opts, group="found", done=self._found)

    def _found(self, outcome: Outcome) -> None:
        found = outcome.result
        if not outcome.ok or found is None or self.running or self.result is not None:
            return
        self._show_resumed(status_text(Status.OK if found.ok else Status.WARN,
                                       found.message + "\n"))
        if found.ok:
            button = self.query_one("#continue", Button)
            button.disabled = False
            if not isinstance(self.focused, (Input, Select)):
                button.focus(scroll_visible=False)

    def _show_resumed(self, line: Text) -> None:
        """A line about last time's run in the result pane (appended to what it shows)."""
        summary = self.query_one("#result-summary", Static)
        text = summary.content if isinstance(summary.content, Text) else Text()
        summary.update(Text.assemble(text, line))
        self.query_one("#result-pane").remove_class("hidden")
        self.query_one("#verification", DataTable).display = False

    def _base_dir(self) -> Path | None:
        value = self.query_one("#base", Input).value.strip()
        return Path(value) if value else None

    def _show_model(self, error: str = "") -> None:
        head = self.query_one("#convert-model", Static)
        for w in self.query(".adapter-row"):
            w.display = self.adapter is not None
        a, i = self.adapter, self.info
        if a is not None:
            base_field = self.query_one("#base", Input)
            if i is not None and base_field.value.strip() != str(i.path):
                base_field.value = str(i.path)  # the base found: shown (and planned with)
            if i is None:
                head.update(Text.assemble(
                    ("LoRA adapter ", "bold"), (a.name, "bold cyan"),
                    f" · rank {a.rank} · {', '.join(a.target_modules)} · ",
                    (f"base model: {error} Enter its folder below.", "red")))
            else:
                head.update(Text.assemble(
                    ("LoRA adapter ", "bold"), (a.name, "bold cyan"),
                    f" · rank {a.rank} · on base {i.name} · "
                    f"{i.architecture} · {i.param_count:,} parameters"))
        elif i is None:
            head.update(Text(f"The model folder cannot be used: {error} Choose another "
                             "in the Model step.", style="red"))
        else:
            head.update(Text.assemble(
                ("Model ", "bold"), (i.name, "bold cyan"),
                f" · {i.architecture} · {i.param_count:,} parameters · fp32 weights "
                f"{inspect_step.fp32_weights(i)}"))

    def _set_default_output(self) -> None:
        if self.model_dir is None:
            return
        precision = str(self.query_one("#precision", Select).value)
        value = str(convert_step.Options(Path(self.model_dir), precision=precision).chosen_output)
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
        """The step's options as the form shows them (output folder explicit)."""
        if self.model_dir is None:
            return None
        level = self.query_one("#accuracy", Select).value
        method = str(self.query_one("#method", Select).value)
        adapter = {}
        if self.adapter is not None or self.query_one("#base", Input).display:
            adapter = {"base_dir": self._base_dir(),
                       "adapter_mode": str(self.query_one("#adapter-mode", Select).value)}
        return convert_step.Options(
            model_dir=Path(self.model_dir),
            output_dir=Path(self.query_one("#output", Input).value.strip() or "."),
            precision=str(self.query_one("#precision", Select).value),
            method=None if method == AUTO else method,
            block_size=int(self.query_one("#block-size", Select).value),
            symmetric=self.query_one("#symmetric", Switch).value,
            accuracy_level=int(level) if level else None,
            replace=True,  # a non-empty folder is confirmed in a modal before the run
            **adapter,
        )

    def plan_current(self) -> bool:
        """The plan shown is the form's (no change waits for its plan)."""
        return (self.plan is not None and self.plan.options == self.options()
                and self._plan_timer is None and not self.step_running("plan"))

    @on(Select.Changed)
    def select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "precision" and not self._output_touched:
            self._set_default_output()
        self._form_changed()

    @on(Switch.Changed)
    def switch_changed(self) -> None:
        self._form_changed()

    @on(Input.Changed, "#base")
    def base_changed(self) -> None:
        """Another base folder: the plan checks it against the adapter again."""
        self._form_changed()

    @on(Input.Changed, "#output")
    def output_changed(self) -> None:
        if self._setting_output:
            self._setting_output = False
        else:
            self._output_touched = True
        self._form_changed()

    def _form_changed(self) -> None:
        precision = str(self.query_one("#precision", Select).value)
        for wid in ("#block-size", "#accuracy", "#symmetric"):
            self.query_one(wid).disabled = (not convert_step.uses_block_options(precision)
                                            or self.running)
        if self.model_dir is not None and (self.plan is not None or self.info is not None
                                           or self.adapter is not None):
            self._request_plan()

    # ------------------------------------------------------------------ the plan

    def _request_plan(self, now: bool = False) -> None:
        """Plan the form's options in a worker once the form rests (the latest change wins)."""
        if self._plan_timer is not None:
            self._plan_timer.stop()
            self._plan_timer = None
        if now:
            self._plan_now()
        else:
            self._plan_timer = self.set_timer(PLAN_DELAY_S, self._plan_now)

    def _plan_now(self) -> None:
        self._plan_timer = None
        opts = self.options()
        if opts is None:
            return
        self.run_step(_plan_or_refusal, opts, done=self._planned, group="plan", known=self.plan)

    def _planned(self, outcome: Outcome) -> None:
        result = outcome.result
        error = outcome.error or outcome.refused
        if isinstance(result, convert_step.ConvertRefused):
            self.plan, self.info, self.adapter = None, None, result.adapter
            error = str(result)
        elif isinstance(result, convert_step.Plan):
            self.plan, self.info, self.adapter = result, result.info, result.adapter
        else:
            self.plan, self.info, self.adapter = None, None, None
        self._show_model(error)
        if self.plan is not None and not self._output_touched:
            self._set_default_output()
        self._render_plan()
        run = self.query_one("#run", Button)
        if self._focus_run and self.plan is not None:
            self._focus_run = False
            if not run.disabled and not self.running and self.app.screen is self and \
                    not isinstance(self.focused, (Input, Select)):
                run.focus(scroll_visible=False)  # Enter runs the conversion with these options
        if self.plan is not None and not self.plan_current() and self._plan_timer is None \
                and not self.step_running("plan"):
            self._request_plan()  # the form changed while it was planned (or the base was filled)
        elif self._run_requested:
            self._run_requested = False
            if self.plan_current():
                self.run_pressed()

    def _render_plan(self) -> None:
        p = self.plan
        issues_box = self.query_one("#convert-issues", Static)
        preview = self.query_one("#preview", TextArea)
        table = self.query_one("#estimates", DataTable)
        method_help = self.query_one("#method-help", Static)
        if p is None:
            issues_box.update("")
            preview.text = ""
            self.query_one("#preview-head", Static).update("")
            method_help.update(HELP["method"])
            table.clear()
            self.query_one("#run", Button).disabled = True
            return
        method_help.update(f"→ {p.method_reason}")
        self.query_one("#precision-help", Static).update(p.precision_hint)
        lines = Text()
        for i in p.shown_issues:
            lines.append(status_text(Status.FAIL if i.is_error else Status.WARN, f"{i.message}\n"))
        if self.result is not None and self.result.ok and p.output_dir == self.result.output_dir:
            lines.append("The model converted above is in this folder: running again asks "
                         "before replacing it.\n", style="green")
        elif p.replace_note:
            lines.append(status_text(Status.WARN, f"{p.replace_note}\n"))
        if p.needs():  # free amounts appear in a warning only when they fall short
            lines.append(p.needs(), style="dim")
        issues_box.update(lines)
        self.query_one("#preview-head", Static).update(p.preview_head)
        preview.soft_wrap = p.config is None  # keep the JSON's indentation
        preview.text = p.preview_text
        table.clear()
        for row in p.estimate_rows():
            table.add_row(*row)
        self.query_one("#run", Button).disabled = self.running or bool(p.errors)

    @on(Button.Pressed, "#copy-preview")
    def copy_preview(self) -> None:
        self.copy_text(self.query_one("#preview", TextArea).text, "Preview")

    # ------------------------------------------------------------------ running

    @on(Button.Pressed, "#run")
    def run_pressed(self) -> None:
        if self.running or self.options() is None:
            return
        if not self.plan_current():  # the form changed since its plan: plan it, then run
            self._run_requested = True
            self._request_plan(now=True)
            return
        p = self.plan
        assert p is not None
        if p.errors:
            return
        if p.replacing:
            self.app.push_screen(
                ConfirmScreen("Replace the output folder?",
                              f"{p.output_dir} is not empty. Its contents will be replaced once "
                              "the new model is converted and in place (nothing is removed if "
                              "the conversion fails or is cancelled).",
                              yes="Replace"),
                lambda yes: self._start(p) if yes else None)
            return
        self._start(p)

    def _start(self, plan: convert_step.Plan) -> None:
        self.result = None
        self._run_options = plan.options
        self.query_one("#result-summary", Static).update("")
        self.query_one("#result-pane").add_class("hidden")
        # Saved as started: a quit during the run is named on resume, with these options.
        self.app.state.started(started_record(
            self.STEP_ID, f"the {plan.options.precision} conversion into {plan.output_dir}",
            plan.options.to_dict(), plan.options.argv()))
        self.app.save_progress()
        pane = self.query_one(RunPane)
        self._cancel = self.run_step(convert_step.run, plan.options, done=self._finished,
                                     pane=pane, start_text="Starting Olive…", plan=plan)
        self._set_running_controls()
        pane.scroll_visible()

    def _set_running_controls(self) -> None:
        for wid in ("#precision", "#method", "#output", "#block-size", "#accuracy",
                    "#symmetric", "#base", "#adapter-mode"):
            self.query_one(wid).disabled = self.running
        self.query_one("#run", Button).disabled = self.running
        self.query_one("#cancel", Button).disabled = not self.running
        if not self.running:
            self._form_changed()  # the folder changed: planned again, Run enabled by the plan
            self._render_plan()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        if self.running:
            self.cancel_step("step")
            self.app.state.ended(self.STEP_ID)  # cancelled on purpose: not an interruption
            self.app.save_progress()
            self.query_one("#cancel", Button).disabled = True
            self.query_one(RunPane).set_stage("Cancelling…")

    def _finished(self, outcome: Outcome) -> None:
        opts = self._run_options
        if outcome.result is not None:
            r = outcome.result
        elif outcome.refused:
            r = convert_step.failed(f"The options were refused: {outcome.refused}")
        else:
            r = convert_step.failed(
                f"The conversion could not run: {outcome.error}. Nothing was written to the "
                "output folder. Check the options and run it again.")
        self.result = r
        pane = self.query_one(RunPane)
        if r.cancelled:
            pane.finish("Cancelled.")
        else:
            pane.finish("" if r.ok or r.conversion.log_path else "Stopped: see below.",
                        ok=r.ok)
        self._set_running_controls()
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
        warned = [check for check in r.checks if check.status == Status.WARN]
        if r.ok and warned:  # verified with a warning: its glyph, and what it found in full
            summary.append(status_text(Status.WARN, f"Converted in {c.elapsed_s:.1f} s, with "
                                                    f"a warning: {r.output_dir}\n"))
            summary.stylize("bold")
            for check in warned:
                summary.append(status_text(Status.WARN, f"{check.title}: {check.found}\n"))
                if check.fix:
                    summary.append(f"  {check.fix}\n", style="dim")
        elif r.ok:
            summary.append(status_text(Status.OK, f"Converted and verified in {c.elapsed_s:.1f} s: "
                                                  f"{r.output_dir}\n"))
            summary.stylize("bold")
        elif r.cancelled:
            summary.append("Cancelled: the partial output and Olive's leftovers were removed.\n",
                           style="bold yellow")
        else:
            summary.append(status_text(Status.FAIL, f"{r.error}\n"))
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
            table.add_row(check.id, status_text(check.status), check.found)
        table.display = bool(r.checks)

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        self.app.action_next_step()
