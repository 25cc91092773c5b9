"""The "foundry" chat backend: a model deployed by the Deploy step, run in process by Foundry
Local's runtime (foundry-local-sdk) and addressed by its id "name:version".

Its streamed chunks are not tokens: the generated tokens are the reply encoded with the model's
own tokenizer.json, the prompt tokens come from the SDK's preflight of the same request.
"""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

from slm_wizard.core.runtime.chat import (
    ChatError,
    GenerationSettings,
    Reply,
    _check_settings,
    _first_line,
    _safe_messages,
    reply_encoder,
    special_pattern,
    special_token_strings,
    system_ignored,
    system_refusal,
)
from slm_wizard.core.runtime.metrics import ReplyClock


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
        self.system_ignored = system_ignored(path) if path else ""
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
            if finish == "length" and not cancelled:  # it stopped at the limit: that many
                clock.count = s.max_tokens  # (even when they decode to no text, e.g. bytes)
            elif self._encode is not None and text:
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
