"""Render every screen of the wizard into SVG files (`make screenshots`).

The run is real: the demo model is built (or taken from the cache), checked, inspected, converted
to INT4 with Olive and deployed to a throw-away Foundry Local cache by the steps' own runners, then
asked one question and validated, so each screen shows what a user sees at that step, with the
run record of the steps before it. Fixed terminal size, no blinking cursor.
"""

from __future__ import annotations

import asyncio
import copy
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


def prepare():
    """The run behind the screens: the demo model taken through Prerequisites, Model, Convert
    (INT4 with Olive) and Deploy (a throw-away Foundry Local cache) by the steps' own runners.
    Returns the run record and, per step, the record to put into it after that step's screen."""
    from slm_wizard.core.run.record import RunRecord, StepRecord
    from slm_wizard.core.steps import convert, deploy, inspect, prereqs
    from slm_wizard.core.steps import demo as demo_step

    o = demo_step.Options()
    built = demo_step.run(o, on_progress=lambda p: print(f"  demo: {p.text}", file=sys.stderr))
    if built.folder is None:
        raise SystemExit(f"the demo model could not be built: {built.error}")
    demo = built.folder
    # Per step: its record (the run record reads the artefacts from it).
    done: dict[str, StepRecord] = {"welcome": demo_step.to_record(o, built)}
    p = prereqs.Options(model_dir=demo)
    done["prereqs"] = prereqs.to_record(p, prereqs.run(p))
    i = inspect.Options(demo)
    done["model"] = inspect.to_record(i, inspect.run(i))

    # Stable folders (the screenshots show their paths), replaced by each run: they are ours.
    place = demo.parent / "screenshots"  # beside the demo, in slm-wizard's cache folder
    c = convert.Options(demo, place / "lumo-int4", precision="int4", replace=True)
    converted = convert.run(c)
    if not converted.ok:
        raise SystemExit(f"conversion failed: {converted.conversion.error}")
    onnx = converted.conversion.output_dir
    done["convert"] = convert.to_record(c, converted)
    d = deploy.Options(onnx, "lumo-demo", cache_dir=place / "foundry", replace=True)
    deployed = deploy.run(d)
    if not deployed.ok:
        raise SystemExit(f"deployment failed: {deployed.error}")
    done["deploy"] = deploy.to_record(d, deployed)
    return RunRecord(model_dir=demo, is_demo=True), done


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
    from slm_wizard.tui.app import WizardApp
    from slm_wizard.tui.steps import STEPS

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("SLM_WIZARD_CONFIG_DIR", str(work / "config"))
        # One run, carried from screen to screen: each screen shows the record of the steps
        # before it (Chat and Validate add their own), so the step bar and Summary are true.
        state, done = prepare()
        shots: list[Path] = []
        for i, s in enumerate(STEPS, start=1):
            sizes = [SIZE, SMALL] if s.id in SMALL_TOO else [SIZE]
            for size in sizes:  # a second size shows the same moment: on a copy of the run
                run = state if size == sizes[0] else copy.deepcopy(state)
                app = WizardApp(state=run, start=s.id, config_dir=work / "config")
                name = f"{i:02d}-{s.id}" + ("" if size == SIZE else f"-{size[0]}x{size[1]}")
                shots.append(await shoot(out_dir, name, app, BEFORE.get(s.id), size))
            if s.id in done:
                state.record(done[s.id])
        return shots


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "screenshots")
    shots = asyncio.run(render_all(out))
    print(f"{len(shots)} screenshots in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
