"""The prerequisites screen: real checks, re-run, fix pane, install confirmation, Continue."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from textual.widgets import Button, Static, TextArea

from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.core.run.record import RunRecord
from slm_wizard.core.setup import prereqs
from slm_wizard.tui.app import WizardApp
from slm_wizard.tui.screens.prereqs import InstallConfirm, PrereqsScreen
from slm_wizard.tui.widgets.check_table import CheckTable
from slm_wizard.tui.widgets.run_pane import RunPane
from tests.helpers import ROOT, wait_until
from tests.helpers.screens import FakeChecks, fixed_results

SIZE = (100, 32)
PY = "/usr/bin/python3"  # fixed text for the snapshot (no machine paths on screen)


def test_one_glyph_and_one_style_per_status_everywhere():
    from slm_wizard.core.base.status import ICON
    from slm_wizard.tui.widgets.status import STYLE, status_text

    for s in Status:
        shown = status_text(s, "python")
        assert shown.plain == f"{ICON[s]} python" and str(shown.style) == STYLE[s]
        assert status_text(s.value).plain == ICON[s]
    # The other glyph sets are gone from the code (✔ ✖ ✘ ▲ ⚠ were used beside ✓ ✗ !).
    root = ROOT
    for folder in ("core", "tui", "cli"):
        for f in (root / folder).rglob("*.py"):
            text = f.read_text(encoding="utf-8")
            assert not any(g in text for g in "✔✖✘▲⚠"), f


def screen_of(app: WizardApp) -> PrereqsScreen:
    return app.get_screen("prereqs")


def ready(app: WizardApp) -> bool:
    s = app.screen
    return isinstance(s, PrereqsScreen) and bool(s.results) and not s.checking


async def test_real_checks_are_shown(wizard, tmp_path: Path) -> None:
    app = wizard("prereqs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ready(app), 20, "the checks")
        screen = screen_of(app)
        table = screen.query_one(CheckTable)
        assert table.row_count == len(screen.results) >= 15
        for row, result in enumerate(screen.results):
            icon = table.get_row_at(row)[0].plain
            assert icon == {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗",
                            Status.SKIP: "–"}[result.status]  # core.base.status.ICON
            assert table.get_row_at(row)[1].plain == result.title
        assert table.status_of("python") == Status.OK
        summary = str(screen.query_one("#prereq-summary", Static).content)
        assert summary == prereqs.summary_line(screen.results)
        blocked = bool(prereqs.blocking(screen.results))
        assert screen.query_one("#continue", Button).disabled is blocked


async def test_r_reruns_and_the_fix_pane_follows_the_cursor(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeChecks(fixed_results("fail"), fixed_results(Status.OK))
    monkeypatch.setattr(prereqs, "run_checks", fake)
    app = wizard("prereqs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ready(app), 10, "the first run")
        screen = screen_of(app)
        table = screen.query_one(CheckTable)
        assert table.status_of("package:olive-ai") == "fail"
        assert screen.query_one("#continue", Button).disabled
        reason = screen.query_one("#prereq-reason", Static)
        assert not reason.has_class("hidden")
        assert "olive-ai: not installed (converts)" in str(reason.content)
        assert not screen.query_one("#install", Button).disabled

        # The next action is focused (Install, as olive-ai is missing); the table is a Tab away.
        assert app.focused is screen.query_one("#install", Button)
        table.focus()
        await pilot.press("down", "down", "down")  # CMake
        fix = screen.query_one("#fix-text", TextArea)
        assert fix.text == fixed_results()[3].fix
        copied: list[str] = []
        monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
        await pilot.press("c")
        assert copied == [fixed_results()[3].fix]

        await pilot.press("r")
        await wait_until(pilot, lambda: fake.calls == 2 and ready(app), 10, "the re-run")
        await wait_until(pilot, lambda: table.status_of("package:olive-ai") == Status.OK, 10,
                         "the new results")
        assert table.current_result().id == "cmake"  # the cursor stayed on its check
        assert not screen.query_one("#continue", Button).disabled
        assert reason.has_class("hidden")
        assert screen.query_one("#install", Button).disabled  # nothing missing any more


async def test_install_confirmation_shows_the_command_and_can_be_cancelled(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prereqs, "run_checks", FakeChecks(fixed_results("fail")))
    started: list[object] = []
    monkeypatch.setattr(prereqs, "install_packages", lambda *a, **k: started.append(a))
    app = wizard("prereqs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ready(app), 10, "the checks")
        await pilot.click("#install")
        await wait_until(pilot, lambda: isinstance(app.screen, InstallConfirm), 5, "the dialog")
        shown = app.screen.query_one("#install-commands", TextArea).text
        assert shown == prereqs.format_command(prereqs.install_command())
        assert shown.startswith(prereqs.format_command([sys.executable, "-m", "pip", "install"]))
        assert "[all]" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PrereqsScreen), 5, "dismissal")
        await pilot.pause()
        assert started == []
        assert screen_of(app).query_one(RunPane).has_class("-idle")  # no install pane shown
        assert not screen_of(app).installing


async def test_failed_install_shows_pips_error_and_rechecks(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeChecks(fixed_results("fail"))
    monkeypatch.setattr(prereqs, "run_checks", fake)
    script = ("import sys; print('Collecting olive-ai==0.13.0'); "
              "print('ERROR: No matching distribution found for olive-ai==0.13.0'); sys.exit(1)")
    monkeypatch.setattr(prereqs, "install_commands",
                        lambda results: [[sys.executable, "-c", script]])
    app = wizard("prereqs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ready(app), 10, "the checks")
        screen = screen_of(app)
        await pilot.click("#install")
        await wait_until(pilot, lambda: isinstance(app.screen, InstallConfirm), 5, "the dialog")
        await pilot.click("#confirm-install")
        await wait_until(pilot, lambda: fake.calls == 2 and ready(app), 20, "install + re-check")
        pane = screen.query_one(RunPane)
        status = pane.stage
        assert "pip failed" in status
        assert "ERROR: No matching distribution found for olive-ai==0.13.0" in status
        log_text = "\n".join(pane.log_lines)
        assert "Collecting olive-ai==0.13.0" in log_text
        assert not pane.running
        assert screen.query_one("#continue", Button).disabled  # still blocked


async def test_continue_marks_the_step_done(wizard, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prereqs, "run_checks", FakeChecks(fixed_results(Status.OK)))
    state = RunRecord()
    app = wizard("prereqs", state)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ready(app), 10, "the checks")
        await pilot.click("#continue")
        await wait_until(pilot, lambda: app.current_step != "prereqs", 5, "the next step")
        assert "prereqs" in state.done
        rec = state.steps["prereqs"]
        assert rec.outcome == "7 checks: 5 passed, 1 warning, 0 failed, 1 skipped"
        assert rec.command == ["slm-wizard", "check"]
        assert state.foundry_cache == Path("/home/u/.foundry/cache/models")


def test_prereqs_snapshot(wizard, snap_compare, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prereqs, "run_checks", FakeChecks(fixed_results("fail")))
    app = wizard("prereqs")

    async def run_before(pilot) -> None:
        await wait_until(pilot, lambda: ready(app), 10, "the checks")
        app.screen.query_one(CheckTable).focus()  # Install is focused (the next action)
        await pilot.press("down", "down", "down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_a_running_install_can_be_cancelled(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeChecks(fixed_results("fail"))
    monkeypatch.setattr(prereqs, "run_checks", fake)
    script = "import time; print('Collecting olive-ai', flush=True); time.sleep(60)"
    monkeypatch.setattr(prereqs, "install_commands",
                        lambda results: [[sys.executable, "-c", script]])
    app = wizard("prereqs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ready(app), 10, "the checks")
        screen = screen_of(app)
        await pilot.click("#install")
        await wait_until(pilot, lambda: isinstance(app.screen, InstallConfirm), 5, "the dialog")
        await pilot.click("#confirm-install")
        pane = screen.query_one(RunPane)
        await wait_until(pilot, lambda: "Collecting olive-ai" in pane.log_lines, 10,
                         "pip's output")
        assert screen.installing and pane.running
        assert not screen.query_one("#install-cancel", Button).has_class("hidden")
        assert str(screen.query_one("#install", Button).label) == "Cancel install"
        assert screen.query_one("#continue", Button).disabled
        screen.query_one("#install-cancel", Button).press()
        await wait_until(pilot, lambda: fake.calls == 2 and ready(app), 15, "cancel + re-check")
        assert "cancelled" in pane.stage
        assert not screen.installing
        assert str(screen.query_one("#install", Button).label) == "Install missing packages"
        assert screen.query_one("#install-cancel", Button).has_class("hidden")


async def test_checks_are_recorded_when_they_finish(wizard, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """ctrl+n after the checks (no Continue pressed): the step bar and record say it ran."""
    monkeypatch.setattr(prereqs, "run_checks", FakeChecks(fixed_results("fail")))
    state = RunRecord()
    app = wizard("prereqs", state)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ready(app), 10, "the checks")
        await wait_until(pilot, lambda: "prereqs" in state.steps, 5, "the record")
        rec = state.steps["prereqs"]
        assert rec.status == Status.FAIL and not rec.done  # olive-ai missing blocks
        assert rec.outcome == "7 checks: 4 passed, 1 warning, 1 failed, 1 skipped"
        assert state.foundry_cache == Path("/home/u/.foundry/cache/models")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.current_step == "model", 5, "the Model step")
        assert app.state.steps["prereqs"] is rec


async def test_a_crash_in_the_checks_is_shown_and_the_app_keeps_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_model: Path) -> None:
    calls = {"n": 0}

    def checks(**kwargs) -> list[CheckResult]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return fixed_results("pass")

    monkeypatch.setattr(prereqs, "run_checks", checks)
    model = tmp_path / "model"  # a whole model folder (check --model reads it first)
    shutil.copytree(demo_model, model)
    cfg = tmp_path / "cfg"
    app = WizardApp(state=RunRecord(model_dir=model.resolve()), start="prereqs",
                    config_dir=cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        summary = screen.query_one("#prereq-summary", Static)
        await wait_until(pilot, lambda: "boom" in str(summary.content), 10, "the error")
        assert "could not run: RuntimeError: boom" in str(summary.content)
        assert "Press r to re-check" in str(summary.content)
        from slm_wizard.core.base.logfile import log_path

        assert str(log_path()) in str(summary.content)  # where the traceback is
        assert app.is_running and app.screen is screen and not screen.checking
        assert "prereqs" not in app.state.steps
        await pilot.press("r")
        await wait_until(pilot, lambda: ready(app), 10, "the re-check")
        assert app.is_running and app.state.steps["prereqs"].done
        assert app.state.steps["prereqs"].command == ["slm-wizard", "check", "--model",
                                                      str(model.resolve())]
    # Resume afterwards: the saved run comes back with its prerequisites record.
    app2 = WizardApp(config_dir=cfg)
    async with app2.run_test(size=SIZE) as pilot:
        await pilot.click("#resume")
        await wait_until(pilot, lambda: app2.current_step == "prereqs" and ready(app2), 10,
                         "resume")
        assert app2.state.model_dir == model.resolve() and app2.state.steps["prereqs"].done


async def test_a_crash_in_the_install_is_shown_and_the_app_keeps_running(wizard,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeChecks(fixed_results("fail"))
    monkeypatch.setattr(prereqs, "run_checks", fake)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(prereqs, "install_packages", boom)
    app = wizard("prereqs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ready(app), 10, "the checks")
        screen = screen_of(app)
        await pilot.click("#install")
        await wait_until(pilot, lambda: isinstance(app.screen, InstallConfirm), 5, "the dialog")
        await pilot.click("#confirm-install")
        await wait_until(pilot, lambda: fake.calls == 2 and ready(app), 20, "the re-check")
        status = screen.query_one(RunPane).stage
        assert "pip failed" in status and "the installation could not run: RuntimeError: boom" \
            in status
        from slm_wizard.core.base.logfile import log_path

        assert str(log_path()) in status  # a bug: its traceback is in the log file it names
        assert app.is_running and app.screen is screen and not screen.installing
        assert not screen.query_one("#install", Button).disabled  # the user can try again


def test_the_install_runner_sends_pips_lines_as_log_progress(tmp_path: Path) -> None:
    """core.steps.prereqs.install: each output line is a log Progress event; a failure keeps
    pip's error lines, a cancel stops the program."""
    import threading

    from slm_wizard.core.base.status import Progress
    from slm_wizard.core.steps import prereqs as step

    ok = [sys.executable, "-c", "print('Collecting numpy'); print('Successfully installed')"]
    bad = [sys.executable, "-c", "import sys; print('ERROR: no such package'); sys.exit(1)"]
    events: list[Progress] = []
    result = step.install(step.InstallOptions((tuple(ok),)), on_progress=events.append)
    assert result.ok and result.message.startswith("Installed")
    assert all(e.log and e.phase == "install" for e in events)
    texts = [e.text for e in events]
    assert texts[0].startswith("$ ") and "Collecting numpy" in texts
    assert "Successfully installed" in texts

    failed = step.install(step.InstallOptions((tuple(bad), tuple(ok))))
    assert not failed.ok and "ERROR: no such package" in failed.error
    assert failed.message.startswith("pip failed:")

    cancel = threading.Event()
    cancel.set()
    slow = (sys.executable, "-c", "import time; time.sleep(30)")
    stopped = step.install(step.InstallOptions((slow,)), cancel=cancel)
    assert not stopped.ok and stopped.cancelled and "cancelled" in stopped.message


def test_the_result_says_what_blocks_and_what_pip_would_run() -> None:
    """The decisions the screen shows come from the step's Result."""
    from slm_wizard.core.steps import prereqs as step

    blocked = step.Result(fixed_results("fail"))
    assert blocked.block_reason == ("Continue needs this fixed first: olive-ai: not installed "
                                    "(converts). \"Install missing packages\" can do it.")
    assert blocked.install is not None
    assert blocked.install.text == prereqs.format_command(prereqs.install_command())
    assert blocked.install.start_text == "Installing (1 pip command)…"
    fine = step.Result(fixed_results(Status.OK))
    assert fine.block_reason == "" and fine.install is None
