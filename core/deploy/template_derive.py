"""A PromptTemplate cut out of the model's own chat template: probe conversations with sentinel
contents are rendered and what sits between the sentinels becomes the four fields; what four
fixed strings cannot express (a folded or refused system role, a start text) is listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from slm_wizard.core.deploy.chat_template import ChatTemplate, TemplateRefused
from slm_wizard.core.deploy.templates import PLACEHOLDER, TemplateError, validate_template

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
    except TemplateError as e:  # e.g. Gemma-3-1B's reads a system message's content as a list
        role, system_error = SYSTEM_REFUSED, str(e).replace("The model's chat template failed: ",
                                                             "")
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
        # A BOS token string that also marks every turn (SmolLM2's "<|im_start|>") is no BOS here.
        bos = chat.bos_token if chat.bos_token and start.startswith(chat.bos_token) \
            and chat.bos_token not in p + q else ""
        what = "its BOS token " + repr(start) if bos and start == bos else repr(start)
        missed = ("its BOS token" if start == bos else
                  "its BOS token and its default system text" if bos else
                  "its default system text")
        limitations.append(
            f"The model's template starts every conversation with {what}. A PromptTemplate has no "
            "field rendered for every conversation: it is in `system`, so at run time a "
            f"conversation without a system message starts without it (the model then misses "
            + missed + (")." if start == bos else ": send it as the system message)."))
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
    except TemplateError as e:  # fails on a system message (Gemma-3-1B's reads it as a list)
        return SYSTEM_REFUSED, str(e).replace("The model's chat template failed: ", "")
    return (SYSTEM_SUPPORTED if S_SYSTEM in r_su else SYSTEM_IGNORED), ""


def no_system_role_message(model_dir: Path, why: str) -> str:
    """What to tell a user whose system prompt the model cannot take."""
    return (f"This model has no system role: its chat template refuses a system message ({why}). "
            "Clear the system prompt, and put its text at the start of your first message "
            "instead.")
