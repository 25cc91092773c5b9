"""Start-up figures: `slm-wizard --version`, and time to the first screen vs a bare Textual app."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5

FIRST_SCREEN = """
import time, sys
t0 = time.perf_counter()
{imports}
async def ready(pilot):
    await pilot.pause()
    print(f"{{time.perf_counter() - t0:.4f}}")
    pilot.app.exit()
{make}.run(headless=True, size=(100, 32), auto_pilot=ready)
"""

BARE = dict(
    imports="from textual.app import App\nfrom textual.widgets import Static\n"
    "class Bare(App):\n    def compose(self):\n        yield Static('hello')",
    make="Bare()",
)


def _wizard(config: str) -> dict[str, str]:
    # The installed package (as `slm-wizard` runs it), with a fresh settings folder (a Path).
    return dict(imports="from pathlib import Path\nfrom slm_wizard.tui.app import WizardApp",
                make=f"WizardApp(config_dir=Path({config!r}))")


def _wall(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return time.perf_counter() - t0


def _first_screen(parts: dict[str, str]) -> tuple[float, float]:
    """(seconds from interpreter start of the script to first screen, whole process wall time)"""
    code = FIRST_SCREEN.format(**parts)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    return float(out.strip().splitlines()[-1]), time.perf_counter() - t0


def main() -> None:
    exe = Path(sys.executable).with_name("slm-wizard")
    version = [_wall([str(exe), "--version"]) for _ in range(RUNS)]
    helps = [_wall([str(exe), "--help"]) for _ in range(RUNS)]
    print(f"slm-wizard --version   median {statistics.median(version) * 1000:7.1f} ms "
          f"(min {min(version) * 1000:.1f}, {RUNS} runs; goal < 300 ms)")
    print(f"slm-wizard --help      median {statistics.median(helps) * 1000:7.1f} ms")
    wiz: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        _first_screen(BARE)  # warm the file cache for both
        _first_screen(_wizard(tmp))
        for _ in range(RUNS):  # interleaved: a change in the machine's load hits both alike
            wiz.append(_first_screen(_wizard(tmp)))
            bare.append(_first_screen(BARE))
    w_in, b_in = statistics.median(x for x, _ in wiz), statistics.median(x for x, _ in bare)
    w_wall, b_wall = statistics.median(y for _, y in wiz), statistics.median(y for _, y in bare)
    print(f"first screen ready     wizard {w_in * 1000:7.1f} ms   bare Textual app "
          f"{b_in * 1000:7.1f} ms   ratio {w_in / b_in:.2f} (goal ≤ 1.25)")
    print(f"  (process wall time)  wizard {w_wall * 1000:7.1f} ms   bare Textual app "
          f"{b_wall * 1000:7.1f} ms   ratio {w_wall / b_wall:.2f}")


if __name__ == "__main__":
    main()
