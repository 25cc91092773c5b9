"""Benchmark a chat backend: a prompt set with warm-up and repetitions, and an input-length sweep.

Per run: time to first token, prefill and decode tokens/s, total latency, peak RSS and CPU %
of this process. Each figure is summarized as mean, median, standard deviation, min and max;
the input-length sweep builds prompts of 16, 64, 256, 1024 tokens (within 5 % or 4 tokens;
template included) and summarizes each length on its own. A length the model cannot take is
never silently changed: below the chat template's own tokens it is left out, above what fits
with the reply in max_length it is replaced by the longest that fits, and two lengths that
would give the same prompt are run once; each case is a note in the result and the report.

Prompts: `BUILTIN_PROMPTS`, or a JSONL file with one object per line: `prompt` (text, required),
`system` (text, optional). A domain eval file (`prompt`, `expected`, `system`) works as is.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.reports import Report, Table
from slm_wizard.core.base.status import Progress, ProgressFn, Refused
from slm_wizard.core.base.units import MB

DEFAULT_LENGTHS: tuple[int, ...] = (16, 64, 256, 1024)

BUILTIN_PROMPTS: tuple[dict[str, str], ...] = (
    {"prompt": "What can you help me with?"},
    {"prompt": "Explain in two sentences what a small language model is."},
    {"prompt": "Give three tips for keeping a bicycle safe in a city."},
    {"prompt": "Summarize the benefits of running a model on your own computer."},
)

# Words for length-sweep filler text: common, so most tokenizers keep them whole.
_FILLER_TEXT = (
    "the lock opens with the phone and the card when the bike is near the door of the house "
    "in the morning and closes again at night while the battery lasts for many months before "
    "it needs a charge from any cable"
)
_FILLER = tuple(_FILLER_TEXT.split())


class BenchError(Refused):
    """Bad benchmark input (a prompt file, a length); the message is for the user."""




@dataclass(frozen=True)
class Stats:
    """A figure over repeats: mean, median, 90th percentile and the spread (sample standard
    deviation, min, max)."""

    n: int
    mean: float
    median: float
    stdev: float
    min: float
    max: float
    p90: float = 0.0

    @property
    def cv(self) -> float:
        """Coefficient of variation (stdev / mean); 0 when the mean is 0."""
        return self.stdev / self.mean if self.mean else 0.0


def summarize(values: Sequence[float]) -> Stats | None:
    """Mean, median, sample standard deviation (0 for one value), min, max and the 90th
    percentile (linear between the closest ranks); None if empty."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    stdev = statistics.stdev(vals) if len(vals) > 1 else 0.0
    p90 = statistics.quantiles(vals, n=10, method="inclusive")[8] if len(vals) > 1 else vals[0]
    return Stats(len(vals), statistics.fmean(vals), statistics.median(vals), stdev,
                 min(vals), max(vals), p90)


@dataclass
class BenchRun:
    phase: str  # "prompts" or "lengths"
    label: str  # the prompt's first words, or "~256 tokens"
    target_tokens: int | None
    prompt_tokens: int
    generated_tokens: int
    ttft_s: float
    prefill_tps: float
    decode_tps: float
    total_s: float
    peak_rss_mb: float  # bytes / units.MB (binary)
    cpu_percent: float
    finish_reason: str = ""
    e2e_tps: float = 0.0  # end-to-end: generated tokens / total seconds (prefill included)


@dataclass
class LengthPoint:
    target_tokens: int
    prompt_tokens: int  # what the model actually saw (template included)
    ttft_s: Stats | None
    prefill_tps: Stats | None
    decode_tps: Stats | None
    total_s: Stats | None


METRICS = ("ttft_s", "prefill_tps", "decode_tps", "e2e_tps", "total_s", "peak_rss_mb",
           "cpu_percent")
# The "Figures" section of docs/measurements.md defines each name.
METRIC_TITLES = {
    "ttft_s": "TTFT (s)",
    "prefill_tps": "prefill tok/s",
    "decode_tps": "decode tok/s",
    "e2e_tps": "end-to-end tok/s",
    "total_s": "total (s)",
    "peak_rss_mb": "peak RSS (MB)",
    "cpu_percent": "CPU %",
}


@dataclass
class BenchResult:
    backend: str
    model: str
    settings: dict[str, Any]
    warmup: int
    repeats: int
    runs: list[BenchRun] = field(default_factory=list)
    lengths: list[LengthPoint] = field(default_factory=list)
    skipped_lengths: list[int] = field(default_factory=list)
    max_length: int | None = None
    length_notes: list[str] = field(default_factory=list)  # lengths left out or replaced, why
    elapsed_s: float = 0.0
    cancelled: bool = False

    def prompt_runs(self) -> list[BenchRun]:
        return [r for r in self.runs if r.phase == "prompts"]

    def summary(self) -> dict[str, Stats | None]:
        """Each metric over the prompt-set runs (warm-up excluded)."""
        runs = self.prompt_runs()
        return {m: summarize([getattr(r, m) for r in runs]) for m in METRICS}

    def tables(self) -> list[Table]:
        summary = Table("summary", "Prompt set (warm-up excluded)",
                        ["metric", "n", "mean", "median", "stdev", "min", "max", "p90"])
        for metric, s in self.summary().items():
            if s is not None:
                summary.rows.append([METRIC_TITLES[metric], s.n, round(s.mean, 4),
                                     round(s.median, 4), round(s.stdev, 4), round(s.min, 4),
                                     round(s.max, 4), round(s.p90, 4)])
        lengths = Table("lengths", "Input-length sweep",
                        ["target tokens", "prompt tokens", "TTFT median (s)",
                         "prefill tok/s median", "decode tok/s mean", "decode tok/s median",
                         "decode tok/s stdev", "decode tok/s p90", "total median (s)"])
        for p in self.lengths:
            lengths.rows.append([
                p.target_tokens, p.prompt_tokens, _r(p.ttft_s, "median"),
                _r(p.prefill_tps, "median"), _r(p.decode_tps, "mean"),
                _r(p.decode_tps, "median"), _r(p.decode_tps, "stdev"), _r(p.decode_tps, "p90"),
                _r(p.total_s, "median"),
            ])
        runs = Table("runs", "Every measured run",
                     ["phase", "label", "target tokens", "prompt tokens", "generated tokens",
                      *[METRIC_TITLES[m] for m in METRICS], "finish"])
        for r in self.runs:
            runs.rows.append([r.phase, r.label, r.target_tokens, r.prompt_tokens,
                              r.generated_tokens, *[round(getattr(r, m), 4) for m in METRICS],
                              r.finish_reason])
        return [summary, lengths, runs]

    def to_report(self) -> Report:
        meta: dict[str, Any] = {
            "model": self.model, "backend": self.backend, "warm-up runs": self.warmup,
            "repetitions": self.repeats, "max_length": self.max_length,
            "settings": ", ".join(f"{k}={v}" for k, v in self.settings.items()),
            "elapsed (s)": round(self.elapsed_s, 2),
        }
        notes = list(self.length_notes)
        if self.skipped_lengths and not self.length_notes:
            notes.append("input lengths left out (prompt + reply would exceed max_length): "
                         + ", ".join(map(str, self.skipped_lengths)))
        if self.cancelled:
            notes.append("cancelled: the figures cover the runs finished before cancelling")
        return Report("bench", "Benchmark", meta, self.tables(), notes, data=self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _r(stats: Stats | None, attr: str) -> float | None:
    return None if stats is None else round(getattr(stats, attr), 4)


def load_prompts(path: str | Path) -> list[dict[str, str]]:
    """Prompts from a JSONL file: objects with `prompt` and optional `system` (or bare strings)."""
    from slm_wizard.core.base.fileio import read_jsonl

    path = Path(path)
    prompts: list[dict[str, str]] = []
    for number, obj in read_jsonl(path, BenchError, "prompt file"):
        if isinstance(obj, str):
            obj = {"prompt": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str) \
                or not obj["prompt"].strip():
            raise BenchError(f'{path}, line {number}: each line needs a text field "prompt"')
        item = {"prompt": obj["prompt"]}
        if isinstance(obj.get("system"), str):
            item["system"] = obj["system"]
        prompts.append(item)
    if not prompts:
        raise BenchError(f"the prompt file {path} holds no prompts")
    return prompts


def messages_for(item: dict[str, str]) -> list[dict[str, str]]:
    messages = []
    if item.get("system"):
        messages.append({"role": "system", "content": item["system"]})
    messages.append({"role": "user", "content": item["prompt"]})
    return messages


def filler_text(words: int) -> str:
    """`words` words of plain English filler (deterministic)."""
    words = max(1, words)
    return " ".join(_FILLER[i % len(_FILLER)] for i in range(words))


class _Meter:
    """CPU % (process CPU time / wall time) and peak RSS of this process during one run."""

    def __enter__(self) -> _Meter:
        from slm_wizard.core.runtime.metrics import ProcessSampler

        self._sampler = ProcessSampler(interval=0.02)
        self._first = self._sampler.sample_now()
        self._cpu0, self._t0 = time.process_time(), time.perf_counter()
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t0
        cpu = time.process_time() - self._cpu0
        self._sampler.stop()
        self._sampler.sample_now()
        peak = max(s.rss for s in self._sampler.snapshot())
        self.cpu_percent = 100.0 * cpu / wall if wall > 0 else 0.0
        self.peak_rss_mb = peak / MB


def _settings(settings: Any | None, **changes: Any) -> Any:
    from dataclasses import replace

    from slm_wizard.core.runtime.chat import GenerationSettings

    base = settings if settings is not None else GenerationSettings()
    return replace(base, **changes) if changes else base


def _measure_run(backend: Any, messages: list[dict[str, str]], settings: Any, *, phase: str,
                 label: str, target: int | None, cancel: threading.Event | None) -> BenchRun:
    with _Meter() as meter:
        reply = backend.generate(messages, settings, cancel=cancel)
    s = reply.stats
    return BenchRun(phase, label, target, int(s.prompt_tokens), int(s.generated_tokens),
                    float(s.ttft_s or 0.0), float(s.prefill_tps or 0.0),
                    float(s.decode_tps or 0.0), float(s.total_s or 0.0),
                    meter.peak_rss_mb, meter.cpu_percent, str(getattr(s, "finish_reason", "")),
                    float(s.generated_tokens / s.total_s if s.total_s else 0.0))


def prompt_tokens_of(backend: Any, text: str) -> int:
    """Tokens the model sees for one user message `text` (chat template included).

    Uses the backend's `count_tokens(messages)` when it has one, else a one-token generation
    whose statistics report the prompt length.
    """
    messages = [{"role": "user", "content": text}]
    counter = getattr(backend, "count_tokens", None)
    if callable(counter):
        return int(counter(messages))
    return int(backend.generate(messages, _settings(None, max_tokens=1)).stats.prompt_tokens)


def usable_prompt_tokens(max_length: int | None, max_tokens: int) -> int | None:
    """The longest prompt that leaves room for a reply of max_tokens within max_length."""
    if not max_length:
        return None
    return max(1, int(max_length) - int(max_tokens) - 1)


def plan_length_sweep(lengths: Sequence[int], max_length: int | None, max_tokens: int,
                      floor: int | None = None) -> tuple[list[int], list[int], list[str]]:
    """(lengths to run, lengths left out, notes that say what was left out or replaced, why).

    `floor`: the shortest prompt the chat template allows (its own tokens plus one word); a
    length below it cannot be built and is left out. A length above the cap (prompt + reply
    within max_length) is left out, and the cap itself is run instead, once."""
    for n in lengths:
        if isinstance(n, bool) or int(n) <= 0:
            raise BenchError(f"input lengths must be positive numbers of tokens, not {n}")
    wanted = sorted({int(n) for n in lengths})
    notes: list[str] = []
    low = [n for n in wanted if floor is not None and n < floor]
    if low:
        notes.append(f"input length {', '.join(map(str, low))} left out: below the "
                     f"{floor} tokens of the shortest prompt (the chat template's own tokens "
                     "and one word)")
    wanted = [n for n in wanted if n not in low]
    cap = usable_prompt_tokens(max_length, max_tokens)
    if cap is None:
        return wanted, low, notes
    keep = [n for n in wanted if n <= cap]
    high = [n for n in wanted if n > cap]
    if high:
        text = (f"input length {', '.join(map(str, high))} left out: prompt + a reply of "
                f"{max_tokens} tokens would exceed the model's {max_length}")
        if (not keep or keep[-1] < cap) and (floor is None or cap >= floor):
            keep.append(cap)
            text += f"; {cap} tokens (the longest that fits) is run instead"
        notes.append(text)
    return keep, low + high, notes


def within_tolerance(prompt_tokens: int, target: int) -> bool:
    """A built prompt is the length asked: within 5 % or 4 tokens of the target."""
    return abs(int(prompt_tokens) - int(target)) <= max(4.0, 0.05 * int(target))


def length_floor(backend: Any) -> int:
    """Tokens of the shortest length-sweep prompt: the chat template's own and one word."""
    return prompt_tokens_of(backend, filler_text(1))


def check_built(built: Sequence[tuple[int, str, int]]) -> tuple[list[tuple[int, str, int]],
                                                                list[str]]:
    """The built prompts to run, and notes: a prompt off its target (beyond 5 % or 4 tokens)
    is left out, and a prompt as long as an earlier one is run once (a sweep never compares
    two equal lengths)."""
    keep: list[tuple[int, str, int]] = []
    notes: list[str] = []
    seen: dict[int, int] = {}
    for target, text, n in built:
        if not within_tolerance(n, target):
            notes.append(f"input length {target} left out: the closest prompt built has {n} "
                         "tokens")
        elif n in seen:
            notes.append(f"input length {target} left out: it gives the same {n}-token prompt "
                         f"as {seen[n]}")
        else:
            seen[n] = target
            keep.append((target, text, n))
    return keep, notes


def build_length_prompts(backend: Any, targets: Sequence[int],
                         cancel: threading.Event | None = None) -> list[tuple[int, str, int]]:
    """For each target, filler text whose prompt is about that many tokens: (target, text, n).

    With the backend's tokenizer (`count_tokens`), the longest text not above the target is
    found by bisection. Without it, tokens per word and the template's overhead are calibrated
    on two texts, then each target is corrected once. Targets below the template's own
    overhead get a one-word text.
    """
    exact = callable(getattr(backend, "count_tokens", None))
    out: list[tuple[int, str, int]] = []
    if exact:
        for target in targets:
            if cancel is not None and cancel.is_set():
                break
            lo, hi = 1, max(2, 2 * target)
            while lo < hi:  # largest word count whose prompt fits the target
                mid = (lo + hi + 1) // 2
                if prompt_tokens_of(backend, filler_text(mid)) <= target:
                    lo = mid
                else:
                    hi = mid - 1
            out.append((target, filler_text(lo), prompt_tokens_of(backend, filler_text(lo))))
        return out
    a_words, b_words = 4, 64
    a = prompt_tokens_of(backend, filler_text(a_words))
    b = prompt_tokens_of(backend, filler_text(b_words))
    rate = max((b - a) / (b_words - a_words), 0.05)  # tokens per word
    overhead = a - rate * a_words
    for target in targets:
        if cancel is not None and cancel.is_set():
            break
        words = max(1, round((target - overhead) / rate))
        n = prompt_tokens_of(backend, filler_text(words))
        if words > 1 and abs(n - target) > max(2, 0.03 * target):
            words = max(1, words + round((target - n) / rate))
            n = prompt_tokens_of(backend, filler_text(words))
        while n > target and words > 1:  # never above the target (it may be the cap)
            words = max(1, words - max(1, round((n - target) / rate)))
            n = prompt_tokens_of(backend, filler_text(words))
        out.append((target, filler_text(words), n))
    return out


def run_benchmark(
    backend: Any,
    prompts: Sequence[dict[str, str]] | None = None,
    *,
    warmup: int = 1,
    repeats: int = 3,
    settings: Any | None = None,
    lengths: Sequence[int] | None = DEFAULT_LENGTHS,
    model: str = "",
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> BenchResult:
    """Run the prompt set (`warmup` unmeasured rounds, then `repeats` rounds) and the sweep.

    `prompts=None` uses BUILTIN_PROMPTS; an empty sequence skips the prompt set. `lengths`
    None or empty skips the input-length sweep. Prompt-set replies end where the model ends
    them; input-length runs generate exactly max_tokens (min_tokens = max_tokens) so their
    decode rates compare.
    """
    if repeats < 1:
        raise BenchError("repetitions must be at least 1")
    if warmup < 0:
        raise BenchError("warm-up runs cannot be negative")
    settings = _settings(settings)
    prompts = list(BUILTIN_PROMPTS if prompts is None else prompts)
    max_length = getattr(backend, "max_length", None)
    floor = length_floor(backend) if lengths else None
    plan, skipped, notes = plan_length_sweep(lengths or (), max_length, settings.max_tokens,
                                             floor)
    result = BenchResult(getattr(backend, "name", type(backend).__name__), model,
                         _settings_dict(settings), warmup, repeats, skipped_lengths=skipped,
                         max_length=max_length, length_notes=notes)
    started = time.perf_counter()
    report = on_progress or (lambda p: None)

    def stopped() -> bool:
        return cancel is not None and cancel.is_set()

    total = (warmup + repeats) * len(prompts)
    done = 0
    for round_no in range(warmup + repeats):
        for item in prompts:
            if stopped():
                break
            measured = round_no >= warmup
            run = _measure_run(backend, messages_for(item), settings, phase="prompts",
                               label=_label(item["prompt"]), target=None, cancel=cancel)
            if measured:
                result.runs.append(run)
            done += 1
            kind = "run" if measured else "warm-up"
            report(Progress("prompts", done, total,
                            f"{kind} {done}/{total}: {run.decode_tps:.1f} tok/s"))

    if plan and not stopped():
        report(Progress("lengths", 0, len(plan) * repeats, "building prompts of each length"))
        built, notes = check_built(build_length_prompts(backend, plan, cancel))
        result.length_notes += notes
        done, total = 0, len(built) * repeats
        # Same reply length at every input length, so decode rates compare like with like.
        if hasattr(settings, "min_tokens"):
            length_settings = _settings(settings, min_tokens=settings.max_tokens)
        else:
            length_settings = settings
        for target, text, n in built:
            runs = []
            messages = [{"role": "user", "content": text}]
            if warmup and not stopped():
                backend.generate(messages, length_settings, cancel=cancel)
            for _ in range(repeats):
                if stopped():
                    break
                run = _measure_run(backend, messages, length_settings, phase="lengths",
                                   label=f"~{target} tokens", target=target, cancel=cancel)
                runs.append(run)
                result.runs.append(run)
                done += 1
                report(Progress("lengths", done, total,
                                f"{run.prompt_tokens} prompt tokens: {run.decode_tps:.1f} tok/s"))
            if runs:
                result.lengths.append(LengthPoint(
                    target, n,
                    summarize([r.ttft_s for r in runs]),
                    summarize([r.prefill_tps for r in runs]),
                    summarize([r.decode_tps for r in runs if r.generated_tokens > 1]),
                    summarize([r.total_s for r in runs]),
                ))
    result.cancelled = stopped()
    result.elapsed_s = time.perf_counter() - started
    return result


def _label(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _settings_dict(settings: Any) -> dict[str, Any]:
    try:
        return asdict(settings)
    except TypeError:
        return dict(vars(settings))
