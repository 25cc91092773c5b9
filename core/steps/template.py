"""The template step: detect the model family, pick its PromptTemplate (or a custom one) and
compare it with the tokenizer's own chat template.

Shared by `slm-wizard template`, `slm-wizard deploy` (which picks its template the same way) and
the wizard's Deploy screen (which writes a template the user edited with `save_custom_template`,
so the headless command can name it with `--prompt-template`).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.fileio import read_json, write_json_atomic
from slm_wizard.core.record import StepRecord
from slm_wizard.core.status import Status
from slm_wizard.core.steps import ProgressFn
from slm_wizard.core.templates import (
    FAMILIES,
    TemplateCheck,
    TemplateError,
    check_template,
    detect_family,
    template_for,
    validate_template,
)

# Where the Deploy screen keeps a PromptTemplate the user edited: next to the converted model, a
# hidden file (the copy into the Foundry Local cache leaves hidden files out).
CUSTOM_TEMPLATE_FILE = ".slm-wizard-prompt-template.json"


class TemplateInputError(ValueError):
    """Bad input for the template step (message written for the user); the CLI exits 2."""


@dataclass(frozen=True)
class Options:
    """Which PromptTemplate: a family's (None: the detected family) or a custom JSON file."""

    model_dir: Path
    family: str | None = None
    prompt_template: Path | None = None  # a JSON file (overrides family)

    def argv(self) -> list[str]:
        return ["slm-wizard", "template", *template_args(self.model_dir, self.family,
                                                         self.prompt_template)]


def template_args(model_dir: Path, family: str | None, prompt_template: Path | None) -> list[str]:
    """The positional folder and the template choice, as `template` and `deploy` take them."""
    args = [str(model_dir)]
    if prompt_template is not None:
        args.append(f"--prompt-template={prompt_template}")
    if family is not None:
        args.append(f"--family={family}")
    return args


@dataclass
class Result:
    family: str  # the family used, or "custom"
    template: dict[str, str]
    detected: str
    confidence: float
    reasons: list[str] = field(default_factory=list)
    check: TemplateCheck | None = None

    @property
    def matches(self) -> bool:
        return self.check is not None and self.check.matches

    @property
    def status(self) -> Status:
        """OK when the PromptTemplate renders like the tokenizer's chat template, else WARN."""
        return Status.OK if self.matches else Status.WARN

    def to_dict(self) -> dict[str, Any]:
        c = self.check
        return {
            "detected": self.detected, "confidence": self.confidence, "reasons": self.reasons,
            "family": self.family, "prompt_template": self.template,
            "matches": self.matches, "engine": c.engine if c else None,
            "warnings": c.warnings if c else [],
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


def save_custom_template(model_dir: Path, template: dict[str, str]) -> Path:
    """Keep a user-edited PromptTemplate next to the model (for `--prompt-template`)."""
    try:
        tmpl = validate_template(template)
    except TemplateError as e:
        raise TemplateInputError(str(e)) from e
    return write_json_atomic(Path(model_dir) / CUSTOM_TEMPLATE_FILE, {"PromptTemplate": tmpl})


def choice_for(model_dir: Path, template: dict[str, str],
               family: str | None) -> tuple[str | None, Path | None]:
    """(family, prompt_template file) that name `template`: the family when it is that family's
    preset, else a custom file saved next to the model."""
    if family in FAMILIES and family != "custom" and template_for(family) == template:
        return family, None
    return None, save_custom_template(model_dir, template)


def resolve(options: Options) -> Result:
    """The template these options pick and the detection, without rendering anything."""
    folder = Path(options.model_dir)
    if not folder.is_dir():
        raise TemplateInputError(f"{folder} is not a folder")
    fam, conf, reasons = detect_family(folder)
    if options.prompt_template is not None:
        return Result("custom", load_template_file(options.prompt_template), fam, conf, reasons)
    chosen = options.family or fam
    try:
        return Result(chosen, template_for(chosen), fam, conf, reasons)
    except TemplateError as e:
        raise TemplateInputError(str(e)) from e


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Pick the template and render the sample conversation with it and with the tokenizer."""
    result = resolve(options)
    if on_progress is not None:
        on_progress(f"Family: {result.family} (detected {result.detected}, confidence "
                    f"{result.confidence:.2f})")
    if cancel is not None and cancel.is_set():
        return result
    result.check = check_template(options.model_dir, result.template, result.family)
    return result


def to_record(options: Options, result: Result) -> StepRecord:
    """The template check belongs to the wizard's Deploy step; it is recorded as not deployed
    (SKIP) with its own command, and a deployment's record replaces it."""
    return StepRecord(
        step="deploy", status=Status.SKIP,
        outcome=f"PromptTemplate {result.family}: "
                + ("matches the tokenizer" if result.matches else "does not match the tokenizer"),
        options={k: v for k, v in asdict(options).items() if v is not None},
        files={"model": str(options.model_dir)},
        command=options.argv(),
        notes=list(result.check.warnings) if result.check else [],
    )
