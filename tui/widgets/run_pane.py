"""The run pane: how every step shows its work while it runs (progress, elapsed time, stage, log).

A screen mounts one and hands it to `StepScreen.run_step`; the pane then follows the runner's
`Progress` events by itself: the fraction moves the bar (indeterminate until one arrives), a log
event goes to the log (shown once a line arrives), any other event becomes the stage line.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Log, ProgressBar, Static

from slm_wizard.core.base.status import Progress


class RunPane(Vertical):
    DEFAULT_CSS = """
    RunPane { height: auto; margin-top: 1; }
    RunPane.-idle { display: none; }
    RunPane > .run-row { height: 1; }
    RunPane .run-bar { width: 1fr; }
    RunPane .run-elapsed { width: 12; text-align: right; }
    RunPane .run-stage { height: auto; }
    RunPane .run-log { height: 10; border: round $primary; display: none; }
    RunPane .run-log.-shown { display: block; }
    """

    def __init__(self, *, log_height: int | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=f"-idle {classes or ''}".strip())
        self._log_height = log_height
        self._started = 0.0
        self._running = False
        self._clock = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="run-row"):
            yield ProgressBar(total=100, show_eta=False, classes="run-bar")
            yield Static("", classes="run-elapsed")
        yield Static("", classes="run-stage")
        log = Log(auto_scroll=True, classes="run-log")
        if self._log_height is not None:
            log.styles.height = self._log_height
        yield log

    @property
    def running(self) -> bool:
        return self._running

    @property
    def stage(self) -> str:
        """The stage line as shown (for tests and the help text)."""
        return str(self.query_one(".run-stage", Static).content)

    @property
    def log_lines(self) -> list[str]:
        return list(self.query_one(".run-log", Log).lines)

    def start(self, text: str = "Starting…") -> None:
        """Show the pane for a new run: bar indeterminate, clock from zero, log cleared."""
        self.remove_class("-idle")
        self._running = True
        self._started = time.monotonic()
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one(".run-log", Log).clear()
        self.query_one(".run-log").remove_class("-shown")
        self.set_stage(text)
        self._tick()
        if self._clock is None:
            self._clock = self.set_interval(0.5, self._tick)
        else:
            self._clock.resume()

    def show(self, event: Progress) -> None:
        """One of the runner's progress events."""
        if event.fraction is not None:
            self.query_one(ProgressBar).update(total=100, progress=event.fraction * 100)
        if event.log:
            log = self.query_one(".run-log", Log)
            log.add_class("-shown")
            log.write_line(event.text)
        elif event.text:
            self.set_stage(event.text)

    def set_stage(self, text: str | Text) -> None:
        self.query_one(".run-stage", Static).update(text if isinstance(text, Text) else Text(text))

    def finish(self, text: str | Text = "", *, ok: bool = False) -> None:
        """The run ended: the clock stops at its time, the bar fills when it went well."""
        self._running = False
        self._tick(final=True)
        if self._clock is not None:
            self._clock.pause()
        bar = self.query_one(ProgressBar)
        if ok:
            bar.update(total=100, progress=100)
        elif bar.total is None:
            bar.update(total=100, progress=0)
        if text:
            self.set_stage(text)

    def _tick(self, final: bool = False) -> None:
        if not (self._running or final):
            return
        # A timer: never raise, even while the pane is being removed.
        for label in self.query(".run-elapsed").results(Static):
            label.update(f"{time.monotonic() - self._started:5.1f} s")
