"""Step runner: the quality checklist, and the Validate step's plan (what runs, how big).

`Options` is one `slm-wizard validate` run. `ValidatePlan` is what the wizard's Validate step runs:
the chosen phases (benchmark, checklist, sweep) at one of the `SIZES`, each phase as its own
runner's Options, so the step's record holds the exact headless commands that redo it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from slm_wizard.core.base.reports import ReportPaths
from slm_wizard.core.base.status import Refused, Status
from slm_wizard.core.evaluate.bench import DEFAULT_LENGTHS, BenchError, Progress
from slm_wizard.core.evaluate.sweep_variants import PRESETS as SWEEP_PRESETS
from slm_wizard.core.evaluate.validate import (
    CHECK_IDS,
    LABEL,
    Thresholds,
    ValidateError,
    find_domain_file,
    load_domain_cases,
)
from slm_wizard.core.evaluate.validate_checklist import ChecklistResult, run_checklist
from slm_wizard.core.run.record import StepRecord
from slm_wizard.core.steps import DOMAIN_FILE, ProgressFn
from slm_wizard.core.steps import bench as bench_step
from slm_wizard.core.steps.bench import (
    BACKENDS,
    MeasureError,
    backend_argv,
    export,
    open_measured_backend,
    report_files,
    report_json,
)

# The names the fronts (the Validate screen, the validate command) show, from here.
__all__ = ["CHECK_IDS", "DEFAULT_SIZE", "LABEL", "PHASES", "PHASE_TITLES", "SIZES",
           "MeasureError", "Options", "PlanError", "PlanResult", "Result", "RunSize",
           "ValidateError", "ValidatePlan", "backends_for", "default_domain_file",
           "describe_plan", "domain_cases", "make_plan", "phase_fraction",
           "plan_record", "preview", "run", "run_plan", "to_record", "unavailable_phases"]


@dataclass(frozen=True)
class Options:
    """What the checklist runs: the model, the checks, their sizes and thresholds."""

    model: str  # the converted ONNX folder (ort) or the Foundry Local model id (foundry)
    backend: str = "ort"
    cache_dir: str | None = None
    domain_file: str | None = None  # None: <model>/domain_eval.jsonl when there is one (ort)
    max_prompts: int | None = None  # the first N domain prompts (None: all)
    soak: int = 100  # generations in the memory soak
    checks: tuple[str, ...] = CHECK_IDS
    lengths: tuple[int, ...] = DEFAULT_LENGTHS  # input lengths of the consistency check
    repeats: int = 2
    min_score: float = 0.8
    max_leak: float = 25.0  # MB per 100 generations
    max_speed_ratio: float = 2.0
    edge_timeout: float = 60.0  # seconds per edge case
    report_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", str(self.model))
        object.__setattr__(self, "checks", tuple(self.checks))
        object.__setattr__(self, "lengths", tuple(int(n) for n in self.lengths))
        for name in ("min_score", "max_leak", "max_speed_ratio", "edge_timeout"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("cache_dir", "domain_file", "report_dir"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value in (None, "") else str(value))

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(domain_score=self.min_score, leak_mb_per_100=self.max_leak,
                          speed_ratio=self.max_speed_ratio, edge_timeout_s=self.edge_timeout)

    def validate(self) -> None:
        """ValidateError (a message for the user) when an option is out of bounds."""
        from slm_wizard.core.base import schema as sc
        from slm_wizard.core.base.reports import report_dir_problem

        if report_dir_problem(self.report_dir):  # a file, or under one: refused before a run
            raise ValidateError(report_dir_problem(self.report_dir))

        try:  # the declared bounds of the thresholds and sizes (nan, -1, 0 and huge refused)
            sc.check_options(
                {"max_prompts": self.max_prompts, "soak": self.soak, "repeats": self.repeats,
                 "min_score": self.min_score, "max_leak": self.max_leak,
                 "max_speed_ratio": self.max_speed_ratio, "edge_timeout": self.edge_timeout},
                {"max_prompts": sc.positive_int("prompts", sc.MAX_PROMPTS),
                 "soak": sc.positive_int("generations", sc.MAX_SOAK),
                 "repeats": sc.positive_int("repeats", sc.MAX_REPEATS),
                 "min_score": {"type": "number", "minimum": 0, "maximum": 1,
                               "description": "a share from 0 to 1, e.g. 0.8"},
                 "max_leak": sc.number_range("MB per 100 generations", 0, sc.MAX_LEAK_MB),
                 "max_speed_ratio": sc.positive_number("a ratio such as 2", sc.MAX_RATIO),
                 "edge_timeout": sc.positive_number("seconds", sc.MAX_SECONDS)},
                {"max_prompts": "--max-prompts", "soak": "--soak", "repeats": "--repeats",
                 "min_score": "--min-score", "max_leak": "--max-leak",
                 "max_speed_ratio": "--max-speed-ratio", "edge_timeout": "--edge-timeout"})
        except sc.SchemaError as exc:
            raise ValidateError(str(exc)) from None
        if self.backend not in BACKENDS:
            raise ValidateError(f"unknown backend {self.backend!r}: choose "
                                f"{' or '.join(BACKENDS)}")
        unknown = [c for c in self.checks if c not in CHECK_IDS]
        if unknown or not self.checks:
            raise ValidateError(f"unknown check(s) {', '.join(unknown) or '(none)'}: choose "
                                f"from {', '.join(CHECK_IDS)}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValidateError("--min-score is a share from 0 to 1, e.g. 0.8")
        if self.soak < 8 and "leak" in self.checks:
            raise ValidateError("--soak needs at least 8 generations to fit a trend")
        if self.repeats < 1:
            raise ValidateError("--repeats must be at least 1")
        if any(n <= 0 for n in self.lengths):
            raise ValidateError("input lengths must be positive")

    def domain_path(self) -> Path | None:
        """The domain file this run uses: the one given, else the model folder's own."""
        if self.domain_file:
            return Path(self.domain_file)
        return find_domain_file(Path(self.model)) if self.backend == "ort" else None

    def argv(self) -> list[str]:
        """The headless command that runs exactly these options."""
        out = ["slm-wizard", "validate", self.model, *backend_argv(self.backend, self.cache_dir)]
        if self.domain_file:
            out += ["--domain", self.domain_file]
        if self.max_prompts is not None:
            out += ["--max-prompts", str(self.max_prompts)]
        out += ["--soak", str(self.soak), "--checks", ",".join(self.checks)]
        if self.lengths:
            out += ["--lengths", *map(str, self.lengths)]
        out += ["--repeats", str(self.repeats), "--min-score", str(self.min_score),
                "--max-leak", str(self.max_leak), "--max-speed-ratio", str(self.max_speed_ratio),
                "--edge-timeout", str(self.edge_timeout)]
        if self.report_dir:
            out += ["--report-dir", self.report_dir]
        return out


@dataclass
class Result:
    status: Status
    checklist: ChecklistResult
    report: ReportPaths | None = None
    report_error: str = ""
    domain_file: str | None = None
    prompts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def checks(self) -> list[Any]:
        return self.checklist.checks

    def figures(self) -> dict[str, str]:
        return {"quality checklist": self.checklist.summary_line()}

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.checklist.passed, "summary": self.checklist.summary_line(),
                "checks": [c.to_dict() for c in self.checklist.checks],
                "report": report_json(self.report)}


def run(options: Options, *, on_progress: ProgressFn | None = None,
        on_sample: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None, backend: Any | None = None) -> Result:
    """Run the checklist. ValidateError: bad options or domain file (before anything runs);
    MeasureError: the model did not load or a generation failed. `on_sample` gets the RSS (MB)
    after each soak generation; `backend`: an already open backend to use."""
    from slm_wizard.core.runtime.chat import ChatError

    options.validate()
    from slm_wizard.core.base.reports import check_report_dir

    check_report_dir(options.report_dir, ["validate"], [options.model])  # before anything runs
    note = on_progress or (lambda p: None)
    notes: list[str] = []
    domain = options.domain_path()
    cases = []
    wants_domain = bool({"domain", "format"} & set(options.checks))
    if domain is not None and wants_domain:
        from slm_wizard.core.base.schema import DOMAIN_CAP, MAX_PROMPTS

        cases = load_domain_cases(domain)
        if options.max_prompts:
            cases = cases[: options.max_prompts]
        elif len(cases) > DOMAIN_CAP:  # a stated default cap, said when it applies
            notes.append(f"the domain file holds {len(cases):,} prompts: the first {DOMAIN_CAP:,} "
                         f"are answered (--max-prompts N for up to {MAX_PROMPTS:,})")
            note(Progress("note", 0, 0, f"note: {notes[-1]}"))
            cases = cases[:DOMAIN_CAP]
        note(Progress("note", 0, 0, f"domain prompts: {len(cases)} from {domain}"))
    elif wants_domain:
        notes.append(f"no domain file (--domain FILE, or {DOMAIN_FILE} in MODEL_DIR): the "
                     "domain and format checks are skipped")
        note(Progress("note", 0, 0, f"note: {notes[-1]}"))
    own = backend is None
    if own:
        backend = open_measured_backend(options.backend, options.model, options.cache_dir,
                                        on_progress)
    try:
        result = run_checklist(backend, domain_cases=cases, soak=options.soak,
                               lengths=options.lengths, repeats=options.repeats,
                               checks=options.checks, thresholds=options.thresholds,
                               model=options.model, on_progress=on_progress,
                               on_sample=on_sample, cancel=cancel)
    except (ValidateError, BenchError, ChatError) as exc:
        raise MeasureError(str(exc)) from exc
    finally:
        if own:
            backend.close()
    paths, problem = export(result.to_report(), options.report_dir, options.model)
    if problem:
        notes.append(problem)
    status = (Status.SKIP if result.cancelled else Status.FAIL if not result.passed
              else Status.FAIL if problem else Status.OK)
    return Result(status, result, paths, problem, str(domain) if domain else None, len(cases),
                  notes)


def to_record(options: Options, result: Result) -> StepRecord:
    return StepRecord("validate", result.status, "checklist: " + result.checklist.summary_line(),
                      options=asdict(options), files=report_files("checklist", result.report),
                      figures=result.figures(), command=options.argv(), notes=result.notes)


# ----------------------------------------------------------------------------- the Validate step


PHASES = ("bench", "checklist", "sweep")
PHASE_TITLES = {"bench": "Benchmark", "checklist": "Checklist", "sweep": "Sweep"}
CHECKLIST_STEPS = ("domain", "leak", "lengths", "edge_cases")  # the checklist's progress phases


@dataclass(frozen=True)
class RunSize:
    """How big the Validate step's run is."""

    title: str
    repeats: int
    lengths: tuple[int, ...]
    soak: int
    max_prompts: int | None  # domain prompts (None: all)
    precisions: tuple[str, ...]

    def describe(self) -> str:
        prompts = "all" if self.max_prompts is None else f"{self.max_prompts}"
        return (f"{self.repeats} repetitions · input lengths {', '.join(map(str, self.lengths))}"
                f" · soak {self.soak} generations · {prompts} domain prompts · sweep "
                f"{', '.join(self.precisions)}")


# The sweep's variants are the quantization advisor's presets (core.sweep.PRESETS).
SIZES: dict[str, RunSize] = {
    "quick": RunSize("Quick", 2, (16, 64, 256), 20, 20, SWEEP_PRESETS["quick"]),
    "standard": RunSize("Standard", 3, (16, 64, 256, 1024), 100, None, SWEEP_PRESETS["quick"]),
    "thorough": RunSize("Thorough", 5, (16, 64, 256, 1024, 2048), 300, None,
                        SWEEP_PRESETS["full"]),
}
DEFAULT_SIZE = "quick"
SWEEP_MAX_PROMPTS = 20  # domain prompts per sweep variant when the size says "all"
BENCH_MAX_TOKENS = 64


class PlanError(Refused):
    """The Validate step cannot run what was chosen (no model, unknown size); for the user."""


@dataclass(frozen=True)
class ValidatePlan:
    """The Validate step's run: phases at one size, each phase as its runner's Options."""

    phases: tuple[str, ...]
    size: str
    bench: bench_step.Options | None = None
    checklist: Options | None = None
    sweep: Any | None = None  # core.steps.sweep.Options

    def options_of(self, phase: str) -> Any:
        return getattr(self, phase)

    def commands(self) -> list[list[str]]:
        """The headless commands that redo this plan, in order."""
        return [self.options_of(p).argv() for p in self.phases]

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "phases": list(self.phases),
                **{p: asdict(self.options_of(p)) for p in self.phases}}

    def fraction(self, event: Progress) -> float | None:
        """How far the whole plan is (0..1) at one of run_plan's events (each phase an equal
        share of the bar); None when the event says nothing about it."""
        if event.fraction is None or event.phase not in self.phases:
            return None
        return (self.phases.index(event.phase) + event.fraction) / len(self.phases)


@dataclass(frozen=True)
class Choices:
    """What the Validate screen had chosen for its last run (restored on resume)."""

    phases: tuple[str, ...]
    size: str
    backend: str
    domain_file: str | None


def last_choices(record: Any) -> Choices | None:
    """The Validate step's choices of its last run (an interrupted one's, else the recorded
    one's), for the model this record holds now; None when there are none for it."""
    saved = record.last_options("validate")
    phases = saved.get("phases")
    if not isinstance(phases, list) or not all(p in PHASES for p in phases):
        return None
    first = next((saved[p] for p in ("checklist", "bench") if isinstance(saved.get(p), dict)),
                 None)
    backend = str(first.get("backend", "ort")) if first else "ort"
    if first is not None:  # measured the model this record holds now, not an earlier one
        now = record.deployed_id if backend == "foundry" else record.onnx_dir
        if now is None or str(first.get("model")) != str(now):
            return None
    domain = next((saved[p].get("domain_file") for p in ("checklist", "sweep")
                   if isinstance(saved.get(p), dict) and saved[p].get("domain_file")), None)
    size = saved.get("size") if saved.get("size") in SIZES else DEFAULT_SIZE
    return Choices(tuple(phases), size, backend, str(domain) if domain else None)


def unavailable_phases(record: Any) -> dict[str, str]:
    """The phases a run record cannot measure yet, each with the reason (the Validate screen
    greys them out; make_plan refuses them with the same words)."""
    out: dict[str, str] = {}
    if record.onnx_dir is None:
        out["bench"] = out["checklist"] = "no converted model yet: the Convert step provides it"
    if record.model_dir is None:
        out["sweep"] = "the sweep converts the Hugging Face model: choose one in the Model step"
    return out


def backends_for(record: Any) -> list[tuple[str, str]]:
    """The runtimes a run record's model can be measured on, as (title, backend)."""
    out = [("onnxruntime-genai", "ort")]
    if record.deployed_name:
        out.append((f"Foundry Local ({record.deployed_id})", "foundry"))
    return out


def make_plan(record: Any, phases: tuple[str, ...] | list[str], size: str = DEFAULT_SIZE,
              backend: str = "ort", report_dir: str | Path | None = None,
              domain_file: str | Path | None = None) -> ValidatePlan:
    """The plan for a run record (its converted model, source, deployment) and the choices.
    `domain_file`: the domain prompts of the checklist and the sweep (None: the model folder's
    own domain_eval.jsonl, when it has one)."""
    from slm_wizard.core.base.reports import default_report_dir
    from slm_wizard.core.steps import sweep as sweep_step

    if size not in SIZES:
        raise PlanError(f"unknown size {size!r}: choose {', '.join(SIZES)}")
    chosen = tuple(p for p in PHASES if p in phases)
    if not chosen:
        raise PlanError("choose at least one of the benchmark, the checklist and the sweep")
    s = SIZES[size]
    onnx_dir, model_dir = record.onnx_dir, record.model_dir
    missing = unavailable_phases(record)
    for phase in chosen:
        if phase in missing:
            raise PlanError(missing[phase])
    name = Path(onnx_dir or model_dir or "model").name
    report = str(report_dir or default_report_dir(name))
    domain = Path(domain_file).expanduser() if domain_file else \
        find_domain_file(onnx_dir, model_dir)
    domain_text = str(domain) if domain else None
    if backend == "foundry" and record.deployed_name:
        model, cache = record.deployed_id, (str(record.foundry_cache)
                                              if record.foundry_cache else None)
    else:
        backend, model, cache = "ort", str(onnx_dir), None
    plan: dict[str, Any] = {}
    if "bench" in chosen:
        plan["bench"] = bench_step.Options(model, backend, cache, repeats=s.repeats, warmup=1,
                                           lengths=s.lengths, max_tokens=BENCH_MAX_TOKENS,
                                           report_dir=report)
    if "checklist" in chosen:
        plan["checklist"] = Options(model, backend, cache, domain_file=domain_text,
                                    max_prompts=s.max_prompts, soak=s.soak, lengths=s.lengths,
                                    repeats=s.repeats, report_dir=report)
    if "sweep" in chosen:
        plan["sweep"] = sweep_step.Options(str(model_dir), s.precisions, domain_file=domain_text,
                                           max_prompts=s.max_prompts or SWEEP_MAX_PROMPTS,
                                           report_dir=report)
    return ValidatePlan(chosen, size, **plan)


def describe_plan(plan: ValidatePlan) -> str:
    """What this plan runs, phase by phase, in words: only what is chosen, and the domain prompts
    as they will be found (the plan line on the Validate screen; never promises what won't run)."""
    parts: list[str] = []
    if plan.bench is not None:
        parts.append(f"benchmark: {plan.bench.repeats} repetitions, input lengths "
                     f"{', '.join(map(str, plan.bench.lengths))}")
    if plan.checklist is not None:
        c = plan.checklist
        domain = c.domain_path()
        if domain is None or not Path(domain).is_file():
            prompts = f"no domain prompts (no domain file given, no {DOMAIN_FILE} found)"
        else:
            try:
                n = len(load_domain_cases(domain))
            except (OSError, ValueError):
                n = 0
            n = n if c.max_prompts is None else min(n, c.max_prompts)
            prompts = f"{n} domain prompts" if n else f"no usable domain prompts in {domain.name}"
        parts.append(f"checklist: soak {c.soak} generations, {prompts}")
    if plan.sweep is not None:
        parts.append(f"sweep: {', '.join(plan.sweep.precisions)}")
    return " · ".join(parts) or "nothing chosen"


def preview(record: Any, ticked: tuple[str, ...] | list[str], size: str = DEFAULT_SIZE,
            backend: str = "ort", domain_file: str | Path | None = None,
            ) -> tuple[ValidatePlan | None, str]:
    """The Validate screen's plan for what is ticked (the phases the record cannot measure left
    out, an unknown size read as the default) and its line in words: what Run runs, or None and
    why nothing can run. Run takes the plan made the same way at the moment it is pressed."""
    missing = unavailable_phases(record)
    size = size if size in SIZES else DEFAULT_SIZE
    try:
        plan = make_plan(record, tuple(p for p in ticked if p not in missing), size, backend,
                         domain_file=domain_file)
    except PlanError as exc:
        return None, f"Nothing to run: {exc}."
    return plan, f"{SIZES[size].title}: {describe_plan(plan)}"


def domain_cases(path: str | Path) -> int:
    """How many prompts a domain file holds; ValidateError saying what is wrong with it (the
    Validate screen checks a typed file with this)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValidateError(f"{file} is not a file" if file.exists() else f"{file} does not exist")
    return len(load_domain_cases(file))


def default_domain_file(record: Any) -> Path | None:
    """The domain file a plan uses when none is given: the model folder's domain_eval.jsonl."""
    return find_domain_file(record.onnx_dir, record.model_dir)


def phase_fraction(phase: str, p: Progress) -> float | None:
    """How far a phase is (0..1) from its runner's progress report; None when unknown."""
    if p.phase in ("load", "note"):
        return None
    part = p.done / p.total if p.total else 0.0
    if phase == "bench":  # the prompt set is the first half, the length sweep the second
        return ((0 if p.phase == "prompts" else 1) + part) / 2
    if phase == "checklist":
        step = CHECKLIST_STEPS.index(p.phase) if p.phase in CHECKLIST_STEPS else 0
        return (step + part) / len(CHECKLIST_STEPS)
    return part if p.total else None


@dataclass
class PlanResult:
    plan: ValidatePlan
    results: dict[str, Any] = field(default_factory=dict)  # phase -> its runner's Result
    failed: str | None = None  # the phase that failed
    error: str = ""  # why, for the user
    cancelled: bool = False

    def summary(self) -> str:
        parts = []
        if "bench" in self.results:
            parts.append(self.results["bench"].summary_line())
        if "checklist" in self.results:
            parts.append("checklist: " + self.results["checklist"].checklist.summary_line())
        if "sweep" in self.results:
            parts.append(f"sweep: {self.results['sweep'].sweep.recommended or 'no'} recommended")
        return " · ".join(parts)

    @property
    def status(self) -> Status:
        if self.failed:
            return Status.FAIL
        statuses = [r.status for r in self.results.values()]
        if self.cancelled or not statuses:
            return Status.SKIP
        # Every phase ran: the step is done. Checks the model failed make it a warning (the
        # summary line says which), not a step that did not run.
        if Status.FAIL in statuses or Status.WARN in statuses:
            return Status.WARN
        if Status.SKIP in statuses:
            return Status.SKIP
        return Status.OK


def run_plan(plan: ValidatePlan, *, on_progress: ProgressFn | None = None,
             on_sample: Callable[[float], None] | None = None,
             on_phase_done: Callable[[str, Any], Any] | None = None,
             cancel: threading.Event | None = None) -> PlanResult:
    """Run the plan's phases in order (the benchmark and the checklist share one loaded model).

    Expected failures (bad input, a model that does not load) end the run and are reported in
    the result; anything else is a bug and propagates. `on_progress` gets `Progress` events whose
    phase is the plan's phase (bench, checklist, sweep), with the fraction of that phase done."""
    from slm_wizard.core.evaluate.sweep_variants import SweepError
    from slm_wizard.core.runtime.chat import ChatError
    from slm_wizard.core.steps import sweep as sweep_step
    from slm_wizard.core.steps.chat import ChatInputError

    cancel = cancel or threading.Event()
    out = PlanResult(plan)
    def show(phase: str, p: Progress) -> None:
        if on_progress is not None:
            text = p.text if p.phase in ("load", "note", "sweep") else f"{p.phase}: {p.text}"
            on_progress(Progress(phase, p.done, p.total, text, phase_fraction(phase, p)))

    def progress_of(phase: str) -> ProgressFn:
        return lambda p: show(phase, p)

    def done(phase: str, result: Any) -> None:
        out.results[phase] = result
        if on_phase_done is not None:
            on_phase_done(phase, result)

    current = plan.phases[0]
    try:
        measured = [p for p in ("bench", "checklist") if p in plan.phases]
        if measured:
            current = measured[0]
            first = plan.options_of(current)
            backend = open_measured_backend(first.backend, first.model, first.cache_dir,
                                            progress_of(current))
            try:
                if plan.bench is not None and not cancel.is_set():
                    current = "bench"
                    done("bench", bench_step.run(plan.bench, on_progress=progress_of("bench"),
                                                 cancel=cancel, backend=backend))
                if plan.checklist is not None and not cancel.is_set():
                    current = "checklist"
                    done("checklist", run(plan.checklist, on_progress=progress_of("checklist"),
                                          on_sample=on_sample, cancel=cancel, backend=backend))
            finally:
                backend.close()
        if plan.sweep is not None and not cancel.is_set():
            current = "sweep"
            done("sweep", sweep_step.run(plan.sweep, on_progress=progress_of("sweep"),
                                         cancel=cancel))
    except (MeasureError, ValidateError, BenchError, SweepError, ChatError,
            ChatInputError) as exc:
        out.failed, out.error = current, str(exc)
    except OSError as exc:
        out.failed, out.error = current, f"a file could not be written or read: {exc}"
    out.cancelled = cancel.is_set()
    return out


def plan_record(result: PlanResult) -> StepRecord:
    """The Validate step's record: the plan's options, the reports, the figures, the commands
    (the main one, the checklist's when it ran, in `command`; all of them in options)."""
    plan = result.plan
    files: dict[str, str] = {}
    figures: dict[str, str] = {}
    notes: list[str] = []
    for phase in plan.phases:
        r = result.results.get(phase)
        if r is None:
            continue
        files.update(report_files(PHASE_TITLES[phase].lower(), r.report))
        figures.update(r.figures())
        notes += r.notes
    if result.failed:
        notes.append(f"{PHASE_TITLES[result.failed]} failed: {result.error}")
    report_dir = next((o.report_dir for o in (plan.options_of(p) for p in plan.phases)
                       if o.report_dir), None)
    if report_dir:
        files["report folder"] = report_dir
    ran = [p for p in plan.phases if p in result.results]
    # The commands that redo each phase, without the report folder: a rerun writes a new
    # report beside the wizard's instead of overwriting it.
    commands = [replace(plan.options_of(p), report_dir=None).argv() for p in ran]
    options = plan.to_dict() | {"report_dir": report_dir, "commands": commands}
    return StepRecord("validate", result.status, result.summary(), options=options, files=files,
                      figures=figures, command=commands[0] if commands else [],
                      more_commands=commands[1:], notes=notes)
