"""The slm-wizard Textual app: the steps as installed screens over one RunRecord."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from slm_wizard.core.base.status import Refused, Status
from slm_wizard.core.run.record import RunRecord, StepRecord
from slm_wizard.core.run.settings import Settings, load_settings, remember, restore, save_settings
from slm_wizard.tui.steps import STEP_IDS, STEPS, missing_input, step
from slm_wizard.tui.widgets.step_bar import StepBar


class WizardApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "slm-wizard"
    SUB_TITLE = "fine-tuned model → ONNX → Foundry Local"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+g", "pick_step", "Go to", id="goto"),
        *[
            Binding(f"alt+{i}", f"goto('{s.id}')", f"Go to {s.title}", show=False)
            for i, s in enumerate(STEPS, start=1)
        ],
    ]

    def __init__(self, state: RunRecord | None = None, start: str = "welcome",
                 config_dir: Path | None = None) -> None:
        super().__init__()
        self.state = state or RunRecord()
        self.current_step = start
        self.config_dir = config_dir
        self.settings = Settings()
        self._settings_notice: str | None = None

    def get_default_screen(self) -> Screen:
        """The first step's screen is the app's first screen, composed with the app itself (a
        screen pushed over Textual's blank default costs a fifth of the start-up,
        bench/b_startup.py). The settings are read first: Welcome offers to resume from them."""
        self.settings, self._settings_notice = load_settings(self.config_dir)
        screen = self.get_screen(self._screen_for(self.current_step))
        # As push_screen does: switch_screen later pops this (Textual gives a default screen none).
        screen._push_result_callback(self, None)
        return screen

    def on_mount(self) -> None:
        # After the first paint: log records (a bug's traceback) go to the wizard's log file.
        self.call_after_refresh(self._log_to_file)
        self._catch_stop_signals()
        self.call_after_refresh(self._cover_if_too_small)
        if self._settings_notice:
            self.notify(self._settings_notice, title="Settings recovered", severity="warning",
                        timeout=15)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme

    def on_resize(self, event: events.Resize) -> None:
        from slm_wizard.tui.screens.too_small import cover_if_too_small

        cover_if_too_small(self, event.size)

    def _cover_if_too_small(self) -> None:
        from slm_wizard.tui.screens.too_small import cover_if_too_small

        cover_if_too_small(self)

    @staticmethod
    def _log_to_file() -> None:
        from slm_wizard.core.base.logfile import log_to_file  # logging.handlers: not at start-up

        log_to_file()

    def watch_theme(self, theme: str) -> None:
        if self.is_mounted and getattr(self, "settings", None) is not None and \
                self.settings.theme != theme:
            self.settings.theme = theme
            self.save_progress()

    # -- steps -------------------------------------------------------------------------------

    def _screen_for(self, step_id: str) -> str:
        """Install the step's screen once (so it keeps its state) and return its name."""
        if not self.is_screen_installed(step_id):
            s = step(step_id)
            screen = getattr(importlib.import_module(s.module), s.cls)()
            self.install_screen(screen, name=step_id)
        return step_id

    def can_enter(self, step_id: str) -> str | None:
        """None when the step has what it needs, else what is missing and which step gives it."""
        return missing_input(step_id, self.state)

    def action_goto(self, step_id: str) -> None:
        self.goto(step_id)

    def goto(self, step_id: str) -> None:
        if step_id == self.current_step and self.screen.id == step_id:
            return
        why = self.can_enter(step_id)
        if why:
            self.notify(why, title=f"{step(step_id).title} is not ready", severity="warning")
            return
        self.current_step = step_id
        from slm_wizard.tui.screens.too_small import TooSmallScreen

        if isinstance(self.screen, TooSmallScreen):  # the notice goes back over the new step
            self.pop_screen()
        self.switch_screen(self._screen_for(step_id))
        self.save_progress()

    def action_next_step(self) -> None:
        i = STEP_IDS.index(self.current_step)
        if i + 1 < len(STEP_IDS):
            self.goto(STEP_IDS[i + 1])

    def action_prev_step(self) -> None:
        i = STEP_IDS.index(self.current_step)
        if i > 0:
            self.goto(STEP_IDS[i - 1])

    def record_step(self, rec: StepRecord) -> StepRecord:
        """Put a step runner's record into the run record, save it and refresh the step bar.

        Screens call this when their runner finished (whatever button then moves on), so the
        step bar, Summary, resume and the reproduce commands show what really ran. The record
        decides what it keeps (RunRecord.record): screens never set the artefacts themselves.
        Returns the record kept (an earlier conversion, when a re-run failed)."""
        self.state.record(rec)
        self.save_progress()
        for bar in self.screen.query(StepBar):
            bar.refresh_steps()
        return rec

    def set_model(self, folder: Path, is_demo: bool) -> bool:
        """Make `folder` the run's model; a different folder starts a new run record.

        Returns True when the model changed (the other steps' screens then start afresh)."""
        if self.state.model_dir == folder and self.state.is_demo == is_demo:
            return False
        self.state = RunRecord(model_dir=folder, is_demo=is_demo)
        for s in STEP_IDS:  # screens of another model's run start afresh
            if s != self.current_step and self.is_screen_installed(s):
                self.uninstall_screen(s)
        return True

    def choose_model(self, folder: Path, is_demo: bool, rec: StepRecord | None = None) -> None:
        self.set_model(folder, is_demo)
        self.record_step(rec or StepRecord(
            "welcome", Status.OK, f"model: {folder}",
            options={"model_dir": str(folder), "demo": is_demo},
            command=["slm-wizard", "demo"] if is_demo else []))
        self.notify(f"{folder}", title="Model chosen")
        self.goto("prereqs")

    def resume(self, model_dir: str) -> None:
        try:
            state, last = restore(self.settings, model_dir)
        except ValueError as exc:  # a record that does not read back: start this model afresh
            self.notify(f"The saved progress of {model_dir} could not be used ({exc}).",
                        title="Not resumed", severity="warning")
            state, last = RunRecord(model_dir=Path(model_dir)), "welcome"
        self.state = state
        for s in STEP_IDS:
            if s != self.current_step and self.is_screen_installed(s):
                self.uninstall_screen(s)
        target = last if last in STEP_IDS and self.can_enter(last) is None else "prereqs"
        self.notify(f"{model_dir}: resuming at {step(target).title}", title="Resumed")
        self.goto(target)

    def save_progress(self) -> None:
        remember(self.settings, self.state, self.current_step)
        try:
            save_settings(self.settings, self.config_dir,
                          on_notice=lambda text: self.notify(text, severity="warning"))
        except (OSError, Refused) as exc:  # Refused: another wizard holds the file too long
            self.notify(f"Progress could not be saved: {exc}", severity="warning")

    # -- help, palette, quit -----------------------------------------------------------------

    def action_help(self) -> None:
        from slm_wizard.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))  # the current screen's keys and actions

    def action_pick_step(self) -> None:
        """ctrl+g: a list of the steps (where alt+digit never reaches the app)."""
        from slm_wizard.tui.screens.help import StepPicker

        if not isinstance(self.screen, StepPicker):
            self.push_screen(StepPicker(self.current_step),
                             lambda sid: self.goto(sid) if sid else None)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from slm_wizard.tui.screens.help import screen_actions

        for action in screen_actions(screen):  # this screen's actions first
            if action.why_not:
                yield SystemCommand(action.title, f"{action.help} ({action.why_not})",
                                    lambda a=action: self.notify(
                                        f"{a.title}: {a.why_not}.", severity="warning"))
            else:
                yield SystemCommand(action.title, action.help, action.run)
        yield from super().get_system_commands(screen)
        for i, s in enumerate(STEPS, start=1):
            why = self.can_enter(s.id)
            yield SystemCommand(
                f"Go to step {i}: {s.title}",
                why or f"Open the {s.title} step (alt+{i}, or ctrl+g)",
                lambda sid=s.id: self.goto(sid),
            )
        yield SystemCommand("Help", "Keys and steps of the wizard (F1)", self.action_help)

    def busy_workers(self) -> list:
        return [w for w in self.workers if w.is_running and not w.name.startswith("_")]

    async def action_quit(self) -> None:
        busy = self.busy_workers()
        if not busy:
            self.exit()
            return
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        def answer(yes: bool | None) -> None:
            if yes:
                self.cancel_work()
                self.exit()

        self.push_screen(
            ConfirmScreen(
                "Work is still running",
                f"{len(busy)} task(s) are running (for example a conversion or a reply). "
                "Quit and cancel them? Partial output is removed.",
                yes="Quit and cancel",
                no="Keep working",
            ),
            answer,
        )

    def _catch_stop_signals(self) -> None:
        """SIGTERM and SIGHUP (a closed terminal) end the wizard as quitting does: the running
        work is cancelled and cleans up, then the app exits with 128 + the signal's number
        (docs/reliability.md). Where the event loop takes no signal handlers (Windows), none."""
        import asyncio
        import contextlib
        import signal

        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.call_later, self._stop_by_signal, signum)

    async def _stop_by_signal(self, signum: int) -> None:
        import asyncio

        if getattr(self, "_stopped_by", None):
            return
        self._stopped_by = signum
        self.cancel_work()
        for _ in range(300):  # the runs stop and remove their work folders (at most 30 s)
            if not self.busy_workers():
                break
            await asyncio.sleep(0.1)
        self.exit(return_code=128 + signum)

    def cancel_work(self) -> None:
        """Ask every screen to stop its work (subprocesses, generation), then cancel workers."""
        for s in STEP_IDS:
            if self.is_screen_installed(s):
                screen = self.get_screen(s)
                hook = getattr(screen, "cancel_work", None)
                if callable(hook):
                    hook()
        self.workers.cancel_all()


def run_app(config_dir: Path | None = None, gc_paused: bool = False, **run_options) -> int:
    """Run the wizard. `gc_paused`: the caller turned cyclic garbage collection off for the
    start-up; it is turned back on once the first screen is painted. `run_options` go to
    `App.run` (the benchmark runs it headless)."""
    app = WizardApp(config_dir=config_dir)
    if gc_paused:
        import gc

        app.call_later(lambda: app.call_after_refresh(gc.enable))
    app.run(**run_options)
    return app.return_code or 0
