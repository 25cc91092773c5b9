"""Step runner: the precision sweep (convert to each precision, measure, compare, recommend)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from slm_wizard.core.record import StepRecord
from slm_wizard.core.reports import ReportPaths
from slm_wizard.core.status import Status
from slm_wizard.core.steps import ProgressFn
from slm_wizard.core.steps.bench import export, report_files, report_json
from slm_wizard.core.sweep import DEFAULT_VARIANTS, SweepError, SweepResult, parse_variants

METHODS = ("config", "auto-opt")


@dataclass(frozen=True)
class Options:
    """What the sweep runs: the Hugging Face folder, the variants and how many prompts."""

    model_dir: str
    precisions: tuple[str, ...] = DEFAULT_VARIANTS
    domain_file: str | None = None  # None: <model_dir>/domain_eval.jsonl, else built-in prompts
    max_prompts: int = 20
    output: str | None = None  # None: <data dir>/sweeps/<time>-<model>/
    method: str = "config"
    report_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_dir", str(self.model_dir))
        precisions = self.precisions
        if isinstance(precisions, str):
            precisions = tuple(p.strip() for p in precisions.split(",") if p.strip())
        object.__setattr__(self, "precisions", tuple(precisions))
        for name in ("domain_file", "output", "report_dir"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value in (None, "") else str(value))

    def validate(self) -> None:
        """SweepError (a message for the user) when an option is out of bounds."""
        parse_variants(list(self.precisions))
        if self.max_prompts < 1:
            raise SweepError("--max-prompts must be at least 1")
        if self.method not in METHODS:
            raise SweepError(f"unknown method {self.method!r}: choose {' or '.join(METHODS)}")

    def argv(self) -> list[str]:
        """The headless command that runs exactly these options."""
        out = ["slm-wizard", "sweep", self.model_dir, "--precisions", ",".join(self.precisions)]
        if self.domain_file:
            out += ["--domain", self.domain_file]
        out += ["--max-prompts", str(self.max_prompts)]
        if self.output:
            out += ["--output", self.output]
        out += ["--method", self.method]
        if self.report_dir:
            out += ["--report-dir", self.report_dir]
        return out


@dataclass
class Result:
    status: Status
    sweep: SweepResult
    report: ReportPaths | None = None
    report_error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [v.name for v in self.sweep.variants if not v.ok]

    def figures(self) -> dict[str, str]:
        return ({"recommended precision": self.sweep.recommended}
                if self.sweep.recommended else {})

    def to_dict(self) -> dict[str, Any]:
        return self.sweep.to_report().data | {"recommendation": self.sweep.recommendation,
                                              "report": report_json(self.report)}


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Convert, measure and compare. SweepError: bad options or model folder."""
    from slm_wizard.core.sweep import run_sweep

    options.validate()
    result = run_sweep(options.model_dir, parse_variants(list(options.precisions)),
                       output_root=options.output, domain_file=options.domain_file,
                       max_prompts=options.max_prompts, method=options.method,
                       on_progress=on_progress, cancel=cancel)
    paths, problem = export(result.to_report(), options.report_dir, result.model)
    failed = [v for v in result.variants if not v.ok]
    if result.cancelled:
        status = Status.SKIP
    elif failed or not result.variants:
        status = Status.FAIL
    else:
        status = Status.WARN if problem else Status.OK
    notes = [problem] if problem else []
    notes += [f"{v.name} failed: {v.error}" for v in failed]
    return Result(status, result, paths, problem, notes)


def to_record(options: Options, result: Result) -> StepRecord:
    return StepRecord("validate", result.status,
                      f"sweep: {result.sweep.recommended or 'no'} recommended",
                      options=asdict(options), files=report_files("sweep", result.report),
                      figures=result.figures(), command=options.argv(), notes=result.notes)
