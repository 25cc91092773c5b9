"""Conversion wall time: `slm-wizard convert` versus a plain `olive auto-opt` of the same model.

The demo model (built once, cached) is converted to int4 three ways, alternating, N rounds:
- plain:  `olive auto-opt ... --use_model_builder --precision int4` as the guide says, offline
          (HF_HUB_OFFLINE=1), in a fresh folder: Olive's telemetry holds the process at exit;
- plain+CI: the same with CI=1 (the known work-around);
- wizard: `slm-wizard convert` (the same Olive command in a subprocess, streamed, moved into
          place, then verified: graph read + a short generation).
Printed: the median wall time of each and the ratios wizard/plain and wizard/plain+CI (goal:
< 1: the wizard's checks cost less than the idle time it removes), and the cancel latency
(from the cancel request to the Convert step runner returning, goal < 2 s).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROUNDS = 3


def _olive() -> list[str]:
    exe = Path(sys.executable).with_name("olive")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "olive"]


def _plain(model: Path, work: Path, ci: bool) -> float:
    out = work / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("CI", None)
    if ci:
        env["CI"] = "1"
    cmd = [*_olive(), "auto-opt", "--model_name_or_path", str(model), "--device", "cpu",
           "--provider", "CPUExecutionProvider", "--use_model_builder", "--precision", "int4",
           "--output_path", str(out), "--log_level", "1"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=work, env=env, capture_output=True, timeout=900, check=True)
    took = time.perf_counter() - t0
    if not (out / "genai_config.json").is_file():
        raise RuntimeError("plain olive auto-opt produced no model")
    return took


def _wizard(model: Path, work: Path) -> float:
    from slm_wizard.core.steps.convert import Options

    exe = Path(sys.executable).with_name("slm-wizard")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "slm_wizard.cli"]
    cmd += [*Options(model, work / "out", precision="int4").argv()[1:], "--json"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=work, capture_output=True, timeout=900, check=True)
    return time.perf_counter() - t0


def _cancel_latency(model: Path, work: Path) -> float:
    from slm_wizard.core.steps import convert as step

    cancel = threading.Event()
    asked: list[float] = []

    def on_event(e) -> None:
        if e.phase == "stage" and e.text.startswith("Running pass") and not cancel.is_set():
            asked.append(time.perf_counter())
            cancel.set()

    result = step.run(step.Options(model, work / "out"), on_progress=on_event, cancel=cancel)
    done = time.perf_counter()
    if not result.cancelled or (work / "out").exists():
        raise RuntimeError("the cancelled run left an output or was not cancelled")
    return done - asked[0]


def main() -> None:
    from slm_wizard.core.model.demo import build_demo_model

    model = build_demo_model()
    # Logs and configs of these runs go to a throwaway data folder, not the user's.
    data = Path(tempfile.mkdtemp(prefix="slm-bench-data-"))
    os.environ["SLM_WIZARD_DATA_DIR"] = str(data)
    try:
        _measure(model)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _measure(model: Path) -> None:
    times: dict[str, list[float]] = {"plain": [], "plain+CI": [], "wizard": []}
    for _ in range(ROUNDS):
        for name in times:
            work = Path(tempfile.mkdtemp(prefix="slm-bench-convert-"))
            try:
                if name == "wizard":
                    times[name].append(_wizard(model, work))
                else:
                    times[name].append(_plain(model, work, ci=name == "plain+CI"))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"demo model ({model.name}) -> int4, median of {ROUNDS} runs each")
    for name, value in med.items():
        runs = ", ".join(f"{t:.1f}" for t in times[name])
        print(f"  {name:<9} {value:6.1f} s   ({runs})")
    print(f"  ratio wizard / plain olive auto-opt:      {med['wizard'] / med['plain']:.2f}")
    print(f"  ratio wizard / plain olive auto-opt CI=1: {med['wizard'] / med['plain+CI']:.2f}")
    work = Path(tempfile.mkdtemp(prefix="slm-bench-cancel-"))
    try:
        print(f"  cancel latency: {_cancel_latency(model, work):.2f} s (goal < 2 s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
