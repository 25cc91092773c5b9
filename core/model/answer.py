"""One judge of "did the model answer": convert's verification and deploy's answer stage use it.

A reply with text is an answer. An empty or whitespace-only reply is not a failure of the step
that asked (the model loaded and generated): it is a warning that shows the reply raw and its
likely causes, because it almost always comes from the prompt format or the stop tokens, not
from a broken conversion or deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

from slm_wizard.core.base.status import Status

LIKELY_CAUSES = (
    "Likely causes: the prompt template (the model sees a prompt format it was not trained on: "
    "check it with `slm-wizard template`), the stop tokens (an end-of-turn or EOS token "
    "generated first: check eos_token_id in genai_config.json), or too few max tokens. A model "
    "trained on few examples can also really answer nothing to an unfamiliar prompt."
)


@dataclass(frozen=True)
class Judgement:
    status: Status  # OK: it answered; WARN: empty or whitespace only
    found: str  # what was generated, shown raw (repr) when it is not an answer
    fix: str = ""  # the likely causes when it did not answer

    @property
    def answered(self) -> bool:
        return self.status == Status.OK


def judge(reply: str | None, tokens: int | None = None) -> Judgement:
    """Whether `reply` is an answer. `tokens`: how many tokens were generated, when known."""
    text = reply or ""
    if text.strip():
        return Judgement(Status.OK, text)
    count = f" ({tokens} token{'s' if tokens != 1 else ''} generated)" if tokens is not None \
        else ""
    what = "nothing" if not text else f"only whitespace {text!r}"
    return Judgement(Status.WARN, f"the model answered {what}{count}", LIKELY_CAUSES)
