"""F1 and the command palette, per screen: what this screen is for, its keys, its actions.

`screen_actions(screen)` lists the current screen's actions (the palette shows them beside the
navigation); `HelpScreen(screen)` shows the current screen's keys and actions first, then the
wizard's keys. `StepPicker` (ctrl+g) jumps to a step where alt+digit does not reach the app (tmux,
some terminals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Markdown, OptionList, Select
from textual.widgets.option_list import Option

from slm_wizard.tui.steps import STEPS

ABOUT: dict[str, str] = {
    "welcome": "Choose the demo model (Enter) or type your own model folder and press Enter.",
    "prereqs": "Checks this machine. Select a row for its fix. Enter on Continue goes on once "
               "no essential check fails.",
    "model": "Inspects the model folder: architecture, size, weights, chat template. Enter on "
             "Continue goes on.",
    "convert": "Olive conversion to ONNX with the chosen precision. Enter on Run conversion "
               "starts it; when it is done and verified, Continue is focused.",
    "deploy": "Writes inference_model.json with the PromptTemplate and installs the model in "
              "Foundry Local. Enter on Deploy runs it; the outcome stays docked above the buttons.",
    "chat": "Live chat with the converted model: type, Enter sends; each reply ends with its stop "
            "reason and figures.",
    "validate": "Benchmark, quality checklist and precision sweep. Enter on Run runs the ticked "
                "phases; the plan line says exactly what will run.",
    "serve": "Foundry Local's OpenAI-compatible endpoint for your own app: Start serves the "
             "deployed model on 127.0.0.1; the table shows each request's figures, beside the "
             "serving process's memory and CPU. ctrl+t sends a test request, ctrl+y copies the "
             "snippet.",
    "summary": "What ran, the files written, the measured figures and the headless commands. "
               "Enter on Finish saves and quits.",
}


@dataclass(frozen=True)
class ScreenAction:
    """One action of a screen: its palette title, what it does, and how to run it."""

    title: str
    help: str
    run: Callable[[], object]
    why_not: str = ""  # non-empty: not available now, and why


def _press(screen: Screen, selector: str, title: str, help_text: str) -> ScreenAction | None:
    """An action that presses one of the screen's buttons (None when the screen has no such)."""
    found = screen.query(selector)
    if not found:
        return None
    button = found.first(Button)
    why = "not available now" if button.disabled else ""
    return ScreenAction(title, help_text, button.press, why)


def _validate_run(screen: Screen, size: str | None, phases: dict[str, bool]) -> Callable[[], None]:
    def run() -> None:
        if size is not None:
            screen.query_one("#val-size", Select).value = size
        for phase, on in phases.items():
            screen.query_one(f"#run-{phase}", Checkbox).value = on
        screen.call_after_refresh(screen.query_one("#val-run", Button).press)

    return run


def _action(screen: Screen, name: str, title: str, help_text: str) -> ScreenAction | None:
    method = getattr(screen, f"action_{name}", None)
    return ScreenAction(title, help_text, method) if callable(method) else None


def screen_actions(screen: Screen) -> list[ScreenAction]:
    """The actions of `screen` (a step screen), in the order a user meets them."""
    sid = getattr(screen, "STEP_ID", "")
    a: list[ScreenAction | None] = []
    if sid == "welcome":
        a += [_press(screen, "#use-demo", "Use the demo model", "Build (or reuse) the demo "
                     "model and start with it"),
              _press(screen, "#resume", "Resume the last run", "Continue where you left off")]
        if screen.query("#model-path"):
            a.append(ScreenAction("Open a model folder", "Type the folder's path, then Enter",
                                  screen.query_one("#model-path").focus))
    elif sid == "prereqs":
        a += [_press(screen, "#continue", "Continue to the Model step", "Enter on Continue"),
              _action(screen, "recheck", "Re-check prerequisites", "Run every check again (r)"),
              _press(screen, "#install", "Install missing packages",
                     "pip install the project's extras, after showing the commands"),
              _action(screen, "copy_fix", "Copy the fix", "Copy the selected check's fix (c)")]
    elif sid == "model":
        a += [_press(screen, "#inspect", "Inspect the model folder", "Read the folder typed above"),
              _press(screen, "#use-demo", "Use the demo model", "Inspect the demo model instead"),
              _press(screen, "#continue", "Continue to Convert", "Enter on Continue")]
    elif sid == "convert":
        a += [_press(screen, "#run", "Run conversion", "Convert with the options shown"),
              _press(screen, "#cancel", "Cancel conversion", "Stop Olive; partial output is "
                     "removed"),
              _press(screen, "#copy-preview", "Copy command", "Copy the exact Olive command"),
              _press(screen, "#continue", "Continue to Deploy", "After a verified conversion")]
    elif sid == "deploy":
        a += [_press(screen, "#deploy", "Deploy", "Install the model in Foundry Local and ask it "
                     "one question"),
              _press(screen, "#remove", "Remove from Foundry Local", "Unregister and delete the "
                     "deployed copy"),
              _press(screen, "#continue", "Continue to Chat", "After a deployment")]
    elif sid == "chat":
        a += [_action(screen, "stop", "Stop reply", "Stop the reply being generated (Esc)"),
              _action(screen, "new_chat", "New chat", "Forget the conversation (ctrl+r)"),
              _action(screen, "edit_settings", "Chat settings", "System prompt, temperature, "
                      "max tokens (ctrl+s)"),
              _action(screen, "reload", "Load the model again", "Reload the model (ctrl+l)"),
              ScreenAction("Serve to your app", "Open the Serve step: the OpenAI-compatible "
                           "endpoint (ctrl+o)", lambda: screen.app.goto("serve")),
              _press(screen, "#chat-continue", "Continue to Validate", "Go on")]
    elif sid == "validate" and screen.query("#val-run"):
        busy = "not available now" if screen.query_one("#val-run", Button).disabled and \
            getattr(screen, "running", False) else ""
        a += [ScreenAction("Run quick validation", "Benchmark and checklist at the quick size",
                           _validate_run(screen, "quick", {"bench": True, "checklist": True,
                                                           "sweep": False}), busy),
              ScreenAction("Run sweep", "Convert and compare the sweep's precisions (only the "
                           "sweep)", _validate_run(screen, None, {"bench": False,
                                                                 "checklist": False,
                                                                 "sweep": True}), busy),
              _press(screen, "#val-run", "Run validation", "Run the ticked phases"),
              _press(screen, "#val-cancel", "Cancel validation", "Stop after the current "
                     "generation"),
              _press(screen, "#val-continue", "Continue to Serve", "Go on")]
    elif sid == "serve":
        a += [_press(screen, "#serve-start", "Start or stop serving", "Start (or stop) the "
                     "OpenAI-compatible endpoint"),
              _press(screen, "#serve-test-btn", "Send a test request", "One chat request with "
                     "the openai client (ctrl+t)"),
              _press(screen, "#serve-copy-url", "Copy the base URL", "The OpenAI base URL"),
              _action(screen, "copy_snippet", "Copy the snippet", "The snippet shown (ctrl+y)")]
    elif sid == "summary":
        a += [_press(screen, "#finish", "Finish", "Save progress and quit"),
              _press(screen, "#copy", "Copy command", "Copy the headless commands (c)")]
    return [x for x in a if x is not None]


def _keys(screen: Screen) -> list[tuple[str, str]]:
    """(key, what it does) for the screen's own bindings and its step frame."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for cls in type(screen).__mro__:
        if not cls.__module__.startswith("slm_wizard"):
            continue  # Textual's own (tab, copy) are in the "Everywhere" table
        for b in getattr(cls, "BINDINGS", []) or []:
            if isinstance(b, Binding) and b.key not in seen and b.description:
                seen.add(b.key)
                rows.append((b.key, b.description))
    return rows


HELP = """\
# {title}

{about}

## Keys on this screen
| Key | Action |
|---|---|
{keys}

## Actions (also in the command palette, ctrl+p)
{actions}

## Everywhere
| Key | Action |
|---|---|
| enter | the focused button (the next action is focused on every screen) |
| ctrl+n / ctrl+b | next / previous step |
| alt+1 … alt+9 | jump to a step (when it has what it needs) |
| ctrl+g | go to a step: its number or Enter (works where alt+digit does not arrive: tmux) |
| ctrl+p | command palette: this screen's actions, the steps, theme (light/dark) |
| F1 | this help |
| tab / shift+tab | move between fields and buttons |
| escape | close a dialog; stop a reply in the chat |
| ctrl+q | quit (asks first while work is running, then cancels it cleanly) |

## Steps
{steps}

Every step also runs headless: `slm-wizard check | inspect | convert | template | deploy |
chat | bench | validate | sweep | serve | demo` (see `slm-wizard --help`).
"""


def help_text(screen: Screen | None) -> str:
    """The help page for `screen` (its keys and actions first)."""
    sid = getattr(screen, "STEP_ID", "") if screen is not None else ""
    title = next((s.title for s in STEPS if s.id == sid), "slm-wizard")
    keys = _keys(screen) if screen is not None else []
    actions = screen_actions(screen) if screen is not None else []
    steps = "\n".join(f"{i}. **{s.title}**" + (" ← you are here" if s.id == sid else "")
                      for i, s in enumerate(STEPS, start=1))
    return HELP.format(
        title=f"Help: {title}",
        about=ABOUT.get(sid, "The wizard walks a fine-tuned Hugging Face model to a quantized "
                        "ONNX model in Foundry Local."),
        keys="\n".join(f"| {k} | {d} |" for k, d in keys) or "| – | (none) |",
        actions="\n".join(f"- **{x.title}**: {x.help}" for x in actions) or "(none)",
        steps=steps)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 95%; height: 90%; border: thick $primary;
        background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss_help", "Close")]

    def __init__(self, screen: Screen | None = None) -> None:
        super().__init__()
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(help_text(self.for_screen))

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


class StepPicker(ModalScreen[str | None]):
    """ctrl+g: choose a step from a list (Enter), or type its number, for terminals that
    swallow alt+digit."""

    DEFAULT_CSS = """
    StepPicker { align: center middle; }
    StepPicker OptionList { width: 40; height: auto; max-height: 14; border: thick $primary; }
    """
    BINDINGS = [Binding("escape", "dismiss_picker", "Close"),
                *[Binding(str(i), f"pick({i})", f"Step {i}", show=False)
                  for i in range(1, len(STEPS) + 1)]]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        yield OptionList(*[Option(f"{i} {s.title}", id=s.id) for i, s in
                           enumerate(STEPS, start=1)], id="step-picker")

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        picker.border_title = "Go to step (its number, or Enter)"
        picker.highlighted = next((i for i, s in enumerate(STEPS) if s.id == self.current), 0)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self, number: int) -> None:
        """A step's number jumps to it at once (as the list shows the numbers)."""
        self.dismiss(STEPS[number - 1].id)

    def action_dismiss_picker(self) -> None:
        self.dismiss(None)
