"""Issue 14: the wizard walked by keyboard only, without guessing — the primary action focused,
results in view, states that match what runs, help and palette per screen (Pilot tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, Static

from slm_wizard.core.base.status import Status
from slm_wizard.core.run.record import RunRecord
from slm_wizard.core.setup import prereqs
from tests.helpers import converted_record, wait_until
from tests.helpers.screens import FakeChecks, fixed_results, layout_problems

SMALL = (80, 24)


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


@pytest.fixture
def onnx_copy(demo_onnx: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "onnx"
    shutil.copytree(demo_onnx, dst)
    return dst


# -- item 3: the primary action is focused, Enter does the next thing ------------------------

async def test_welcome_enter_and_typing_need_no_tab(wizard, tmp_path: Path) -> None:
    app = wizard()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "use-demo"
        await pilot.press("/", "t", "m", "p")  # typing a path goes to the folder field
        field = app.screen.query_one("#model-path", Input)
        assert app.focused is field and field.value == "/tmp"


async def test_prereqs_enter_continues_when_nothing_blocks(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prereqs, "run_checks", FakeChecks(fixed_results(Status.OK)))
    app = wizard("prereqs")
    async with app.run_test(size=SMALL) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: bool(screen.results) and not screen.checking, 10,
                         "the checks")
        await pilot.pause()
        assert app.focused is screen.query_one("#continue", Button)
        # The summary has its own line, not squeezed into the button row.
        assert not list(screen.query("#prereq-actions #prereq-summary"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_step == "model", 5, "the Model step")


async def test_prereqs_focus_install_when_a_package_is_missing(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prereqs, "run_checks", FakeChecks(fixed_results("fail")))
    app = wizard("prereqs")
    async with app.run_test(size=SMALL) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: bool(screen.results) and not screen.checking, 10,
                         "the checks")
        await pilot.pause()
        assert app.focused is screen.query_one("#install", Button)


async def test_model_enter_continues_after_inspection(wizard, demo_model: Path,
        tmp_path: Path) -> None:
    state = RunRecord(model_dir=demo_model, is_demo=True)
    app = wizard("model", state)
    async with app.run_test(size=SMALL) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.info is not None, 30, "the inspection")
        await pilot.pause()
        assert app.focused is screen.query_one("#continue", Button)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_step == "convert", 5, "the Convert step")


async def test_convert_focuses_run_shows_the_state_and_the_end_of_the_output_path(wizard,
        demo_model: Path, tmp_path: Path) -> None:
    state = RunRecord(model_dir=demo_model, is_demo=True)
    app = wizard("convert", state)
    async with app.run_test(size=SMALL) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.info is not None, 30, "the inspection")
        await pilot.pause()
        assert app.focused is screen.query_one("#run", Button)
        # Symmetric reads in plain text, on and off.
        switch = screen.query_one("#symmetric")
        assert "on" in str(switch.render())
        switch.value = False
        await pilot.pause()
        assert "off" in str(switch.render())
        # The output folder shows its end (its own folder name), not only /home/…/.local/sh…
        field = screen.query_one("#output", Input)
        assert field.cursor_position == len(field.value)
        shown = "".join(field.render_line(y).text for y in range(field.size.height))
        assert Path(field.value).name in shown, shown
        # The estimate before converting is the model's size on disk, the same words as after.
        assert "makes a model of about" in _text(screen, "#convert-issues")


async def test_deploy_failure_is_in_view_with_what_to_do_next(wizard,
        onnx_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.deploy import foundry
    from slm_wizard.core.steps import deploy as deploy_step

    def failing_answer(opts, *, on_progress=None, cancel=None):
        opts = opts.resolved()
        dep = foundry.DeployResult(opts.name, opts.version, f"{opts.name}:{opts.version}",
                                   opts.cache_dir, opts.cache_dir / "custom" / opts.name)
        dep.stages = [foundry.stage_result(s, Status.OK, "done") for s in foundry.STAGES[:-1]]
        dep.stages.append(foundry.stage_result(foundry.STAGES[-1], Status.FAIL,
                                               "the model answered nothing"))
        return deploy_step.Result(opts, Status.FAIL, family="qwen", deploy=dep,
                                  error="answer failed: the model answered nothing")

    monkeypatch.setattr(deploy_step, "run", failing_answer)
    state = converted_record(onnx_copy, onnx_copy, foundry_cache=tmp_path / "c")
    app = wizard("deploy", state)
    async with app.run_test(size=SMALL) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the preview")
        await pilot.pause()
        assert app.focused is screen.query_one("#deploy", Button)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "answer failed" in _text(screen, "#deploy-outcome"), 30,
                         "the outcome")
        await pilot.pause()
        outcome = screen.query_one("#deploy-outcome", Static)
        assert "Next:" in _text(screen, "#deploy-outcome")
        # In view without scrolling or Tab: inside the screen, not covered.
        region = outcome.region
        assert region.height > 0 and region.bottom <= 24 and region.y >= 2
        top, _ = screen.get_widget_at(region.x + 1, region.y)
        assert top is outcome or outcome in top.ancestors_with_self
        assert app.focused is screen.query_one("#deploy", Button)  # Enter tries again
        assert not await layout_problems(pilot, screen)


@pytest.mark.parametrize(("status", "outcome", "label"), [
    (Status.FAIL, "answer failed: the model answered nothing", "Foundry Local (deploy failed)"),
    # What the Deploy screen's Remove records (core.steps.deploy.to_record with remove=True).
    (Status.SKIP, "removed: unloaded m:1; unregistered m:1", "Foundry Local (not deployed)"),
], ids=["failed", "removed"])
async def test_chat_says_why_foundry_local_cannot_be_chosen(wizard, onnx_copy: Path,
                                                            status: Status, outcome: str,
                                                            label: str) -> None:
    from slm_wizard.core.run.record import StepRecord

    state = converted_record(onnx_copy, onnx_copy)
    state.record(StepRecord("deploy", status, outcome))
    app = wizard("chat", state)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        screen = app.screen
        foundry = screen.query_one("#backend-foundry")
        assert foundry.disabled and str(foundry.label) == label
        prompt = screen.query_one("#prompt", Input)
        await wait_until(pilot, lambda: screen.session is not None, 60, "the model to load")
        await pilot.pause()
        assert app.focused is prompt  # type at once, Enter sends


# -- item 4: Validate's states match what runs -------------------------------------------------

async def test_validate_toggles_and_plan_line_say_what_runs(wizard, demo_model: Path,
        demo_onnx: Path,
                                                            tmp_path: Path) -> None:
    state = converted_record(demo_model, demo_onnx, is_demo=True)
    app = wizard("validate", state)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        screen = app.screen
        assert app.focused is screen.query_one("#val-run", Button)
        sweep = screen.query_one("#run-sweep", Checkbox)
        bench = screen.query_one("#run-bench", Checkbox)
        assert not sweep.value and "✓" not in str(sweep.render()) and "X" not in str(
            sweep.render())
        assert "✓" in str(bench.render())
        plan = _text(screen, "#val-size-help")
        assert "sweep" not in plan and "benchmark" in plan and "checklist" in plan
        assert "domain prompts" in plan  # as found for this model, not a promise
        sweep.value = True
        await pilot.pause()
        assert "sweep: fp32" in _text(screen, "#val-size-help")
        assert "✓" in str(sweep.render())
        assert not await layout_problems(pilot, screen)


# -- item 5: help and palette per screen ---------------------------------------------------------

async def test_f1_shows_the_current_screens_keys(wizard, onnx_copy: Path, tmp_path: Path) -> None:
    from textual.widgets import Markdown

    from slm_wizard.tui.screens.help import HelpScreen, help_text

    state = converted_record(onnx_copy, onnx_copy)
    app = wizard("chat", state)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        chat = app.screen
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "the help")
        text = help_text(chat)
        assert "Help: Chat" in text
        for key in ("ctrl+s", "ctrl+r", "escape", "ctrl+l", "ctrl+g"):
            assert f"| {key} |" in text, key
        assert app.screen.query_one(Markdown).source == text
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is chat, 5, "the help to close")
        app.goto("validate")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ValidateScreen"
                         and bool(app.screen.query("#val-run")), 10, "the Validate screen")
        await pilot.pause()
        other = help_text(app.screen)
        assert "Help: Validate" in other
        assert "Run sweep" in other
        assert "| ctrl+s |" not in other, other  # the chat's keys stay with the chat


@pytest.mark.parametrize("step, query, title", [
    ("convert", "run conv", "Run conversion"), ("convert", "copy", "Copy command"),
    ("deploy", "deploy", "Deploy"), ("chat", "stop", "Stop reply"),
    ("chat", "new chat", "New chat"), ("validate", "sweep", "Run sweep"),
    ("validate", "quick", "Run quick validation"), ("summary", "finish", "Finish"),
    ("chat", "serve to", "Serve to your app"), ("serve", "test req", "Send a test request"),
])
async def test_the_palette_finds_the_screens_actions(wizard, step: str, query: str, title: str,
                                                     demo_model: Path, onnx_copy: Path,
                                                     tmp_path: Path) -> None:
    from textual.command import CommandPalette

    state = converted_record(demo_model, onnx_copy, is_demo=True)
    app = wizard(step, state)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), 5, "palette")
        await pilot.press(*query)

        def listed() -> list[str]:
            from textual.widgets import OptionList

            options = app.screen.query_one(OptionList)
            return [str(options.get_option_at_index(i).prompt)
                    for i in range(options.option_count)]

        await wait_until(pilot, lambda: any(title in p for p in listed()), 10, title)


async def test_ctrl_g_goes_to_a_step_where_alt_digits_do_not_arrive(wizard,
        onnx_copy: Path, tmp_path: Path) -> None:
    from slm_wizard.tui.screens.help import StepPicker

    state = converted_record(onnx_copy, onnx_copy)
    app = wizard("chat", state)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        bar = str(app.screen.query_one("KeyBar").render())
        assert "Help" in bar and "palette" in bar  # kept at 80 columns
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, StepPicker), 5, "the picker")
        await pilot.press("down", "enter")  # from 6 Chat to 7 Validate
        await wait_until(pilot, lambda: app.current_step == "validate", 10, "Validate")


async def test_summary_enter_finishes(wizard, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = wizard("summary")
    exits: list[bool] = []
    async with app.run_test(size=SMALL) as pilot:
        monkeypatch.setattr(app, "exit", lambda *a, **k: exits.append(True))
        await pilot.pause()
        assert app.focused is app.screen.query_one("#finish", Button)
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(exits), 5, "the app to finish")


async def test_validate_shows_a_checks_whole_rule_at_80x24(wizard, demo_model: Path,
        demo_onnx: Path,
                                                            tmp_path: Path) -> None:
    """The issue saw `PASS 2.57× … fastest / slowest ≤ 2, or` cut in the table."""
    from slm_wizard.core.base.status import CheckResult

    rule = "fastest / slowest ≤ 2, or the slowest input length within 5 tok/s of the fastest"

    class Checklist:
        checks = [CheckResult("speed", "Speed across input lengths", Status.OK, "2.57×", rule)]

        def check(self, check_id: str):
            return None

    state = converted_record(demo_model, demo_onnx, is_demo=True)
    app = wizard("validate", state)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.show_checklist(Checklist())
        await pilot.pause()
        shown = " ".join(_text(screen, "#check-evidence").split())
        assert rule in shown and "2.57×" in shown
