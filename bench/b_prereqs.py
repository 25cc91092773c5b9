"""Prerequisites: time of the whole check set (goal: under 3 s here when nothing hangs)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5

COLD = """
import time
t0 = time.perf_counter()
from slm_wizard.core.setup.prereqs import run_checks
results = run_checks()
print(f"{time.perf_counter() - t0:.4f} {len(results)}")
"""

HANGING_CMAKE = "#!/bin/sh\nexec sleep 30\n"


def _cold() -> tuple[float, int]:
    """run_checks() in a fresh interpreter (includes importing onnxruntime for its providers)."""
    out = subprocess.run([sys.executable, "-c", COLD], check=True, capture_output=True, text=True,
                         timeout=120).stdout.split()
    return float(out[0]), int(out[1])


def _wall(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, capture_output=True, timeout=120)
    return time.perf_counter() - t0


def main() -> None:
    from slm_wizard.core.setup import prereqs

    cold = [_cold() for _ in range(RUNS)]
    print(f"run_checks, fresh process  median {statistics.median(c[0] for c in cold):6.3f} s "
          f"({cold[0][1]} checks, {RUNS} runs; goal < 3 s)")
    prereqs.run_checks()  # warm: onnxruntime imported, caches filled
    warm = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        prereqs.run_checks()
        warm.append(time.perf_counter() - t0)
    print(f"run_checks, warm           median {statistics.median(warm):6.3f} s "
          f"(min {min(warm):.3f})")

    exe = Path(sys.executable).with_name("slm-wizard")
    cli = [_wall([str(exe), "check", "--json"]) for _ in range(RUNS)]
    print(f"slm-wizard check --json    median {statistics.median(cli):6.3f} s (whole process)")

    # One by one, to see which check costs what (sequential, so the sum exceeds the set's time).
    specs = prereqs.project_requirements()
    singles = {
        "python": prereqs.check_python, "os": prereqs.check_os,
        "ram": lambda: prereqs.check_ram(None, 8.0), "disk": lambda: prereqs.check_disk(None, None),
        "cmake": lambda: prereqs.check_cmake(5.0), "foundry": lambda: prereqs.check_foundry(5.0),
        "packages": lambda: [prereqs.check_package(n, p, specs) for n, p in prereqs.PACKAGES],
        "compat": prereqs.check_compat, "providers": prereqs.check_providers,
    }
    parts = []
    for name, fn in singles.items():
        t0 = time.perf_counter()
        fn()
        parts.append(f"{name} {(time.perf_counter() - t0) * 1000:.1f}")
    print("per check, warm (ms):      " + ", ".join(parts))

    # A hung cmake costs one timeout, not more: the other checks run meanwhile.
    if sys.platform != "win32":
        import os

        with tempfile.TemporaryDirectory() as tmp:
            fake = Path(tmp) / "cmake"
            fake.write_text(HANGING_CMAKE)
            fake.chmod(0o755)
            old = os.environ["PATH"]
            os.environ["PATH"] = f"{tmp}{os.pathsep}{old}"
            try:
                t0 = time.perf_counter()
                results = prereqs.run_checks(timeout=1.0)
                took = time.perf_counter() - t0
            finally:
                os.environ["PATH"] = old
        cmake = next(r for r in results if r.id == "cmake")
        print(f"with a hanging cmake (1 s timeout): {took:.3f} s, cmake: {cmake.status} "
              f"({cmake.found})")
