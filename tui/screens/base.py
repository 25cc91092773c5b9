"""The frame every step screen shares: header, step bar, body, footer, step navigation, and
the one way a screen runs its step's runner (`run_step`).

A step screen is its widgets plus one `run_step(runner, options, done=...)` call: the runner
runs in a thread worker (`exit_on_error=False`, so no failure ends the app) with a cancel event;
its `Progress` events go to the screen's `RunPane` (and an optional callback) on the UI thread;
when it ends, `done(outcome)` gets the result, the refusal's message, or, for a bug, a message
naming the log file that holds its traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from slm_wizard.core.base.status import Progress, Refused
from slm_wizard.tui.screens.too_small import cover_if_too_small
from slm_wizard.tui.widgets.key_bar import KeyBar
from slm_wizard.tui.widgets.scroll import FocusScroll
from slm_wizard.tui.widgets.step_bar import StepBar

# What a copy does: Textual sends the text to the terminal (an OSC 52 sequence); the terminal
# puts it on the clipboard only where it allows it (tmux needs set-clipboard on).
CLIPBOARD_NOTE = ("Sent to the clipboard through the terminal (OSC 52): it arrives only where "
                  "the terminal allows it (in tmux: set-clipboard on).")


@dataclass(frozen=True)
class Outcome:
    """How a runner's run ended: its result, or why there is none."""

    result: Any = None
    refused: str = ""  # the runner refused its input (core.base.status.Refused): its message
    error: str = ""  # an unexpected failure (a bug): what happened and where its traceback is
    cancelled: bool = False  # the cancel event was set before the run ended

    @property
    def ok(self) -> bool:
        """A result came back (what it says is the result's business)."""
        return not (self.refused or self.error)


class StepScreen(Screen):
    STEP_ID: ClassVar[str] = ""
    # Screens reflow below 100 columns (stacked panels, shorter labels): `-narrow` on the screen.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    BINDINGS = [
        Binding("ctrl+b", "app.prev_step", "Back", id="back"),
        Binding("ctrl+n", "app.next_step", "Next", id="next"),
    ]

    DEFAULT_CSS = """
    #title-bar { height: 1; background: $panel; color: $foreground; text-align: center; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runs: dict[str, _Run] = {}  # the runs under way, by group

    class StepProgress(Message):
        """A runner's progress event, posted from its worker thread."""

        def __init__(self, run: _Run, event: Progress) -> None:
            self.run, self.event = run, event
            super().__init__()

    class StepDone(Message):
        def __init__(self, run: _Run, outcome: Outcome) -> None:
            self.run, self.outcome = run, outcome
            super().__init__()

    def compose(self) -> ComposeResult:
        # A plain title line: Textual's Header adds a clock and races with fast screen switches.
        yield Static(f"[b]{self.app.title}[/b] · {self.app.sub_title}", id="title-bar")
        yield StepBar(self.STEP_ID, id="step-bar")
        body = FocusScroll(id="body")  # a control focused under a docked bar scrolls up
        body.can_focus = False  # keys go to the step's first control, not to the scroll area
        with body:
            yield from self.compose_body()
        yield KeyBar()  # one line of keys (Textual's Footer costs a quarter of the start-up)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        self.query_one(StepBar).refresh_steps()
        cover_if_too_small(self.app)  # below 80x24: the notice instead of this screen

    def copy_text(self, text: str, title: str = "Copied", also: str = "") -> None:
        """Send `text` to the clipboard and say honestly how: through the terminal (OSC 52),
        which delivers it only where the terminal allows it. `also`: where else it is."""
        self.app.copy_to_clipboard(text)
        self.notify(CLIPBOARD_NOTE + (f" {also}" if also else ""), title=title, timeout=10)

    # -- running the step's runner ------------------------------------------------------------

    def run_step(self, runner: Callable[..., Any], options: Any, *,
                 done: Callable[[Outcome], Any], pane: Any = None,
                 progress: Callable[[Progress], Any] | None = None, group: str = "step",
                 start_text: str = "Starting…", **kwargs: Any) -> threading.Event:
        """Run `runner(options, on_progress=..., cancel=..., **kwargs)` in a thread worker.

        Progress events reach `pane` (a RunPane, started here) and `progress` on the UI thread;
        `done(outcome)` is called on the UI thread when the run ends, whatever happened. A second
        run in the same `group` replaces the first (its cancel event is set). Returns the cancel
        event (the app's quit sets it too, through `cancel_work`)."""
        previous = self._runs.get(group)
        if previous is not None:
            previous.cancel.set()
        run = _Run(group, threading.Event(), done, pane, progress)
        self._runs[group] = run
        if pane is not None:
            pane.start(start_text)

        def work() -> None:
            def on_progress(event: Progress) -> None:
                self.post_message(self.StepProgress(run, event))

            try:
                result = runner(options, on_progress=on_progress, cancel=run.cancel, **kwargs)
                outcome = Outcome(result=result, cancelled=run.cancel.is_set())
            except Refused as exc:
                outcome = Outcome(refused=str(exc), cancelled=run.cancel.is_set())
            except Exception as exc:  # a bug: its traceback to the log file, a line on screen
                from slm_wizard.core.base.logfile import log_bug

                where = log_bug(f"the {self.STEP_ID or group} step's run failed", exc)
                outcome = Outcome(error=f"{type(exc).__name__}: {exc} (a bug in slm-wizard; "
                                        f"{where})", cancelled=run.cancel.is_set())
            self.post_message(self.StepDone(run, outcome))

        self.run_worker(work, name=f"{self.STEP_ID}-{group}", group=group, thread=True,
                        exit_on_error=False)
        return run.cancel

    def on_step_screen_step_progress(self, message: StepProgress) -> None:
        run = message.run
        if self._runs.get(run.group) is not run:
            return  # a replaced run's late event
        if run.pane is not None:
            run.pane.show(message.event)
        if run.progress is not None:
            run.progress(message.event)

    def on_step_screen_step_done(self, message: StepDone) -> None:
        run = message.run
        if self._runs.get(run.group) is not run:
            return
        del self._runs[run.group]
        run.done(message.outcome)

    def step_running(self, group: str = "step") -> bool:
        return group in self._runs

    def cancel_step(self, group: str = "step") -> None:
        run = self._runs.get(group)
        if run is not None:
            run.cancel.set()

    def cancel_work(self) -> None:
        """Called by the app when the user quits: every run of this screen is asked to stop."""
        for run in self._runs.values():
            run.cancel.set()



@dataclass
class _Run:
    group: str
    cancel: threading.Event
    done: Callable[[Outcome], Any]
    pane: Any
    progress: Callable[[Progress], Any] | None
