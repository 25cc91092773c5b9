"""Chat with a converted model: one interface over two real runtimes.

- "ort": onnxruntime-genai loads the converted ONNX folder directly.
- "foundry": the Foundry Local runtime (foundry-local-sdk, in process) runs a model deployed by
  the Deploy step, addressed by its id "name:version".

Replies stream token by token through `on_text`; a `threading.Event` passed as `cancel` stops a
reply between two tokens. `ChatSession` keeps the history, formats it with the model's own chat
template, and leaves out the oldest turns when the prompt would not fit the model's context.

Typed control tokens: text the user types (and the system prompt) may contain the template's
markers, e.g. `<|im_end|>`. Fed as is, the tokenizer would turn them into real control tokens and
a user could close their turn and write the assistant's. Before templating, every special token
string of the model's tokenizer (and anything shaped like `<|...|>`) gets a zero-width space
(U+200B) after its first character: it stays readable, and it is tokenized as plain text.
Other control characters (C0/C1, except newline and tab) are removed; emoji, right-to-left text
and other Unicode pass unchanged.

Token counts: the ort backend counts the generator's tokens. The foundry backend's streamed
chunks are not tokens (its OpenAI-style chunks carry no usage): its generated tokens are the
reply encoded with the model's own tokenizer.json (exact for the text the model generated; the
chunk count only when the tokenizer cannot be loaded; a reply cut by max tokens counts them all,
even tokens that decode to no text), and its prompt tokens come from the SDK's preflight of the
same request. Foundry's native
runtime generates on its own thread and queues the chunks, so its times are those at which the
chunks reach Python: with a tiny model the runtime runs ahead and decode tokens/s is inflated.

Threads: onnxruntime-genai 0.14 keeps the GIL during each `generate_next_token()`, so any Python
work on other threads (a UI) runs between tokens and adds to the decode time.

onnxruntime_genai and foundry_local_sdk are imported inside the functions that use them.

The backends are in core/runtime/ort_backend.py and foundry_backend.py, opened by name with
core/runtime/backends.py's `open_backend`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from slm_wizard.core.base.fileio import json_object_or_empty
from slm_wizard.core.runtime.metrics import ReplyStats

__all__ = [
    "ChatBackend", "ChatError", "ChatSession", "GenerationSettings", "Reply", "ReplyStats",
    "SETTING_BOUNDS", "neutralize_special_tokens", "clean_user_text",
]

ZWSP = "\u200b"
GENERIC_MARKER = r"<\|[^<>|\s]{0,40}\|>"
BACKENDS = ("ort", "foundry")


class ChatError(Exception):
    """A load failure or a generation error, with a message written for the user.

    `partial` holds what was generated before a mid-reply error (finish_reason "error").
    """

    def __init__(self, message: str, partial: Reply | None = None) -> None:
        super().__init__(message)
        self.partial = partial


# The allowed range of each sampling setting: name -> (whole number, lowest, highest, lowest
# allowed). `GenerationSettings.validate` checks them; the Chat screen's settings form shows them.
SETTING_BOUNDS: dict[str, tuple[bool, float, float, bool]] = {
    "max_tokens": (True, 1, 1_000_000, True),
    "temperature": (False, 0.0, 5.0, True),
    "top_p": (False, 0.0, 1.0, False),
    "top_k": (True, 1, 100_000, True),
    "repetition_penalty": (False, 0.1, 10.0, True),
}


def _whole(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _within(x: float, name: str) -> bool:
    _, low, high, low_ok = SETTING_BOUNDS[name]
    return (low <= x if low_ok else low < x) and x <= high


@dataclass
class GenerationSettings:
    """Sampling settings; `validate()` raises ValueError with a message for the user."""

    max_tokens: int = 256
    temperature: float = 0.0  # 0 -> greedy
    top_p: float = 1.0
    top_k: int = 50
    repetition_penalty: float = 1.0
    # No end of sequence before this many tokens (onnxruntime-genai only; benchmarks use it to
    # time long replies). Foundry Local's API has no such option and ignores it.
    min_tokens: int = 0
    # The LoRA adapter to activate (onnxruntime-genai only): the name of an .onnx_adapter file
    # of the model folder without its suffix (e.g. "adapter_weights"); "" runs the base model.
    adapter: str = ""

    def validate(self) -> GenerationSettings:
        b = SETTING_BOUNDS
        checks = (
            (_whole(self.max_tokens) and _within(self.max_tokens, "max_tokens"),
             f"max tokens must be a whole number from {b['max_tokens'][1]} to "
             f"{b['max_tokens'][2]}, not {self.max_tokens!r}"),
            (_num(self.temperature) and _within(self.temperature, "temperature"),
             f"temperature must be from {b['temperature'][1]:g} (greedy) to "
             f"{b['temperature'][2]:g}, not {self.temperature!r}"),
            (_num(self.top_p) and _within(self.top_p, "top_p"),
             f"top_p must be above {b['top_p'][1]:g} and at most {b['top_p'][2]:g}, not "
             f"{self.top_p!r}"),
            (_whole(self.top_k) and _within(self.top_k, "top_k"),
             f"top_k must be a whole number from {b['top_k'][1]} to {b['top_k'][2]}, not "
             f"{self.top_k!r}"),
            (_num(self.repetition_penalty)
             and _within(self.repetition_penalty, "repetition_penalty"),
             f"repetition penalty must be from {b['repetition_penalty'][1]:g} to "
             f"{b['repetition_penalty'][2]:g} (1 = none), not {self.repetition_penalty!r}"),
            (_whole(self.min_tokens) and 0 <= self.min_tokens <= self.max_tokens,
             f"min tokens must be a whole number from 0 to max tokens ({self.max_tokens}), not "
             f"{self.min_tokens!r}"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if not isinstance(self.adapter, str):
            raise ValueError(f"adapter must be a name (or empty for none), not {self.adapter!r}")
        return self

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def from_model(cls, model_dir: Path | str, max_tokens: int = 256) -> GenerationSettings:
        """The sampling defaults of a converted folder, validated: inference_model.json's
        ModelConfig when the Deploy step wrote one, else genai_config.json's "search" section;
        plain defaults (greedy) where the files say nothing usable."""
        folder = Path(model_dir)
        s = cls(max_tokens=max_tokens)
        search = json_object_or_empty(folder / "genai_config.json").get("search", {})
        if isinstance(search, dict):
            if search.get("do_sample"):
                s.temperature = _as(float, search.get("temperature"), 1.0)
            s.top_p = _as(float, search.get("top_p"), s.top_p)
            s.top_k = _as(int, search.get("top_k"), s.top_k)
            s.repetition_penalty = _as(float, search.get("repetition_penalty"),
                                       s.repetition_penalty)
        config = json_object_or_empty(folder / "inference_model.json").get("ModelConfig", {})
        if isinstance(config, dict) and config:
            s.temperature = _as(float, config.get("temperature"), s.temperature)
            s.top_p = _as(float, config.get("top_p"), s.top_p)
            s.repetition_penalty = _as(float, config.get("repetition_penalty"),
                                       s.repetition_penalty)
        # A model converted with a LoRA adapter beside it chats with the adapter on.
        adapters = sorted(folder.glob("*.onnx_adapter")) if folder.is_dir() else []
        if adapters:
            s.adapter = adapters[0].stem
        try:
            return s.validate()
        except ValueError:
            return cls(max_tokens=max_tokens)


def _as(kind: type, value: object, default: Any) -> Any:
    try:
        return default if value is None or isinstance(value, bool) else kind(value)
    except (TypeError, ValueError):
        return default


def _num(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x  # not NaN


@dataclass
class Reply:
    text: str
    stats: ReplyStats
    # The LoRA adapter that was active ("" none) when the model has adapters; None when it has
    # none (the stats line then says nothing about adapters).
    adapter: str | None = None

    def adapter_text(self) -> str:
        """" · adapter X" / " · adapter off" for a stats line, "" for a model without adapters."""
        if self.adapter is None:
            return ""
        return f" · adapter {self.adapter}" if self.adapter else " · adapter off (base model)"


class ChatBackend(Protocol):
    name: str
    max_length: int

    def generate(self, messages: list[dict[str, str]], settings: GenerationSettings, *,
                 on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> Reply: ...

    def count_tokens(self, messages: list[dict[str, str]]) -> int: ...

    def close(self) -> None: ...


# --- text hygiene -----------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_user_text(text: str) -> str:
    """Drop control characters (keeping newline and tab), normalize newlines, strip the ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def special_token_strings(model_dir: Path | str) -> list[str]:
    """The special tokens declared by a folder's tokenizer.json / tokenizer_config.json."""
    folder = Path(model_dir)
    found: set[str] = set()
    try:
        data = json_object_or_empty(folder / "tokenizer.json")
        found.update(t["content"] for t in data.get("added_tokens", []) if t.get("special"))
    except (KeyError, TypeError, AttributeError):
        pass
    try:
        cfg = json_object_or_empty(folder / "tokenizer_config.json")
        for t in (cfg.get("added_tokens_decoder") or {}).values():
            if isinstance(t, dict) and t.get("special"):
                found.add(str(t.get("content", "")))
    except (TypeError, AttributeError):
        pass
    return sorted((s for s in found if len(s) >= 2), key=len, reverse=True)


def special_pattern(specials: list[str]) -> re.Pattern[str]:
    parts = [re.escape(s) for s in sorted(specials, key=len, reverse=True)] + [GENERIC_MARKER]
    return re.compile("|".join(parts))


def neutralize_special_tokens(text: str, pattern: re.Pattern[str] | None = None) -> str:
    """Break every special-token string in `text` with a zero-width space after its first
    character, so the tokenizer reads it as plain text (see the module docstring)."""
    pattern = pattern or special_pattern([])
    return pattern.sub(lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], text)


def _safe_messages(messages: list[dict[str, str]], pattern: re.Pattern[str]) -> list[dict]:
    out = []
    for m in messages:
        role = m.get("role")
        if role not in ("system", "user", "assistant"):
            raise ChatError(f"Unknown message role {role!r}: use system, user or assistant.")
        content = m.get("content")
        if not isinstance(content, str):
            raise ChatError(f"A {role} message has no text.")
        content = _CONTROL.sub("", content)
        out.append({"role": role, "content": neutralize_special_tokens(content, pattern)})
    return out


def reply_encoder(folder: Path | None) -> Callable[[str], list[int]] | None:
    """The model's tokenizer as an encoder of generated text (no special tokens added), or None
    when it cannot be loaded here: the Foundry backend counts its reply tokens with it."""
    from slm_wizard.core.deploy.template_check import tokenizer_encoder

    return tokenizer_encoder(Path(folder)) if folder else None


def system_refusal(folder: Path) -> str:
    """Why a system prompt cannot be sent to this model ("" when it can): its chat template
    refuses the system role (Gemma-2 style). Templates that fold the system text into a user
    turn (Mistral, Gemma-3) do it themselves, in both backends."""
    from slm_wizard.core.deploy.template_derive import (
        SYSTEM_REFUSED,
        no_system_role_message,
        system_role,
    )

    role, why = system_role(Path(folder))
    return no_system_role_message(Path(folder), why) if role == SYSTEM_REFUSED else ""


def system_ignored(folder: Path) -> str:
    """Why a system prompt would not reach this model ("" when it does): its chat template drops
    a system message (Phi-3-mini's), so the chat goes on without it."""
    from slm_wizard.core.deploy.template_derive import SYSTEM_IGNORED, system_role

    role, _ = system_role(Path(folder))
    return ("the model's chat template drops a system message: the system prompt does not "
            "reach the model (put its text in your message instead)"
            if role == SYSTEM_IGNORED else "")


_ENGINE_ERROR = re.compile(r"^(?:.*?: )?(?P<why>[^:\n]*?) at row \d+, column \d+:", re.S)


def template_refusal(message: str, has_system: bool) -> str:
    """A chat template's own refusal, as the runtime's engine reports it ("System role not
    supported at row 1, column 74: ..."), in a sentence with what to do ("" when `message` is
    not one)."""
    m = _ENGINE_ERROR.match(message)
    if m is None:
        return ""
    why = m.group("why").strip()
    fix = ("Clear the system prompt (settings, ctrl+s), and put its text at the start of your "
           "message instead." if has_system and "system" in why.lower() else
           "Start a new conversation, or change what the template refuses.")
    return f"The model's chat template refused this conversation: {why}. {fix}"


def _check_settings(settings: GenerationSettings) -> None:
    """Sampling values are checked before a backend sees them (out-of-range ones pass silently)."""
    try:
        settings.validate()
    except ValueError as e:
        raise ChatError(str(e)) from e


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# --- conversation ------------------------------------------------------------------------------

@dataclass
class ChatSession:
    """A conversation: history, system prompt, sampling settings, trimming, reset."""

    backend: ChatBackend
    system_prompt: str | None = None
    settings: GenerationSettings | None = None
    history: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = GenerationSettings()

    def reset(self) -> None:
        self.history = []

    def _reserve(self) -> int:
        """Tokens kept free for the reply when fitting the prompt."""
        return max(1, min(self.settings.max_tokens, self.backend.max_length // 2))

    def build_messages(self, text: str) -> tuple[list[dict[str, str]], int]:
        """The messages to send for `text`, and how many oldest turns were left out to fit."""
        head: list[dict[str, str]] = []
        system = clean_user_text(self.system_prompt or "")
        if system and getattr(self.backend, "system_refusal", ""):
            raise ChatError(self.backend.system_refusal)  # the model has no system role
        if system:
            head.append({"role": "system", "content": system})
        user = [{"role": "user", "content": text}]
        turns = [self.history[i:i + 2] for i in range(0, len(self.history), 2)]
        limit = self.backend.max_length - self._reserve()
        count = getattr(self.backend, "count_tokens", None)
        for dropped in range(len(turns) + 1):
            kept = [m for turn in turns[dropped:] for m in turn]
            messages = head + kept + user
            if count is None:
                return messages, 0
            n = count(messages)
            if n <= limit:
                return messages, dropped
        raise ChatError(
            f"This message is too long: with the system prompt it makes {n} tokens, and this "
            f"model takes {limit} tokens of prompt (its context is {self.backend.max_length} "
            f"tokens, {self._reserve()} kept for the reply). Shorten it, or lower max tokens."
        )

    def send(self, text: str, *, on_text: Callable[[str], None] | None = None,
             cancel: threading.Event | None = None) -> Reply:
        """Send one user message and return the reply (streamed through on_text)."""
        if not isinstance(text, str):
            raise ChatError("The message must be text.")
        text = clean_user_text(text)
        if not text:
            raise ChatError("The message is empty: type a question first.")
        try:
            self.settings.validate()
        except ValueError as e:
            raise ChatError(str(e)) from e
        try:
            messages, trimmed = self.build_messages(text)
            reply = self.backend.generate(messages, self.settings, on_text=on_text,
                                          cancel=cancel)
        except ChatError as e:
            raise ChatError(template_refusal(str(e), bool(self.system_prompt)) or str(e),
                            e.partial) from e
        reply.stats.trimmed_turns = trimmed
        self.history.append({"role": "user", "content": text})
        self.history.append({"role": "assistant", "content": reply.text})
        return reply
