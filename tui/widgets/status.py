"""How the wizard shows a Status: core.base.status.ICON's glyph in one style per status.

The step bar, the check tables, Convert's verification table and issues, Deploy's stages, the
Summary and the Validate tables all use these, so a status reads the same on every screen (and
as in the CLI, which prints the same ICON glyphs and WORD words)."""

from __future__ import annotations

from rich.text import Text

from slm_wizard.core.base.status import ICON, Status

STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim",
         Status.RUNNING: "dim"}


def status_style(status: Status | str) -> str:
    """The style of a status (its glyph and, where a screen colours it, its words)."""
    return STYLE[Status.parse(status)]


def status_text(status: Status | str, text: str = "") -> Text:
    """The status's glyph, then `text` after a space when given, in the status's style."""
    s = Status.parse(status)
    return Text(f"{ICON[s]} {text}" if text else ICON[s], style=STYLE[s])
