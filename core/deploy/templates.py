"""Prompt templates (Foundry Local's PromptTemplate) per model family, their rules, how a
conversation renders with one, and family detection.

A PromptTemplate has four strings, each holding `{Content}` exactly once: `system`, `user`,
`assistant` (earlier turns) and `prompt` (the last user turn followed by the assistant header).
A conversation renders as system + (user + assistant)* + prompt. The tokenizer's template is
rendered by onnxruntime-genai (converted folder) or transformers (Hugging Face folder); the two
renderings are compared line by line, and differing lines make a mismatch warning.

The model's own chat template is rendered in core/deploy/chat_template.py, a PromptTemplate is
cut out of it in template_derive.py and checked against it in template_check.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slm_wizard.core.base.fileio import json_object_or_empty

PLACEHOLDER = "{Content}"
KEYS = ("system", "user", "assistant", "prompt")


class TemplateError(Exception):
    """A template problem the user can act on."""


@dataclass(frozen=True)
class Family:
    id: str
    title: str
    template: dict[str, str]
    note: str = ""


def _t(system: str, user: str, assistant: str, prompt: str) -> dict[str, str]:
    return {"system": system, "user": user, "assistant": assistant, "prompt": prompt}


_CHATML = _t(
    "<|im_start|>system\n{Content}<|im_end|>\n",
    "<|im_start|>user\n{Content}<|im_end|>\n",
    "<|im_start|>assistant\n{Content}<|im_end|>\n",
    "<|im_start|>user\n{Content}<|im_end|>\n<|im_start|>assistant\n",
)
_DS_BOS, _DS_EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
_HDR = "<|start_header_id|>{role}<|end_header_id|>\n\n"

FAMILIES: dict[str, Family] = {
    f.id: f
    for f in (
        Family("qwen", "Qwen / ChatML", _CHATML, "Qwen2, Qwen2.5, Qwen3 and other ChatML models."),
        Family(
            "deepseek-r1-distill-qwen",
            "DeepSeek-R1-Distill-Qwen",
            _t(
                _DS_BOS + "{Content}",
                "<｜User｜>{Content}",
                "<｜Assistant｜>{Content}" + _DS_EOS,
                "<｜User｜>{Content}<｜Assistant｜><think>\n",
            ),
            "Reports model type qwen2: only its <｜User｜>/<｜Assistant｜> markers tell it apart.",
        ),
        Family(
            "phi3",
            "Phi-3 / Phi-3.5",
            _t(
                "<|system|>\n{Content}<|end|>\n",
                "<|user|>\n{Content}<|end|>\n",
                "<|assistant|>\n{Content}<|end|>\n",
                "<|user|>\n{Content}<|end|>\n<|assistant|>\n",
            ),
        ),
        Family(
            "phi4-mini",
            "Phi-4-mini",
            _t(
                "<|system|>{Content}<|end|>",
                "<|user|>{Content}<|end|>",
                "<|assistant|>{Content}<|end|>",
                "<|user|>{Content}<|end|><|assistant|>",
            ),
            "Phi-4-mini and Phi-4-mini-reasoning (model type phi3).",
        ),
        Family(
            "phi4",
            "Phi-4 (14B)",
            _t(
                "<|im_start|>system<|im_sep|>{Content}<|im_end|>",
                "<|im_start|>user<|im_sep|>{Content}<|im_end|>",
                "<|im_start|>assistant<|im_sep|>{Content}<|im_end|>",
                "<|im_start|>user<|im_sep|>{Content}<|im_end|><|im_start|>assistant<|im_sep|>",
            ),
        ),
        Family(
            "llama3",
            "Llama 3.x",
            _t(
                "<|begin_of_text|>" + _HDR.format(role="system") + "{Content}<|eot_id|>",
                _HDR.format(role="user") + "{Content}<|eot_id|>",
                _HDR.format(role="assistant") + "{Content}<|eot_id|>",
                _HDR.format(role="user") + "{Content}<|eot_id|>" + _HDR.format(role="assistant"),
            ),
            "Llama 3.1+ templates add a 'Cutting Knowledge Date' system header of their own.",
        ),
        Family(
            "mistral",
            "Mistral",
            _t("<s>[INST] {Content}[/INST]", "[INST] {Content}[/INST]", " {Content}</s>",
               "[INST] {Content}[/INST]"),
            "Mistral has no system role: its template folds the system text into the last user "
            "turn, which a PromptTemplate cannot express (the system text becomes a turn of its "
            "own).",
        ),
        Family(
            "gemma",
            "Gemma",
            _t(
                "<bos><start_of_turn>user\n{Content}<end_of_turn>\n",
                "<start_of_turn>user\n{Content}<end_of_turn>\n",
                "<start_of_turn>model\n{Content}<end_of_turn>\n",
                "<start_of_turn>user\n{Content}<end_of_turn>\n<start_of_turn>model\n",
            ),
            "Gemma has no system role (Gemma-2's template refuses one; Gemma-3 folds it into the "
            "first user turn).",
        ),
        Family(
            "granite",
            "IBM Granite",
            _t(
                "<|start_of_role|>system<|end_of_role|>{Content}<|end_of_text|>\n",
                "<|start_of_role|>user<|end_of_role|>{Content}<|end_of_text|>\n",
                "<|start_of_role|>assistant<|end_of_role|>{Content}<|end_of_text|>\n",
                "<|start_of_role|>user<|end_of_role|>{Content}<|end_of_text|>\n"
                "<|start_of_role|>assistant<|end_of_role|>",
            ),
            "Granite 3.x templates add a default system message with today's date when none is "
            "given.",
        ),
        Family("custom", "Custom", _CHATML, "Start from ChatML and edit every field."),
    )
}

# model_type (config.json) / model.type (genai_config.json) -> family
_TYPE_FAMILY = {
    "qwen2": "qwen", "qwen2_moe": "qwen", "qwen3": "qwen", "qwen3_moe": "qwen", "qwen": "qwen",
    "phi3": "phi3", "phi3small": "phi3", "phi3_v": "phi3", "phimoe": "phi3", "phi": "phi3",
    "phi4mm": "phi4-mini",
    "llama": "llama3", "mistral": "mistral", "mixtral": "mistral",
    "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "gemma3_text": "gemma",
    "granite": "granite", "granitemoe": "granite",
}


def family(family_id: str) -> Family:
    try:
        return FAMILIES[family_id]
    except KeyError:
        raise TemplateError(
            f"Unknown model family {family_id!r}: choose one of {', '.join(FAMILIES)}."
        ) from None


def template_for(family_id: str) -> dict[str, str]:
    return dict(family(family_id).template)


def field_problem(key: str, value: object) -> str:
    """What is wrong with one PromptTemplate field ("" when nothing): the rule the whole-template
    check and the Deploy screen's fields share."""
    if value is None:
        return f"'{key}' is missing"
    if not isinstance(value, str):
        kind = {bool: "true/false", int: "a number", float: "a number", list: "a list",
                dict: "an object"}.get(type(value), type(value).__name__)
        return f"'{key}' is not a string (found {kind})"
    n = value.count(PLACEHOLDER)
    return "" if n == 1 else f"'{key}' must hold {PLACEHOLDER} exactly once (found {n})"


def validate_template(template: object) -> dict[str, str]:
    """Return the template as a plain dict, or raise TemplateError naming what is wrong."""
    if not isinstance(template, dict):
        raise TemplateError("PromptTemplate must be an object with system, user, assistant and "
                            "prompt.")
    problems = []
    for key in KEYS:
        problem = field_problem(key, template.get(key))
        if problem:
            problems.append(problem)
    extra = sorted(set(template) - set(KEYS))
    if extra:
        problems.append(f"unknown keys: {', '.join(map(str, extra))}")
    if problems:
        raise TemplateError("PromptTemplate: " + "; ".join(problems) + ".")
    return {k: template[k] for k in KEYS}


# --- detection --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TemplateSources:
    """The two places a model folder keeps its chat template. Foundry Local's runtime reads
    tokenizer_config.json's `chat_template` first and falls back to chat_template.jinja;
    transformers (the reference the model was trained with) does the opposite."""

    config: str | None  # tokenizer_config.json's chat_template (the default of named ones)
    jinja: str | None  # chat_template.jinja
    config_problem: str = ""  # why tokenizer_config.json's chat_template is not usable as it is
    named: bool = False  # tokenizer_config.json holds named templates (a list)

    @property
    def reference(self) -> str:
        """The template transformers renders ("" when there is none)."""
        return self.jinja if self.jinja is not None else (self.config or "")

    @property
    def runtime(self) -> str | None:
        """The template Foundry Local's runtime renders as the folder stands ("" none; None: the
        runtime cannot read tokenizer_config.json's chat_template at all)."""
        if self.config_problem:
            return None
        return self.config if self.config is not None else (self.jinja or "")

    @property
    def differ(self) -> bool:
        """Both places hold a template and they differ: transformers and the runtime would
        render different prompts."""
        return self.config is not None and self.jinja is not None and self.config != self.jinja


def template_sources(model_dir: Path) -> TemplateSources:
    """Read both template places of a folder; a malformed `chat_template` (a number, a list
    without a named template) is reported in `config_problem`, not taken for an absent one."""
    model_dir = Path(model_dir)
    jinja_path = model_dir / "chat_template.jinja"
    jinja = jinja_path.read_text(encoding="utf-8", errors="replace") if jinja_path.is_file() \
        else None
    cfg = json_object_or_empty(model_dir / "tokenizer_config.json")
    if "chat_template" not in cfg or cfg["chat_template"] is None:
        return TemplateSources(None, jinja)
    raw = cfg["chat_template"]
    if isinstance(raw, str):
        return TemplateSources(raw, jinja)
    where = "tokenizer_config.json's 'chat_template'"
    if isinstance(raw, list):
        named = {t.get("name"): t.get("template") for t in raw
                 if isinstance(t, dict) and isinstance(t.get("template"), str)}
        if named:
            text = named.get("default") or next(iter(named.values()))
            return TemplateSources(text, jinja, f"{where} holds named templates "
                                   f"({', '.join(map(str, named))}): Foundry Local's runtime "
                                   "cannot read a list and fails to load the model", named=True)
        return TemplateSources(None, jinja, f"{where} is malformed: a list without named "
                               "templates ({\"name\": ..., \"template\": ...}); Foundry Local's "
                               "runtime fails to load the model")
    kind = {bool: "true/false", int: "a number", float: "a number", dict: "an object"}.get(
        type(raw), type(raw).__name__)
    return TemplateSources(None, jinja, f"{where} is malformed: {kind}, not a template; "
                           "Foundry Local's runtime fails to load the model")


def chat_template_text(model_dir: Path) -> str:
    """The tokenizer's chat template source as transformers reads it (chat_template.jinja, else
    tokenizer_config.json); raises TemplateError when the only one there is malformed."""
    sources = template_sources(model_dir)
    if not sources.reference and sources.config_problem:
        raise TemplateError(f"{sources.config_problem}.")
    return sources.reference


def _marker_family(tmpl: str) -> tuple[str | None, str]:
    if "<｜User｜>" in tmpl or "<｜Assistant｜>" in tmpl:
        return "deepseek-r1-distill-qwen", "<｜User｜>/<｜Assistant｜> markers"
    if "<|im_sep|>" in tmpl:
        return "phi4", "<|im_start|> with <|im_sep|> markers"
    if "<|im_start|>" in tmpl:
        return "qwen", "ChatML <|im_start|>/<|im_end|> markers"
    if "<|start_header_id|>" in tmpl:
        return "llama3", "<|start_header_id|> markers"
    if "<start_of_turn>" in tmpl:
        return "gemma", "<start_of_turn> markers"
    if "<|start_of_role|>" in tmpl:
        return "granite", "<|start_of_role|>/<|end_of_role|> markers"
    if "<|user|>" in tmpl or "<|end|>" in tmpl or "'|>' + message['content']" in tmpl:
        # Phi-3 puts a newline after the role marker; Phi-4-mini does not.
        if "<|user|>\n" in tmpl or "<|user|>' + '\\n'" in tmpl or "'|>' + '\\n'" in tmpl \
                or "|>\\n" in tmpl or "'|>' + '\n'" in tmpl or "'<|user|>' + '\n'" in tmpl:
            return "phi3", "<|user|>/<|end|> markers with a newline after the role"
        return "phi4-mini", "<|user|>/<|end|> markers without a newline after the role"
    if "[INST]" in tmpl:
        return "mistral", "[INST] markers"
    return None, ""


def detect_family(model_dir: Path) -> tuple[str, float, list[str]]:
    """Guess the family from config.json / genai_config.json and the chat template markers.

    Returns (family id, confidence 0..1, reasons). Markers and model type agreeing gives 0.95;
    markers alone 0.8; model type alone 0.6; nothing usable gives ("custom", 0.0).
    """
    model_dir = Path(model_dir)
    reasons: list[str] = []
    mtype = json_object_or_empty(model_dir / "genai_config.json").get("model", {}).get("type")
    source = "genai_config.json model.type"
    if not mtype:
        mtype = json_object_or_empty(model_dir / "config.json").get("model_type")
        source = "config.json model_type"
    type_family = _TYPE_FAMILY.get(str(mtype).lower()) if mtype else None
    if mtype:
        reasons.append(f"{source} is {mtype!r}"
                       + (f" ({FAMILIES[type_family].title})" if type_family else " (not known)"))
    malformed = ""
    try:
        tmpl = chat_template_text(model_dir)
    except TemplateError as e:
        tmpl, malformed = "", str(e).rstrip(".")
    marker_family, why = _marker_family(tmpl)
    if marker_family:
        reasons.append(f"the chat template has {why}")
    elif malformed:
        reasons.append(malformed)
    elif tmpl:
        reasons.append("the chat template has no known markers")
    else:
        reasons.append("no chat template found")

    if marker_family and type_family:
        compatible = marker_family == type_family or (
            type_family == "qwen" and marker_family == "deepseek-r1-distill-qwen"
        ) or (type_family == "phi3" and marker_family in ("phi4-mini", "phi4"))
        if compatible:
            return marker_family, 0.95, reasons
        reasons.append("model type and template disagree: the template decides")
        return marker_family, 0.7, reasons
    if marker_family:
        return marker_family, 0.8, reasons
    if type_family:
        return type_family, 0.6, reasons
    reasons.append("nothing recognisable: fill in a custom template")
    return "custom", 0.0, reasons


def confidence_label(confidence: float) -> str:
    if confidence >= 0.9:
        return "high"
    if confidence >= 0.65:
        return "medium"
    return "low" if confidence > 0 else "none"


# --- rendering ---------------------------------------------------------------------------------

SAMPLE_CONVERSATION: tuple[dict[str, str], ...] = (
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What does the lock do?"},
    {"role": "assistant", "content": "It locks the bike."},
    {"role": "user", "content": "How long does the battery last?"},
)


def render_prompt_template(template: dict[str, str], messages=SAMPLE_CONVERSATION) -> str:
    """Render messages with a PromptTemplate the way Foundry Local fills its four fields: the
    `system` field for a system message (nothing when there is none), `user`/`assistant` for
    earlier turns, then `prompt` for the last user message (the assistant's turn comes next)."""
    t = validate_template(template)
    parts: list[str] = []
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    for i, m in enumerate(messages):
        key = "prompt" if i == last_user else m["role"]
        if key not in t:
            raise TemplateError(f"no template for role {m['role']!r}")
        parts.append(t[key].replace(PLACEHOLDER, m["content"]))
    return "".join(parts)
