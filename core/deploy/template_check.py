"""A PromptTemplate checked against the model's own chat template: the probe conversations
rendered both ways and compared token for token (the model's tokenizer) or as text, with a
verdict (match, limited, mismatch, unchecked) and the differing lines.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from slm_wizard.core.deploy.chat_template import (
    ENGINE,
    ChatTemplate,
    TemplateRefused,
    render_tokenizer_template,
)
from slm_wizard.core.deploy.template_derive import PROBES, Derivation, derive_template
from slm_wizard.core.deploy.templates import (
    SAMPLE_CONVERSATION,
    TemplateError,
    render_prompt_template,
    validate_template,
)


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
