"""Start-up figures: `slm-wizard --version`, and time to the first screen vs a bare Textual app.

The first screen is measured two ways, each against a bare Textual app (one Static) measured the
same way, runs interleaved:
- in a terminal: the real `slm-wizard` command started in a pseudo-terminal (100x32), from the
  start of the process to the last byte of its first screen (the screen's text has arrived and
  50 ms pass with no more output), as a user sees it;
- headless, in process: from the start of the script to the app's first idle moment after its
  first screen (Textual's own `pilot.pause()`, which waits in 20 ms steps).
"""

from __future__ import annotations

import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 11

FIRST_SCREEN = """
import time, sys
t0 = time.perf_counter()
{imports}
async def ready(pilot):
    await pilot.pause()
    print(f"{{time.perf_counter() - t0:.4f}}")
    pilot.app.exit()
{run}(headless=True, size=(100, 32), auto_pilot=ready)
"""

BARE = dict(
    imports="from textual.app import App\nfrom textual.widgets import Static\n"
    "class Bare(App):\n    def compose(self):\n        yield Static('hello')",
    run="Bare().run",
)


def _wizard(config: str) -> dict[str, str]:
    # The installed package as `slm-wizard` runs it (cli.main._open_wizard: no cyclic GC until
    # the first screen is painted), with a fresh settings folder.
    return dict(imports="import gc\ngc.disable()\nfrom functools import partial\n"
                "from pathlib import Path\nfrom slm_wizard.tui.app import run_app",
                run=f"partial(run_app, Path({config!r}), gc_paused=True)")


BARE_COMMAND = ("from textual.app import App\nfrom textual.widgets import Static\n"
                "class Bare(App):\n    def compose(self):\n        yield Static('hello')\n"
                "Bare().run()")


def _in_terminal(argv: list[str], marker: bytes, env: dict[str, str]) -> float:
    """Seconds from starting `argv` in a 100x32 pseudo-terminal to the last byte of its first
    screen: the output holds `marker` and then 50 ms pass without output."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the program
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 32, 100, 0, 0))
    t0 = time.perf_counter()
    seen, last = b"", 0.0
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.05 if last else 20)
            if not ready:
                if last:
                    return last - t0
                raise TimeoutError(f"{argv[0]} showed no first screen in 20 s")
            try:
                data = os.read(fd, 65536)
            except OSError as exc:  # the program ended
                raise RuntimeError(f"{argv[0]} ended before its first screen") from exc
            now = time.perf_counter()
            if not last:
                seen = (seen + data)[-4096:]
                if marker in seen:
                    last = now
            else:
                last = now
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def terminal_ratio(exe: Path, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TERM="xterm-256color", SLM_WIZARD_CONFIG_DIR=tmp)
        env.pop("TEXTUAL", None)
        wizard = ([str(exe)], b"Use the demo model")
        bare = ([sys.executable, "-c", BARE_COMMAND], b"hello")
        try:
            _in_terminal(*wizard, env)  # warm the file cache for both
            _in_terminal(*bare, env)
            w, b = [], []
            for _ in range(runs):  # interleaved: a change in the machine's load hits both alike
                w.append(_in_terminal(*wizard, env))
                b.append(_in_terminal(*bare, env))
        except (OSError, RuntimeError, TimeoutError) as exc:
            print(f"first screen in a terminal: skipped ({exc})")
            return
    _report("terminal", w, b, "`slm-wizard` in a 100x32 pty")


def _report(label: str, wizard: list[float], bare: list[float], how: str) -> None:
    """Medians, and the ratio as the median over interleaved pairs (each wizard run ÷ the bare
    run right after it: a change in the machine's load hits both alike) with its middle half."""
    ratios = sorted(w / b for w, b in zip(wizard, bare, strict=True))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    ok = "met" if q[1] <= 1.25 else "NOT met"
    print(f"first screen, {label:8s} wizard {statistics.median(wizard) * 1000:6.1f} ms   bare "
          f"Textual app {statistics.median(bare) * 1000:6.1f} ms   ratio {q[1]:.2f} (middle half "
          f"{q[0]:.2f}–{q[2]:.2f}; goal ≤ 1.25: {ok}; {how}, {len(ratios)} pairs)")


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


def _compile_bytecode() -> None:
    """Compile the package's bytecode as `pip install` does for a wheel. Python writes it on first
    import too, unless PYTHONDONTWRITEBYTECODE is set (as on this project's machines): without
    it every start would compile the wizard's modules again, which no installed copy does."""
    import compileall

    import slm_wizard.cli
    import slm_wizard.core
    import slm_wizard.tui

    for package in (slm_wizard.core, slm_wizard.tui, slm_wizard.cli):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=1)


def main() -> None:
    _compile_bytecode()
    exe = Path(sys.executable).with_name("slm-wizard")
    version = [_wall([str(exe), "--version"]) for _ in range(5)]
    helps = [_wall([str(exe), "--help"]) for _ in range(5)]
    print(f"slm-wizard --version   median {statistics.median(version) * 1000:7.1f} ms "
          f"(min {min(version) * 1000:.1f}, 5 runs; goal < 300 ms)")
    print(f"slm-wizard --help      median {statistics.median(helps) * 1000:7.1f} ms")
    if sys.platform != "win32":
        terminal_ratio(exe, 21)
    wiz: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        _first_screen(BARE)  # warm the file cache for both
        _first_screen(_wizard(tmp))
        for _ in range(RUNS):  # interleaved: a change in the machine's load hits both alike
            wiz.append(_first_screen(_wizard(tmp)))
            bare.append(_first_screen(BARE))
    _report("headless", [x for x, _ in wiz], [x for x, _ in bare],
            "in process, to the first idle moment")
    _report("process", [y for _, y in wiz], [y for _, y in bare],
            "headless, the whole process's wall time")


if __name__ == "__main__":
    main()
