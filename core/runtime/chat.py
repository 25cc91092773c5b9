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
chunk count only when the tokenizer cannot be loaded), and its prompt tokens come from the SDK's
preflight of the same request. Foundry's native
runtime generates on its own thread and queues the chunks, so its times are those at which the
chunks reach Python: with a tiny model the runtime runs ahead and decode tokens/s is inflated.

Threads: onnxruntime-genai 0.14 keeps the GIL during each `generate_next_token()`, so any Python
work on other threads (a UI) runs between tokens and adds to the decode time.

onnxruntime_genai and foundry_local_sdk are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from slm_wizard.core.base.fileio import read_json_object
from slm_wizard.core.runtime.metrics import ReplyClock, ReplyStats

__all__ = [
    "ChatBackend", "ChatError", "ChatSession", "GenerationSettings", "OrtBackend",
    "FoundryBackend", "Reply", "ReplyStats", "SETTING_BOUNDS", "neutralize_special_tokens",
    "clean_user_text", "open_backend",
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
        search = _read_json(folder / "genai_config.json").get("search", {})
        if isinstance(search, dict):
            if search.get("do_sample"):
                s.temperature = _as(float, search.get("temperature"), 1.0)
            s.top_p = _as(float, search.get("top_p"), s.top_p)
            s.top_k = _as(int, search.get("top_k"), s.top_k)
            s.repetition_penalty = _as(float, search.get("repetition_penalty"),
                                       s.repetition_penalty)
        config = _read_json(folder / "inference_model.json").get("ModelConfig", {})
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


def _read_json(path: Path) -> dict:
    """The JSON object in `path`, or {} when it is missing, unreadable or not an object."""
    try:
        return read_json_object(path)
    except ValueError:
        return {}


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
        data = _read_json(folder / "tokenizer.json")
        found.update(t["content"] for t in data.get("added_tokens", []) if t.get("special"))
    except (KeyError, TypeError, AttributeError):
        pass
    try:
        cfg = _read_json(folder / "tokenizer_config.json")
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


def _check_settings(settings: GenerationSettings) -> None:
    """Sampling values are checked before a backend sees them (out-of-range ones pass silently)."""
    try:
        settings.validate()
    except ValueError as e:
        raise ChatError(str(e)) from e


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# --- onnxruntime-genai --------------------------------------------------------------------------

class OrtBackend:
    """onnxruntime-genai on a converted folder (genai_config.json, model.onnx, tokenizer)."""

    name = "ort"

    def __init__(self, model_dir: Path | str, *, max_length: int | None = None) -> None:
        folder = Path(model_dir).expanduser()
        if not folder.is_dir():
            raise ChatError(f"{folder} does not exist or is not a folder.")
        config = folder / "genai_config.json"
        if not config.is_file():
            raise ChatError(
                f"{folder} has no genai_config.json: it is not a converted ONNX model folder. "
                "The Convert step (or `slm-wizard convert`) makes one."
            )
        try:
            cfg = json.loads(config.read_text("utf-8"))
            model_max = int(cfg.get("search", {}).get("max_length")
                            or cfg["model"]["context_length"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ChatError(f"{config} cannot be read: {_first_line(e)}") from e
        try:
            import onnxruntime_genai as og
        except ImportError as e:
            raise ChatError(
                "onnxruntime-genai is not installed: `pip install 'slm-wizard[runtime]'`."
            ) from e
        try:
            self._model = og.Model(str(folder))
            self._tokenizer = og.Tokenizer(self._model)
        except Exception as e:
            raise ChatError(f"onnxruntime-genai could not load {folder}: {_first_line(e)}") from e
        self._og = og
        self.model_dir = folder
        self.max_length = min(model_max, max_length) if max_length else model_max
        self._eos = {int(t) for t in self._tokenizer.eos_token_ids}
        self._pattern = special_pattern(special_token_strings(folder))
        self.system_refusal = system_refusal(folder)
        self._lock = threading.Lock()
        # LoRA adapters written beside the model (core.adapter's adapter route), by file stem.
        files = sorted(folder.glob("*.onnx_adapter"))
        self.adapters: tuple[str, ...] = tuple(p.stem for p in files)
        self._adapters = None
        if files:
            try:
                self._adapters = og.Adapters(self._model)
                for p in files:
                    self._adapters.load(str(p), p.stem)
            except Exception as e:
                raise ChatError(f"onnxruntime-genai could not load the adapter {p.name}: "
                                f"{_first_line(e)}") from e

    def prompt(self, messages: list[dict[str, str]]) -> str:
        """The templated prompt for these messages (after neutralizing typed control tokens)."""
        safe = _safe_messages(messages, self._pattern)
        try:
            return self._tokenizer.apply_chat_template(json.dumps(safe),
                                                       add_generation_prompt=True)
        except Exception as e:
            raise ChatError(f"The model's chat template failed: {_first_line(e)}") from e

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self._tokenizer.encode(self.prompt(messages)))

    def generate(self, messages: list[dict[str, str]], settings: GenerationSettings, *,
                 on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> Reply:
        _check_settings(settings)
        og = self._og
        if settings.adapter and settings.adapter not in self.adapters:
            raise ChatError(f"This model has no adapter {settings.adapter!r}: "
                            + (f"choose one of {', '.join(self.adapters)} or none."
                               if self.adapters else "it has no .onnx_adapter file."))
        with self._lock:
            if self._model is None:
                raise ChatError("This model was closed: load it again.")
            clock = ReplyClock()
            ids = self._tokenizer.encode(self.prompt(messages))
            n_prompt = len(ids)
            room = self.max_length - n_prompt
            if room < 1:
                raise ChatError(
                    f"The prompt is {n_prompt} tokens; this model takes at most "
                    f"{self.max_length} tokens in all. Shorten the message or start a new chat."
                )
            budget = min(settings.max_tokens, room)
            parts: list[str] = []
            eos_seen = cancelled = False
            try:
                params = og.GeneratorParams(self._model)
                params.set_search_options(
                    max_length=n_prompt + budget,
                    min_length=n_prompt + min(settings.min_tokens, budget),
                    do_sample=not settings.greedy,
                    temperature=settings.temperature if not settings.greedy else 1.0,
                    top_p=settings.top_p,
                    top_k=settings.top_k,
                    repetition_penalty=settings.repetition_penalty,
                )
                generator = og.Generator(self._model, params)
                if settings.adapter:
                    generator.set_active_adapter(self._adapters, settings.adapter)
                stream = self._tokenizer.create_stream()
                generator.append_tokens(ids)
                while not generator.is_done():
                    if cancel is not None and cancel.is_set():
                        cancelled = True
                        break
                    generator.generate_next_token()
                    token = int(generator.get_next_tokens()[0])
                    if token in self._eos:
                        eos_seen = True
                        break
                    clock.token()
                    piece = stream.decode(token)
                    parts.append(piece)
                    if on_text is not None:
                        on_text(piece)
            except ChatError:
                raise
            except Exception as e:
                partial = Reply("".join(parts), clock.stats(n_prompt, "error"))
                raise ChatError(f"Generation failed: {_first_line(e)}", partial) from e
            reason = "cancelled" if cancelled else "eos" if eos_seen else \
                "context" if budget < settings.max_tokens else "length"
            return Reply("".join(parts), clock.stats(n_prompt, reason),
                         settings.adapter if self.adapters else None)

    def close(self) -> None:
        with self._lock:  # waits for a reply in progress (cancel it first)
            self._model = None
            self._tokenizer = None


# --- Foundry Local -------------------------------------------------------------------------------

class FoundryBackend:
    """A model deployed in Foundry Local, run in process by foundry-local-sdk 2.2.1."""

    name = "foundry"

    def __init__(self, model_id: str, *, cache_dir: Path | str | None = None,
                 max_length: int | None = None) -> None:
        from slm_wizard.core.deploy import foundry_sdk

        model_id = str(model_id).strip()
        if not model_id:
            raise ChatError("Give the Foundry Local model id (name:version) to chat with.")
        cache = Path(cache_dir).expanduser() if cache_dir else _default_foundry_cache()
        try:
            self._model = foundry_sdk.load_foundry_model(cache, model_id)
        except foundry_sdk.FoundryError as e:
            raise ChatError(str(e)) from e
        except Exception as e:
            raise ChatError(f"Foundry Local could not load {model_id}: {_first_line(e)}") from e
        import foundry_local_sdk as sdk

        self._sdk = sdk
        self.model_id = self._model.id
        self.cache_dir = cache
        context = int(self._model.context_length or 0) or 2048
        self.max_length = min(context, max_length) if max_length else context
        try:
            path = Path(self._model.get_path())
        except Exception:
            path = None
        self._pattern = special_pattern(special_token_strings(path) if path else [])
        self.system_refusal = system_refusal(path) if path else ""
        self._encode = reply_encoder(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self._client = self._model.get_chat_client()
        self._lock = threading.Lock()

    def _request_json(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        return json.dumps({"model": self.model_id, "messages": messages,
                           "max_tokens": max_tokens})

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return self._prompt_tokens(_safe_messages(messages, self._pattern))

    def _prompt_tokens(self, safe: list[dict[str, str]]) -> int:
        sdk = self._sdk
        try:
            with sdk.ChatSession(self._model) as session, sdk.Request() as request:
                request.add_item(sdk.TextItem(self._request_json(safe, 1),
                                              sdk.TextItemType.OPENAI_JSON))
                return int(session.preflight_request(request).prompt_tokens)
        except Exception as e:
            raise ChatError(f"Foundry Local could not read the prompt: {_first_line(e)}") from e

    def generate(self, messages: list[dict[str, str]], settings: GenerationSettings, *,
                 on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> Reply:
        _check_settings(settings)
        # settings.adapter is ignored: Foundry Local loads one model folder (no LoRA switch).
        safe = _safe_messages(messages, self._pattern)
        with self._lock:
            if self._model is None:
                raise ChatError("This model was closed: load it again.")
            clock = ReplyClock()
            n_prompt = self._prompt_tokens(safe)
            room = self.max_length - n_prompt
            if room < 1:
                raise ChatError(
                    f"The prompt is {n_prompt} tokens; this model takes at most "
                    f"{self.max_length} tokens in all. Shorten the message or start a new chat."
                )
            s = self._client.settings
            s.max_tokens = min(settings.max_tokens, room)
            s.temperature = settings.temperature
            s.top_p = settings.top_p
            s.top_k = settings.top_k
            # Foundry's chat API has no repetition penalty (only frequency/presence penalties).
            parts: list[str] = []
            finish = None
            cancelled = False
            chunks = None
            try:
                chunks = self._client.complete_streaming_chat(safe)
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        cancelled = True
                        break
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    delta = choice.delta
                    piece = delta.content if delta is not None else None
                    # The first chunk only announces the role, with empty content.
                    if piece is not None and not (delta.role and piece == ""):
                        clock.token()
                        parts.append(piece)
                        if on_text is not None:
                            on_text(piece)
                    if choice.finish_reason:
                        finish = choice.finish_reason
            except Exception as e:
                partial = Reply("".join(parts), clock.stats(n_prompt, "error"))
                raise ChatError(f"Foundry Local failed: {_first_line(e)}", partial) from e
            finally:
                if chunks is not None:
                    chunks.close()  # cancels the native request when we left early
            reason = ("cancelled" if cancelled else "eos" if finish != "length" else
                      "context" if s.max_tokens < settings.max_tokens else "length")
            text = "".join(parts)
            if self._encode is not None and text:
                clock.count = len(self._encode(text))  # exact: the chunks are not tokens
            return Reply(text, clock.stats(n_prompt, reason))

    def close(self) -> None:
        with self._lock:  # waits for a reply in progress (cancel it first)
            model, self._model = self._model, None
        if model is not None:
            with contextlib.suppress(Exception):
                model.unload()


def _default_foundry_cache() -> Path:
    from slm_wizard.core.deploy import foundry

    fn = getattr(foundry, "default_cache_dir", None)
    if callable(fn):
        return Path(fn())
    return Path.home() / ".foundry" / "cache" / "models"


def open_backend(kind: str, model: Path | str, **kw: Any) -> ChatBackend:
    """Open a chat backend: "ort" on a converted folder, "foundry" on a deployed model id.

    Keyword arguments: max_length (cap the context used), cache_dir (foundry's model cache).
    """
    if kind == "ort":
        kw.pop("cache_dir", None)
        return OrtBackend(model, **kw)
    if kind == "foundry":
        return FoundryBackend(str(model), **kw)
    raise ChatError(f"Unknown backend {kind!r}: choose one of {', '.join(BACKENDS)}.")


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
        messages, trimmed = self.build_messages(text)
        reply = self.backend.generate(messages, self.settings, on_text=on_text, cancel=cancel)
        reply.stats.trimmed_turns = trimmed
        self.history.append({"role": "user", "content": text})
        self.history.append({"role": "assistant", "content": reply.text})
        return reply
