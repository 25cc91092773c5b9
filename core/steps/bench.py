"""Step runner: the benchmark (TTFT, prefill/decode tok/s, latency, RSS, CPU %) of a model.

Also holds what the three measuring runners (bench, checklist, sweep) share: opening the
backend, exporting the report, and `MeasureError` for a failure after the input was accepted.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.reports import Report, ReportPaths
from slm_wizard.core.base.status import Status
from slm_wizard.core.evaluate.bench import DEFAULT_LENGTHS, BenchError, BenchResult, Progress
from slm_wizard.core.evaluate.bench import METRIC_TITLES as METRIC_TITLES  # for the fronts
from slm_wizard.core.run.record import StepRecord
from slm_wizard.core.steps import ProgressFn

BACKENDS = ("ort", "foundry")


class MeasureError(RuntimeError):
    """The model could not be loaded or a generation failed (the input itself was fine)."""


def model_name(model: str) -> str:
    """A short name for report folders: the folder's name, or the Foundry model id."""
    return Path(str(model)).name or str(model) or "model"


def open_measured_backend(backend: str, model: str, cache_dir: str | None,
                          on_progress: ProgressFn | None = None) -> Any:
    """The chat backend to measure; MeasureError (with the reason) when it cannot open, and
    ChatInputError (refused input) when the folder or cache named cannot be it."""
    from slm_wizard.core.runtime.backends import open_backend
    from slm_wizard.core.runtime.chat import ChatError
    from slm_wizard.core.steps.chat import check_model_place

    check_model_place(backend, model, cache_dir)
    if on_progress is not None:
        on_progress(Progress("load", 0, 0, f"loading {model} ({backend})…"))
    try:
        kw = {"cache_dir": cache_dir} if cache_dir and backend == "foundry" else {}
        return open_backend(backend, model, **kw)
    except ChatError as exc:
        raise MeasureError(str(exc)) from exc


def export(report: Report, report_dir: str | None, model: str) -> tuple[ReportPaths | None, str]:
    """Write the report (Markdown, JSON, CSV): (paths, "") or (None, why it could not)."""
    from slm_wizard.core.base.reports import export_report

    try:
        return export_report(report, Path(report_dir) if report_dir else None,
                             model_name=model_name(model)), ""
    except OSError as exc:
        return None, f"the report could not be written: {exc}"


def report_files(label: str, paths: ReportPaths | None) -> dict[str, str]:
    return {} if paths is None else {f"{label} report": str(paths.markdown)}


def report_json(paths: ReportPaths | None) -> dict[str, Any] | None:
    if paths is None:
        return None
    return {"folder": str(paths.folder), "markdown": str(paths.markdown),
            "json": str(paths.json), "csv": [str(p) for p in paths.csv]}


def _opt(flag: str, value: Any) -> list[str]:
    return [] if value is None else [flag, str(value)]


def backend_argv(backend: str, cache_dir: str | None) -> list[str]:
    out = ["--backend", backend] if backend != "ort" else []
    return out + (_opt("--cache-dir", cache_dir) if backend == "foundry" else [])


@dataclass(frozen=True)
class Options:
    """What the benchmark runs: the model, the runtime, the prompt set and the sweep sizes."""

    model: str  # the converted ONNX folder (ort) or the Foundry Local model id (foundry)
    backend: str = "ort"
    cache_dir: str | None = None  # Foundry Local's model cache (foundry)
    repeats: int = 3
    warmup: int = 1
    lengths: tuple[int, ...] = DEFAULT_LENGTHS  # () skips the input-length sweep
    prompts_file: str | None = None  # JSONL; None: the built-in prompts
    max_tokens: int = 64
    report_dir: str | None = None  # None: <data dir>/reports/<time>-<model>/

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", str(self.model))
        object.__setattr__(self, "lengths", tuple(int(n) for n in self.lengths))
        for name in ("cache_dir", "prompts_file", "report_dir"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value in (None, "") else str(value))

    def settings(self) -> Any:
        from slm_wizard.core.runtime.chat import GenerationSettings

        return GenerationSettings(max_tokens=self.max_tokens)

    def validate(self) -> None:
        """BenchError (a message for the user) when an option is out of bounds."""
        from slm_wizard.core.base import schema as sc
        from slm_wizard.core.base.reports import report_dir_problem

        if report_dir_problem(self.report_dir):  # a file, or under one: refused before a run
            raise BenchError(report_dir_problem(self.report_dir))

        try:  # the declared bounds of the sizes
            sc.check_options({"repeats": self.repeats, "warmup": self.warmup,
                              "max_tokens": self.max_tokens, "lengths": list(self.lengths)},
                             {"repeats": sc.positive_int("repetitions", sc.MAX_REPEATS),
                              "warmup": sc.whole_number("warm-up runs", 0, sc.MAX_WARMUP),
                              "max_tokens": sc.positive_int("tokens", sc.MAX_TOKENS),
                              "lengths": {"type": "array", "items": sc.positive_int(
                                  "prompt tokens", sc.MAX_INPUT_TOKENS)}},
                             {"repeats": "--repeats", "warmup": "--warmup",
                              "max_tokens": "--max-tokens", "lengths": "--lengths"})
        except sc.SchemaError as exc:
            raise BenchError(str(exc)) from None
        if self.backend not in BACKENDS:
            raise BenchError(f"unknown backend {self.backend!r}: choose {' or '.join(BACKENDS)}")
        if self.repeats < 1:
            raise BenchError("repetitions must be at least 1")
        if self.warmup < 0:
            raise BenchError("warm-up runs cannot be negative")
        if any(n <= 0 for n in self.lengths):
            raise BenchError("input lengths must be positive")
        try:
            self.settings().validate()
        except ValueError as exc:
            raise BenchError(str(exc)) from exc

    def argv(self) -> list[str]:
        """The headless command that runs exactly these options."""
        lengths = ["--lengths", *map(str, self.lengths)] if self.lengths else ["--no-lengths"]
        return ["slm-wizard", "bench", self.model, *backend_argv(self.backend, self.cache_dir),
                "--repeats", str(self.repeats), "--warmup", str(self.warmup), *lengths,
                *_opt("--prompts", self.prompts_file), "--max-tokens", str(self.max_tokens),
                *_opt("--report-dir", self.report_dir)]


@dataclass
class Result:
    status: Status
    bench: BenchResult
    report: ReportPaths | None = None
    report_error: str = ""
    notes: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, str]:
        s = self.bench.summary()
        out: dict[str, str] = {}
        if s["decode_tps"]:
            out["decode tok/s (benchmark median)"] = f"{s['decode_tps'].median:.1f}"
        if s["ttft_s"]:
            out["TTFT (benchmark median)"] = f"{s['ttft_s'].median * 1000:.0f} ms"
        if s["peak_rss_mb"]:
            out["peak RSS (benchmark)"] = f"{s['peak_rss_mb'].max:.0f} MB"
        return out

    def summary_line(self) -> str:
        s = self.bench.summary()
        if not s["decode_tps"]:
            return "no runs finished"
        return (f"decode {s['decode_tps'].median:.1f} tok/s · TTFT "
                f"{s['ttft_s'].median * 1000:.0f} ms (medians of {s['decode_tps'].n} runs)")

    def to_dict(self) -> dict[str, Any]:
        out = self.bench.to_dict()
        out["report"] = report_json(self.report)
        return out


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None, backend: Any | None = None) -> Result:
    """Benchmark the model. BenchError: bad options or prompt file (before anything runs);
    MeasureError: the model did not load or a generation failed. `backend`: an already open
    backend to use (the Validate step shares one between the benchmark and the checklist)."""
    from slm_wizard.core.base.schema import BENCH_PROMPTS_CAP
    from slm_wizard.core.evaluate.bench import load_prompts, run_benchmark
    from slm_wizard.core.runtime.chat import ChatError

    options.validate()
    from slm_wizard.core.base.reports import check_report_dir

    check_report_dir(options.report_dir, ["bench"], [options.model])  # before anything runs
    prompts = load_prompts(options.prompts_file) if options.prompts_file else None
    capped = []
    if prompts is not None and len(prompts) > BENCH_PROMPTS_CAP:  # stated, and said
        capped = [f"the prompt file holds {len(prompts):,} prompts: the first "
                  f"{BENCH_PROMPTS_CAP} are measured"]
        prompts = prompts[:BENCH_PROMPTS_CAP]
        if on_progress is not None:
            on_progress(Progress("note", 0, 0, f"note: {capped[0]}"))
    own = backend is None
    if own:
        backend = open_measured_backend(options.backend, options.model, options.cache_dir,
                                        on_progress)
    try:
        bench = run_benchmark(backend, prompts, warmup=options.warmup, repeats=options.repeats,
                              settings=options.settings(), lengths=options.lengths,
                              model=options.model, on_progress=on_progress, cancel=cancel)
    except (BenchError, ChatError) as exc:
        raise MeasureError(str(exc)) from exc
    finally:
        if own:
            backend.close()
    paths, problem = export(bench.to_report(), options.report_dir, options.model)
    status = Status.SKIP if bench.cancelled else Status.FAIL if problem else Status.OK
    # The lengths left out or replaced, and why, go with the record too.
    notes = capped + list(bench.length_notes) + ([problem] if problem else [])
    return Result(status, bench, paths, problem, notes)


def to_record(options: Options, result: Result) -> StepRecord:
    return StepRecord("validate", result.status, "benchmark: " + result.summary_line(),
                      options=asdict(options), files=report_files("benchmark", result.report),
                      figures=result.figures(), command=options.argv(), notes=result.notes)
