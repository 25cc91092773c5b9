"""Summary: what was done, the files written, the figures measured, and how to redo it headless."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Static, TextArea

from slm_wizard.core.base.status import ICON, Status
from slm_wizard.core.base.units import human_bytes
from slm_wizard.core.run.summary import (
    as_shell,
    figures,
    files_written,
    reproduce_commands,
    step_rows,
    write_reproduce,
)
from slm_wizard.tui.screens.base import StepScreen
from slm_wizard.tui.widgets.status import status_text


class SummaryScreen(StepScreen):
    STEP_ID = "summary"
    DEFAULT_CSS = """
    SummaryScreen DataTable { height: auto; max-height: 12; margin-bottom: 1; }
    SummaryScreen #commands { height: 12; }
    SummaryScreen #commands-file { height: auto; color: $text-muted; }
    SummaryScreen .section { text-style: bold; margin-top: 1; }
    SummaryScreen #summary-actions { dock: bottom; height: auto; background: $surface; }
    SummaryScreen #summary-actions Button { margin-right: 1; }
    """
    AUTO_FOCUS = "#finish"  # Enter finishes: progress is saved, the wizard closes
    BINDINGS = [Binding("c", "copy_commands", "Copy commands")]

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[Path] = []  # the reproduce scripts written (their paths are shown)

    def compose_body(self) -> ComposeResult:
        yield Static("Summary", classes="title")
        yield Static("Steps", classes="section")
        yield DataTable(id="steps", cursor_type="row", zebra_stripes=True)
        yield Static("Files written", classes="section")
        yield DataTable(id="files", cursor_type="row")
        yield Static("Measured figures", classes="section")
        yield DataTable(id="figures", cursor_type="row")
        yield Static("Reproduce this run headless (for scripts and CI)", classes="section")
        # Unwrapped (scroll sideways): a command wrapped at the window's width breaks when pasted.
        yield TextArea("", id="commands", read_only=True, language=None, soft_wrap=False)
        yield Static("", id="commands-file")
        with Horizontal(id="summary-actions", classes="action-bar"):  # docked: always in view
            yield Button("Finish", id="finish", variant="primary")
            yield Button("Copy commands", id="copy")

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.refresh_summary()

    def refresh_summary(self) -> None:
        state = self.app.state
        steps = self.query_one("#steps", DataTable)
        steps.clear(columns=True)
        steps.add_columns("Step", "Status", "Result")
        for title, status, outcome in step_rows(state):
            shown = (status_text(status, status.value) if status
                     else Text(f"{ICON[Status.SKIP]} not run", style="dim"))
            steps.add_row(title, shown, outcome)
        files = self.query_one("#files", DataTable)
        files.clear(columns=True)
        files.add_columns("What", "Path", "Size")
        items = files_written(state)
        for item in items:
            files.add_row(item.label, str(item.path), human_bytes(item.size_bytes))
        if not items:
            files.add_row("(none yet)", "", "")
        table = self.query_one("#figures", DataTable)
        table.clear(columns=True)
        table.add_columns("Step", "Figure", "Value")
        measured = figures(state)
        for step_id, name, value in measured:
            table.add_row(step_id, name, value)
        if not measured:
            table.add_row("", "(none yet)", "chat or validate to measure")
        self.query_one("#commands", TextArea).text = as_shell(reproduce_commands(state))
        self.scripts = []
        try:
            self.scripts = write_reproduce(state)
        except OSError as exc:
            where = Text(f"The commands could not be written to a file: {exc}", style="yellow")
        else:
            where = Text(("Also written to " + " and ".join(str(p) for p in self.scripts))
                         if self.scripts else "")
        line = self.query_one("#commands-file", Static)
        line.update(where)
        line.display = bool(where.plain)

    @on(Button.Pressed, "#finish")
    async def finish_pressed(self) -> None:
        self.app.save_progress()
        await self.app.action_quit()  # asks first if work is still running

    @on(Button.Pressed, "#copy")
    def action_copy_commands(self) -> None:
        files = " and ".join(str(p) for p in self.scripts)
        self.copy_text(self.query_one("#commands", TextArea).text, "Commands",
                       f"They are also in {files}." if files else "")
