"""Step runner: the quantization advisor (convert each variant once, measure size, speed and
fidelity against fp32, recommend one by a stated rule)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.reports import ReportPaths
from slm_wizard.core.base.status import Status
from slm_wizard.core.evaluate.sweep_result import (
    MAX_KLD,
    MIN_TOP1,
    SweepResult,
    plot_svg,
    plot_text,
)
from slm_wizard.core.evaluate.sweep_variants import (
    DEFAULT_VARIANTS,
    PRESETS,
    SweepError,
    parse_variants,
)
from slm_wizard.core.run.record import ONNX_DIR, PRECISION, StepRecord
from slm_wizard.core.steps import ProgressFn
from slm_wizard.core.steps.bench import export, report_files, report_json


@dataclass(frozen=True)
class Options:
    """What the sweep runs: the Hugging Face folder, the variants (or a preset), the limits."""

    model_dir: str
    precisions: tuple[str, ...] = DEFAULT_VARIANTS  # variant names (core.sweep.parse_variant)
    domain_file: str | None = None  # None: <model_dir>/domain_eval.jsonl, else neutral text
    max_prompts: int = 20  # domain prompts answered per variant (the domain score)
    output: str | None = None  # the variants' cache root (None: <cache dir>/sweep)
    report_dir: str | None = None
    preset: str | None = None  # quick | full: replaces `precisions`
    max_kld: float = MAX_KLD
    min_top1: float = MIN_TOP1
    fidelity_tokens: int | None = None  # answer tokens compared (None: fidelity.MAX_TOKENS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_dir", str(self.model_dir))
        precisions = self.precisions
        if isinstance(precisions, str):
            precisions = tuple(p.strip() for p in precisions.split(",") if p.strip())
        if self.preset in PRESETS:
            precisions = PRESETS[self.preset]
        object.__setattr__(self, "precisions", tuple(precisions))
        for name in ("domain_file", "output", "report_dir", "preset"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value in (None, "") else str(value))

    def validate(self) -> None:
        """SweepError (a message for the user) when an option is out of bounds."""
        from slm_wizard.core.base import schema as sc
        from slm_wizard.core.base.paths import file_in_the_way, reserved_name_problem
        from slm_wizard.core.base.reports import report_dir_problem

        places = [report_dir_problem(self.report_dir)]  # a file, or under one: refused now
        if self.output is not None:
            places += [file_in_the_way(self.output, "--output"),
                       reserved_name_problem(self.output, "--output")]
        if any(places):
            raise SweepError(next(p for p in places if p))
        if self.preset is not None and self.preset not in PRESETS:
            raise SweepError(f"unknown preset {self.preset!r}: choose {' or '.join(PRESETS)}")
        if not self.precisions:
            raise SweepError("--variants is empty: name at least one variant, e.g. fp32,int8,int4")
        parse_variants(list(self.precisions))
        try:  # the declared bounds (0, nan and huge values refused)
            sc.check_options(
                {"max_prompts": self.max_prompts, "max_kld": self.max_kld,
                 "min_top1": self.min_top1, "fidelity_tokens": self.fidelity_tokens},
                {"max_prompts": sc.positive_int("prompts", sc.MAX_PROMPTS),
                 "max_kld": sc.positive_number("a mean KL divergence such as 0.05", sc.MAX_KLD),
                 "min_top1": sc.number_range("a share such as 0.9", 0, 1),
                 "fidelity_tokens": sc.positive_int("answer tokens; leave it out for the "
                                                    "default", sc.MAX_FIDELITY_TOKENS)},
                {"max_prompts": "--max-prompts", "max_kld": "--max-kld",
                 "min_top1": "--min-top1", "fidelity_tokens": "--fidelity-tokens"})
        except sc.SchemaError as exc:
            raise SweepError(str(exc)) from None

    def argv(self) -> list[str]:
        """The headless command that runs exactly these options."""
        out = ["slm-wizard", "sweep", self.model_dir]
        if self.preset:
            out += ["--preset", self.preset]
        else:
            out += ["--variants", ",".join(self.precisions)]
        if self.domain_file:
            out += ["--domain", self.domain_file]
        out += ["--max-prompts", str(self.max_prompts)]
        if self.max_kld != MAX_KLD:
            out += ["--max-kld", f"{self.max_kld:g}"]
        if self.min_top1 != MIN_TOP1:
            out += ["--min-top1", f"{self.min_top1:g}"]
        if self.fidelity_tokens:
            out += ["--fidelity-tokens", str(self.fidelity_tokens)]
        if self.output:
            out += ["--output", self.output]
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
        out = {}
        if self.sweep.recommended:
            out["recommended variant"] = self.sweep.recommended
            v = self.sweep.variant(self.sweep.recommended)
            if v and v.mean_kld is not None:
                out["mean KLD from fp32"] = f"{v.mean_kld:.4g}"
        out["fidelity measured on"] = self.sweep.domain_source
        return out

    def to_dict(self) -> dict[str, Any]:
        return self.sweep.to_dict() | {"report": report_json(self.report)}


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Convert, measure and compare. SweepError: bad options or model folder."""
    from slm_wizard.core.evaluate.sweep import run_sweep

    options.validate()
    from slm_wizard.core.base.reports import check_report_dir

    check_report_dir(options.report_dir, ["sweep"], [options.model_dir])  # before anything runs
    result = run_sweep(options.model_dir, parse_variants(list(options.precisions)),
                       output_root=options.output, domain_file=options.domain_file,
                       max_prompts=options.max_prompts, max_kld=options.max_kld,
                       min_top1=options.min_top1, fidelity_tokens=options.fidelity_tokens or 0,
                       on_progress=on_progress, cancel=cancel)
    paths, problem = export(result.to_report(), options.report_dir, result.model)
    if paths is not None:
        problem = problem or _add_plot(paths, result)
    failed = [v for v in result.variants if not v.ok]
    if result.cancelled:
        status = Status.SKIP
    elif result.recommended is None or problem:  # a report that could not be written fails
        status = Status.FAIL
    else:
        status = Status.WARN if problem or failed else Status.OK
    notes = [problem] if problem else []
    notes += [f"{v.name} failed: {v.error}" for v in failed]
    notes.append(f"fidelity measured on {result.domain_source}")
    return Result(status, result, paths, problem, notes)


def _add_plot(paths: ReportPaths, result: SweepResult) -> str:
    """The size/KLD plot in the Markdown report (text) and beside it (SVG); '' or a problem."""
    from slm_wizard.core.base.fileio import write_text_atomic

    try:
        svg = paths.folder / "sweep-plot.svg"
        write_text_atomic(svg, plot_svg(result))
        md = paths.markdown.read_text(encoding="utf-8")
        md += ("\n## Size against mean KLD (tok/s in the legend)\n\n```text\n"
               f"{plot_text(result)}\n```\n\n![size against mean KLD]({svg.name})\n")
        write_text_atomic(paths.markdown, md)
    except OSError as exc:
        return f"the plot could not be written: {exc}"
    return ""


def to_record(options: Options, result: Result) -> StepRecord:
    return StepRecord("validate", result.status,
                      f"sweep: {result.sweep.recommended or 'no variant'} recommended",
                      options=asdict(options), files=report_files("sweep", result.report),
                      figures=result.figures(), command=options.argv(), notes=result.notes)


VARIANT = "variant"  # the record of a sweep variant made the current model (core.record)


def variant_to_record(sweep: SweepResult, name: str) -> StepRecord:
    """The record of making the sweep's variant `name` the current model (Deploy, Chat and
    Validate then take its folder). Its command is the sweep of that one variant into the same
    cache root: it rebuilds exactly this folder (found in the cache after the sweep that made
    it), where `slm-wizard convert` cannot express the sweep's int4 embedding and algorithm
    options."""
    v = sweep.variant(name)
    if v is None or not v.ok or not v.output_dir:
        raise SweepError(f"{name!r} is not a measured variant of this sweep")
    folder = Path(v.output_dir)
    root = folder.parent.parent  # core.sweep.variant_folder: <root>/<model hash>/<variant>
    options = Options(sweep.model, (v.name,), output=str(root))
    return StepRecord(VARIANT, Status.OK, f"{v.name} ({v.description}) → {folder}",
                      options={"variant": v.name, "precision": v.precision,
                               "model_dir": sweep.model, "output_dir": str(folder)},
                      files={f"Converted ONNX model ({v.name})": str(folder)},
                      command=options.argv(), outputs={ONNX_DIR: str(folder),
                                                       PRECISION: v.precision})
