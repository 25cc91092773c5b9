"""The template step: prove the prompt Foundry Local's runtime really sends, and pick the
PromptTemplate older Foundry Local services read.

Two checks, two targets. The headline (`Result.verdict`: match, repaired, mismatch, unchecked)
is the runtime's (core.deploy.runtime_template): the model's chat template rendered by
Foundry Local's own engine against transformers' rendering, token for token, repaired where the
engines differ; probes the template itself refuses are listed. The PromptTemplate check
(`Result.check`: match, limited, mismatch, unchecked) applies only to older Foundry Local services
that read inference_model.json: the PromptTemplate derived from the model's chat template (or a
family preset or a custom one) against the model's template. One verdict for `template`,
`deploy`, the Deploy screen and Summary: deploy refuses either mismatch unless the user confirms.

Shared by `slm-wizard template`, `slm-wizard deploy` (which picks its template the same way) and
the wizard's Deploy screen, whose fields hold the template as text: `resolve_text` names it (the
derived template, a family's preset, or a custom one the deploy run keeps in
`custom_template_path`, so the headless command can name it with `--prompt-template`).

The fronts take what they need of the templates from here (`FAMILIES`, `KEYS`, `template_for`,
`field_problem`, `confidence_label`), never from core.deploy.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import read_json, write_json_atomic
from slm_wizard.core.base.status import Refused, Status
from slm_wizard.core.deploy.chat_template import ChatTemplate
from slm_wizard.core.deploy.runtime_template import CONFIG as CONFIG
from slm_wizard.core.deploy.runtime_template import JINJA as JINJA
from slm_wizard.core.deploy.runtime_template import MISMATCH as RUNTIME_MISMATCH
from slm_wizard.core.deploy.runtime_template import REPAIRED as REPAIRED
from slm_wizard.core.deploy.runtime_template import RuntimeCheck, check_runtime
from slm_wizard.core.deploy.template_check import (
    LIMITED,
    MATCH,
    MISMATCH,
    UNCHECKED,
    TemplateCheck,
    check_template,
)
from slm_wizard.core.deploy.template_derive import derive_template
from slm_wizard.core.deploy.templates import (
    FAMILIES,
    SAMPLE_CONVERSATION,
    TemplateError,
    detect_family,
    template_for,
    validate_template,
)
from slm_wizard.core.deploy.templates import KEYS as KEYS  # "as": public, for the fronts
from slm_wizard.core.deploy.templates import confidence_label as confidence_label
from slm_wizard.core.deploy.templates import field_problem as field_problem
from slm_wizard.core.model.model_info import DOMAIN_FILE
from slm_wizard.core.run.record import StepRecord
from slm_wizard.core.steps import Progress, ProgressFn

# Where the Deploy screen keeps a PromptTemplate the user edited: next to the converted model, a
# hidden file (the copy into the Foundry Local cache leaves hidden files out).
CUSTOM_TEMPLATE_FILE = ".slm-wizard-prompt-template.json"


class TemplateInputError(Refused):
    """Bad input for the template step (message written for the user); the CLI exits 2."""


@dataclass(frozen=True)
class Options:
    """Which PromptTemplate: derived from the model's chat template (family None and no file;
    the detected family's preset when there is no chat template), a family's preset, or a custom
    JSON file."""

    model_dir: Path
    family: str | None = None
    prompt_template: Path | None = None  # a JSON file (overrides family)
    chat_template: str = JINJA  # which of two differing chat templates is the model's

    def argv(self) -> list[str]:
        return ["slm-wizard", "template", *template_args(self.model_dir, self.family,
                                                         self.prompt_template,
                                                         self.chat_template)]


def template_args(model_dir: Path, family: str | None, prompt_template: Path | None,
                  chat_template: str = JINJA) -> list[str]:
    """The positional folder and the template choice, as `template` and `deploy` take them."""
    args = [str(model_dir)]
    if chat_template != JINJA:
        args.append(f"--chat-template={chat_template}")
    if prompt_template is not None:
        args.append(f"--prompt-template={prompt_template}")
    if family is not None:
        args.append(f"--family={family}")
    return args


PROMPT_TEMPLATE_TARGET = "older Foundry Local services that read inference_model.json"
DERIVED = "derived"  # Result.source: cut out of the model's own chat template
PRESET = "preset"
CUSTOM = "custom file"


@dataclass
class Result:
    family: str  # the family used (the detected one for a derived template), or "custom"
    template: dict[str, str]
    detected: str
    confidence: float
    reasons: list[str] = field(default_factory=list)
    check: TemplateCheck | None = None
    source: str = PRESET  # DERIVED, PRESET or CUSTOM
    notes: list[str] = field(default_factory=list)  # why a preset was used instead of deriving
    runtime: RuntimeCheck | None = None  # the headline: what Foundry Local's runtime sends

    @property
    def verdict(self) -> str:
        """The headline verdict: the runtime's (match, repaired, mismatch, unchecked)."""
        return self.runtime.verdict if self.runtime is not None else UNCHECKED

    @property
    def prompt_template_verdict(self) -> str:
        """The PromptTemplate's (older Foundry Local services): match, limited, mismatch."""
        return self.check.verdict if self.check is not None else UNCHECKED

    @property
    def matches(self) -> bool:
        """The runtime sends the prompt transformers renders (as it is, or repaired), and the
        PromptTemplate is not a mismatch."""
        return self.runtime is not None and self.runtime.ok \
            and self.prompt_template_verdict != MISMATCH

    @property
    def mismatch(self) -> bool:
        """What deploy refuses without the user's confirmation: either check's mismatch."""
        return self.verdict == RUNTIME_MISMATCH or self.prompt_template_verdict == MISMATCH

    @property
    def status(self) -> Status:
        """OK when the runtime renders the model's template (as it is or repaired) with nothing
        to warn about and the PromptTemplate is as close as one can be; WARN otherwise (probes
        the template refuses, two differing template files, a mismatch, nothing checked)."""
        r = self.runtime
        ok = (r is not None and r.ok and not r.refused and not r.warnings
              and self.prompt_template_verdict in (MATCH, LIMITED))
        return Status.OK if ok else Status.WARN

    @property
    def headline(self) -> str:
        """The verdict as one sentence (the runtime's)."""
        return self.runtime.summary if self.runtime is not None else \
            "the prompt Foundry Local's runtime sends was not checked"

    def to_dict(self) -> dict[str, Any]:
        c = self.check
        return {
            "detected": self.detected, "confidence": self.confidence, "reasons": self.reasons,
            "family": self.family, "source": self.source, "prompt_template": self.template,
            "verdict": self.verdict, "matches": self.matches, "engine": c.engine if c else None,
            "probes": [{"name": p.name, "refused": p.refused, "equal": p.equal,
                        "model_ids": p.model_ids, "template_ids": p.template_ids}
                       for p in c.probes] if c else [],
            "warnings": c.warnings if c else [],
            "runtime": self.runtime.to_dict() if self.runtime else None,
            "prompt_template_check": {
                "verdict": self.prompt_template_verdict,
                "applies_to": PROMPT_TEMPLATE_TARGET,
                "summary": c.summary if c else None} if c else None,
            "prompt_template_render": c.prompt_template_text if c else None,
            "tokenizer_render": c.tokenizer_text if c else None, "diff": c.diff if c else [],
        }


def load_template_file(path: Path) -> dict[str, str]:
    """A PromptTemplate from a JSON file: the template itself or an inference_model.json."""
    data = read_json(path, TemplateInputError, "PromptTemplate file")
    data = data.get("PromptTemplate", data) if isinstance(data, dict) else data
    try:
        return validate_template(data)
    except TemplateError as e:
        raise TemplateInputError(f"{path}: {e}") from e


def custom_template_path(model_dir: Path) -> Path:
    """Where a deployment keeps a PromptTemplate the user edited: next to the model, hidden."""
    return Path(model_dir) / CUSTOM_TEMPLATE_FILE


def save_custom_template(model_dir: Path, template: dict[str, str]) -> Path:
    """Keep a user-edited PromptTemplate next to the model (for `--prompt-template`)."""
    try:
        tmpl = validate_template(template)
    except TemplateError as e:
        raise TemplateInputError(str(e)) from e
    return write_json_atomic(custom_template_path(model_dir), {"PromptTemplate": tmpl})


def resolve_text(model_dir: Path, template: dict[str, str], family: str | None) -> Result:
    """The template given as text (the Deploy screen's fields, filled from the derived template
    when `family` is None, else from that family's preset, and maybe edited since), named as
    the headless command names it: DERIVED when it is still the template derived from the
    model's chat template, PRESET when it is still `family`'s preset, else CUSTOM (family
    "custom"), which a deployment keeps in `custom_template_path` (nothing is written here).
    Not checked; a bad field raises TemplateInputError."""
    try:
        template = validate_template(template)
    except TemplateError as e:
        raise TemplateInputError(str(e)) from e
    base = resolve(Options(model_dir))
    if family is None and base.source == DERIVED and base.template == template:
        return base
    if family in FAMILIES and family != "custom" and template_for(family) == template:
        return replace(base, family=family, template=template, source=PRESET, notes=[])
    return Result("custom", template, base.detected, base.confidence, base.reasons,
                  source=CUSTOM)


MODEL_FILES = ("genai_config.json", "config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def model_problem(folder: Path) -> str:
    """What a folder lacks to be a model whose template can be checked ("" when nothing)."""
    missing = []
    if not any((folder / f).is_file() for f in MODEL_FILES):
        missing.append("genai_config.json (a converted model) or config.json (a Hugging Face "
                       "model)")
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        missing.append("tokenizer.json or tokenizer_config.json")
    if not missing:
        return ""
    return (f"{folder} is not a model folder: it has no {' and no '.join(missing)}. Point at the "
            "folder `slm-wizard convert` wrote (it holds genai_config.json).")


def resolve(options: Options) -> Result:
    """The template these options pick and the detection, without checking it."""
    folder = Path(options.model_dir)
    if not folder.is_dir():
        raise TemplateInputError(f"{folder} is not a folder")
    problem = model_problem(folder)
    if problem:
        raise TemplateInputError(problem)
    fam, conf, reasons = detect_family(folder)
    if options.prompt_template is not None:
        return Result("custom", load_template_file(options.prompt_template), fam, conf, reasons,
                      source=CUSTOM)
    if options.family is None:
        notes: list[str] = []
        try:
            derived = derive_template(ChatTemplate.from_folder(folder))
        except TemplateError as e:
            notes.append(f"{e} The {FAMILIES[fam].title} preset is used instead.")
        else:
            return Result(fam, derived.template, fam, conf, reasons, source=DERIVED)
        return Result(fam, template_for(fam), fam, conf, reasons, notes=notes)
    try:
        return Result(options.family, template_for(options.family), fam, conf, reasons)
    except TemplateError as e:
        raise TemplateInputError(str(e)) from e


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Pick the template and check it against the model's own chat template."""
    result = resolve(options)
    if on_progress is not None:
        on_progress(Progress("detect", text=f"Family: {result.family} (detected "
                             f"{result.detected}, confidence {result.confidence:.2f}); "
                             f"PromptTemplate: {result.source}"))
    if cancel is not None and cancel.is_set():
        return result
    result.runtime = runtime_check(options.model_dir, options.chat_template)
    result.check = check(options.model_dir, result.template, result.family)
    return result


def runtime_check(model_dir: Path, source: str = JINJA) -> RuntimeCheck:
    """The runtime's check of a folder (core.deploy.runtime_template), once per state of its
    template and tokenizer files (the Deploy screen plans on every edit of the PromptTemplate,
    which does not change it)."""
    folder = Path(model_dir)
    stamp = []
    for name in ("tokenizer_config.json", "chat_template.jinja", "tokenizer.json",
                 "genai_config.json"):
        try:
            st = (folder / name).stat()
            stamp.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append((name, -1, 0))
    return _runtime_check(str(folder.resolve()), tuple(stamp), source)


@functools.lru_cache(maxsize=8)
def _runtime_check(folder: str, stamp: tuple, source: str) -> RuntimeCheck:
    return check_runtime(Path(folder), source)


def check(model_dir: Path, template: dict[str, str], family: str = "custom",
          sample=None) -> TemplateCheck:
    """The one template check (`template`, `deploy` and the Deploy screen): probe
    conversations compared token by token; `sample` is the conversation shown side by side
    (default: sample_conversation(model_dir))."""
    return check_template(model_dir, template, family,
                          sample if sample is not None else sample_conversation(model_dir))




def sample_conversation(model_dir: Path) -> tuple[dict[str, str], ...]:
    """The conversation shown side by side: the first two prompts (and the first expected
    answer) of the model's `domain_eval.jsonl` when there is one, else a neutral one."""
    from slm_wizard.core.base.fileio import read_jsonl

    path = Path(model_dir) / DOMAIN_FILE
    rows: list[dict] = []
    if path.is_file():
        try:
            rows = [r for _, r in read_jsonl(path, ValueError, "domain eval file")
                    if isinstance(r, dict) and isinstance(r.get("prompt"), str)
                    and r["prompt"].strip()]
        except ValueError:
            rows = []
    if not rows:
        return SAMPLE_CONVERSATION
    first = rows[0]
    convo: list[dict[str, str]] = []
    if isinstance(first.get("system"), str) and first["system"].strip():
        convo.append({"role": "system", "content": first["system"]})
    convo.append({"role": "user", "content": first["prompt"]})
    if len(rows) > 1:
        answer = next((first[k] for k in ("expected", "answer", "reference", "response")
                       if isinstance(first.get(k), str) and first[k].strip()), None)
        if answer is not None:
            convo += [{"role": "assistant", "content": answer},
                      {"role": "user", "content": rows[1]["prompt"]}]
    return tuple(convo)


def to_record(options: Options, result: Result) -> StepRecord:
    """The template check belongs to the wizard's Deploy step; it is recorded as not deployed
    (SKIP) with its own command, and a deployment's record replaces it."""
    return StepRecord(
        step="deploy", status=Status.SKIP,
        outcome=f"{result.headline}; PromptTemplate ({result.source}, {result.family}, for "
                f"{PROMPT_TEMPLATE_TARGET}): "
                + (result.check.summary if result.check else "not checked"),
        options={k: v for k, v in asdict(options).items() if v is not None},
        files={"model": str(options.model_dir)},
        command=options.argv(),
        notes=(result.runtime.warnings if result.runtime else [])
        + (list(result.check.warnings) if result.check else []),
    )
