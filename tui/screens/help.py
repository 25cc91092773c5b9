"""F1: the keys and the steps, in one place."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from slm_wizard.tui.steps import STEPS

HELP = """\
# slm-wizard help

The wizard walks a fine-tuned Hugging Face model to a quantized ONNX model in Foundry Local.
Each step saves its progress; starting the wizard again offers to resume.

## Steps
{steps}

## Keys
| Key | Action |
|---|---|
| ctrl+n / ctrl+b | next / previous step |
| alt+1 … alt+8 | jump to a step (when it has what it needs) |
| ctrl+p | command palette: steps, theme (light/dark), screenshots |
| F1 | this help |
| tab / shift+tab | move between fields and buttons |
| escape | close a dialog; stop a reply in the chat |
| ctrl+q | quit (asks first while work is running, then cancels it cleanly) |

Every step also runs headless: `slm-wizard check | inspect | convert | template | deploy |
chat | bench | validate | sweep | demo` (see `slm-wizard --help`).
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 95%; height: 90%; border: thick $primary;
        background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss_help", "Close")]

    def compose(self) -> ComposeResult:
        steps = "\n".join(f"{i}. **{s.title}**" for i, s in enumerate(STEPS, start=1))
        with VerticalScroll():
            yield Markdown(HELP.format(steps=steps))

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
