"""The one way a screen runs its step: StepScreen.run_step with the RunPane, and the log file."""

from __future__ import annotations

import threading

from textual.app import App, ComposeResult

from slm_wizard.core.base.logfile import WIZARD_LOG, log_path
from slm_wizard.core.base.status import Progress, Refused
from slm_wizard.tui.screens.base import Outcome, StepScreen
from slm_wizard.tui.widgets.run_pane import RunPane
from tests.helpers import wait_until


class HostScreen(StepScreen):
    STEP_ID = "convert"

    def compose_body(self) -> ComposeResult:
        yield RunPane(id="pane")


class Host(App):
    def __init__(self) -> None:
        super().__init__()
        self.title, self.sub_title = "host", "test"
        self.outcomes: list[Outcome] = []

    def on_mount(self) -> None:
        self.push_screen(HostScreen())


def steps_runner(options, *, on_progress, cancel):
    on_progress(Progress("start", text="Starting Olive…", fraction=0.1))
    on_progress(Progress("log", text="Running pass builder", log=True))
    on_progress(Progress("stage", text="Reading layer 2 of 2", fraction=0.5))
    return {"answer": options}


async def test_progress_reaches_the_pane_and_the_result_the_done_callback() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        pane = screen.query_one(RunPane)
        assert pane.has_class("-idle")
        screen.run_step(steps_runner, 42, done=app.outcomes.append, pane=pane)
        assert not pane.has_class("-idle")
        await wait_until(pilot, lambda: app.outcomes)
        await pilot.pause()
        (outcome,) = app.outcomes
        assert outcome.ok and outcome.result == {"answer": 42} and not outcome.cancelled
        assert pane.stage == "Reading layer 2 of 2"
        assert pane.log_lines == ["Running pass builder"]
        assert pane.query_one("ProgressBar").progress == 50
        assert not screen.step_running()


async def test_a_refusal_is_its_message_and_a_bug_names_the_log_holding_its_traceback() -> None:
    def refusing(options, *, on_progress, cancel):
        raise Refused("the block size 7 is not one of 16, 32, 64, 128, 256")

    def buggy(options, *, on_progress, cancel):
        raise KeyError("precision-of-a-thing-that-does-not-exist")

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.run_step(refusing, None, done=app.outcomes.append, group="a")
        await wait_until(pilot, lambda: len(app.outcomes) == 1)
        assert app.outcomes[0].refused.startswith("the block size 7") and not app.outcomes[0].ok
        screen.run_step(buggy, None, done=app.outcomes.append, group="b")
        await wait_until(pilot, lambda: len(app.outcomes) == 2)
        error = app.outcomes[1].error
        path = log_path(WIZARD_LOG)
        assert str(path) in error and "KeyError" in error
        text = path.read_text(encoding="utf-8")
        assert "Traceback" in text and "precision-of-a-thing-that-does-not-exist" in text
        assert app.is_running and app.screen is screen  # no worker failure ends the app


async def test_quitting_sets_the_cancel_event_and_the_run_says_it_was_cancelled() -> None:
    started = threading.Event()

    def waiting(options, *, on_progress, cancel):
        started.set()
        cancel.wait(10)
        return "stopped"

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.run_step(waiting, None, done=app.outcomes.append)
        await wait_until(pilot, started.is_set)
        assert screen.step_running()
        screen.cancel_work()
        await wait_until(pilot, lambda: app.outcomes)
        assert app.outcomes[0].cancelled and app.outcomes[0].result == "stopped"


async def test_the_pane_clock_shows_how_long_the_run_took() -> None:
    import time

    def slow(options, *, on_progress, cancel):
        time.sleep(0.6)
        return "done"

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        pane = screen.query_one(RunPane)
        started = time.monotonic()
        screen.run_step(slow, None, done=lambda o: (app.outcomes.append(o), pane.finish(ok=True)),
                        pane=pane)
        await wait_until(pilot, lambda: app.outcomes)
        took = time.monotonic() - started
        shown = float(str(pane.query_one(".run-elapsed").content).split()[0])
        assert 0.6 <= shown <= took + 0.05, (shown, took)


async def test_the_wizard_sends_its_log_records_to_its_rotated_log_file(wizard) -> None:
    """Once the first screen is up, a warning logged anywhere lands in wizard.log (Textual drops
    stderr, so without the file it would be nowhere)."""
    import logging
    import logging.handlers

    root = logging.getLogger()
    for h in list(root.handlers):  # an earlier test's bug report may have installed it
        if isinstance(h, logging.handlers.RotatingFileHandler):
            root.removeHandler(h)
            h.close()
    app = wizard("welcome")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        path = log_path(WIZARD_LOG)
        handlers = [h for h in logging.getLogger().handlers
                    if isinstance(h, logging.handlers.RotatingFileHandler)
                    and h.baseFilename == str(path.absolute())]
        assert len(handlers) == 1 and handlers[0].maxBytes == 1_000_000
        logging.getLogger("slm_wizard.test").warning("a record only the log file can show")
        handlers[0].flush()
        assert "a record only the log file can show" in path.read_text(encoding="utf-8")
