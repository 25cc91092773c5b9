"""The quality checklist run: the chosen checks in order on one backend, and its result (table,
evidence, report).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from slm_wizard.core.base.reports import Report, Table
from slm_wizard.core.base.status import CheckResult
from slm_wizard.core.evaluate.bench import (
    DEFAULT_LENGTHS,
    BenchResult,
    ProgressFn,
    run_benchmark,
)
from slm_wizard.core.evaluate.validate import (
    CHECK_IDS,
    FAIL,
    LABEL,
    PASS,
    SKIP,
    DomainCase,
    Thresholds,
    ValidateError,
    answer_domain,
    check_domain,
    check_format,
)
from slm_wizard.core.evaluate.validate_runtime import (
    check_consistency,
    check_edge_cases,
    check_leak,
)

# ----------------------------------------------------------------------------- the checklist


@dataclass
class ChecklistResult:
    model: str
    backend: str
    checks: list[CheckResult] = field(default_factory=list)
    bench: BenchResult | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    elapsed_s: float = 0.0
    cancelled: bool = False

    @property
    def passed(self) -> bool:
        """True when no check failed (skipped checks do not fail the list)."""
        return not self.cancelled and all(c.status != FAIL for c in self.checks)

    def check(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def summary_line(self) -> str:
        counts = {s: sum(1 for c in self.checks if c.status == s) for s in (PASS, FAIL, SKIP)}
        text = f"{counts[PASS]} passed, {counts[FAIL]} failed"
        if counts[SKIP]:
            text += f", {counts[SKIP]} skipped"
        return text + (" (cancelled)" if self.cancelled else "")

    def table(self) -> Table:
        table = Table("checks", "Quality checklist",
                      ["check", "result", "measured", "threshold", "seconds"])
        for c in self.checks:
            table.rows.append([c.title, LABEL[c.status], c.found, c.required,
                               round(c.seconds, 2)])
        return table

    def to_report(self) -> Report:
        tables = [self.table()]
        evidence = Table("evidence", "Evidence", ["check", "evidence"])
        for c in self.checks:
            evidence.rows += [[c.id, line] for line in c.evidence]
        tables.append(evidence)
        if self.bench is not None:
            tables += [t for t in self.bench.tables() if t.key == "lengths"]
        meta = {"model": self.model, "backend": self.backend, "result": self.summary_line(),
                "elapsed (s)": round(self.elapsed_s, 2)}
        data = {"checks": [c.to_dict() for c in self.checks],
                "thresholds": asdict(self.thresholds), "passed": self.passed}
        return Report("validate", "Quality checklist", meta, tables, data=data)


def run_checklist(
    backend: Any,
    *,
    domain_cases: Sequence[DomainCase] | None = None,
    soak: int = 100,
    lengths: Sequence[int] = DEFAULT_LENGTHS,
    repeats: int = 2,
    checks: Sequence[str] = CHECK_IDS,
    thresholds: Thresholds | None = None,
    settings: Any | None = None,
    model: str = "",
    on_progress: ProgressFn | None = None,
    on_sample: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> ChecklistResult:
    """Run the chosen checks in order; a check that cannot run is skipped with the reason."""
    from slm_wizard.core.runtime.chat import GenerationSettings

    unknown = [c for c in checks if c not in CHECK_IDS]
    if unknown:
        raise ValidateError(f"unknown checks: {', '.join(unknown)} (known: {', '.join(CHECK_IDS)})")
    t = thresholds or Thresholds()
    result = ChecklistResult(model, getattr(backend, "name", type(backend).__name__),
                             thresholds=t)
    started = time.perf_counter()

    def stopped() -> bool:
        return cancel is not None and cancel.is_set()

    if ("domain" in checks or "format" in checks) and not stopped():
        t0 = time.perf_counter()
        answers = answer_domain(backend, domain_cases or [], settings=settings,
                                on_progress=on_progress, cancel=cancel)
        took = time.perf_counter() - t0
        if "domain" in checks:
            result.checks.append(check_domain(answers, t.domain_score))
            result.checks[-1] = replace(result.checks[-1], seconds=took)
        if "format" in checks:
            result.checks.append(check_format(answers, t.format_score))
    if "leak" in checks and not stopped():
        result.checks.append(check_leak(backend, soak, threshold_mb_per_100=t.leak_mb_per_100,
                                        on_progress=on_progress, on_sample=on_sample,
                                        cancel=cancel))
    if "consistency" in checks and not stopped():
        t0 = time.perf_counter()
        bench_settings = settings if settings is not None else GenerationSettings(max_tokens=32)
        result.bench = run_benchmark(backend, [], warmup=1, repeats=repeats, lengths=lengths,
                                     settings=bench_settings, model=model,
                                     on_progress=on_progress, cancel=cancel)
        result.checks.append(check_consistency(result.bench, t.speed_ratio,
                                                t.speed_floor_tps))
        result.checks[-1] = replace(result.checks[-1], seconds=time.perf_counter() - t0)
    if "edge_cases" in checks and not stopped():
        result.checks.append(check_edge_cases(backend, timeout_s=t.edge_timeout_s,
                                              on_progress=on_progress, cancel=cancel))
    result.cancelled = stopped()
    result.elapsed_s = time.perf_counter() - started
    return result
