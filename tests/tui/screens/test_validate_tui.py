"""The Validate step in a headless app: a real benchmark and checklist on the demo model, the
tables and plots they fill, the reports they write, and the screen without a model."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Button, Checkbox, DataTable, Select, Sparkline, Static

from slm_wizard.tui.screens.validate import NO_MODEL, ValidateScreen
from slm_wizard.tui.widgets.bar_plot import BarPlot, bar
from tests.helpers import converted_record, wait_until

SIZE = (100, 32)


def test_bar_scales_to_the_widest_value():
    assert bar(10, 10, 8) == "█" * 8
    assert bar(5, 10, 8) == "█" * 4
    assert bar(1, 8, 1) == "▏"
    assert bar(0, 10, 8) == "" and bar(3, 0, 8) == ""


async def test_benchmark_and_checklist_run_and_fill_the_screen(wizard, demo_model, demo_onnx,
                                                               tmp_path: Path):
    state = converted_record(demo_model, demo_onnx, is_demo=True)
    app = wizard("validate", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ValidateScreen)
        assert str(demo_onnx) in str(screen.query_one("#val-model", Static).content)
        assert screen.query_one("#run-sweep", Checkbox).value is False  # the sweep is opt-in
        assert screen.query_one("#val-size", Select).value == "quick"
        await pilot.click("#val-run")
        await wait_until(pilot, lambda: "validate" in app.state.done, 120, "the run to finish")
        await pilot.pause()

        checks = screen.query_one("#checks-table", DataTable)
        assert checks.row_count == 5
        results = {checks.get_row_at(i)[0]: str(checks.get_row_at(i)[1]) for i in range(5)}
        assert results["Answers its fine-tuned domain"] == "✓ PASS"
        assert results["No memory leak in prolonged use"] == "✓ PASS"
        assert results["Handles edge cases and invalid input"] == "✓ PASS"
        assert "What is Lumo?" in str(screen.query_one("#check-evidence", Static).content)
        assert len(screen.query_one("#soak-spark", Sparkline).data) == 20  # quick: 20 generations

        from slm_wizard.core.evaluate.bench import METRIC_TITLES

        assert screen.query_one("#bench-table", DataTable).row_count == len(METRIC_TITLES)
        # Quick asks 16, 64, 256 tokens; a length below the chat template's own tokens is left
        # out with a note (core.bench), so the demo model shows 64 and 256 at least.
        rows = screen.query_one("#lengths-table", DataTable).row_count
        assert 2 <= rows <= 3
        plot = screen.query_one("#speed-plot", BarPlot)
        assert len(plot.points) == rows and all(v > 0 for _, v in plot.points)

        rec = app.state.steps["validate"]
        report_dir = Path(rec.options["report_dir"])
        for name in ("bench.md", "bench.json", "validate.md", "validate.json"):
            assert (report_dir / name).is_file()
        shown = str(screen.query_one("#val-reports", Static).content)
        assert str(report_dir / "validate.md") in shown
        data = json.loads((report_dir / "validate.json").read_text(encoding="utf-8"))
        assert data["data"]["passed"] is True
        assert "checklist: 4 passed, 0 failed, 1 skipped" in rec.outcome
        assert float(rec.figures["decode tok/s (benchmark median)"]) > 0
        assert rec.files["checklist report"] == str(report_dir / "validate.md")
        # the record holds the exact headless commands of what ran, with the quick sizes
        bench_cmd, validate_cmd = rec.options["commands"]
        assert [rec.command, *rec.more_commands] == [bench_cmd, validate_cmd]
        assert validate_cmd[:3] == ["slm-wizard", "validate", str(demo_onnx)]
        assert validate_cmd[validate_cmd.index("--soak") + 1] == "20"
        assert validate_cmd[validate_cmd.index("--max-prompts") + 1] == "20"
        assert bench_cmd[:3] == ["slm-wizard", "bench", str(demo_onnx)]
        assert screen.query_one("#val-run", Button).disabled is False


async def test_without_a_model_the_screen_says_where_it_comes_from(wizard, tmp_path: Path):
    app = wizard("validate")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.pause()
        assert str(screen.query_one("#val-model", Static).content) == NO_MODEL
        assert screen.query_one("#val-run", Button).disabled
        assert screen.query_one("#run-sweep", Checkbox).disabled
        await pilot.click("#val-run")
        assert "validate" not in app.state.done


async def test_a_deployed_model_can_be_measured_in_foundry_local(wizard, tmp_path: Path):
    state = converted_record(Path("/models/lumo-hf"), Path("/models/lumo-int4"), deployed="lumo")
    app = wizard("validate", state)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        runtime = screen.query_one("#val-backend", Select)
        assert [v for _, v in screen.runtime_options] == ["ort", "foundry"]
        assert runtime.value == "ort"
        runtime.value = "foundry"
        await pilot.pause()
        assert runtime.value == "foundry"


def test_validate_snapshot(wizard, snap_compare, tmp_path: Path):
    state = converted_record(Path("/models/lumo-hf"), Path("/models/lumo-int4"), is_demo=True)
    app = wizard("validate", state)
    assert snap_compare(app, terminal_size=SIZE)


async def test_sweep_from_the_screen(wizard, demo_model, demo_onnx, tmp_path: Path, monkeypatch):
    from slm_wizard.core.steps import checklist as plan_step

    quick = plan_step.SIZES["quick"]
    small = plan_step.RunSize("Quick", 1, (16,), 8, 3, ("fp32", "int4"))
    monkeypatch.setitem(plan_step.SIZES, "quick", small)
    state = converted_record(demo_model, demo_onnx, is_demo=True)
    app = wizard("validate", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for box in ("#run-bench", "#run-checklist", "#run-sweep"):
            await pilot.click(box)
        assert screen.query_one("#run-sweep", Checkbox).value
        assert not screen.query_one("#run-bench", Checkbox).value
        await pilot.click("#val-run")
        await wait_until(pilot, lambda: "validate" in app.state.done, 240,
                         "the sweep to finish")
        await pilot.pause()
        table = screen.query_one("#sweep-table", DataTable)
        assert table.row_count == 2
        assert [table.get_row_at(i)[0] for i in range(2)] == ["fp32", "int4"]
        assert float(table.get_row_at(0)[2]) > float(table.get_row_at(1)[2])  # size MB
        assert str(table.get_row_at(1)[1]) == "recommended"  # status
        reco = str(screen.query_one("#sweep-reco", Static).content)
        assert "Recommended: " in reco and "Fidelity measured on" in reco
        assert screen.query_one("#checks-table", DataTable).row_count == 0  # not run
        rec = app.state.steps["validate"]
        assert "sweep:" in rec.outcome
        assert (Path(rec.options["report_dir"]) / "sweep.md").is_file()
        assert rec.command[:3] == ["slm-wizard", "sweep", str(demo_model)]
        assert rec.command[rec.command.index("--variants") + 1] == "fp32,int4"
    from slm_wizard.core.evaluate.sweep_variants import PRESETS

    assert quick.precisions == PRESETS["quick"]


async def test_an_unexpected_failure_is_shown_and_the_app_keeps_running(wizard, tmp_path: Path,
                                                                       monkeypatch):
    from slm_wizard.core.steps import checklist as plan_step

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(plan_step, "run_plan", boom)
    state = converted_record(tmp_path / "hf", tmp_path / "onnx")
    app = wizard("validate", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.click("#val-run")
        status = screen.query_one("#val-status", Static)
        await wait_until(pilot, lambda: "boom" in str(status.content), 30, "the error")
        assert app.is_running and app.screen is screen
        assert "RuntimeError: boom" in str(status.content) and status.has_class("-error")
        from slm_wizard.core.base.logfile import WIZARD_LOG, log_path

        assert str(log_path(WIZARD_LOG)) in str(status.content)  # where the traceback went
        assert screen.query_one("#val-run", Button).disabled is False  # it can run again
        assert "validate" not in app.state.steps


async def test_a_model_that_does_not_load_is_recorded_as_failed(wizard, tmp_path: Path):
    (tmp_path / "onnx").mkdir()
    state = converted_record(tmp_path / "hf", tmp_path / "onnx")
    app = wizard("validate", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.click("#val-run")
        await wait_until(pilot, lambda: "validate" in app.state.steps, 60, "the record")
        await pilot.pause()
        rec = app.state.steps["validate"]
        assert rec.status.value == "fail" and "validate" not in app.state.done
        status = screen.query_one("#val-status", Static)
        assert str(status.content).startswith("Benchmark failed: ")
        assert app.is_running


async def test_progress_feeds_the_phase_rows_and_the_run_pane_and_cancel_stops_the_run(wizard,
        tmp_path: Path, monkeypatch):
    """run_plan runs through run_step: its progress moves the phase's row and the run pane
    (the whole plan's share), Cancel sets the run's cancel event, nothing is recorded."""
    import threading

    from textual.widgets import ProgressBar

    from slm_wizard.core.base.status import Progress
    from slm_wizard.core.steps import checklist as plan_step
    from slm_wizard.tui.widgets.run_pane import RunPane

    threads: list[threading.Thread] = []

    def waiting(plan, *, on_progress, cancel, on_sample, on_phase_done):
        threads.append(threading.current_thread())
        on_progress(Progress("bench", 1, 2, "prompts: 1/2", 0.5))
        cancel.wait(30)
        return plan_step.PlanResult(plan, cancelled=cancel.is_set())

    monkeypatch.setattr(plan_step, "run_plan", waiting)
    state = converted_record(tmp_path / "hf", tmp_path / "onnx")
    app = wizard("validate", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.click("#val-run")
        bar = screen.query_one("#bar-bench", ProgressBar)
        await wait_until(pilot, lambda: bar.progress == 50, 10, "the benchmark's bar")
        assert threads and threads[0] is not threading.main_thread()
        assert str(screen.query_one("#text-bench", Static).content) == "prompts: 1/2"
        pane = screen.query_one(RunPane)
        assert not pane.has_class("-idle") and pane.stage == "Benchmark: prompts: 1/2"
        assert pane.query_one(ProgressBar).progress == 25  # half of the first of two phases
        assert screen.query_one("#val-run", Button).disabled
        await pilot.click("#val-cancel")
        status = screen.query_one("#val-status", Static)
        await wait_until(pilot, lambda: str(status.content).startswith("Cancelled"), 10,
                         "the run to stop")
        assert screen.query_one("#val-run", Button).disabled is False
        assert screen.query_one("#val-cancel", Button).disabled
        assert "validate" not in app.state.steps and not screen.step_running()


async def test_the_plan_line_and_the_phases_come_from_the_steps_preview(wizard, tmp_path: Path):
    """What the screen greys out and what its plan line says are core's (checklist.preview)."""
    from slm_wizard.core.steps import checklist as plan_step

    state = converted_record(None, tmp_path / "onnx")  # no Hugging Face folder: no sweep
    app = wizard("validate", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.pause()
        sweep = screen.query_one("#run-sweep", Checkbox)
        assert sweep.disabled and "Model step" in str(sweep.tooltip)
        _, line = plan_step.preview(state, ("bench", "checklist"), "quick")
        assert str(screen.query_one("#val-size-help", Static).content) == line
        assert line.startswith("Quick: benchmark: ")
        screen.query_one("#run-bench", Checkbox).value = False
        screen.query_one("#run-checklist", Checkbox).value = False
        await pilot.pause()
        assert str(screen.query_one("#val-size-help", Static).content).startswith(
            "Nothing to run: choose at least one")
        assert screen.query_one("#val-run", Button).disabled and screen.plan is None


async def test_the_benchmark_runs_on_a_fake_backend_without_a_converted_model(
        wizard, tmp_path: Path, monkeypatch):
    """The screen's real benchmark runner measures the fake chat backend (no model, no runtime):
    the benchmark table fills and the recorded figures are the fake's replies."""
    import slm_wizard.core.runtime.backends as backends
    from slm_wizard.core.evaluate.bench import METRIC_TITLES
    from tests.helpers import FakeChatBackend

    fake = FakeChatBackend()
    opened: list[str] = []

    def fake_open(kind, model, **_kw):
        opened.append(kind)
        return fake

    monkeypatch.setattr(backends, "open_backend", fake_open)
    (tmp_path / "onnx").mkdir()  # looks converted (a folder that does not is refused first)
    (tmp_path / "onnx" / "genai_config.json").write_text("{}")
    async with wizard.run("validate", converted_record(tmp_path / "hf", tmp_path / "onnx"),
                          size=SIZE) as pilot:
        app, screen = pilot.app, pilot.app.screen
        await pilot.click("#val-run")
        await wait_until(pilot, lambda: "validate" in app.state.steps, 60, "the record")
        await pilot.pause()
        assert opened and opened[0] == "ort" and fake.calls > 0
        assert screen.query_one("#bench-table", DataTable).row_count == len(METRIC_TITLES)
        rec = app.state.steps["validate"]
        assert float(rec.figures["decode tok/s (benchmark median)"]) > 0
        assert app.is_running
