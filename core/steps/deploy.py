"""The deploy step: write inference_model.json, install the converted model into the Foundry Local
cache, register it, load it and ask it one test prompt (or remove it again).

Shared by `slm-wizard deploy` and the wizard's Deploy screen. Everything that decides what runs
lives here: the test prompt (`choose_test_prompt`), the ModelConfig defaults (core.inference_model),
the default max_length, the cache folder and the suggested model name.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slm_wizard.core.base.fileio import read_jsonl
from slm_wizard.core.base.status import Refused, Status
from slm_wizard.core.deploy.inference_model import (
    InferenceModelError,
    ModelConfig,
    context_length,
    default_max_length,
    validate_model_config,
    validate_name,
    validate_version,
)
from slm_wizard.core.run.record import (
    DEPLOYED_NAME,
    DEPLOYED_VERSION,
    FOUNDRY_CACHE,
    StepRecord,
)
from slm_wizard.core.steps import Progress, ProgressFn
from slm_wizard.core.steps import template as template_step

if TYPE_CHECKING:
    from slm_wizard.core.deploy.foundry import CacheLocation, DeployResult, TargetExists

DOMAIN_EVAL = "domain_eval.jsonl"
NEUTRAL_PROMPT = "Hello! Who are you?"
INFO = "info"  # the progress "stage" of a line that only informs (family, cache folder)
SEARCH_DEFAULTS = "search defaults"


class DeployInputError(Refused):
    """Bad input for the deploy step (message written for the user); the CLI exits 2."""


def choose_test_prompt(onnx_dir: Path) -> tuple[str, str | None]:
    """(prompt, system) for the deployment's test: the first prompt of the `domain_eval.jsonl`
    next to the ONNX model (the demo model's FAQ travels with its conversion), else a neutral
    greeting."""
    path = Path(onnx_dir) / DOMAIN_EVAL
    if path.is_file():
        try:
            rows = read_jsonl(path, ValueError, "domain eval file")
        except ValueError:
            rows = []
        for _, row in rows:
            if isinstance(row, dict) and isinstance(row.get("prompt"), str) \
                    and row["prompt"].strip():
                system = row.get("system")
                return row["prompt"], system if isinstance(system, str) else None
    return NEUTRAL_PROMPT, None


def cache_location(cache_dir: Path | None = None) -> CacheLocation:
    """The Foundry Local cache: the user's choice, else `foundry cache location`, else the
    documented default."""
    from slm_wizard.core.deploy.foundry import find_cache_dir

    return find_cache_dir(cache_dir)


def suggest_name(onnx_dir: Path, model_dir: Path | None = None, is_demo: bool = False) -> str:
    """A valid Foundry Local model name from the model's folder ("lumo-demo" for the demo)."""
    base = "lumo-demo" if is_demo else (Path(model_dir).name if model_dir else
                                        Path(onnx_dir).name)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "my-model"
    return name[:64]


@dataclass(frozen=True)
class Options:
    """What to deploy and how. None means "the default": `resolved()` fills it in."""

    onnx_dir: Path
    name: str
    version: str = "1"
    cache_dir: Path | None = None  # None: cache_location()
    family: str | None = None  # None (and no prompt_template): derived from the chat template
    prompt_template: Path | None = None  # a custom PromptTemplate JSON file
    description: str = ""
    max_length: int | None = None  # None: default_max_length(context length)
    temperature: float = ModelConfig.temperature
    top_p: float = ModelConfig.top_p
    repetition_penalty: float = ModelConfig.repetition_penalty
    search_defaults: bool = False  # also write these values into genai_config.json
    prompt: str | None = None  # None: choose_test_prompt(onnx_dir)
    system: str | None = None
    max_tokens: int = 32
    replace: bool = False  # replace an existing model (the user confirmed)
    remove: bool = False  # unregister and remove instead of deploying
    # Deploy a PromptTemplate the template check finds mismatching (the user confirmed).
    allow_template_mismatch: bool = False

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(self.max_length or default_max_length(context_length(self.onnx_dir)),
                           self.temperature, self.top_p, self.repetition_penalty)

    def resolved(self) -> Options:
        """These options with every default filled in (cache folder, family, max_length, test
        prompt): what `run` runs and what the record and the reproduce command show."""
        changes: dict[str, Any] = {}
        if self.cache_dir is None:
            changes["cache_dir"] = cache_location().path
        if self.remove:
            return replace(self, **changes)
        if self.max_length is None:
            changes["max_length"] = default_max_length(context_length(self.onnx_dir))
        if self.prompt is None:
            prompt, system = choose_test_prompt(self.onnx_dir)
            changes["prompt"] = prompt
            if self.system is None:
                changes["system"] = system
        return replace(self, **changes)

    def argv(self) -> list[str]:
        """The headless command for exactly these options."""
        out = ["slm-wizard", "deploy", str(self.onnx_dir), "--name", self.name,
               "--version", str(self.version)]
        if self.cache_dir is not None:
            out += ["--cache-dir", str(self.cache_dir)]
        if self.remove:
            return [*out, "--remove"]
        out += template_step.template_args(self.onnx_dir, self.family, self.prompt_template)[1:]
        if self.description:
            out.append(f"--description={self.description}")
        if self.max_length is not None:
            out += ["--max-length", str(self.max_length)]
        out += ["--temperature", repr(float(self.temperature)), "--top-p",
                repr(float(self.top_p)), "--repetition-penalty",
                repr(float(self.repetition_penalty))]
        if self.search_defaults:
            out.append("--search-defaults")
        if self.prompt is not None:
            out.append(f"--prompt={self.prompt}")
        if self.system is not None:
            out.append(f"--system={self.system}")
        out += ["--max-tokens", str(self.max_tokens)]
        if self.replace:
            out.append("--replace")
        if self.allow_template_mismatch:
            out.append("--allow-template-mismatch")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


@dataclass
class Result:
    options: Options  # the resolved options that ran
    status: Status
    family: str = ""
    detected: str = ""
    confidence: float = 0.0
    deploy: DeployResult | None = None
    exists: TargetExists | None = None  # already installed: confirm (replace=True) to go on
    error: str = ""
    removed: list[str] = field(default_factory=list)
    search_defaults_diff: list[str] = field(default_factory=list)
    template: template_step.Result | None = None  # the template and its check (one verdict)

    @property
    def template_refused(self) -> bool:
        """Nothing was deployed because the template check found a mismatch (confirm with
        allow_template_mismatch=True to deploy it anyway)."""
        return (self.deploy is None and self.template is not None and self.template.mismatch
                and not self.options.allow_template_mismatch)

    @property
    def ok(self) -> bool:
        return self.status.finished_well

    @property
    def model_id(self) -> str:
        return f"{self.options.name}:{self.options.version}"

    def to_dict(self) -> dict[str, Any]:
        if self.options.remove:
            return {"removed": self.removed}
        base = self.deploy.to_dict() if self.deploy else {"ok": False, "error": self.error}
        t = self.template
        return {**base, "family": self.family,
                "template": {"source": t.source, "verdict": t.verdict,
                             "warnings": t.check.warnings if t.check else []} if t else None}


def _prepare(options: Options) -> tuple[Options, dict[str, str], ModelConfig,
                                        template_step.Result]:
    """Validate everything before anything is written (DeployInputError on bad input)."""
    if not (Path(options.onnx_dir) / "genai_config.json").is_file():
        raise DeployInputError(f"{options.onnx_dir} is not a converted model folder (no "
                               "genai_config.json): run `slm-wizard convert` first.")
    from slm_wizard.core.deploy.foundry import check_onnx_folder

    problems = check_onnx_folder(Path(options.onnx_dir))  # before anything is copied
    if problems:
        raise DeployInputError(f"{options.onnx_dir} cannot be deployed: {problems[0]}")
    try:
        validate_name(options.name)
        validate_version(options.version)
        tmpl = template_step.resolve(template_step.Options(
            options.onnx_dir, options.family, options.prompt_template))
        opts = options.resolved()
        cfg = validate_model_config(opts.model_config, context_length(opts.onnx_dir))
    except (template_step.TemplateInputError, InferenceModelError, OSError) as e:
        raise DeployInputError(str(e)) from e
    return opts, tmpl.template, cfg, tmpl


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Deploy (or remove) as the options say. `on_progress` gets a `Progress` per stage (its
    `phase` the stage id, `status` RUNNING first, then the outcome, `text` the detail) and, with
    phase INFO, lines that only inform. Bad input raises
    DeployInputError before anything is written; a stage that fails, or a model that is already
    installed (replace=False), gives a FAIL result saying so."""
    from slm_wizard.core.deploy import foundry, foundry_sdk
    from slm_wizard.core.deploy.inference_model import write_search_defaults

    def emit(stage: str, status: Status, detail: str) -> None:
        if on_progress is not None:
            on_progress(Progress(stage, text=detail, status=status))
    if options.remove:
        try:  # a bad name or version is refused before anything is looked up or removed
            validate_name(options.name)
            validate_version(options.version)
        except InferenceModelError as e:
            raise DeployInputError(str(e)) from e
        opts = options.resolved()
        assert opts.cache_dir is not None
        try:
            done = foundry.undeploy(opts.name, opts.version, opts.cache_dir)
        except (foundry_sdk.FoundryError, InferenceModelError) as e:
            return Result(opts, Status.FAIL, error=str(e))
        return Result(opts, Status.OK, removed=done)

    source = "your choice"
    if options.cache_dir is None:
        loc = cache_location()
        options, source = replace(options, cache_dir=loc.path), loc.source
    opts, template, cfg, tmpl = _prepare(options)
    assert opts.cache_dir is not None
    result = Result(opts, Status.FAIL, family=tmpl.family, detected=tmpl.detected,
                    confidence=tmpl.confidence, template=tmpl)
    emit(INFO, Status.OK, f"Family: {tmpl.family} (detected {tmpl.detected}, confidence "
                          f"{tmpl.confidence:.2f}); PromptTemplate: {tmpl.source}")
    tmpl.check = template_step.check(opts.onnx_dir, template, tmpl.family)
    emit(INFO, Status.OK if tmpl.verdict == "match" else Status.WARN,
         f"PromptTemplate check: {tmpl.check.summary}")
    for warning in tmpl.check.warnings:
        emit(INFO, Status.WARN, warning)
    if tmpl.mismatch and not opts.allow_template_mismatch:
        result.error = ("The PromptTemplate does not match the model's chat template, so nothing "
                        "was deployed (a mismatched template silently ruins output). Use the "
                        "template derived from the model (no --family / --prompt-template), or "
                        "confirm with --allow-template-mismatch.")
        return result
    emit(INFO, Status.OK, f"Foundry Local cache: {opts.cache_dir} ({source})")
    if cancel is not None and cancel.is_set():
        result.error = "cancelled before anything was written"
        return result
    try:
        dep = foundry.deploy(opts.onnx_dir, opts.name, opts.version, template, cfg,
                             opts.cache_dir, replace=opts.replace, on_stage=emit,
                             description=opts.description, prompt=opts.prompt or "",
                             system=opts.system, max_tokens=opts.max_tokens)
    except foundry.TargetExists as e:
        result.exists, result.error = e, str(e)
        return result
    except (foundry_sdk.FoundryError, InferenceModelError) as e:
        result.error = str(e)
        return result
    result.deploy = dep
    if not dep.ok:
        failed = next((s for s in dep.stages if s.status == Status.FAIL), None)
        result.error = f"{failed.id} failed: {failed.found}" if failed else "a stage failed"
        return result
    warned = [st for st in dep.stages if st.status == Status.WARN]
    result.status = Status.WARN if dep.exported or warned else Status.OK
    if opts.search_defaults:
        try:
            result.search_defaults_diff = write_search_defaults(opts.onnx_dir, cfg, consent=True)
            emit(SEARCH_DEFAULTS, Status.OK, "genai_config.json search defaults "
                 + ("updated" if result.search_defaults_diff else "unchanged"))
        except InferenceModelError as e:
            emit(SEARCH_DEFAULTS, Status.FAIL, f"genai_config.json not updated: {e}")
    return result


def to_record(options: Options, result: Result) -> StepRecord:
    """The deploy step's record. Its command carries --replace, so that redoing the run replaces
    the model this run installed instead of stopping for a confirmation."""
    opts = result.options
    if opts.remove:
        return StepRecord("deploy", Status.SKIP if result.ok else Status.FAIL,
                          outcome=("removed: " + "; ".join(result.removed)) if result.ok
                          else f"removal failed: {result.error}",
                          options=opts.to_dict(), files={"cache": str(opts.cache_dir)},
                          outputs={FOUNDRY_CACHE: str(opts.cache_dir)})
    dep = result.deploy
    files = {"onnx": str(opts.onnx_dir), "cache": str(opts.cache_dir)}
    figures: dict[str, str] = {}
    notes: list[str] = []
    if dep is not None:
        files["target"], files["cache"] = str(dep.target), str(dep.cache_dir)
        figures = {f"{s.id} (s)": f"{s.seconds:.2f}" for s in dep.stages
                   if s.status == Status.OK}
        if dep.exported:
            notes.append("Foundry Local is not installed here: the model folder was exported")
        notes.extend(f"{st.id}: {st.found}" for st in dep.stages if st.status == Status.WARN)
    if opts.prompt_template is not None:
        files["prompt template"] = str(opts.prompt_template)
    t = result.template
    if t is not None and t.check is not None:
        notes.append(f"PromptTemplate ({t.source}): {t.check.summary}")
        if t.mismatch and opts.allow_template_mismatch:
            notes.append("deployed although the PromptTemplate does not match the model's chat "
                         "template: the user confirmed (--allow-template-mismatch)")
    if result.ok and dep is not None:
        outcome = (f"exported {dep.target} (Foundry Local not installed)" if dep.exported
                   else f"{dep.model_id} deployed to Foundry Local in {dep.cache_dir}")
    else:
        outcome = f"not deployed: {result.error}"
    outputs = {FOUNDRY_CACHE: files["cache"]}
    if result.ok and dep is not None and not dep.exported:  # installed: chat and validate use it
        outputs |= {DEPLOYED_NAME: dep.name, DEPLOYED_VERSION: dep.version}
    return StepRecord(
        "deploy", result.status, outcome=outcome,
        options={**opts.to_dict(), "model_id": result.model_id, "model_config": asdict(
            opts.model_config)},
        files=files, figures=figures,
        command=replace(opts, replace=True).argv() if result.ok else [],
        notes=notes, outputs=outputs,
    )
