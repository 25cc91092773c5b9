"""The "ort" chat backend: onnxruntime-genai loads the converted ONNX folder directly and the
generator's tokens are counted.

Threads: onnxruntime-genai 0.14 keeps the GIL during each `generate_next_token()`, so any Python
work on other threads (a UI) runs between tokens and adds to the decode time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from slm_wizard.core.runtime.chat import (
    ChatError,
    GenerationSettings,
    Reply,
    _check_settings,
    _first_line,
    _safe_messages,
    special_pattern,
    special_token_strings,
    system_ignored,
    system_refusal,
)
from slm_wizard.core.runtime.metrics import ReplyClock


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
        self.system_ignored = system_ignored(folder)
        from slm_wizard.core.deploy.templates import template_sources

        # Two different chat templates in the folder: onnxruntime-genai would read
        # tokenizer_config.json's first; render the one transformers, the template check and
        # deploy's copy use (chat_template.jinja) instead, so the chat is what was checked.
        sources = template_sources(folder)
        self._template = sources.reference if sources.differ and sources.reference else None
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
                                                       template_str=self._template,
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
