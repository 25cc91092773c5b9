"""The model's own chat template (chat_template.jinja or tokenizer_config.json), rendered the way
transformers' apply_chat_template does (jinja2 sandbox), for comparison with a PromptTemplate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from slm_wizard.core.base.fileio import json_object_or_empty
from slm_wizard.core.deploy.templates import (
    SAMPLE_CONVERSATION,
    TemplateError,
    chat_template_text,
)


class TemplateRefused(TemplateError):
    """The model's chat template refused the conversation (its `raise_exception`), e.g. Gemma-2's
    "System role not supported"."""


ENGINE = "jinja2"


def _token_text(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class ChatTemplate:
    """A model's own chat template and the special tokens it refers to."""

    source: str
    bos_token: str = ""
    eos_token: str = ""

    @classmethod
    def from_folder(cls, model_dir: Path) -> ChatTemplate:
        text = chat_template_text(model_dir)
        if not text:
            raise TemplateError(f"{model_dir} has no chat template (chat_template.jinja or "
                                "tokenizer_config.json 'chat_template'): nothing to compare with.")
        cfg = json_object_or_empty(Path(model_dir) / "tokenizer_config.json")
        return cls(text, _token_text(cfg.get("bos_token")), _token_text(cfg.get("eos_token")))

    def render(self, messages, add_generation_prompt: bool = True) -> str:
        """Render like transformers' apply_chat_template (jinja2 sandbox, trim_blocks,
        lstrip_blocks, raise_exception, strftime_now (today, as transformers and Foundry Local's
        runtime give it), tojson; no `date_string`, as neither passes one)."""
        try:
            from jinja2.exceptions import TemplateError as JinjaError
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError as e:  # pragma: no cover - depends on the install
            raise TemplateError("Rendering the chat template needs jinja2 (it comes with the "
                                "convert toolchain: pip install 'slm-wizard[convert]').") from e
        from datetime import datetime

        def raise_exception(message: str) -> None:
            raise TemplateRefused(str(message))

        def strftime_now(fmt: str) -> str:
            return datetime.now().strftime(fmt)

        def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
            return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                              separators=separators, sort_keys=sort_keys)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=["jinja2.ext.loopcontrols"])
        env.filters["tojson"] = tojson
        env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now)
        try:
            return env.from_string(self.source).render(
                messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token, eos_token=self.eos_token, tools=None,
                documents=None)
        except TemplateRefused:
            raise
        except (JinjaError, TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            raise TemplateError(f"The model's chat template failed: {_first_line(e)}") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@dataclass
class TokenizerRender:
    text: str
    engine: str
    notes: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)  # what was actually rendered


def render_tokenizer_template(model_dir: Path, messages=SAMPLE_CONVERSATION) -> TokenizerRender:
    """Render with the model's own chat template. A template that refuses the system role is
    rendered again without it (noted)."""
    tmpl = ChatTemplate.from_folder(Path(model_dir))
    msgs = [dict(m) for m in messages]
    notes: list[str] = []
    try:
        text = tmpl.render(msgs)
    except TemplateError as e:  # refused (raise_exception) or failed on a system message
        if not any(m["role"] == "system" for m in msgs):
            raise TemplateError(f"The model's chat template refuses this conversation: {e}") \
                from e
        notes.append(f"the model's chat template refuses a system message ({e}); compared "
                     "without it")
        msgs = [m for m in msgs if m["role"] != "system"]
        text = tmpl.render(msgs)
    return TokenizerRender(text=text, engine=ENGINE, notes=notes, messages=msgs)


# --- the reference: transformers' own renderer --------------------------------------------------

SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


def special_tokens(model_dir: Path) -> dict[str, str]:
    """The special tokens transformers hands to a chat template (from tokenizer_config.json)."""
    cfg = json_object_or_empty(Path(model_dir) / "tokenizer_config.json")
    return {k: _token_text(cfg.get(k)) for k in SPECIAL_TOKEN_KEYS if _token_text(cfg.get(k))}


def reference_render(source: str, specials: dict[str, str], messages,
                     add_generation_prompt: bool = True) -> str:
    """Render as transformers' apply_chat_template does (its own renderer: today's date for
    `strftime_now`, `tools` and `documents` None, the special tokens). A template's own
    `raise_exception` raises TemplateRefused with its words; another failure TemplateError."""
    try:
        import jinja2.exceptions
        from transformers.utils.chat_template_utils import render_jinja_template
    except ImportError as e:  # pragma: no cover - depends on the install
        raise TemplateError("Rendering the reference chat template needs transformers (pip "
                            "install 'slm-wizard[convert]').") from e
    try:
        rendered, _ = render_jinja_template(
            conversations=[[dict(m) for m in messages]], chat_template=source,
            add_generation_prompt=add_generation_prompt, tools=None, documents=None, **specials)
    except jinja2.exceptions.TemplateError as e:
        if type(e) is jinja2.exceptions.TemplateError:  # the template's raise_exception
            raise TemplateRefused(_first_line(e)) from e
        raise TemplateError(f"The model's chat template failed in transformers: "
                            f"{_first_line(e)}") from e
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise TemplateError(f"The model's chat template failed in transformers: "
                            f"{_first_line(e)}") from e
    return rendered[0]
