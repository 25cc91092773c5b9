"""A modal to edit the chat's system prompt and sampling parameters (validated fields)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Integer, Number, Validator
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from slm_wizard.core.steps.chat import SETTING_BOUNDS, GenerationSettings
from slm_wizard.tui.widgets.dialog import DialogBody


@dataclass
class ChatConfig:
    system_prompt: str | None
    settings: GenerationSettings
    # The LoRA adapters the loaded model can switch (onnxruntime-genai; empty: none, no field).
    adapters: tuple[str, ...] = ()
    # Why the loaded model takes no system prompt ("" when it takes one): said before typing.
    system_note: str = ""


def _field(name: str, caption: str) -> tuple[str, str, str, Validator]:
    """A settings field checked as it is typed, within core's bounds (core checks again)."""
    whole, low, high, low_ok = SETTING_BOUNDS[name]
    if whole:
        return name, caption, "integer", Integer(int(low), int(high))
    return name, caption, "number", Number(low if low_ok else low + 1e-6, high)


FIELDS = (
    # name, caption, type, validator
    _field("max_tokens", "max tokens"),
    _field("temperature", "temperature (0 = greedy)"),
    _field("top_p", "top_p (0 < p ≤ 1)"),
    _field("top_k", "top_k"),
    _field("repetition_penalty", "repetition penalty (1 = none)"),
)


class ChatSettingsScreen(ModalScreen[ChatConfig | None]):
    DEFAULT_CSS = """
    ChatSettingsScreen { align: center middle; }
    ChatSettingsScreen TextArea { height: 5; }
    ChatSettingsScreen #cs-grid { grid-size: 2; grid-columns: 32 1fr; height: auto;
        grid-rows: 3; margin-top: 1; }
    ChatSettingsScreen #cs-grid Label { padding: 1 0 0 0; }
    ChatSettingsScreen #cs-error { color: $error; height: auto; }
    ChatSettingsScreen #cs-button-row { height: auto; align-horizontal: right; padding-top: 1; }
    ChatSettingsScreen #cs-system-note { color: $warning; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = ""  # on_mount focuses the system prompt

    def __init__(self, config: ChatConfig) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        # The fields scroll at 80x24 (Tab brings each into view); the buttons and the
        # validation message are docked under them, always in view.
        with DialogBody(classes="dialog", id="cs-dialog"):
            yield Label("[b]Chat settings[/b]")
            yield Label("System prompt (empty: the chat template's default)")
            if self.config.system_note:  # the loaded model has no system role
                yield Static(self.config.system_note, id="cs-system-note", markup=False)
            yield TextArea(self.config.system_prompt or "", id="cs-system")
            with Grid(id="cs-grid"):
                for name, caption, kind, validator in FIELDS:
                    yield Label(caption)
                    yield Input(str(getattr(self.config.settings, name)), type=kind,
                                validators=[validator], id=f"cs-{name}",
                                validate_on=["changed", "submitted"])
            if self.config.adapters:
                yield Label("LoRA adapter (onnxruntime-genai switches it per reply)")
                yield Select([("off: the base model", ""),
                              *((f"on: {n}", n) for n in self.config.adapters)],
                             value=self.config.settings.adapter
                             if self.config.settings.adapter in self.config.adapters else "",
                             allow_blank=False, id="cs-adapter")
            with Vertical(id="cs-buttons", classes="dialog-buttons"):
                yield Static("", id="cs-error", markup=False)
                with Horizontal(id="cs-button-row"):
                    yield Button("Cancel", id="cs-cancel")
                    yield Button("Save", id="cs-save", variant="primary")

    def on_mount(self) -> None:
        # The system prompt first, with the dialog's title in view (Textual's auto focus would
        # centre the field and hide the title at 80x24).
        self.query_one("#cs-system", TextArea).focus(scroll_visible=False)

    def collect(self) -> ChatConfig:
        """The edited configuration; ValueError with a message when a field is wrong."""
        values = {}
        for name, caption, kind, _ in FIELDS:
            field = self.query_one(f"#cs-{name}", Input)
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                raise ValueError(f"{caption}: {'; '.join(result.failure_descriptions)}")
            try:
                values[name] = int(field.value) if kind == "integer" else float(field.value)
            except ValueError:
                raise ValueError(f"{caption}: enter a number") from None
        if self.config.adapters:
            values["adapter"] = str(self.query_one("#cs-adapter", Select).value or "")
        settings = GenerationSettings(**values).validate()
        system = self.query_one("#cs-system", TextArea).text.strip() or None
        return ChatConfig(system, settings, self.config.adapters, self.config.system_note)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        v = event.validation_result
        self.query_one("#cs-error", Static).update(
            "" if v is None or v.is_valid else "; ".join(v.failure_descriptions))

    @on(Button.Pressed, "#cs-save")
    @on(Input.Submitted)
    def save(self) -> None:
        try:
            config = self.collect()
        except ValueError as e:
            self.query_one("#cs-error", Static).update(str(e))
            return
        self.dismiss(config)

    @on(Button.Pressed, "#cs-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
