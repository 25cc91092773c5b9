"""Validate: the benchmark, the quality checklist and the precision sweep, measured here.

Choose what to run and how big; each phase has its progress bar; results land in tables with
pass/fail, plots (decode tok/s against input length, memory during the soak) and the paths of
the Markdown/JSON/CSV reports.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Label,
    ProgressBar,
    Select,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from slm_wizard.tui.screens.base import StepScreen
from slm_wizard.tui.widgets.bar_plot import BarPlot

NO_MODEL = ("No converted model yet: the Convert step provides it (it converts the model to "
            "ONNX and checks it). Go back with ctrl+b.")
NO_SOURCE = "The precision sweep converts the Hugging Face model: choose one in the Model step."
PHASES = ("bench", "checklist", "sweep")
PHASE_TITLES = {"bench": "Benchmark", "checklist": "Checklist", "sweep": "Sweep"}
CHECKLIST_STEPS = ("domain", "leak", "lengths", "edge_cases")  # core progress phases, in order


@dataclass(frozen=True)
class RunSize:
    title: str
    repeats: int
    lengths: tuple[int, ...]
    soak: int
    max_prompts: int | None  # domain prompts (None: all)
    precisions: tuple[str, ...]

    def describe(self) -> str:
        prompts = "all" if self.max_prompts is None else f"{self.max_prompts}"
        return (f"{self.repeats} repetitions · input lengths {', '.join(map(str, self.lengths))}"
                f" · soak {self.soak} generations · {prompts} domain prompts · sweep "
                f"{', '.join(self.precisions)}")


SIZES: dict[str, RunSize] = {
    "quick": RunSize("Quick", 2, (16, 64, 256), 20, 20, ("fp32", "int8", "int4")),
    "standard": RunSize("Standard", 3, (16, 64, 256, 1024), 100, None,
                        ("fp32", "int8", "int4", "int4-b128-asym")),
    "thorough": RunSize("Thorough", 5, (16, 64, 256, 1024, 2048), 300, None,
                        ("fp32", "int8", "int4", "int4-b32-asym", "int4-b128", "int4-b128-asym")),
}


@dataclass
class RunPlan:
    onnx_dir: Path | None
    model_dir: Path | None
    phases: tuple[str, ...]
    size: RunSize
    report_dir: Path
    domain_file: Path | None = None
    backend: str = "ort"  # "ort": the converted folder; "foundry": the deployed model
    deployed_name: str | None = None
    foundry_cache: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)


class ValidateScreen(StepScreen):
    STEP_ID = "validate"
    DEFAULT_CSS = """
    ValidateScreen #body { padding: 0 1; }
    ValidateScreen #val-model { height: auto; margin-bottom: 1; }
    ValidateScreen #val-model.-error { color: $error; }
    ValidateScreen #val-controls { height: 3; }
    ValidateScreen #val-controls Checkbox { width: auto; border: none; padding: 0 1;
                                            margin-top: 1; }
    ValidateScreen #val-controls Select { width: 14; }
    ValidateScreen #val-controls Button { min-width: 8; margin-left: 1; }
    ValidateScreen #val-size-help { color: $text-muted; height: auto; padding: 0 1; }
    ValidateScreen #val-runtime-row { height: 3; }
    ValidateScreen #val-runtime-row Label { padding: 1 1 0 1; }
    ValidateScreen #val-backend { width: 30; }
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
    ValidateScreen #val-reports { height: auto; color: $text-muted; margin-top: 1; }
    ValidateScreen #val-status { height: auto; }
    ValidateScreen #val-status.-error { color: $error; }
    """

    class PhaseProgress(Message):
        def __init__(self, phase: str, fraction: float | None, text: str) -> None:
            self.phase, self.fraction, self.text = phase, fraction, text
            super().__init__()

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ValidateScreen.PhaseProgress) \
                and message.phase == self.phase

    class SoakSample(Message):
        def __init__(self, rss_mb: float) -> None:
            self.rss_mb = rss_mb
            super().__init__()

    class PhaseDone(Message):
        def __init__(self, phase: str, result: Any, report: Any) -> None:
            self.phase, self.result, self.report = phase, result, report
            super().__init__()

    class PhaseFailed(Message):
        def __init__(self, phase: str, error: str) -> None:
            self.phase, self.error = phase, error
            super().__init__()

    class Finished(Message):
        def __init__(self, plan: RunPlan, cancelled: bool) -> None:
            self.plan, self.cancelled = plan, cancelled
            super().__init__()

    def __init__(self) -> None:
        super().__init__()
        self.cancel_event = threading.Event()
        self.running = False
        self.soak_values: list[float] = []
        self.reports: dict[str, Path] = {}
        self.last_summary = ""
        self.runtime_options: list[tuple[str, str]] = [("onnxruntime-genai", "ort")]

    # -- layout ----------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield Static("", id="val-model", markup=False)
        with Horizontal(id="val-controls"):
            yield Checkbox("Benchmark", value=True, id="run-bench")
            yield Checkbox("Checklist", value=True, id="run-checklist")
            yield Checkbox("Sweep", value=False, id="run-sweep")
            yield Select([(s.title, key) for key, s in SIZES.items()], value="quick",
                         allow_blank=False, id="val-size")
            yield Button("Run", id="val-run", variant="primary")
            yield Button("Cancel", id="val-cancel", disabled=True)
            yield Button("Continue", id="val-continue")
        with Horizontal(id="val-runtime-row"):
            yield Label("Benchmark and checklist run on")
            yield Select([("onnxruntime-genai", "ort")], value="ort", allow_blank=False,
                         id="val-backend")
        yield Static(SIZES["quick"].describe(), id="val-size-help", markup=False)
        with Vertical(id="val-progress"):
            for phase in PHASES:
                with Horizontal(classes="phase-row", id=f"row-{phase}"):
                    yield Label(PHASE_TITLES[phase])
                    yield ProgressBar(total=100, show_eta=False, id=f"bar-{phase}")
                    yield Static("not run", classes="phase-text", id=f"text-{phase}",
                                 markup=False)
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
                yield DataTable(id="sweep-table", cursor_type="none", zebra_stripes=True)
                yield Static("", id="sweep-reco", markup=False)
        yield Static("", id="val-reports", markup=False)
        yield Static("", id="val-status", markup=False)

    def on_mount(self) -> None:
        checks = self.query_one("#checks-table", DataTable)
        checks.add_columns("Check", "Result", "Measured", "Threshold")
        self.query_one("#bench-table", DataTable).add_columns(
            "Figure", "n", "mean", "median", "stdev", "min", "max")
        self.query_one("#lengths-table", DataTable).add_columns(
            "target", "prompt tokens", "TTFT median s", "decode tok/s median", "stdev")
        self.query_one("#sweep-table", DataTable).add_columns(
            "variant", "size MB", "vs fp32", "load s", "TTFT s", "tok/s", "peak RSS MB",
            "domain", "agreement", "status")
        self.prepare()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.prepare()

    def on_unmount(self) -> None:
        self.cancel_event.set()

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
        for phase in ("bench", "checklist"):
            self.query_one(f"#run-{phase}", Checkbox).disabled = state.onnx_dir is None
        runtime = self.query_one("#val-backend", Select)
        options = [("onnxruntime-genai", "ort")]
        if state.deployed_name:
            options.append((f"Foundry Local ({state.deployed_name})", "foundry"))
        if options != self.runtime_options:
            current = runtime.value
            self.runtime_options = options
            runtime.set_options(options)
            runtime.value = current if current in {v for _, v in options} else "ort"
        sweep = self.query_one("#run-sweep", Checkbox)
        sweep.disabled = state.model_dir is None
        sweep.tooltip = NO_SOURCE if state.model_dir is None else None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        chosen = bool(self._chosen_phases())
        self.query_one("#val-run", Button).disabled = self.running or not chosen
        self.query_one("#val-cancel", Button).disabled = not self.running
        for box in self.query(Checkbox):
            if self.running:
                box.disabled = True
        self.query_one("#val-size", Select).disabled = self.running

    def _chosen_phases(self) -> tuple[str, ...]:
        return tuple(p for p in PHASES
                     if self.query_one(f"#run-{p}", Checkbox).value
                     and not self.query_one(f"#run-{p}", Checkbox).disabled)

    @property
    def run_size(self) -> RunSize:
        value = self.query_one("#val-size", Select).value
        return SIZES.get(str(value), SIZES["quick"])

    # -- controls ----------------------------------------------------------------------------

    @on(Select.Changed, "#val-size")
    def size_changed(self) -> None:
        self.query_one("#val-size-help", Static).update(self.run_size.describe())

    @on(Checkbox.Changed)
    def phase_toggled(self) -> None:
        self._sync_buttons()

    @on(Button.Pressed, "#val-continue")
    def continue_pressed(self) -> None:
        self.app.action_next_step()

    def cancel_work(self) -> None:
        """Called by the app when the user quits."""
        self.cancel_event.set()

    @on(Button.Pressed, "#val-cancel")
    def cancel_pressed(self) -> None:
        self.cancel_event.set()
        self.set_status("Cancelling after the current generation…")

    @on(Button.Pressed, "#val-run")
    def run_pressed(self) -> None:
        phases = self._chosen_phases()
        if not phases or self.running:
            return
        from slm_wizard.core.reports import default_report_dir
        from slm_wizard.core.validate import find_domain_file

        state = self.app.state
        name = (state.onnx_dir or state.model_dir or Path("model")).name
        plan = RunPlan(state.onnx_dir, state.model_dir, phases, self.run_size,
                       default_report_dir(name),
                       find_domain_file(state.onnx_dir, state.model_dir),
                       str(self.query_one("#val-backend", Select).value),
                       state.deployed_name, state.foundry_cache)
        self.cancel_event = threading.Event()
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
        self.run_plan(plan)

    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#val-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    # -- the work (a thread) -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="validate")
    def run_plan(self, plan: RunPlan) -> None:
        cancel = self.cancel_event
        current = "bench"
        try:
            if "bench" in plan.phases or "checklist" in plan.phases:
                from slm_wizard.core.chat import open_backend

                current = "bench" if "bench" in plan.phases else "checklist"
                self.post_message(self.PhaseProgress(current, None, "loading the model…"))
                if plan.backend == "foundry" and plan.deployed_name:
                    kw = {"cache_dir": plan.foundry_cache} if plan.foundry_cache else {}
                    backend = open_backend("foundry", plan.deployed_name, **kw)
                else:
                    backend = open_backend("ort", plan.onnx_dir)
                try:
                    if "bench" in plan.phases and not cancel.is_set():
                        current = "bench"
                        self._run_bench(backend, plan, cancel)
                    if "checklist" in plan.phases and not cancel.is_set():
                        current = "checklist"
                        self._run_checklist(backend, plan, cancel)
                finally:
                    backend.close()
            if "sweep" in plan.phases and not cancel.is_set():
                current = "sweep"
                self._run_sweep(plan, cancel)
        except Exception as exc:  # every failure becomes a message on screen, never a traceback
            self.post_message(self.PhaseFailed(current, _explain(exc)))
        self.post_message(self.Finished(plan, cancel.is_set()))

    def _export(self, report: Any, plan: RunPlan) -> Any:
        from slm_wizard.core.reports import export_report

        return export_report(report, plan.report_dir)

    def _run_bench(self, backend: Any, plan: RunPlan, cancel: threading.Event) -> None:
        from slm_wizard.core.bench import run_benchmark
        from slm_wizard.core.chat import GenerationSettings

        def progress(p: Any) -> None:
            # Two parts: the prompt set (first half of the bar), the length sweep (second half).
            part = 0 if p.phase == "prompts" else 1
            frac = (part + (p.done / p.total if p.total else 0)) / 2
            self.post_message(self.PhaseProgress("bench", frac, f"{p.phase}: {p.text}"))

        result = run_benchmark(backend, None, warmup=1, repeats=plan.size.repeats,
                               settings=GenerationSettings(max_tokens=64),
                               lengths=plan.size.lengths, model=str(plan.onnx_dir),
                               on_progress=progress, cancel=cancel)
        paths = self._export(result.to_report(), plan)
        plan.results["bench"] = result
        self.post_message(self.PhaseDone("bench", result, paths))

    def _run_checklist(self, backend: Any, plan: RunPlan, cancel: threading.Event) -> None:
        from slm_wizard.core.validate import load_domain_cases, run_checklist

        cases = load_domain_cases(plan.domain_file) if plan.domain_file else []
        if plan.size.max_prompts is not None:
            cases = cases[: plan.size.max_prompts]

        def progress(p: Any) -> None:
            step = CHECKLIST_STEPS.index(p.phase) if p.phase in CHECKLIST_STEPS else 0
            frac = (step + (p.done / p.total if p.total else 0)) / len(CHECKLIST_STEPS)
            self.post_message(self.PhaseProgress("checklist", frac, f"{p.phase}: {p.text}"))

        result = run_checklist(backend, domain_cases=cases, soak=plan.size.soak,
                               lengths=plan.size.lengths, repeats=plan.size.repeats,
                               model=str(plan.onnx_dir), on_progress=progress,
                               on_sample=lambda mb: self.post_message(self.SoakSample(mb)),
                               cancel=cancel)
        paths = self._export(result.to_report(), plan)
        plan.results["checklist"] = result
        self.post_message(self.PhaseDone("checklist", result, paths))

    def _run_sweep(self, plan: RunPlan, cancel: threading.Event) -> None:
        from slm_wizard.core.sweep import run_sweep

        def progress(p: Any) -> None:
            self.post_message(self.PhaseProgress("sweep", p.done / p.total if p.total else None,
                                                 p.text))

        result = run_sweep(plan.model_dir, plan.size.precisions, domain_file=plan.domain_file,
                           max_prompts=plan.size.max_prompts or 20, on_progress=progress,
                           cancel=cancel)
        paths = self._export(result.to_report(), plan)
        plan.results["sweep"] = result
        self.post_message(self.PhaseDone("sweep", result, paths))

    # -- results on screen ----------------------------------------------------------------------

    def on_validate_screen_phase_progress(self, message: PhaseProgress) -> None:
        bar = self.query_one(f"#bar-{message.phase}", ProgressBar)
        if message.fraction is not None:
            bar.update(progress=round(100 * min(max(message.fraction, 0.0), 1.0)))
        self.query_one(f"#text-{message.phase}", Static).update(message.text)

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
            self.show_bench(result)
            self.query_one("#text-bench", Static).update(_bench_line(result))
        elif phase == "checklist":
            self.show_checklist(result)
            self.query_one("#text-checklist", Static).update(result.summary_line())
        else:
            self.show_sweep(result)
            self.query_one("#text-sweep", Static).update(
                f"recommended: {result.recommended or 'none'}")
        if message.report is not None:
            self.reports[phase] = message.report.markdown
            self.query_one("#val-reports", Static).update(
                "Reports (Markdown, JSON, CSV):\n" + "\n".join(
                    f"  {PHASE_TITLES[p]}: {path}" for p, path in self.reports.items()))

    def on_validate_screen_phase_failed(self, message: PhaseFailed) -> None:
        self.query_one(f"#text-{message.phase}", Static).update("failed")
        self.set_status(f"{PHASE_TITLES[message.phase]} failed: {message.error}", error=True)

    def on_validate_screen_finished(self, message: Finished) -> None:
        self.running = False
        for phase in ("bench", "checklist"):
            self.query_one(f"#run-{phase}", Checkbox).disabled = self.app.state.onnx_dir is None
        self.query_one("#run-sweep", Checkbox).disabled = self.app.state.model_dir is None
        self._sync_buttons()
        plan = message.plan
        if message.cancelled:
            self.set_status("Cancelled: the tables show what finished before.")
            return
        if not plan.results:
            return
        summary = _summary(plan.results)
        self.last_summary = summary
        state = self.app.state
        options = {"report_dir": str(plan.report_dir), "size": plan.size.title.lower(),
                   "phases": list(plan.phases), "backend": plan.backend}
        state.options["validate"] = options
        bench = plan.results.get("bench")
        if bench is not None:
            s = bench.summary()
            if s["decode_tps"]:
                state.figures["decode tok/s (benchmark median)"] = f"{s['decode_tps'].median:.1f}"
            if s["ttft_s"]:
                state.figures["TTFT (benchmark median)"] = f"{s['ttft_s'].median * 1000:.0f} ms"
            if s["peak_rss_mb"]:
                state.figures["peak RSS (benchmark)"] = f"{s['peak_rss_mb'].max:.0f} MB"
        checklist = plan.results.get("checklist")
        if checklist is not None:
            state.figures["quality checklist"] = checklist.summary_line()
        sweep = plan.results.get("sweep")
        if sweep is not None and sweep.recommended:
            state.figures["recommended precision"] = sweep.recommended
        state.mark_done(self.STEP_ID, summary)
        self.query_one("#step-bar").refresh_steps()
        failed = checklist is not None and not checklist.passed
        self.set_status(("Done with failures: " if failed else "Done: ") + summary, error=failed)

    def show_bench(self, result: Any) -> None:
        from slm_wizard.core.bench import METRIC_TITLES

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
            style = {"pass": "bold green", "fail": "bold red"}.get(c.status, "dim")
            table.add_row(c.title, Text(c.status.upper(), style=style), c.measured, c.threshold,
                          key=c.id)
        self._checks = {c.id: c for c in result.checks}
        leak = result.check("leak")
        if leak is not None and leak.data.get("rss_mb"):
            self._show_soak(leak.data["rss_mb"])
        first = next((c for c in result.checks if c.status == "fail"), None) or \
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
        text = f"{check.title}:\n" + "\n".join(f"  {line}" for line in lines)
        if more > 0:
            text += f"\n  … {more} more in the report"
        self.query_one("#check-evidence", Static).update(text)

    def show_sweep(self, result: Any) -> None:
        table = self.query_one("#sweep-table", DataTable)
        table.clear()
        rows = result.table()
        cols = rows.columns
        keep = ["variant", "size (MB)", "size vs fp32", "load (s)", "TTFT (s)", "decode tok/s",
                "peak RSS (MB)", "domain score", "agreement", "status"]
        for row in rows.rows:
            values = dict(zip(cols, row, strict=True))
            status = str(values["status"])
            style = "bold green" if status == "recommended" else "red" if status.startswith(
                "failed") else ""
            cells = [_num(values[k]) for k in keep[:-1]] + [Text(status, style=style)]
            table.add_row(*cells)
        self.query_one("#sweep-reco", Static).update(result.recommendation)
        if self.query_one("#checks-table", DataTable).row_count == 0:
            self.query_one("#val-tabs", TabbedContent).active = "tab-sweep"


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _bench_line(result: Any) -> str:
    s = result.summary()
    if not s["decode_tps"]:
        return "no runs finished"
    return (f"decode {s['decode_tps'].median:.1f} tok/s · TTFT {s['ttft_s'].median * 1000:.0f} ms"
            f" (medians of {s['decode_tps'].n} runs)")


def _summary(results: dict[str, Any]) -> str:
    parts = []
    if "bench" in results:
        parts.append(_bench_line(results["bench"]))
    if "checklist" in results:
        parts.append("checklist: " + results["checklist"].summary_line())
    if "sweep" in results:
        parts.append(f"sweep: {results['sweep'].recommended or 'no'} recommended")
    return " · ".join(parts)


def _explain(exc: BaseException) -> str:
    """A user-facing line for a failure; unexpected ones get their traceback in the log file."""
    from slm_wizard.core.bench import BenchError
    from slm_wizard.core.chat import ChatError
    from slm_wizard.core.sweep import SweepError
    from slm_wizard.core.validate import ValidateError

    if isinstance(exc, (ChatError, BenchError, ValidateError, SweepError)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"a file could not be written or read: {exc}"
    try:
        from slm_wizard.core.paths import logs_dir

        log = logs_dir() / "validate-errors.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write("".join(traceback.format_exception(exc)) + "\n")
        where = f" (details in {log})"
    except OSError:
        where = ""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"unexpected error: {type(exc).__name__}: {first}{where}"
