"""Prerequisites: every check the guide needs, its fix, and installing the missing packages.

The checks and the install are the step's runners (core.steps.prereqs `run` and `install`), run
through `run_step` (groups "checks" and "install"); the install shows pip's lines in a RunPane.
What blocks, why, and which pip commands fix it come from the step's Result.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Static, TextArea

from slm_wizard.core.base.status import CheckResult
from slm_wizard.core.steps import prereqs as step
from slm_wizard.tui.screens.base import Outcome, StepScreen
from slm_wizard.tui.widgets.check_table import CheckTable
from slm_wizard.tui.widgets.dialog import DialogBody
from slm_wizard.tui.widgets.run_pane import RunPane
from slm_wizard.tui.widgets.status import status_text

INTRO = "Checked on this machine. Select a row for its fix; only a failed essential check blocks."


class InstallConfirm(ModalScreen[bool]):
    """Shows the exact pip commands; dismisses with True to run them."""

    DEFAULT_CSS = """
    InstallConfirm { align: center middle; }
    InstallConfirm > #install-dialog { width: 90; border: thick $warning; }
    #install-commands { height: 5; margin: 1 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, install: step.InstallOptions) -> None:
        super().__init__()
        self.install = install

    def compose(self) -> ComposeResult:
        with DialogBody(id="install-dialog", classes="dialog"):
            yield Static("[b]Install the missing packages?[/b]")
            yield Static(Text(
                "slm-wizard will run pip in its own Python, installing the project's extras "
                f"({sys.executable}):"))
            yield TextArea(self.install.text, read_only=True, soft_wrap=True,
                           id="install-commands")
            with Horizontal(id="install-buttons", classes="dialog-buttons"):
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
    PrereqsScreen #install-cancel { margin-top: 1; }
    """

    def __init__(self, results: Sequence[CheckResult] | None = None) -> None:
        """`results`: show these instead of running the checks at first (tests, snapshots)."""
        super().__init__()
        self.result = step.Result(list(results or []))
        self._given = results is not None
        self._checked_model = None

    @property
    def results(self) -> list[CheckResult]:
        return self.result.checks

    @property
    def checking(self) -> bool:
        return self.step_running("checks")

    @property
    def installing(self) -> bool:
        return self.step_running("install")

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
        yield RunPane(log_height=12, id="install-run")
        yield Button("Cancel install", id="install-cancel", variant="error", compact=True,
                     classes="hidden")

    def on_mount(self) -> None:
        if self._given:
            self._show(self.result)
            self._focus_next_action()
        else:
            self.action_recheck()
            self.query_one(CheckTable).focus()

    def on_screen_resume(self) -> None:
        # (StepScreen's own handler runs too: Textual calls the handlers of every class.)
        model = self.app.state.model_dir
        if not self._given and self._checked_model != model and not self.installing:
            self.action_recheck()

    # --------------------------------------------------------------------------- checks

    def action_recheck(self) -> None:
        if self.installing:
            self.notify("Wait for the installation to finish (or cancel it).", severity="warning")
            return
        self._checked_model = self.app.state.model_dir
        options = step.Options(model_dir=self._checked_model)
        self.query_one("#prereq-summary", Static).update("Checking…")
        self.run_step(step.run, options, group="checks",
                      done=lambda outcome: self._checked(options, outcome))
        self._update_buttons()

    def _checked(self, options: step.Options, outcome: Outcome) -> None:
        if not outcome.ok:
            # A refusal says what to change; a bug's message names the log holding its traceback.
            self.query_one("#prereq-summary", Static).update(Text(
                f"The checks could not run: {outcome.refused or outcome.error}. Press r to "
                "re-check.", style="red"))
            self._update_buttons()
            return
        self._show(outcome.result)
        self._focus_next_action()
        # The step's record comes from its runner: ctrl+n after the checks shows it done.
        self.app.record_step(step.to_record(options, outcome.result))

    def _focus_next_action(self) -> None:
        """Enter does the next thing: Continue when nothing blocks, else Install when it can
        fix it, else the table (each row shows its fix)."""
        for wid in ("#continue", "#install"):
            button = self.query_one(wid, Button)
            if not button.disabled:
                button.focus()
                return
        self.query_one(CheckTable).focus()

    def _show(self, result: step.Result) -> None:
        self.result = result
        table = self.query_one(CheckTable)
        table.show_results(result.checks)
        self.query_one("#prereq-summary", Static).update(result.summary)
        self._show_fix(table.current_result())
        self._update_buttons()

    def _update_buttons(self) -> None:
        checking, installing = self.checking, self.installing
        busy = checking or installing
        self.query_one("#recheck", Button).disabled = busy
        install = self.query_one("#install", Button)
        if installing:
            install.label, install.variant, install.disabled = "Cancel install", "error", False
        else:
            install.label, install.variant = "Install missing packages", "default"
            install.disabled = checking or self.result.install is None
        self.query_one("#install-cancel", Button).set_class(not installing, "hidden")
        cont = self.query_one("#continue", Button)
        cont.disabled = busy or not self.results or bool(self.result.blocking)
        reason = self.query_one("#prereq-reason", Static)
        text = self.result.block_reason
        if text and not busy:
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
        text = status_text(result.status, result.title)
        text.stylize("bold")
        text.append(f" — found: {result.found}  ·  required: {result.required}")
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
        self.copy_text(area.selected_text or result.fix, result.title)

    # ------------------------------------------------------------------------- install

    @on(Button.Pressed, "#recheck")
    def recheck_pressed(self) -> None:
        self.action_recheck()

    @on(Button.Pressed, "#install-cancel")
    def install_cancel_pressed(self) -> None:
        self._cancel_install()

    def _cancel_install(self) -> None:
        if self.installing:
            self.cancel_step("install")
            self.query_one(RunPane).set_stage("Cancelling…")

    @on(Button.Pressed, "#install")
    def install_pressed(self) -> None:
        if self.installing:
            self._cancel_install()
            return
        install = self.result.install
        if install is None:
            self.notify("Nothing to install.")
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._start_install(install)

        self.app.push_screen(InstallConfirm(install), confirmed)

    def _start_install(self, install: step.InstallOptions) -> None:
        pane = self.query_one(RunPane)
        self.run_step(step.install, install, group="install", pane=pane,
                      start_text=install.start_text, done=self._installed)
        self._update_buttons()
        self.call_after_refresh(pane.scroll_visible, animate=False)

    def _installed(self, outcome: Outcome) -> None:
        pane = self.query_one(RunPane)
        result = outcome.result
        if not outcome.ok:  # a bug: its message names the log holding its traceback
            pane.finish(Text(f"pip failed:\nthe installation could not run: "
                             f"{outcome.refused or outcome.error}", style="red"))
        else:
            style = "green" if result.ok else "yellow" if result.cancelled else "red"
            pane.finish(Text(result.message, style=style), ok=result.ok)
        self.action_recheck()

    # ------------------------------------------------------------------------ continue

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        if self.result.blocking or not self.results:
            return
        self.app.action_next_step()
