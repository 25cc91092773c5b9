"""Prerequisites: every check the guide needs, its fix, and installing the missing packages."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Log, ProgressBar, Static, TextArea
from textual.worker import Worker, WorkerState

from slm_wizard.core.base.proc import CommandResult
from slm_wizard.core.base.status import CheckResult
from slm_wizard.core.setup import prereqs
from slm_wizard.core.steps import prereqs as step
from slm_wizard.tui.screens.base import StepScreen
from slm_wizard.tui.widgets.check_table import STATUS_STYLE, CheckTable

INTRO = "Checked on this machine. Select a row for its fix; only a failed essential check blocks."


class InstallConfirm(ModalScreen[bool]):
    """Shows the exact pip commands; dismisses with True to run them."""

    DEFAULT_CSS = """
    InstallConfirm { align: center middle; }
    #install-dialog {
        width: 90; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    #install-commands { height: 5; margin: 1 0; }
    #install-buttons { height: auto; }
    #install-buttons Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, commands: Sequence[Sequence[str]]) -> None:
        super().__init__()
        self.commands = [list(c) for c in commands]

    def compose(self) -> ComposeResult:
        with Vertical(id="install-dialog"):
            yield Static("[b]Install the missing packages?[/b]")
            yield Static(Text(
                "slm-wizard will run pip in its own Python, installing the project's extras "
                f"({sys.executable}):"))
            yield TextArea("\n".join(prereqs.format_command(c) for c in self.commands),
                           read_only=True, soft_wrap=True, id="install-commands")
            with Horizontal(id="install-buttons"):
                yield Button("Install", id="confirm-install", variant="warning")
                yield Button("Cancel", id="cancel-install")

    def on_mount(self) -> None:
        self.query_one("#cancel-install", Button).focus()

    @on(Button.Pressed, "#confirm-install")
    def confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel-install")
    def action_cancel(self) -> None:
        self.dismiss(False)


class PrereqsScreen(StepScreen):
    STEP_ID = "prereqs"
    BINDINGS = [
        Binding("r", "recheck", "Re-check", id="recheck"),
        Binding("c", "copy_fix", "Copy fix", id="copy-fix"),
    ]
    DEFAULT_CSS = """
    PrereqsScreen #prereq-intro { color: $text-muted; }
    PrereqsScreen #prereq-actions { height: auto; margin-top: 1; }
    PrereqsScreen #prereq-actions Button { margin-right: 1; }
    PrereqsScreen #prereq-summary { width: 1fr; height: auto; margin-top: 1; }
    PrereqsScreen #prereq-reason { height: auto; }
    PrereqsScreen #fix-head { height: auto; margin-top: 1; }
    PrereqsScreen #fix-row { height: 4; }
    PrereqsScreen #fix-text { width: 1fr; height: 4; border: none; padding: 0 1; }
    PrereqsScreen #fix-text:focus { background: $boost; }
    PrereqsScreen #copy-fix { margin-left: 1; }
    PrereqsScreen #install-pane { height: auto; margin-top: 1; }
    PrereqsScreen #install-status { height: auto; }
    PrereqsScreen #install-progress-row { height: 1; }
    PrereqsScreen #install-progress { width: 1fr; }
    PrereqsScreen #install-log { height: 12; border: round $primary; }
    """

    class ChecksDone(Message):
        def __init__(self, options: step.Options, result: step.Result, run: int) -> None:
            self.options = options
            self.result = result
            self.run = run
            super().__init__()

    class InstallLine(Message):
        def __init__(self, line: str) -> None:
            self.line = line
            super().__init__()

    class InstallDone(Message):
        def __init__(self, result: CommandResult) -> None:
            self.result = result
            super().__init__()

    def __init__(self, results: Sequence[CheckResult] | None = None) -> None:
        """`results`: show these instead of running the checks at first (tests, snapshots)."""
        super().__init__()
        self.results: list[CheckResult] = list(results or [])
        self._given = results is not None
        self._run = 0
        self.checking = False
        self.installing = False
        self._cancel = threading.Event()
        self._checked_model = None

    def compose_body(self) -> ComposeResult:
        yield Static(INTRO, id="prereq-intro")
        yield Static("", id="prereq-summary")
        with Horizontal(id="prereq-actions"):
            yield Button("Continue", id="continue", variant="primary", disabled=True)
            yield Button("Re-check", id="recheck")
            yield Button("Install missing packages", id="install", disabled=True)
        yield Static("", id="prereq-reason", classes="error hidden")
        yield CheckTable(id="checks")
        yield Static("", id="fix-head")
        with Horizontal(id="fix-row"):
            yield TextArea("", read_only=True, soft_wrap=True, id="fix-text")
            yield Button("Copy fix", id="copy-fix")
        with Vertical(id="install-pane", classes="hidden"):
            yield Static("", id="install-status")
            with Horizontal(id="install-progress-row"):
                yield ProgressBar(total=None, show_eta=False, id="install-progress")
                yield Button("Cancel install", id="install-cancel", variant="error",
                             compact=True)
            yield Log(id="install-log", auto_scroll=True)

    def on_mount(self) -> None:
        if self._given:
            self._show(self.results)
            self._focus_next_action()
        else:
            self.action_recheck()
            self.query_one(CheckTable).focus()

    def on_screen_resume(self) -> None:
        # (StepScreen's own handler runs too: Textual calls the handlers of every class.)
        model = getattr(self.app.state, "model_dir", None)
        if not self._given and self._checked_model != model and not self.installing:
            self.action_recheck()

    # --------------------------------------------------------------------------- checks

    def action_recheck(self) -> None:
        if self.installing:
            self.notify("Wait for the installation to finish (or cancel it).", severity="warning")
            return
        self._run += 1
        self.checking = True
        self._checked_model = getattr(self.app.state, "model_dir", None)
        self.query_one("#prereq-summary", Static).update("Checking…")
        self._update_buttons()
        self.run_checks_worker(self._run, self._checked_model)

    @work(thread=True, exclusive=True, group="prereqs-checks", exit_on_error=False)
    def run_checks_worker(self, run: int, model_dir) -> None:
        options = step.Options(model_dir=model_dir)
        result = step.run(options)
        self.post_message(self.ChecksDone(options, result, run))

    def on_prereqs_screen_checks_done(self, message: ChecksDone) -> None:
        if message.run != self._run:
            return  # a newer run is on its way
        self.checking = False
        self._show(message.result.checks)
        self._focus_next_action()
        # The step's record comes from its runner: ctrl+n after the checks shows it done.
        self.app.record_step(step.to_record(message.options, message.result))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "prereqs-checks" and event.state == WorkerState.ERROR:
            self.checking = False
            error = event.worker.error
            text = str(error) if isinstance(error, step.PrereqsInputError) else \
                f"{type(error).__name__}: {error}"
            self.query_one("#prereq-summary", Static).update(Text(
                f"The checks could not run: {text}. Press r to re-check; the log file has "
                "the details.", style="red"))
            self._update_buttons()
        elif event.worker.group == "prereqs-install" and event.state == WorkerState.ERROR:
            self.post_message(self.InstallDone(CommandResult(
                (), None, error=f"the installation could not run: {event.worker.error}")))

    def _focus_next_action(self) -> None:
        """Enter does the next thing: Continue when nothing blocks, else Install when it can
        fix it, else the table (each row shows its fix)."""
        for wid in ("#continue", "#install"):
            button = self.query_one(wid, Button)
            if not button.disabled:
                button.focus()
                return
        self.query_one(CheckTable).focus()

    def _show(self, results: Sequence[CheckResult]) -> None:
        self.results = list(results)
        table = self.query_one(CheckTable)
        table.show_results(self.results)
        self.query_one("#prereq-summary", Static).update(prereqs.summary_line(self.results))
        self._show_fix(table.current_result())
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.checking or self.installing
        blocking = prereqs.blocking(self.results)
        self.query_one("#recheck", Button).disabled = busy
        install = self.query_one("#install", Button)
        if self.installing:
            install.label, install.variant, install.disabled = "Cancel install", "error", False
        else:
            install.label, install.variant = "Install missing packages", "default"
            install.disabled = self.checking or not prereqs.install_commands(self.results)
        cont = self.query_one("#continue", Button)
        cont.disabled = busy or not self.results or bool(blocking)
        reason = self.query_one("#prereq-reason", Static)
        if blocking and not busy:
            names = "; ".join(f"{r.title}: {r.found}" for r in blocking)
            text = f"Continue needs this fixed first: {names}."
            if prereqs.install_commands(self.results):
                text += " \"Install missing packages\" can do it."
            reason.update(Text(text))
            cont.tooltip = text
            reason.remove_class("hidden")
        else:
            reason.add_class("hidden")
            cont.tooltip = None

    # ------------------------------------------------------------------------ fix pane

    @on(DataTable.RowHighlighted, "#checks")
    def row_highlighted(self) -> None:
        self._show_fix(self.query_one(CheckTable).current_result())

    def _show_fix(self, result: CheckResult | None) -> None:
        head = self.query_one("#fix-head", Static)
        area = self.query_one("#fix-text", TextArea)
        if result is None:
            head.update("")
            area.load_text("")
            return
        icon, style = STATUS_STYLE.get(result.status, ("?", ""))
        text = Text.assemble((f"{icon} {result.title}", f"bold {style}"),
                             f" — found: {result.found}  ·  required: {result.required}")
        if result.essential:
            text.append("  (essential)", style="dim")
        head.update(text)
        area.load_text(result.fix or "Nothing to do.")
        self.query_one("#copy-fix", Button).disabled = not result.fix

    @on(Button.Pressed, "#copy-fix")
    def action_copy_fix(self) -> None:
        result = self.query_one(CheckTable).current_result()
        if result is None or not result.fix:
            self.notify("This check has nothing to fix.")
            return
        area = self.query_one("#fix-text", TextArea)
        self.app.copy_to_clipboard(area.selected_text or result.fix)
        self.notify("Copied to the clipboard.", title=result.title)

    # ------------------------------------------------------------------------- install

    @on(Button.Pressed, "#recheck")
    def recheck_pressed(self) -> None:
        self.action_recheck()

    def cancel_work(self) -> None:
        """Called by the app when the user quits: stop a running pip install."""
        self._cancel.set()

    @on(Button.Pressed, "#install-cancel")
    def install_cancel_pressed(self) -> None:
        if self.installing:
            self._cancel.set()
            self.query_one("#install-status", Static).update("Cancelling…")

    @on(Button.Pressed, "#install")
    def install_pressed(self) -> None:
        if self.installing:
            self._cancel.set()
            self.query_one("#install-status", Static).update("Cancelling…")
            return
        commands = prereqs.install_commands(self.results)
        if not commands:
            self.notify("Nothing to install.")
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._start_install(commands)

        self.app.push_screen(InstallConfirm(commands), confirmed)

    def _start_install(self, commands: list[list[str]]) -> None:
        self.installing = True
        self._cancel = threading.Event()
        pane = self.query_one("#install-pane")
        pane.remove_class("hidden")
        self.query_one("#install-log", Log).clear()
        bar = self.query_one("#install-progress", ProgressBar)
        bar.update(total=None, progress=0)
        self.query_one("#install-progress-row").remove_class("hidden")
        self.query_one("#install-status", Static).update(
            Text(f"Installing ({len(commands)} pip command{'s' if len(commands) > 1 else ''})…"))
        self._update_buttons()
        self.call_after_refresh(pane.scroll_visible, animate=False)
        self.install_worker(commands, self._cancel)

    @work(thread=True, exclusive=True, group="prereqs-install", exit_on_error=False)
    def install_worker(self, commands: list[list[str]], cancel: threading.Event) -> None:
        result = prereqs.install_packages(
            commands, lambda line: self.post_message(self.InstallLine(line)), cancel)
        self.post_message(self.InstallDone(result))

    def on_prereqs_screen_install_line(self, message: InstallLine) -> None:
        self.query_one("#install-log", Log).write_line(message.line)

    def on_prereqs_screen_install_done(self, message: InstallDone) -> None:
        self.installing = False
        result = message.result
        self.query_one("#install-progress-row").add_class("hidden")
        status = self.query_one("#install-status", Static)
        if result.ok:
            status.update(Text("Installed. Checking again…", style="green"))
        elif result.cancelled:
            status.update(Text("Installation cancelled. Checking again…", style="yellow"))
        else:
            status.update(Text(f"pip failed:\n{prereqs.pip_error(result)}", style="red"))
        self.action_recheck()

    # ------------------------------------------------------------------------ continue

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        if prereqs.blocking(self.results) or not self.results:
            return
        self.app.action_next_step()
