"""core.metrics: reply figures from token times, and the background process sampler."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from slm_wizard.core.runtime import metrics
from slm_wizard.core.runtime.metrics import ProcessSampler, ReplyClock


def test_reply_clock_splits_ttft_and_decode(monkeypatch) -> None:
    now = iter([10.0, 10.5, 10.6, 10.7, 10.9, 11.0])  # start, 4 tokens, end
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: next(now))
    clock = ReplyClock()
    for _ in range(4):
        clock.token()
    st = clock.stats(prompt_tokens=50, finish_reason="eos")
    assert st.generated_tokens == 4
    assert st.ttft_s == pytest.approx(0.5)
    assert st.prefill_tps == pytest.approx(100.0)
    assert st.decode_tps == pytest.approx(3 / 0.4)  # the first token is not a decode step
    assert st.total_s == pytest.approx(1.0)
    assert not st.stopped and st.finish_reason == "eos"
    assert "4 tokens" in st.summary() and "TTFT 500 ms" in st.summary()


def test_reply_clock_without_tokens_and_cancelled(monkeypatch) -> None:
    now = iter([1.0, 1.25, 2.0, 2.0])
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: next(now))
    st = ReplyClock().stats(prompt_tokens=8, finish_reason="cancelled")
    assert st.generated_tokens == 0 and st.decode_tps == 0.0
    assert st.stopped and st.ttft_s == pytest.approx(0.25)
    assert "stopped" in st.summary()
    with pytest.raises(ValueError, match="finish_reason"):
        ReplyClock().stats(1, "done")


def test_sampler_samples_on_a_thread_into_a_ring_buffer() -> None:
    with ProcessSampler(interval=0.02, capacity=5) as sampler:
        deadline = time.monotonic() + 10
        while len(sampler.snapshot()) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sampler.running
        time.sleep(0.1)
        samples = sampler.snapshot()
    assert not sampler.running
    assert len(samples) == 5  # ring buffer: never more than capacity
    assert [s.t for s in samples] == sorted(s.t for s in samples)
    last = samples[-1]
    assert last.rss > 1_000_000  # a Python process holds at least a few MB
    assert last.peak_rss >= last.rss
    assert last.available > 0
    assert last.cpu_percent >= 0.0
    assert sampler.latest() == last
    assert 0.0 <= sampler.own_cpu_s < 1.0
    n = len(sampler.snapshot())
    time.sleep(0.1)
    assert len(sampler.snapshot()) == n  # stopped means stopped


def test_sampler_sees_memory_grow() -> None:
    sampler = ProcessSampler(interval=1.0)
    before = sampler.sample_now()
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    after = sampler.sample_now()
    assert after.rss - before.rss > 50 * 2**20
    assert after.peak_rss >= after.rss
    del block


def test_sampler_on_another_process_reads_its_memory_and_peak() -> None:
    """The Chat step samples the child that generates: its RSS, and its peak from the kernel
    (VmHWM on Linux) even when the peak came and went between two samples."""
    import psutil

    script = ("import sys, time\n"
              "block = bytearray(80 * 2**20); block[::4096] = b'x' * len(block[::4096])\n"
              "del block\n"
              "print('ready', flush=True); time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        watched = ProcessSampler(interval=0.01, pid=child.pid)
        sampler = ProcessSampler(interval=1.0, pid=child.pid)
        sample = sampler.sample_now()
        assert sampler.pid == child.pid
        rss = psutil.Process(child.pid).memory_info().rss
        assert abs(sample.rss - rss) < 8 * 2**20
        if sys.platform.startswith("linux"):
            assert sample.peak_rss - sample.rss > 60 * 2**20  # the freed 80 MB block
    finally:
        child.kill()
        child.wait()
    watched.start()  # the process has ended: the sampling thread stops by itself
    time.sleep(0.3)
    assert not watched.running
    watched.stop()


@pytest.mark.parametrize("kw", [{"interval": 0}, {"interval": -1}, {"capacity": 0}])
def test_sampler_rejects_bad_arguments(kw) -> None:
    with pytest.raises(ValueError):
        ProcessSampler(**kw)


def test_stream_batch_hands_on_the_first_piece_at_once_then_batches() -> None:
    from slm_wizard.core.runtime.metrics import StreamBatch

    batch = StreamBatch(every_s=60.0)
    assert batch.add("Hel")  # the first piece: at once, so TTFT is shown early
    assert batch.take() == "Hel"
    count, tps, ttft = batch.figures()
    assert (count, tps) == (1, None) and ttft >= 0
    assert not batch.add("lo") and not batch.add(" there")  # within the period: gathered
    assert batch.take() == "lo there" and batch.count == 3 and batch.pending == []
