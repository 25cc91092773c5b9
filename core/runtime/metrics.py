"""Performance figures: per reply (tokens, time to first token, prefill and decode rates) and per
process (RSS, peak RSS, CPU %, available memory) sampled on a background thread.

Both are plain Python (psutil only) and work the same from a script, the CLI or the TUI.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

FINISH_REASONS = ("eos", "length", "context", "cancelled", "error")
# Why a reply ended, in the words every reply shows (transcript, `chat --json`'s stop_reason).
STOP_REASONS = {"eos": "end of sequence", "length": "max tokens", "context": "context full",
                "cancelled": "stopped by you", "error": "error"}


@dataclass
class ReplyStats:
    """Figures for one reply.

    prompt_tokens: tokens of the templated prompt fed to the model (the whole history).
    generated_tokens: tokens the model produced for the reply, counted from the generator (the end
        of sequence token is not counted).
    ttft_s: time to first token: seconds from the request to the first generated token; it
        includes templating, tokenizing and the prefill.
    prefill_tps: prefill tokens/s: prompt tokens / ttft_s.
    decode_tps: decode tokens/s: tokens after the first / time after the first,
        (generated - 1) / (t_last - t_first).
    total_s: seconds from the request to the end of the reply.
    e2e_tps (property): end-to-end tokens/s: generated tokens / total_s (prefill included).
    The "Figures" section of docs/measurements.md defines each once; screens and reports use
    these names.
    stopped: the user stopped the reply (finish_reason "cancelled").
    finish_reason: "eos" (the model ended), "length" (max tokens reached), "context" (the
        model's context was full before max tokens), "cancelled" or "error"; `stop_reason` says it
        in words (STOP_REASONS).
    trimmed_turns: oldest turns left out of the prompt to fit the model's context.
    """

    prompt_tokens: int
    generated_tokens: int
    ttft_s: float
    prefill_tps: float
    decode_tps: float
    total_s: float
    stopped: bool
    finish_reason: str
    trimmed_turns: int = 0

    @property
    def e2e_tps(self) -> float:
        """End-to-end tokens/s: generated tokens / total seconds (prefill included)."""
        return self.generated_tokens / self.total_s if self.total_s > 0 else 0.0

    @property
    def stop_reason(self) -> str:
        """Why the reply ended, in words: end of sequence, max tokens, context full, stopped by
        you (or error)."""
        return STOP_REASONS.get(self.finish_reason, self.finish_reason)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "e2e_tps": self.e2e_tps, "stop_reason": self.stop_reason}

    def summary(self) -> str:
        """One line for a reply footer: tokens, decode rate, time to first token."""
        text = (f"{self.generated_tokens} tokens · decode {self.decode_tps:.1f} tok/s · "
                f"TTFT {self.ttft_s * 1000:.0f} ms · {self.total_s:.2f} s")
        text += f" · {self.stop_reason}"  # on every reply, whatever ended it
        if self.trimmed_turns:
            text += f" · {self.trimmed_turns} old turn(s) left out"
        return text


class ReplyClock:
    """Times one reply: call `token()` when each generated token is produced, then `stats()`.

    Costs one perf_counter() call per token; the first and last token times are all it keeps.
    """

    __slots__ = ("start", "first", "last", "count")

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first = 0.0
        self.last = 0.0
        self.count = 0

    def token(self) -> None:
        now = time.perf_counter()
        if not self.count:
            self.first = now
        self.last = now
        self.count += 1

    def stats(self, prompt_tokens: int, finish_reason: str, trimmed_turns: int = 0) -> ReplyStats:
        if finish_reason not in FINISH_REASONS:
            raise ValueError(f"finish_reason must be one of {FINISH_REASONS}, "
                             f"not {finish_reason!r}")
        end = time.perf_counter()
        total = end - self.start
        ttft = (self.first - self.start) if self.first else total  # count may be set by hand
        decode_span = self.last - self.first
        decode_tps = (self.count - 1) / decode_span if self.count > 1 and decode_span > 0 else 0.0
        return ReplyStats(
            prompt_tokens=prompt_tokens,
            generated_tokens=self.count,
            ttft_s=ttft,
            prefill_tps=prompt_tokens / ttft if ttft > 0 else 0.0,
            decode_tps=decode_tps,
            total_s=total,
            stopped=finish_reason == "cancelled",
            finish_reason=finish_reason,
            trimmed_turns=trimmed_turns,
        )


class StreamBatch:
    """The pieces of a streamed reply, gathered into batches handed on at most every `every_s`
    seconds (the first piece at once), with the live figures at each batch: tokens so far,
    decode tok/s (tokens after the first ÷ time after the first) and TTFT."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.pending: list[str] = []
        self.count = 0
        self.start = time.perf_counter()
        self.first = self.last = 0.0

    def add(self, piece: str) -> bool:
        """Take one piece; True when a batch is due (then call `take` and `figures`)."""
        now = time.perf_counter()
        self.count += 1
        if self.count == 1:
            self.first = now
        self.pending.append(piece)
        if self.count == 1 or now - self.last >= self.every_s:
            self.last = now
            return True
        return False

    def take(self) -> str:
        text = "".join(self.pending)
        self.pending.clear()
        return text

    def figures(self) -> tuple[int, float | None, float]:
        """(tokens so far, decode tok/s, TTFT in seconds) as of the last batch."""
        span = self.last - self.first
        tps = (self.count - 1) / span if self.count > 1 and span > 0 else None
        return self.count, tps, self.first - self.start


@dataclass(frozen=True)
class ProcessSample:
    t: float  # time.monotonic() of the sample
    rss: int  # bytes
    peak_rss: int  # bytes, the highest RSS of the process so far
    cpu_percent: float  # of one core since the previous sample (can exceed 100 on several cores)
    available: int  # bytes of system memory available


def _os_peak_rss(pid: int | None = None) -> int:
    """The kernel's record of the peak RSS of this process (or `pid`, Linux only) in bytes
    (0 where unknown)."""
    if pid is not None:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class ProcessSampler:
    """Samples this process (or `pid`, e.g. the child that generates) every `interval` seconds on
    a daemon thread into a ring buffer of `capacity` samples (default: 10 minutes). The peak RSS
    is the kernel's (getrusage for this process, /proc VmHWM for another on Linux) or, where it
    is unknown, the highest sampled.

        with ProcessSampler(interval=0.25) as sampler:
            ...
            sampler.latest(), sampler.snapshot()

    `own_cpu_s` is the CPU time the sampling thread itself used (the cost of watching).
    """

    def __init__(self, interval: float = 0.25, capacity: int | None = None,
                 pid: int | None = None) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, not {interval}")
        if capacity is None:
            capacity = max(1, int(600 / interval))
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        import psutil

        self.interval = float(interval)
        self.capacity = int(capacity)
        self._psutil = psutil
        self._proc = psutil.Process(pid)
        self._own = pid is None
        self.pid = self._proc.pid
        self._samples: deque[ProcessSample] = deque(maxlen=self.capacity)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak = 0
        self.own_cpu_s = 0.0

    def sample_now(self) -> ProcessSample:
        """Take one sample at once (also used by the thread)."""
        rss = self._proc.memory_info().rss
        peak = max(self._peak, rss, _os_peak_rss() if self._own else _os_peak_rss(self.pid))
        self._peak = peak
        s = ProcessSample(
            t=time.monotonic(),
            rss=rss,
            peak_rss=peak,
            cpu_percent=self._proc.cpu_percent(interval=None),
            available=self._psutil.virtual_memory().available,
        )
        with self._lock:
            self._samples.append(s)
        return s

    def _run(self) -> None:
        t0 = time.thread_time()
        try:
            self._proc.cpu_percent(interval=None)  # prime: the first call always says 0.0
        except self._psutil.Error:  # the process has ended already
            return
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_now()
            except self._psutil.Error:  # the process ended (or cannot be read): stop watching
                break
            self.own_cpu_s = time.thread_time() - t0
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspended machine): restart the schedule
                next_at, delay = time.monotonic(), 0.0
            self._stop.wait(delay)
        self.own_cpu_s = time.thread_time() - t0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ProcessSampler:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="slm-wizard-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(2.0, 4 * self.interval))
            self._thread = None

    def snapshot(self) -> list[ProcessSample]:
        """A copy of the samples in the buffer, oldest first."""
        with self._lock:
            return list(self._samples)

    def latest(self) -> ProcessSample | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()

    def __enter__(self) -> ProcessSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
