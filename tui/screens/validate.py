"""Validate: the benchmark, the quality checklist and the precision sweep, measured here.

Choose what to run and how big; each phase has its progress bar; results land in tables with
pass/fail, plots (decode tok/s against input length, memory during the soak) and the paths of
the Markdown/JSON/CSV reports.

What can run, on which runtimes, and the plan line are the step's (core.steps.checklist.preview);
Run runs that plan through `run_step(checklist.run_plan, ...)`: its progress feeds the phase rows
and the run pane, each phase's result and each soak sample arrive as messages from its thread.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    ProgressBar,
    Select,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from slm_wizard.core.base.status import ICON, Progress, Status
from slm_wizard.core.run.record import started_record
from slm_wizard.core.steps import checklist as plan_step
from slm_wizard.core.steps.checklist import LABEL, PHASE_TITLES, PHASES, SIZES, ValidatePlan
from slm_wizard.tui.screens.base import Outcome, StepScreen
from slm_wizard.tui.widgets.bar_plot import BarPlot
from slm_wizard.tui.widgets.run_pane import RunPane
from slm_wizard.tui.widgets.status import status_text
from slm_wizard.tui.widgets.toggles import StateCheckbox

NO_MODEL = ("No converted model yet: the Convert step provides it (it converts the model to "
            "ONNX and checks it). Go back with ctrl+b.")
# The sweep's Pareto table on screen: (column of core.sweep's table, heading).
SWEEP_KEEP = (("variant", "variant"), ("status", "status"), ("size (MB)", "size MB"),
              ("size vs fp32", "vs fp32"), ("mean KLD", "mean KLD"), ("p99 KLD", "p99 KLD"),
              ("top-1", "top-1"), ("decode tok/s", "tok/s"), ("pareto", "Pareto"),
              ("perplexity", "PPL"), ("TTFT (s)", "TTFT s"), ("peak RSS (MB)", "RSS MB"),
              ("domain score", "domain"))
SWEEP_COLUMNS = tuple(title for _, title in SWEEP_KEEP)


class DomainFile(Validator):
    """A domain file the checklist can read (core's reader says what is wrong); empty: the model
    folder's own."""

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        try:
            plan_step.domain_cases(value.strip())
        except plan_step.ValidateError as exc:
            return self.failure(str(exc))
        return self.success()


class ValidateScreen(StepScreen):
    STEP_ID = "validate"
    AUTO_FOCUS = "#val-run"  # Enter runs the chosen plan; buttons and status are docked in view
    DEFAULT_CSS = """
    ValidateScreen #body { padding: 0 1; }
    ValidateScreen #val-model { height: auto; margin-bottom: 1; }
    ValidateScreen #val-model.-error { color: $error; }
    ValidateScreen #val-controls { height: 3; }
    ValidateScreen #val-controls Checkbox { width: auto; border: none; padding: 0 1;
                                            margin-top: 1; }
    ValidateScreen #val-controls Select { width: 14; }
    ValidateScreen #val-actions { dock: bottom; height: auto; background: $surface; }
    ValidateScreen #val-buttons { height: 3; }
    ValidateScreen #val-buttons Button { min-width: 10; margin-right: 1; }
    ValidateScreen #val-size-help { color: $text-muted; height: auto; padding: 0 1; }
    ValidateScreen #val-runtime-row { height: 3; }
    ValidateScreen #val-runtime-row Label { padding: 1 1 0 1; }
    ValidateScreen #val-backend { width: 30; }
    ValidateScreen #val-domain-row { height: 3; }
    ValidateScreen #val-domain-row Label { padding: 1 1 0 1; }
    ValidateScreen #val-domain { width: 1fr; }
    ValidateScreen #val-domain-info { height: auto; color: $text-muted; padding: 0 1; }
    ValidateScreen #val-domain-info.-error { color: $error; }
    ValidateScreen .phase-row { height: 1; }
    ValidateScreen .phase-row Label { width: 11; }
    ValidateScreen .phase-row ProgressBar { width: 34; }
    ValidateScreen .phase-row .phase-text { width: 1fr; color: $text-muted; }
    ValidateScreen #val-progress { height: auto; margin: 1 0; }
    ValidateScreen TabbedContent { height: auto; }
    ValidateScreen DataTable { height: auto; max-height: 12; }
    ValidateScreen #check-evidence { height: auto; color: $text-muted; padding: 0 1; }
    ValidateScreen #soak-spark { height: 3; margin: 0 1; }
    ValidateScreen .caption { color: $text-muted; padding: 0 1; }
    ValidateScreen #sweep-reco { height: auto; padding: 0 1; }
    ValidateScreen #sweep-plot { height: auto; padding: 0 1; color: $text-muted; }
    ValidateScreen #sweep-use { margin: 0 1; }
    ValidateScreen #val-reports { height: auto; color: $text-muted; margin-top: 1; }
    ValidateScreen #val-status { height: auto; max-height: 4; padding: 0 1; }
    ValidateScreen #val-status.-error { color: $error; }
    """

    class SoakSample(Message):
        def __init__(self, rss_mb: float) -> None:
            self.rss_mb = rss_mb
            super().__init__()

    class PhaseDone(Message):
        def __init__(self, phase: str, result: Any, report: Any) -> None:
            self.phase, self.result, self.report = phase, result, report
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.running = False
        self.plan: ValidatePlan | None = None  # what Run runs now (None: nothing can run)
        self.soak_values: list[float] = []
        self.reports: dict[str, Path] = {}
        self.last_summary = ""
        self.runtime_options: list[tuple[str, str]] = [("onnxruntime-genai", "ort")]

    # -- layout ----------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield Static("", id="val-model", markup=False)
        with Horizontal(id="val-controls"):
            yield StateCheckbox("Benchmark", value=True, id="run-bench")
            yield StateCheckbox("Checklist", value=True, id="run-checklist")
            yield StateCheckbox("Sweep", value=False, id="run-sweep")
            yield Select([(s.title, key) for key, s in SIZES.items()], value="quick",
                         allow_blank=False, id="val-size")
        with Vertical(id="val-actions", classes="action-bar"):  # docked: always in view
            yield Static("", id="val-status", markup=False)
            with Horizontal(id="val-buttons"):
                yield Button("Run", id="val-run", variant="primary")
                yield Button("Cancel", id="val-cancel", disabled=True)
                yield Button("Continue", id="val-continue")
        with Horizontal(id="val-runtime-row"):
            yield Label("Benchmark and checklist run on")
            yield Select([("onnxruntime-genai", "ort")], value="ort", allow_blank=False,
                         id="val-backend")
        yield Static(SIZES["quick"].describe(), id="val-size-help", markup=False)
        with Horizontal(id="val-domain-row"):
            yield Label("Domain file")
            yield Input(id="val-domain", placeholder="a .jsonl of prompts (empty: the model "
                        "folder's domain_eval.jsonl)", validators=[DomainFile()],
                        validate_on=["changed", "submitted"])
        yield Static("", id="val-domain-info", markup=False)
        with Vertical(id="val-progress"):
            for phase in PHASES:
                with Horizontal(classes="phase-row", id=f"row-{phase}"):
                    yield Label(PHASE_TITLES[phase])
                    yield ProgressBar(total=100, show_eta=False, id=f"bar-{phase}")
                    yield Static("not run", classes="phase-text", id=f"text-{phase}",
                                 markup=False)
            yield RunPane(id="val-run-pane")
        with TabbedContent(id="val-tabs"):
            with TabPane("Checklist", id="tab-checklist"):
                yield DataTable(id="checks-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="check-evidence", markup=False)
                yield Label("memory (RSS) after each soak generation", classes="caption")
                yield Sparkline([], id="soak-spark")
                yield Static("", id="soak-caption", classes="caption", markup=False)
            with TabPane("Benchmark", id="tab-bench"):
                yield DataTable(id="bench-table", cursor_type="none", zebra_stripes=True)
                yield BarPlot("decode tokens/s against input length (prompt tokens)",
                              unit="tok/s", id="speed-plot")
                yield DataTable(id="lengths-table", cursor_type="none", zebra_stripes=True)
            with TabPane("Sweep", id="tab-sweep"):
                yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="sweep-reco", markup=False)
                yield Button("Use this variant", id="sweep-use", disabled=True,
                             tooltip="continue to Deploy with the highlighted variant")
                yield Static("", id="sweep-plot", markup=False)
        yield Static("", id="val-reports", markup=False)

    def on_mount(self) -> None:
        checks = self.query_one("#checks-table", DataTable)
        checks.add_columns("Check", "Result", "Measured", "Threshold")
        self.query_one("#bench-table", DataTable).add_columns(
            "Figure", "n", "mean", "median", "stdev", "min", "max")
        self.query_one("#lengths-table", DataTable).add_columns(
            "target", "prompt tokens", "TTFT median s", "decode tok/s median", "stdev")
        self.query_one("#sweep-table", DataTable).add_columns(*SWEEP_COLUMNS)
        last = plan_step.last_choices(self.app.state)
        if last is not None:  # resumed: the choices of the last run come back as they were
            for phase in PHASES:
                self.query_one(f"#run-{phase}", Checkbox).value = phase in last.phases
            self.query_one("#val-size", Select).value = last.size
            self.query_one("#val-domain", Input).value = last.domain_file or ""
        self.prepare()
        if last is not None and last.backend in {v for _, v in self.runtime_options}:
            self.query_one("#val-backend", Select).value = last.backend
            self._describe_plan()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.prepare()

    def on_unmount(self) -> None:
        self.cancel_work()

    def prepare(self) -> None:
        """Show which model will be measured; enable what can run."""
        state = self.app.state
        label = self.query_one("#val-model", Static)
        if state.onnx_dir is None:
            label.update(NO_MODEL)
            label.add_class("-error")
        else:
            label.remove_class("-error")
            source = f" · source: {state.model_dir}" if state.model_dir else ""
            label.update(f"Model: {state.onnx_dir}{source}")
        self._enable_phases()
        runtime = self.query_one("#val-backend", Select)
        options = plan_step.backends_for(state)
        if options != self.runtime_options:
            current = runtime.value
            self.runtime_options = options
            runtime.set_options(options)
            runtime.value = current if current in {v for _, v in options} else "ort"
        self._describe_plan()

    def _enable_phases(self) -> None:
        """A phase the run record cannot measure yet is greyed out, its tooltip says why."""
        missing = plan_step.unavailable_phases(self.app.state)
        for phase in PHASES:
            box = self.query_one(f"#run-{phase}", Checkbox)
            box.disabled = self.running or phase in missing
            why = missing.get(phase)
            box.tooltip = f"{why[0].upper()}{why[1:]}." if why else None

    def _sync_buttons(self) -> None:
        self.query_one("#val-run", Button).disabled = self.running or self.plan is None
        self.query_one("#val-cancel", Button).disabled = not self.running
        for box in self.query(Checkbox):
            if self.running:
                box.disabled = True
        self.query_one("#val-size", Select).disabled = self.running
        self.query_one("#val-domain", Input).disabled = self.running

    def _preview(self) -> tuple[ValidatePlan | None, str]:
        """The plan of what is ticked now, and its line (core decides both)."""
        ticked = tuple(p for p in PHASES if self.query_one(f"#run-{p}", Checkbox).value)
        domain = self.query_one("#val-domain", Input).value.strip()
        problem = self._show_domain(domain)
        if problem:
            return None, f"Nothing to run: the domain file: {problem}."
        return plan_step.preview(self.app.state, ticked,
                                 str(self.query_one("#val-size", Select).value),
                                 str(self.query_one("#val-backend", Select).value),
                                 domain_file=domain or None)

    def _show_domain(self, domain: str) -> str:
        """Say which domain file the checklist and the sweep use and how many prompts it holds;
        returns the typed file's problem ("" when it can be used)."""
        info = self.query_one("#val-domain-info", Static)
        problem = ""
        if domain:
            try:
                n = plan_step.domain_cases(domain)
                text = f"{n} prompts in {Path(domain).expanduser()}"
            except plan_step.ValidateError as exc:
                problem = text = str(exc)
        else:
            found = plan_step.default_domain_file(self.app.state)
            try:
                text = (f"The model folder's {found.name}: {plan_step.domain_cases(found)} "
                        f"prompts ({found})" if found else
                        "None: the domain and format checks are skipped (a .jsonl of prompts "
                        "and expected answers scores the model on your own questions).")
            except plan_step.ValidateError as exc:
                text = f"The model folder's {found.name} cannot be used: {exc}"
        info.update(text)
        info.set_class(bool(problem), "-error")
        return problem

    @on(Input.Changed, "#val-domain")
    def domain_changed(self) -> None:
        self._describe_plan()
        # What the typed file holds (or what is wrong) in view under the field, above the bar.
        info = self.query_one("#val-domain-info", Static)
        self.call_after_refresh(self.query_one("#body").scroll_to_widget, info, animate=False)

    # -- controls ----------------------------------------------------------------------------

    @on(Select.Changed, "#val-size")
    @on(Select.Changed, "#val-backend")
    def size_changed(self) -> None:
        self._describe_plan()

    @on(Checkbox.Changed)
    def phase_toggled(self) -> None:
        self._describe_plan()

    def _describe_plan(self) -> None:
        """The plan line says what Run will run: the chosen phases only, the prompts found."""
        if self.running:
            return  # the line says what is running until it ends
        self.plan, text = self._preview()
        self.query_one("#val-size-help", Static).update(text)
        self._sync_buttons()

    @on(Button.Pressed, "#val-continue")
    def continue_pressed(self) -> None:
        self.app.action_next_step()

    @on(Button.Pressed, "#val-cancel")
    def cancel_pressed(self) -> None:
        self.cancel_step()
        self.set_status("Cancelling after the current generation…")

    @on(Button.Pressed, "#val-run")
    def run_pressed(self) -> None:
        if self.running:
            return
        # The plan made now (its own report folder), as the plan line was made.
        plan, text = self._preview()
        self.plan = plan
        self.query_one("#val-size-help", Static).update(text)
        if plan is None:
            self.set_status(f"Cannot run: {text.removeprefix('Nothing to run: ')}", error=True)
            self._sync_buttons()
            return
        phases = plan.phases
        self.running = True
        self.reports.clear()
        self.soak_values = []
        for phase in PHASES:
            self.query_one(f"#bar-{phase}", ProgressBar).update(progress=0)
            self.query_one(f"#text-{phase}", Static).update(
                "waiting" if phase in phases else "not run")
        self.query_one("#val-reports", Static).update("")
        self.set_status("Running… (Cancel stops after the current generation)")
        self._sync_buttons()
        pane = self.query_one(RunPane)
        pane.start(f"Running: {', '.join(PHASE_TITLES[p] for p in phases)}…")
        # Saved as started: a quit during the run is named on resume.
        self.app.state.started(started_record(
            self.STEP_ID, f"the run of {', '.join(PHASE_TITLES[p] for p in phases)}",
            plan.to_dict()))
        self.app.save_progress()
        # Each phase's result and each soak sample reach the screen as they land (messages
        # posted from the run's thread); progress feeds the phase rows and the run pane.
        self.run_step(plan_step.run_plan, plan, done=lambda outcome: self._finished(outcome, pane),
                      progress=lambda event: self._progress(plan, pane, event),
                      on_sample=lambda mb: self.post_message(self.SoakSample(mb)),
                      on_phase_done=lambda phase, r: self.post_message(
                          self.PhaseDone(phase, r, r.report)))

    def _ready_again(self) -> None:
        self.running = False
        self._enable_phases()
        self._sync_buttons()

    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#val-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    # -- results on screen ----------------------------------------------------------------------

    def _progress(self, plan: ValidatePlan, pane: RunPane, event: Progress) -> None:
        """One of run_plan's events: its phase's row, and the whole plan on the run pane."""
        if event.phase not in PHASES:
            return
        if event.fraction is not None:
            bar = self.query_one(f"#bar-{event.phase}", ProgressBar)
            bar.update(progress=round(100 * min(max(event.fraction, 0.0), 1.0)))
        self.query_one(f"#text-{event.phase}", Static).update(event.text)
        pane.show(replace(event, fraction=plan.fraction(event),
                          text=f"{PHASE_TITLES[event.phase]}: {event.text}" if event.text
                          and not event.log else event.text))

    def on_validate_screen_soak_sample(self, message: SoakSample) -> None:
        self.soak_values.append(message.rss_mb)
        self._show_soak(self.soak_values)

    def _show_soak(self, values: list[float]) -> None:
        spark = self.query_one("#soak-spark", Sparkline)
        low = min(values)
        spark.data = [v - low for v in values]  # the growth is what matters, not the level
        self.query_one("#soak-caption", Static).update(
            f"{len(values)} generations · {values[0]:.1f} → {values[-1]:.1f} MB "
            f"(lowest {low:.1f}, highest {max(values):.1f})")

    def on_validate_screen_phase_done(self, message: PhaseDone) -> None:
        phase, result = message.phase, message.result
        self.query_one(f"#bar-{phase}", ProgressBar).update(progress=100)
        if phase == "bench":
            self.show_bench(result.bench)
            self.query_one("#text-bench", Static).update(result.summary_line())
        elif phase == "checklist":
            self.show_checklist(result.checklist)
            self.query_one("#text-checklist", Static).update(result.checklist.summary_line())
        else:
            self.show_sweep(result.sweep)
            self.query_one("#text-sweep", Static).update(
                f"recommended: {result.sweep.recommended or 'none'}")
        if message.report is not None:
            self.reports[phase] = message.report.markdown
            self.query_one("#val-reports", Static).update(
                "Reports (Markdown, JSON, CSV):\n" + "\n".join(
                    f"  {PHASE_TITLES[p]}: {path}" for p, path in self.reports.items()))

    def _finished(self, outcome: Outcome, pane: RunPane) -> None:
        self._ready_again()
        self._describe_plan()
        result = outcome.result
        if result is None or result.cancelled:  # ended with nothing to record
            self.app.state.ended(self.STEP_ID)
            self.app.save_progress()
        if result is None:  # refused, or a bug (its message names the log file)
            why = outcome.refused or outcome.error
            pane.finish("Stopped: " + why)
            self.set_status(f"The run stopped: {why}. Check the model (Convert step) and run "
                            "again; the tables show what finished before.", error=True)
            return
        if result.cancelled:
            pane.finish("Cancelled.")
            self.set_status("Cancelled: the tables show what finished before.")
            return
        record = self.app.record_step(plan_step.plan_record(result))
        self.last_summary = record.outcome
        if result.failed:
            self.query_one(f"#text-{result.failed}", Static).update("failed")
            what = f"{PHASE_TITLES[result.failed]} failed: {result.error}"
            pane.finish(what)
            self.set_status(what, error=True)
            return
        pane.finish(record.outcome, ok=True)
        failed = record.status == Status.FAIL
        self.set_status(("Done with failures: " if failed else "Done: ") + record.outcome
                        + (" · the table lists each failed check with its fix" if failed
                           else ""), error=failed)
        # The results in view, and Enter goes on.
        self.query_one("#val-tabs", TabbedContent).scroll_visible(animate=False)
        self.query_one("#val-continue", Button).focus(scroll_visible=False)

    def show_bench(self, result: Any) -> None:
        from slm_wizard.core.steps.bench import METRIC_TITLES

        table = self.query_one("#bench-table", DataTable)
        table.clear()
        for metric, s in result.summary().items():
            if s is not None:
                table.add_row(METRIC_TITLES[metric], s.n, *[_num(getattr(s, k)) for k in
                                                             ("mean", "median", "stdev", "min",
                                                              "max")])
        lengths = self.query_one("#lengths-table", DataTable)
        lengths.clear()
        points = []
        for p in result.lengths:
            decode = p.decode_tps.median if p.decode_tps else None
            lengths.add_row(p.target_tokens, p.prompt_tokens,
                            _num(p.ttft_s.median if p.ttft_s else None), _num(decode),
                            _num(p.decode_tps.stdev if p.decode_tps else None))
            if decode:
                points.append((f"{p.prompt_tokens} tok", decode))
        self.query_one("#speed-plot", BarPlot).set_points(points)
        self.query_one("#val-tabs", TabbedContent).active = "tab-bench"

    def show_checklist(self, result: Any) -> None:
        table = self.query_one("#checks-table", DataTable)
        table.clear()
        for c in result.checks:
            table.add_row(c.title, status_text(c.status, LABEL[c.status]), c.found, c.required,
                          key=c.id)
        self._checks = {c.id: c for c in result.checks}
        leak = result.check("leak")
        if leak is not None and leak.data.get("rss_mb"):
            self._show_soak(leak.data["rss_mb"])
        first = next((c for c in result.checks if c.status == Status.FAIL), None) or \
            (result.checks[0] if result.checks else None)
        if first is not None:
            self._show_evidence(first.id)
        self.query_one("#val-tabs", TabbedContent).active = "tab-checklist"

    @on(DataTable.RowHighlighted, "#checks-table")
    def check_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self._show_evidence(event.row_key.value)

    def _show_evidence(self, check_id: str) -> None:
        check = getattr(self, "_checks", {}).get(check_id)
        if check is None:
            return
        lines = check.evidence[:10]
        more = len(check.evidence) - len(lines)
        # The whole rule and measurement, wrapped (the table's cells may be cut at 80 columns).
        text = (f"{check.title}: {LABEL[check.status]} · measured {check.found} · rule "
                f"{check.required}\n" + "\n".join(f"  {line}" for line in lines))
        if more > 0:
            text += f"\n  … {more} more in the report"
        if check.fix:
            text += f"\n  fix: {check.fix}"
        self.query_one("#check-evidence", Static).update(text)

    def show_sweep(self, result: Any) -> None:
        """The advisor's Pareto table (highlight = the recommendation), its rule and plot."""
        from slm_wizard.core.steps.sweep import plot_text

        self._sweep = result
        table = self.query_one("#sweep-table", DataTable)
        table.clear()
        rows = result.table()
        for row in rows.rows:
            values = dict(zip(rows.columns, row, strict=True))
            status = str(values["status"])
            style = ("bold green" if status == "recommended" else "red" if status.startswith(
                ("failed", "over limit")) else "")
            cells: list[Any] = [(ICON[Status.OK] if values[k] else "") if k == "pareto"
                                else _num(values[k]) for k, _ in SWEEP_KEEP]
            cells[1] = Text(status.split(":")[0], style=style)  # the reasons are in the text
            table.add_row(*cells, key=str(values["variant"]))
        if result.recommended:
            with contextlib.suppress(Exception):
                table.move_cursor(row=table.get_row_index(result.recommended))
        self.query_one("#sweep-reco", Static).update(
            f"Fidelity measured on {result.domain_source}.\nRule: {result.rule}.\n"
            f"{result.recommendation}")
        self.query_one("#sweep-plot", Static).update(plot_text(result))
        self.query_one("#sweep-use", Button).disabled = not any(v.ok for v in result.variants)
        if self.query_one("#checks-table", DataTable).row_count == 0:
            self.query_one("#val-tabs", TabbedContent).active = "tab-sweep"

    def chosen_variant(self) -> Any:
        """The highlighted row's variant (a measured one), else the recommended one."""
        result = getattr(self, "_sweep", None)
        if result is None:
            return None
        table = self.query_one("#sweep-table", DataTable)
        name = result.recommended
        with contextlib.suppress(Exception):
            name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or name
        v = result.variant(name) if name else None
        return v if v is not None and v.ok else None

    @on(Button.Pressed, "#sweep-use")
    def use_variant(self) -> None:
        """Continue to Deploy with the chosen variant's converted folder."""
        v = self.chosen_variant()
        if v is None:
            self.set_status("Highlight a variant that was measured (failed ones cannot be "
                            "deployed).", error=True)
            return
        from slm_wizard.core.steps.sweep import variant_to_record

        self.app.record_step(variant_to_record(self._sweep, v.name))
        self.app.notify(f"{v.name}: {v.output_dir}", title="Deploying this variant")
        self.app.goto("deploy")


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)
