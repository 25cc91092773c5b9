"""Render every screen of the wizard into SVG files (`make screenshots`).

The run is real: the demo model is built (or taken from the cache), converted to INT4 with Olive,
deployed to a throw-away Foundry Local cache, and asked one question, so each screen shows what a
user sees at that step. Fixed terminal size, no blinking cursor.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

SIZE = (110, 36)


async def _settle(pilot, predicate: Callable[[], bool] | None = None, timeout: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while predicate is not None and not predicate() and loop.time() < deadline:
        await pilot.pause(0.1)
    await pilot.pause(0.3)


SMALL = (80, 24)  # the smallest terminal the wizard is laid out for
SMALL_TOO = ("chat", "validate")  # screens also shown at SMALL in the README


async def shoot(out_dir: Path, name: str, app, before: Callable[..., Awaitable[None]] | None = None,
                size: tuple[int, int] = SIZE) -> Path:
    async with app.run_test(size=size) as pilot:
        for widget in app.screen.query("Input, TextArea"):
            if hasattr(widget, "cursor_blink"):
                widget.cursor_blink = False
        await _settle(pilot)
        if before is not None:
            await before(pilot)
        path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out_dir)))
    print(f"  {path}", file=sys.stderr)
    return path


def prepare(work: Path) -> dict[str, object]:
    """Demo model, its INT4 conversion and a deployment: the state behind the later screens."""
    from slm_wizard.core.convert import ConvertOptions, run_conversion
    from slm_wizard.core.demo import build_demo_model
    from slm_wizard.core.paths import cache_dir

    demo = build_demo_model(progress=lambda s: print(f"  demo: {s}", file=sys.stderr))
    onnx = cache_dir() / "screenshots" / "lumo-int4"
    if not (onnx / "genai_config.json").is_file():
        result = run_conversion(ConvertOptions(demo, onnx, precision="int4", replace=True))
        if not result.ok:
            raise SystemExit(f"conversion failed: {result.error}")
    return {"demo": demo, "onnx": onnx, "foundry_cache": work / "foundry"}


async def _ask_demo_question(pilot) -> None:
    """Chat: ask one of the demo's FAQ questions and wait for the streamed answer."""
    screen = pilot.app.screen
    await _settle(pilot, lambda: screen.session is not None, timeout=60)
    screen.query_one("#prompt").value = "Who makes Lumo?"
    await pilot.press("enter")
    await _settle(pilot, lambda: screen.generating, timeout=10)
    await _settle(pilot, lambda: not screen.generating, timeout=60)


async def _run_quick_checks(pilot) -> None:
    """Validate: the quick benchmark and checklist, so the tables and plots are filled."""
    app = pilot.app
    app.screen.query_one("#val-run").press()
    await _settle(pilot, lambda: "validate" in app.state.done, timeout=300)


BEFORE = {"chat": _ask_demo_question, "validate": _run_quick_checks}


async def render_all(out_dir: Path) -> list[Path]:
    from slm_wizard.core.state import WizardState
    from slm_wizard.tui.app import WizardApp
    from slm_wizard.tui.steps import STEPS

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("SLM_WIZARD_CONFIG_DIR", str(work / "config"))
        ready = prepare(work)
        shots: list[Path] = []
        for i, s in enumerate(STEPS, start=1):
            sizes = [SIZE, SMALL] if s.id in SMALL_TOO else [SIZE]
            for size in sizes:
                state = WizardState(model_dir=ready["demo"], is_demo=True)
                if s.id not in ("welcome", "prereqs", "model"):
                    state.onnx_dir = ready["onnx"]
                    state.precision = "int4"
                app = WizardApp(state=state, start=s.id, config_dir=work / "config")
                name = f"{i:02d}-{s.id}" + ("" if size == SIZE else f"-{size[0]}x{size[1]}")
                shots.append(await shoot(out_dir, name, app, BEFORE.get(s.id), size))
        return shots


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "screenshots")
    shots = asyncio.run(render_all(out))
    print(f"{len(shots)} screenshots in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
