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
from dataclasses import dataclass, field
from pathlib import Path

from slm_wizard.core.fileio import read_json_object

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
            _t("<s>{Content}\n\n", "[INST] {Content}[/INST]", " {Content}</s>",
               "[INST] {Content}[/INST]"),
            "Mistral has no system role: its template folds the system text into the last user "
            "turn, which a PromptTemplate cannot express.",
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
        Family("custom", "Custom", _CHATML, "Start from ChatML and edit every field."),
    )
}

# model_type (config.json) / model.type (genai_config.json) -> family
_TYPE_FAMILY = {
    "qwen2": "qwen", "qwen2_moe": "qwen", "qwen3": "qwen", "qwen3_moe": "qwen", "qwen": "qwen",
    "phi3": "phi3", "phi3small": "phi3", "phimoe": "phi3", "phi": "phi3", "phi4mm": "phi4-mini",
    "llama": "llama3", "mistral": "mistral", "mixtral": "mistral",
    "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "gemma3_text": "gemma",
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
    if "<|user|>" in tmpl or "<|end|>" in tmpl or "'|>' + message['content']" in tmpl:
        # Phi-3 puts a newline after the role marker; Phi-4-mini does not.
        if "<|user|>\n" in tmpl or "<|user|>' + '\\n'" in tmpl or "'|>' + '\\n'" in tmpl \
                or "|>\\n" in tmpl:
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


# --- rendering and comparison -----------------------------------------------------------------

SAMPLE_CONVERSATION: tuple[dict[str, str], ...] = (
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What does the lock do?"},
    {"role": "assistant", "content": "It locks the bike."},
    {"role": "user", "content": "How long does the battery last?"},
)


def render_prompt_template(template: dict[str, str], messages=SAMPLE_CONVERSATION) -> str:
    """Render messages with a PromptTemplate: system, earlier turns, then `prompt` for the last
    user message (the assistant's turn comes next)."""
    t = validate_template(template)
    parts: list[str] = []
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    for i, m in enumerate(messages):
        key = "prompt" if i == last_user else m["role"]
        if key not in t:
            raise TemplateError(f"no template for role {m['role']!r}")
        parts.append(t[key].replace(PLACEHOLDER, m["content"]))
    return "".join(parts)


@dataclass
class TokenizerRender:
    text: str
    engine: str  # "onnxruntime-genai" or "transformers"
    notes: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)  # what was actually rendered


def _og_renderer(model_dir: Path):
    import onnxruntime_genai as og

    tokenizer = og.Tokenizer(og.Model(str(model_dir)))

    def render(messages: list[dict[str, str]]) -> str:
        payload = json.dumps(messages)
        try:
            return tokenizer.apply_chat_template(payload, add_generation_prompt=True)
        except Exception:
            tmpl = chat_template_text(model_dir)
            if not tmpl:
                raise
            return tokenizer.apply_chat_template(payload, template_str=tmpl,
                                                 add_generation_prompt=True)

    return render


def _hf_renderer(model_dir: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)

    def render(messages: list[dict[str, str]]) -> str:
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    return render


def render_tokenizer_template(model_dir: Path, messages=SAMPLE_CONVERSATION) -> TokenizerRender:
    """Render with the model's own chat template: onnxruntime-genai for a converted folder
    (genai_config.json), transformers for a Hugging Face folder or when onnxruntime-genai cannot
    load the model here (e.g. an fp16 model on CPU). A template that refuses the system role is
    rendered again without it (noted)."""
    model_dir = Path(model_dir)
    if not chat_template_text(model_dir):
        raise TemplateError(f"{model_dir} has no chat template (chat_template.jinja or "
                            "tokenizer_config.json 'chat_template'): nothing to compare with.")
    notes: list[str] = []
    render = None
    engine = "transformers"
    if (model_dir / "genai_config.json").is_file():
        try:
            render, engine = _og_renderer(model_dir), "onnxruntime-genai"
        except Exception as e:
            notes.append(f"onnxruntime-genai could not load the model ({_first_line(e)}); "
                         "rendered with transformers")
    try:
        render = render or _hf_renderer(model_dir)
    except Exception as e:
        raise TemplateError(f"The tokenizer could not be loaded: {_first_line(e)}") from e
    msgs = [dict(m) for m in messages]
    try:
        text = render(msgs)
    except Exception as e:
        if not any(m["role"] == "system" for m in msgs):
            raise TemplateError(f"The tokenizer's chat template failed: {_first_line(e)}") from e
        notes.append(f"the tokenizer's template refuses a system message ({_first_line(e)}); "
                     "compared without it")
        msgs = [m for m in msgs if m["role"] != "system"]
        try:
            text = render(msgs)
        except Exception as e2:
            raise TemplateError(
                f"The tokenizer's chat template failed: {_first_line(e2)}") from e2
    return TokenizerRender(text=text, engine=engine, notes=notes, messages=msgs)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def diff_lines(expected: str, actual: str, *, a_name: str = "tokenizer",
               b_name: str = "PromptTemplate") -> list[str]:
    """Unified diff lines of two renderings (empty when identical). Line ends are shown as `⏎`
    so differences in newlines are visible."""
    if expected == actual:
        return []

    def lines(s: str) -> list[str]:
        return [ln.replace("\n", "⏎") for ln in s.splitlines(keepends=True)] or [""]

    return list(difflib.unified_diff(lines(expected), lines(actual), fromfile=a_name,
                                     tofile=b_name, lineterm="", n=1))


@dataclass
class TemplateCheck:
    family: str
    prompt_template_text: str
    tokenizer_text: str | None
    engine: str | None
    diff: list[str]
    warnings: list[str]

    @property
    def matches(self) -> bool:
        return self.tokenizer_text is not None and not self.diff


def check_template(model_dir: Path, template: dict[str, str], family_id: str = "custom",
                   messages=SAMPLE_CONVERSATION) -> TemplateCheck:
    """Render the sample conversation both ways and compare. Never raises for a mismatch: it is
    a warning with the differing lines."""
    warnings: list[str] = []
    try:
        tok = render_tokenizer_template(model_dir, messages)
    except TemplateError as e:
        pt_text = render_prompt_template(template, messages)
        return TemplateCheck(family_id, pt_text, None, None, [], [str(e)])
    warnings.extend(tok.notes)
    pt_text = render_prompt_template(template, tok.messages)
    diff = diff_lines(tok.text, pt_text)
    if diff:
        changed = [ln for ln in diff if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
        warnings.append(
            f"The PromptTemplate does not match the tokenizer's chat template "
            f"({len(changed)} differing line(s)); a mismatched template silently ruins output:\n"
            + "\n".join(changed)
        )
    return TemplateCheck(family_id, pt_text, tok.text, tok.engine, diff, warnings)
