"""A table of check results: status icon, check, found, required (one row per CheckResult)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.tui.widgets.status import status_text


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class CheckTable(DataTable):
    """Rows keyed by check id; the full texts live in `results` (cells are clipped)."""

    DEFAULT_CSS = """
    CheckTable { height: auto; max-height: 20; }
    """

    def __init__(self, found_width: int = 36, required_width: int = 24, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.found_width = found_width
        self.required_width = required_width
        self.results: list[CheckResult] = []

    def on_mount(self) -> None:
        self.add_column("", key="status", width=1)
        self.add_column("Check", key="title")
        self.add_column("Found", key="found", width=self.found_width)
        self.add_column("Required", key="required", width=self.required_width)

    def show_results(self, results: Sequence[CheckResult]) -> None:
        """Replace the rows, keeping the cursor on the same check when it is still there."""
        keep = self.current_result().id if self.current_result() else None
        self.results = list(results)
        self.clear()
        for r in self.results:
            title = Text(r.title, style="bold" if r.status == Status.FAIL else "")
            # Text, not str: a str cell is read as markup and "[all]" would vanish.
            self.add_row(status_text(r.status), title, Text(_clip(r.found, self.found_width)),
                         Text(_clip(r.required, self.required_width)), key=r.id)
        ids = [r.id for r in self.results]
        if keep in ids:
            self.move_cursor(row=ids.index(keep))

    def current_result(self) -> CheckResult | None:
        if not self.results or not 0 <= self.cursor_row < len(self.results):
            return None
        return self.results[self.cursor_row]

    def status_of(self, check_id: str) -> Status | None:
        return next((r.status for r in self.results if r.id == check_id), None)
