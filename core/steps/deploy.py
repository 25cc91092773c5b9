"""The deploy step: write inference_model.json, install the converted model into the Foundry Local
cache, register it, load it and ask it one test prompt (or remove it again).

Shared by `slm-wizard deploy` and the wizard's Deploy screen. Everything that decides what runs
lives here: the test prompt (`choose_test_prompt`), the ModelConfig defaults (core.inference_model),
the default max_length, the cache folder and the suggested model name. `plan(options)` makes
those decisions before anything is written (the cache folder and where it came from, the
PromptTemplate and how the command names it, its check, what the run would refuse): the Deploy
screen renders it, `slm-wizard deploy --dry-run` prints it, and `run` runs it.

The fronts take the ModelConfig fields and the name, version and field validators from here
(`BOUNDS`, `ModelConfig`, `InferenceModelError`, `validate_config_field`, `validate_name`,
`validate_version`), never from core.deploy.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import unicodedata
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slm_wizard.core.base.fileio import read_jsonl
from slm_wizard.core.base.status import Refused, Status
from slm_wizard.core.deploy.inference_model import BOUNDS as BOUNDS  # public: for the fronts
from slm_wizard.core.deploy.inference_model import (
    InferenceModelError,
    ModelConfig,
    context_length,
    default_max_length,
    validate_model_config,
    validate_name,
    validate_version,
)
from slm_wizard.core.deploy.inference_model import validate_config_field as validate_config_field
from slm_wizard.core.model.model_info import DOMAIN_FILE
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

NEUTRAL_PROMPT = "Hello! Who are you?"
# Where the SDK keeps the local catalog's registrations (in the cache folder).
REGISTRY_FILE = "foundry.local.modelinfo.json"
INFO = "info"  # the progress "stage" of a line that only informs (family, cache folder)
PLAN = "plan"  # the progress "stage" while the plan is made (no status: not a deploy stage)
SEARCH_DEFAULTS = "search defaults"
YOUR_CHOICE = "your choice"  # Plan.cache_source of a cache folder the options name
MISMATCH_REFUSAL = ("The prompt does not match the model's chat template, so nothing was "
                    "deployed (a mismatched template silently ruins output): Foundry Local's "
                    "runtime renders the template differently and it could not be repaired, or "
                    "the PromptTemplate (read by older Foundry Local services) does not match; "
                    "for the PromptTemplate use the one derived from the model (no --family / "
                    "--prompt-template). Confirm with --allow-template-mismatch to deploy anyway.")


class DeployInputError(Refused):
    """Bad input for the deploy step (message written for the user); the CLI exits 2."""


def choose_test_prompt(onnx_dir: Path) -> tuple[str, str | None]:
    """(prompt, system) for the deployment's test: the first prompt of the `domain_eval.jsonl`
    next to the ONNX model (the demo model's FAQ travels with its conversion), else a neutral
    greeting."""
    path = Path(onnx_dir) / DOMAIN_FILE
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
    """A valid Foundry Local model name from the model's folder ("lumo-demo" for the demo; a
    training checkpoint's run folder for a checkpoint)."""
    from slm_wizard.core.model.checkpoints import output_name

    base = "lumo-demo" if is_demo else (output_name(model_dir) if model_dir else
                                        Path(onnx_dir).name)
    # Accented letters keep their base letter ("Mon modèle ü" -> "Mon-modele-u").
    ascii_base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_base)
    name = re.sub(r"-{2,}", "-", name).strip("-.") or "my-model"
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
    chat_template: str = template_step.JINJA  # which of two differing chat templates deploys
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
    # The PromptTemplate as text (the Deploy screen's fields; `family` says which preset they
    # were filled from, None: the derived template). `plan` names it as the command does: by
    # family, or by a custom file the run writes next to the model (prompt_template).
    template: dict[str, str] | None = None

    @property
    def model_config(self) -> ModelConfig:
        given = self.max_length is not None  # 0 is refused by the plan, never "the default"
        return ModelConfig(self.max_length if given else
                           default_max_length(context_length(self.onnx_dir)),
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
        """The headless command for exactly these options (a `template` given as text has no
        command until `plan` names it: plan(options).options.argv())."""
        if self.template is not None:
            raise ValueError("the PromptTemplate is given as text: plan() names it first")
        out = ["slm-wizard", "deploy", str(self.onnx_dir), "--name", self.name,
               "--version", str(self.version)]
        if self.cache_dir is not None:
            out += ["--cache-dir", str(self.cache_dir)]
        if self.remove:
            return [*out, "--remove"]
        out += template_step.template_args(self.onnx_dir, self.family, self.prompt_template,
                                           self.chat_template)[1:]
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
                             "runtime": t.runtime.to_dict() if t.runtime else None,
                             "prompt_template_verdict": t.prompt_template_verdict,
                             "warnings": t.check.warnings if t.check else []} if t else None}


@dataclass
class Plan:
    """What a deployment of these options will do, decided before anything is written."""

    options: Options  # every default filled in, the template named as the command names it
    cache_source: str  # YOUR_CHOICE, "foundry cache location" or "documented default"
    template: template_step.Result | None = None  # the PromptTemplate and its check (one verdict)
    custom_template: dict[str, str] | None = None  # edited: the run keeps it in prompt_template
    model_config: ModelConfig | None = None  # validated
    problems: list[str] = field(default_factory=list)  # why `run` refuses (first: what it says)
    template_problem: str = ""  # why there is no template (also in problems)
    context_length: int | None = None  # the model's (max_length's upper bound)
    notes: list[str] = field(default_factory=list)  # what the plan changed and why

    @property
    def template_refused(self) -> bool:
        """The run stops before writing: the check found a mismatch the user did not confirm."""
        return (self.template is not None and self.template.mismatch
                and not self.options.allow_template_mismatch)

    def info(self) -> list[tuple[Status, str]]:
        """The lines a deployment reports before it writes (the run's INFO progress, the
        dry run's output)."""
        t, o = self.template, self.options
        if t is None:
            return [(Status.OK, f"Foundry Local cache: {o.cache_dir} ({self.cache_source})")]
        lines = [(Status.OK, f"Family: {t.family} (detected {t.detected}, confidence "
                             f"{t.confidence:.2f}); PromptTemplate: {t.source}")]
        r = t.runtime
        if r is not None:
            good = r.ok and not r.refused and not r.warnings
            lines.append((Status.OK if good else Status.WARN, f"Runtime prompt: {r.summary}"))
            lines += [(Status.OK, f"Repaired: {x}") for x in r.repairs]
            lines += [(Status.WARN, w) for w in r.warnings]
        if t.check is not None:
            lines.append((Status.OK if t.prompt_template_verdict in ("match", "limited")
                          else Status.WARN, f"PromptTemplate (for "
                          f"{template_step.PROMPT_TEMPLATE_TARGET}): {t.check.summary}"))
            lines += [(Status.WARN if t.mismatch else Status.OK, w) for w in t.check.warnings]
        lines += [(Status.WARN, n) for n in self.notes]
        lines.append((Status.OK, f"Foundry Local cache: {o.cache_dir} ({self.cache_source})"))
        return lines

    def to_dict(self) -> dict[str, Any]:
        o = self.options
        return {"model_id": f"{o.name}:{o.version}", "options": o.to_dict(),
                "cache_source": self.cache_source,
                "template": self.template.to_dict() if self.template else None,
                "template_refused": self.template_refused, "problems": self.problems,
                "command": o.argv() if not self.problems else []}


def plan(options: Options, *, on_progress: ProgressFn | None = None,
         cancel: threading.Event | None = None) -> Plan:
    """The deployment these options make, decided before anything is written: the cache folder
    and where it came from, the defaults filled in, the PromptTemplate (the derived one, a
    family's preset, a custom file, or the text in `options.template`, named as the command
    names it) and its check, and every problem `run` would refuse the options for (in the order
    it checks them). Nothing is raised for bad input: `problems` says it. A cancel before the
    template check leaves it unchecked."""
    source = YOUR_CHOICE
    if options.cache_dir is None:
        loc = cache_location()
        options, source = replace(options, cache_dir=loc.path), loc.source
    if options.remove:  # only the name, version and cache matter
        return Plan(options.resolved(), source,
                    problems=_cache_problems(options) + _id_problems(options))
    problems: list[str] = _cache_problems(options)
    folder = Path(options.onnx_dir)
    if not (folder / "genai_config.json").is_file():
        problems.append(f"{folder} is not a converted model folder (no genai_config.json): run "
                        "`slm-wizard convert` first.")
    else:
        problems += [f"{folder} cannot be deployed: {p}" for p in _folder_problems(folder)[:1]]
    problems += _id_problems(options) + _size_problems(options)
    out = Plan(options, source, problems=problems, context_length=context_length(folder))
    # The PromptTemplate is derived from and checked against the chosen chat template.
    from slm_wizard.core.deploy.runtime_template import chosen_template_view

    view = chosen_template_view(folder, options.chat_template) \
        if (folder / "genai_config.json").is_file() else None
    tfolder = Path(view.name) if view is not None else folder
    try:
        if options.template is not None:
            tmpl = template_step.resolve_text(tfolder, options.template, options.family)
        else:
            tmpl = template_step.resolve(template_step.Options(tfolder, options.family,
                                                               options.prompt_template))
    except template_step.TemplateInputError as e:
        out.template_problem = str(e)
        problems.append(str(e))
        tmpl = None
    if tmpl is not None:
        out.template = tmpl
        if options.template is not None:  # named as the command names it
            custom = tmpl.source == template_step.CUSTOM
            options = replace(options, template=None,
                              family=tmpl.family if tmpl.source == template_step.PRESET
                              else None,
                              prompt_template=template_step.custom_template_path(folder)
                              if custom else None)
            out.custom_template = tmpl.template if custom else None
    try:
        out.options = options.resolved()
        out.model_config = validate_model_config(out.options.model_config,
                                                 out.context_length)
    except (InferenceModelError, OSError) as e:
        problems.append(str(e))
    if tmpl is not None and not (cancel is not None and cancel.is_set()):
        if on_progress is not None:
            on_progress(Progress(PLAN, text="Checking the PromptTemplate against the model's "
                                            "chat template…"))
        tmpl.check = template_step.check(tfolder, tmpl.template, tmpl.family)
        tmpl.runtime = template_step.runtime_check(folder, options.chat_template)
        out.options, note = _respect_system_role(out.options, tmpl)
        out.notes += [note] if note else []
    if view is not None:
        view.cleanup()
    return out


def _respect_system_role(options: Options, tmpl: template_step.Result) -> tuple[Options, str]:
    """The test prompt of a model whose chat template refuses a system message carries the
    system text at its start instead (as chat asks the user to do), with a note saying so."""
    r = tmpl.runtime
    refused = next((p for p in (r.refused if r else []) if p.name == "system + user"), None)
    if not options.system or options.prompt is None or refused is None:
        return options, ""
    return (replace(options, prompt=f"{options.system}\n\n{options.prompt}", system=None),
            f"The model has no system role (its chat template refuses one: "
            f"{refused.reference_error}): the test prompt carries the system text at its start "
            "instead.")


def _id_problems(options: Options) -> list[str]:
    """What is wrong with the model name and version (empty: nothing)."""
    problems = []
    for check, value in ((validate_name, options.name), (validate_version, options.version)):
        try:
            check(value)
        except InferenceModelError as e:
            problems.append(str(e))
    return problems


def _cache_problems(options: Options) -> list[str]:
    """A cache folder that is a file (or under one): refused before anything is written."""
    from slm_wizard.core.base.paths import file_in_the_way

    cache = Path(options.cache_dir).expanduser() if options.cache_dir is not None else None
    if cache is not None and file_in_the_way(cache, "--cache-dir"):
        return [file_in_the_way(cache, "--cache-dir")]
    registry = cache / REGISTRY_FILE if cache is not None else None
    if registry is not None and registry.is_file():  # the SDK would fail with a raw parse error
        from slm_wizard.core.base.fileio import read_json

        try:
            read_json(registry, ValueError, "Foundry Local registration file")
        except ValueError as exc:
            return [f"{exc}: Foundry Local cannot read its registered models. Move the file "
                    "aside (it is rebuilt; models registered in it must be deployed again) and "
                    "run again; nothing was copied or registered."]
    return []


def _size_problems(options: Options) -> list[str]:
    """--max-length and --max-tokens out of their bounds, texts that are not UTF-8 (before
    anything is copied, registered or loaded)."""
    from slm_wizard.core.base import schema as sc

    problems = [sc.utf8_problem(text, what) for text, what in (
        (options.prompt, "--prompt"), (options.system, "--system"),
        (options.description, "--description")) if sc.utf8_problem(text, what)]
    if options.max_length is not None and (isinstance(options.max_length, bool) or not isinstance(
            options.max_length, int) or options.max_length < 1):
        problems.append(f"--max-length: expected a whole number of at least 1 (the longest "
                        f"prompt plus answer in tokens), found {options.max_length!r}")
    try:
        sc.check_options({"max_tokens": options.max_tokens},
                         {"max_tokens": sc.positive_int("tokens of the test answer",
                                                        sc.MAX_TOKENS)},
                         {"max_tokens": "--max-tokens"})
    except sc.SchemaError as exc:
        problems.append(str(exc))
    return problems


def _folder_problems(folder: Path) -> list[str]:
    """core.deploy.foundry.check_onnx_folder, once per state of the folder (a plan is made on
    every edit of the Deploy screen's template; the check reads the ONNX graph)."""
    try:
        stamp = tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                             for e in os.scandir(folder) if e.is_file()))
    except OSError:
        stamp = ()
    return list(_checked_folder(str(folder), stamp))


@functools.lru_cache(maxsize=8)
def _checked_folder(folder: str, stamp: tuple) -> tuple[str, ...]:
    from slm_wizard.core.deploy.foundry import check_onnx_folder

    return tuple(check_onnx_folder(Path(folder)))


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
        p = plan(options)
        if p.problems:  # a bad name or version is refused before anything is removed
            raise DeployInputError(p.problems[0])
        opts = p.options
        assert opts.cache_dir is not None
        try:
            done = foundry.undeploy(opts.name, opts.version, opts.cache_dir)
        except (foundry_sdk.FoundryError, InferenceModelError) as e:
            return Result(opts, Status.FAIL, error=str(e))
        return Result(opts, Status.OK, removed=done)

    p = plan(options, on_progress=on_progress, cancel=cancel)
    if p.problems:
        raise DeployInputError(p.problems[0])
    opts, tmpl, cfg = p.options, p.template, p.model_config
    assert opts.cache_dir is not None and tmpl is not None and cfg is not None
    result = Result(opts, Status.FAIL, family=tmpl.family, detected=tmpl.detected,
                    confidence=tmpl.confidence, template=tmpl)
    for status, line in p.info():
        emit(INFO, status, line)
    if p.template_refused:
        result.error = MISMATCH_REFUSAL
        return result
    if cancel is not None and cancel.is_set():
        result.error = "cancelled before anything was written"
        return result
    from slm_wizard.core.deploy.runtime_template import deployed_template_files

    r = tmpl.runtime
    count = r.count_probe() if r is not None and r.ok else None
    try:
        dep = foundry.deploy(opts.onnx_dir, opts.name, opts.version, tmpl.template, cfg,
                             opts.cache_dir, replace=opts.replace, on_stage=emit,
                             description=opts.description, prompt=opts.prompt or "",
                             system=opts.system, max_tokens=opts.max_tokens,
                             template_files=deployed_template_files(opts.onnx_dir, r)
                             if r is not None else None,
                             prompt_check=(count.messages, len(count.reference_ids))
                             if count is not None else None)
    except foundry.TargetExists as e:
        result.exists, result.error = e, str(e)
        return result
    except (foundry_sdk.FoundryError, InferenceModelError) as e:
        result.error = str(e)
        return result
    if p.custom_template is not None:  # the edited template, for the command that names it
        try:
            template_step.save_custom_template(opts.onnx_dir, p.custom_template)
        except (OSError, template_step.TemplateInputError) as e:
            result.error = f"the edited PromptTemplate could not be kept next to the model: {e}"
            return result
    result.deploy = dep
    if not dep.ok:
        failed = next((s for s in dep.stages if s.status == Status.FAIL), None)
        result.error = f"{failed.id} failed: {failed.found}" if failed else "a stage failed"
        return result
    warned = [st for st in dep.stages if st.status == Status.WARN]
    # A deployment that went ahead with a template warning is a warning (Summary shows it).
    result.status = Status.WARN if dep.exported or warned or tmpl.status == Status.WARN \
        else Status.OK
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
    if t is not None:
        notes.append(f"Runtime prompt: {t.headline}")
        notes.extend(t.runtime.repairs if t.runtime else [])
        notes.extend(t.runtime.warnings if t.runtime else [])
    if t is not None and t.check is not None:
        notes.append(f"PromptTemplate ({t.source}, for {template_step.PROMPT_TEMPLATE_TARGET}): "
                     f"{t.check.summary}")
        if t.mismatch and opts.allow_template_mismatch:
            notes.append("deployed although the prompt does not match the model's chat "
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
