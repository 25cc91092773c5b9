"""Prompt templates (Foundry Local's PromptTemplate) per model family, family detection, and a
side-by-side check against the tokenizer's own chat template.

A PromptTemplate has four strings, each holding `{Content}` exactly once: `system`, `user`,
`assistant` (earlier turns) and `prompt` (the last user turn followed by the assistant header).
A conversation renders as system + (user + assistant)* + prompt. The tokenizer's template is
rendered by onnxruntime-genai (converted folder) or transformers (Hugging Face folder); the two
renderings are compared line by line, and differing lines make a mismatch warning.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from slm_wizard.core.base.fileio import read_json_object

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
    if not isinstance(value, str):
        return f"'{key}' is missing"
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

def _read_json(path: Path) -> dict:
    """The JSON object in `path`, or {} when it is missing or unreadable (detection goes on)."""
    try:
        return read_json_object(path)
    except ValueError:
        return {}


def chat_template_text(model_dir: Path) -> str:
    """The tokenizer's chat template source (chat_template.jinja or tokenizer_config.json)."""
    model_dir = Path(model_dir)
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8", errors="replace")
    tmpl = _read_json(model_dir / "tokenizer_config.json").get("chat_template")
    if isinstance(tmpl, list):  # named templates: [{"name": "default", "template": "..."}]
        named = {t.get("name"): t.get("template") for t in tmpl if isinstance(t, dict)}
        tmpl = named.get("default") or next(iter(named.values()), None)
    return tmpl if isinstance(tmpl, str) else ""


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
    mtype = _read_json(model_dir / "genai_config.json").get("model", {}).get("type")
    source = "genai_config.json model.type"
    if not mtype:
        mtype = _read_json(model_dir / "config.json").get("model_type")
        source = "config.json model_type"
    type_family = _TYPE_FAMILY.get(str(mtype).lower()) if mtype else None
    if mtype:
        reasons.append(f"{source} is {mtype!r}"
                       + (f" ({FAMILIES[type_family].title})" if type_family else " (not known)"))
    tmpl = chat_template_text(model_dir)
    marker_family, why = _marker_family(tmpl)
    if marker_family:
        reasons.append(f"the chat template has {why}")
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
NEUTRAL_CONVERSATION = SAMPLE_CONVERSATION  # the neutral sample (no model's own data)


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


class TemplateRefused(TemplateError):
    """The model's chat template refused the conversation (its `raise_exception`), e.g. Gemma-2's
    "System role not supported"."""


ENGINE = "jinja2"
FIXED_DATE = "26 Jul 2024"  # what `strftime_now` gives while probing: renderings stay stable


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
        cfg = _read_json(Path(model_dir) / "tokenizer_config.json")
        return cls(text, _token_text(cfg.get("bos_token")), _token_text(cfg.get("eos_token")))

    def render(self, messages, add_generation_prompt: bool = True) -> str:
        """Render like transformers' apply_chat_template (jinja2 sandbox, trim_blocks,
        lstrip_blocks, raise_exception, strftime_now (a fixed date here), tojson)."""
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
            return datetime.strptime(FIXED_DATE, "%d %b %Y").strftime(fmt)

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
                documents=None, date_string=FIXED_DATE)
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
    except TemplateRefused as e:
        if not any(m["role"] == "system" for m in msgs):
            raise TemplateError(f"The model's chat template refuses this conversation: {e}") \
                from e
        notes.append(f"the model's chat template refuses a system message ({e}); compared "
                     "without it")
        msgs = [m for m in msgs if m["role"] != "system"]
        text = tmpl.render(msgs)
    return TokenizerRender(text=text, engine=ENGINE, notes=notes, messages=msgs)


# --- probes and derivation ---------------------------------------------------------------------

# Sentinel contents: plain words that no template changes (no spaces to trim, no markers).
S_SYSTEM, S_USER1, S_ASSISTANT1, S_USER2 = "SysText7q", "UserOne7q", "AnswerOne7q", "UserTwo7q"
_SYS = {"role": "system", "content": S_SYSTEM}
_U1 = {"role": "user", "content": S_USER1}
_A1 = {"role": "assistant", "content": S_ASSISTANT1}
_U2 = {"role": "user", "content": S_USER2}
PROBES: dict[str, tuple[dict[str, str], ...]] = {
    "user only": (_U1,),
    "system + user": (_SYS, _U1),
    "user, assistant, user": (_U1, _A1, _U2),
}

# How a model's template treats a system message.
SYSTEM_SUPPORTED, SYSTEM_FOLDED, SYSTEM_REFUSED, SYSTEM_IGNORED = (
    "supported", "folded", "refused", "ignored")


@dataclass
class Derivation:
    """The PromptTemplate cut out of the model's own chat template, and what it cannot say."""

    template: dict[str, str]
    start: str  # what the model's template puts before the first turn of every conversation
    system_role: str  # SYSTEM_SUPPORTED / FOLDED / REFUSED / IGNORED
    system_error: str = ""  # the template's own words when it refuses a system message
    limitations: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.limitations


def _split(text: str, sentinel: str, where: str) -> tuple[str, str]:
    if text.count(sentinel) != 1:
        raise TemplateError(f"The model's chat template does not render the {where} exactly once "
                            "as written: a PromptTemplate cannot be cut out of it.")
    before, after = text.split(sentinel)
    return before, after


# Special-token-like markers (`<|im_end|>`, `<s>`, `<｜User｜>`, `[INST]`): a field never starts or
# ends inside one.
_MARKER = re.compile(r"<[^<>\s]{1,60}>|\[/?[A-Z_]{2,30}\]")


def _inside_markers(text: str) -> set[int]:
    return {i for m in _MARKER.finditer(text) for i in range(m.start() + 1, m.end())}


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    bad = _inside_markers(a) | _inside_markers(b)
    while n > 0 and n in bad:
        n -= 1
    return a[:n]


def _common_suffix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
    bad_a, bad_b = _inside_markers(a), _inside_markers(b)
    while n > 0 and (len(a) - n in bad_a or len(b) - n in bad_b):
        n -= 1
    return a[len(a) - n:] if n else ""


def derive_template(chat: ChatTemplate) -> Derivation:
    """Cut the model's chat template into Foundry Local's four fields.

    Probe conversations with sentinel contents are rendered (user only; user, assistant, user;
    system + user; and user only without the generation prompt to find where a user turn ends).
    What sits between the sentinels becomes the fields; a field never cuts through a special
    token. Whatever four fixed strings cannot express is listed in `limitations` with what it
    means at run time. Raises TemplateError when the template does not render the probes in
    order."""
    C = PLACEHOLDER
    r_u = chat.render(PROBES["user only"])
    head_u, q = _split(r_u, S_USER1, "user message")
    end_u = _split(chat.render(PROBES["user only"], add_generation_prompt=False), S_USER1,
                   "user message")[1]
    r_uau = chat.render(PROBES["user, assistant, user"])
    s0, rest = _split(r_uau, S_USER1, "first user message")
    s1, rest = _split(rest, S_ASSISTANT1, "assistant message")
    s2, s3 = _split(rest, S_USER2, "second user message")
    if s0 != head_u:
        raise TemplateError("The model's chat template starts a one-turn and a longer "
                            "conversation differently: a PromptTemplate cannot follow it.")
    # s2 is the end of an assistant turn then a user turn's header; the header is what the first
    # turn starts with too. When all of s2 could be that header (the template's start text ends
    # like a turn, e.g. a default system turn), the turn end is where a user turn ends.
    p = _common_suffix(head_u, s2)
    if len(p) == len(s2):
        p = s2[len(_common_prefix(end_u, s2)):]
    w = s2[:len(s2) - len(p)]
    # The end of a user turn: like an assistant turn's end when the template is symmetric, else
    # what the one-turn rendering without the generation prompt ends with.
    y = w if w and s1.startswith(w) else _common_prefix(end_u, s1)
    z = s1[len(y):]  # the assistant's header
    start = head_u[:len(head_u) - len(p)]
    limitations: list[str] = []
    if s3 != q:
        limitations.append(
            "The model's template ends the last user turn differently in a longer conversation "
            f"({s3!r} instead of {q!r}); the PromptTemplate's `prompt` follows the one-turn form.")

    system_error = ""
    system = start + p + C + y  # closest for a template without its own system turn
    try:
        r_su = chat.render(PROBES["system + user"])
    except TemplateRefused as e:
        role, system_error = SYSTEM_REFUSED, str(e)
    else:
        tail = p + S_USER1 + q
        if S_SYSTEM not in r_su:
            role = SYSTEM_IGNORED
        elif r_su.endswith(tail) and r_su[:-len(tail)].count(S_SYSTEM) == 1:
            role = SYSTEM_SUPPORTED
            system = r_su[:-len(tail)].replace(S_SYSTEM, C)
        else:
            role = SYSTEM_FOLDED
    if role == SYSTEM_REFUSED:
        limitations.append(
            f"The model has no system role: its chat template refuses a system message "
            f"({system_error}). The `system` field makes the system text a user turn of its own; "
            "better leave the system prompt empty and put its text in the first message.")
    elif role == SYSTEM_FOLDED:
        limitations.append(
            "The model has no system role of its own: its chat template folds the system text "
            "into a user turn, which four fixed strings cannot do. The `system` field makes it a "
            "user turn of its own instead; to match the model exactly, leave the system prompt "
            "empty and start the first message with its text.")
    elif role == SYSTEM_IGNORED:
        limitations.append("The model's chat template drops a system message: the `system` "
                           "field gives the model text it never saw in training.")
    if start:
        what = ("its BOS token " + repr(start) if start in (chat.bos_token,) else repr(start))
        limitations.append(
            f"The model's template starts every conversation with {what}. A PromptTemplate has no "
            "field rendered for every conversation: it is in `system`, so at run time a "
            "conversation without a system message starts without it"
            + (" (the model then runs without its BOS token)." if chat.bos_token
               and start.startswith(chat.bos_token) else
               " (the model then misses its default system text: send it as the system message)."))
    template = {"system": system, "user": p + C + y, "assistant": z + C + w, "prompt": p + C + q}
    try:
        validate_template(template)
    except TemplateError as e:
        raise TemplateError(f"The PromptTemplate cut out of the model's chat template is not "
                            f"usable: {e}") from e
    return Derivation(template, start, role, system_error, limitations)


def system_role(model_dir: Path) -> tuple[str, str]:
    """(how the model's chat template treats a system message, its own words when it refuses
    one): SYSTEM_SUPPORTED when there is no chat template to ask."""
    try:
        chat = ChatTemplate.from_folder(Path(model_dir))
    except TemplateError:
        return SYSTEM_SUPPORTED, ""
    try:
        r_su = chat.render(PROBES["system + user"])
    except TemplateRefused as e:
        return SYSTEM_REFUSED, str(e)
    except TemplateError:
        return SYSTEM_SUPPORTED, ""
    return (SYSTEM_SUPPORTED if S_SYSTEM in r_su else SYSTEM_IGNORED), ""


def no_system_role_message(model_dir: Path, why: str) -> str:
    """What to tell a user whose system prompt the model cannot take."""
    return (f"This model has no system role: its chat template refuses a system message ({why}). "
            "Clear the system prompt, and put its text at the start of your first message "
            "instead.")


# --- token ids ---------------------------------------------------------------------------------

def tokenizer_encoder(model_dir: Path):
    """An encoder for the model's tokenizer.json (no special tokens added, like
    onnxruntime-genai's encode), or None when it cannot be loaded here."""
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
    except Exception:
        return None
    return lambda text: tok.encode(text, add_special_tokens=False).ids


def diff_lines(expected: str, actual: str, *, a_name: str = "model's template",
               b_name: str = "PromptTemplate") -> list[str]:
    """Unified diff lines of two renderings (empty when identical). Line ends are shown as `⏎`
    so differences in newlines are visible."""
    if expected == actual:
        return []

    def lines(s: str) -> list[str]:
        return [ln.replace("\n", "⏎") for ln in s.splitlines(keepends=True)] or [""]

    return list(difflib.unified_diff(lines(expected), lines(actual), fromfile=a_name,
                                     tofile=b_name, lineterm="", n=1))


def changed_lines(diff: list[str]) -> list[str]:
    return [ln for ln in diff if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]


@dataclass
class ProbeResult:
    name: str
    messages: list[dict[str, str]]
    model_text: str | None  # None: the model's template refuses this conversation
    template_text: str
    model_ids: list[int] | None = None
    template_ids: list[int] | None = None
    same_as_closest: bool = False  # renders like the derived (closest possible) PromptTemplate

    @property
    def refused(self) -> bool:
        return self.model_text is None

    @property
    def equal(self) -> bool:
        if self.model_text is None:
            return True
        if self.model_ids is not None and self.template_ids is not None:
            return self.model_ids == self.template_ids
        return self.model_text == self.template_text

    @property
    def diff(self) -> list[str]:
        return [] if self.model_text is None else diff_lines(self.model_text, self.template_text)

    def first_token_difference(self) -> str:
        """Where the token ids part, for the report ("" when equal or not tokenized)."""
        a, b = self.model_ids, self.template_ids
        if a is None or b is None or a == b:
            return ""
        pairs = enumerate(zip(a, b, strict=False))
        i = next((k for k, (x, y) in pairs if x != y), min(len(a), len(b)))
        return (f"token ids differ from position {i}: model {a[i:i + 4]}…, PromptTemplate "
                f"{b[i:i + 4]}… ({len(a)} vs {len(b)} tokens)")


MATCH, LIMITED, MISMATCH, UNCHECKED = "match", "limited", "mismatch", "unchecked"


@dataclass
class TemplateCheck:
    family: str
    prompt_template_text: str  # the sample conversation rendered with the PromptTemplate
    tokenizer_text: str | None  # ... and with the model's chat template
    engine: str | None
    diff: list[str]
    warnings: list[str]
    verdict: str = UNCHECKED  # MATCH, LIMITED (the closest possible), MISMATCH, UNCHECKED
    probes: list[ProbeResult] = field(default_factory=list)
    derivation: Derivation | None = None
    tokens_compared: bool = False

    @property
    def matches(self) -> bool:
        """Renders like the model's template on every probe (token ids when the tokenizer
        loads), or as closely as a PromptTemplate can (the limits are in `warnings`)."""
        return self.verdict in (MATCH, LIMITED)

    @property
    def mismatch(self) -> bool:
        """The verdict deploy refuses without the user's confirmation."""
        return self.verdict == MISMATCH

    @property
    def summary(self) -> str:
        return {
            MATCH: "matches the model's chat template on every probe conversation"
                   + (" (token for token)" if self.tokens_compared else ""),
            LIMITED: "matches the model's chat template as closely as a PromptTemplate can "
                     "(limits below)",
            MISMATCH: "does NOT match the model's chat template: a mismatched template silently "
                      "ruins output",
            UNCHECKED: "could not be checked against a chat template",
        }[self.verdict]


def check_template(model_dir: Path, template: dict[str, str], family_id: str = "custom",
                   messages=SAMPLE_CONVERSATION) -> TemplateCheck:
    """Render the probe conversations with the PromptTemplate and with the model's own chat
    template and compare their token ids (the model's tokenizer; strings when it cannot load).
    Never raises for a mismatch: the verdict says it, `warnings` show the differing lines and
    the limits of the closest PromptTemplate. `messages` is the sample conversation shown."""
    template = validate_template(template)
    pt_text = render_prompt_template(template, messages)
    try:
        chat = ChatTemplate.from_folder(Path(model_dir))
        sample = render_tokenizer_template(model_dir, messages)
    except TemplateError as e:
        return TemplateCheck(family_id, pt_text, None, None, [], [str(e)])
    warnings = list(sample.notes)
    pt_text = render_prompt_template(template, sample.messages)
    try:
        derivation: Derivation | None = derive_template(chat)
    except TemplateError as e:
        derivation = None
        warnings.append(str(e))
    encode = tokenizer_encoder(model_dir)
    if encode is None:
        warnings.append("The model's tokenizer.json could not be loaded here: renderings were "
                        "compared as text, not token ids.")
    probes: list[ProbeResult] = []
    for name, convo in PROBES.items():
        try:
            model_text: str | None = chat.render(convo)
        except TemplateRefused:
            model_text = None
        except TemplateError as e:
            warnings.append(f"{name}: {e}")
            model_text = None
        pr = ProbeResult(name, [dict(m) for m in convo], model_text,
                         render_prompt_template(template, convo))
        closest = render_prompt_template(derivation.template, convo) if derivation else None
        if encode is not None:
            pr.template_ids = encode(pr.template_text)
            if model_text is not None:
                pr.model_ids = encode(model_text)
            pr.same_as_closest = closest is not None and encode(closest) == pr.template_ids
        else:
            pr.same_as_closest = closest == pr.template_text
        probes.append(pr)
    compared = [p for p in probes if not p.refused]
    if not compared:
        verdict = UNCHECKED
    elif all(p.equal for p in compared) and (derivation is None or derivation.exact):
        verdict = MATCH
    elif derivation is not None and derivation.limitations and all(
            p.equal or p.same_as_closest for p in compared):
        verdict = LIMITED
    else:
        verdict = MISMATCH
    for p in compared:
        if p.equal:
            continue
        lines = "\n".join(changed_lines(p.diff)) or "(same text, other token ids)"
        where = p.first_token_difference()
        warnings.append(f"{p.name}: the PromptTemplate renders differently from the model's "
                        f"template{' (' + where + ')' if where else ''}:\n{lines}")
    if verdict != MATCH and derivation is not None:
        warnings.extend(derivation.limitations if verdict == LIMITED else [])
    if verdict == MISMATCH:
        warnings.append("The PromptTemplate does not match the model's chat template; a "
                        "mismatched template silently ruins output. "
                        + ("Use the PromptTemplate derived from the model's template."
                           if derivation is not None else ""))
    diff = diff_lines(sample.text, pt_text)
    return TemplateCheck(family_id, pt_text, sample.text, ENGINE, diff, warnings, verdict,
                         probes, derivation, encode is not None)
