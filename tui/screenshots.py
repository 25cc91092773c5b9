"""Render every screen of the wizard into SVG files (`make screenshots`).

The run is real: the demo model is built (or taken from the cache), checked, inspected, converted
to INT4 with Olive and deployed to a throw-away Foundry Local cache by the steps' own runners, then
asked one question, validated and served (one request from an outside client, the real `openai`
package, then stopped), so each screen shows what a user sees at that step, with the run record of
the steps before it. Fixed terminal size, no blinking cursor.

Every folder of the run is throw-away: slm-wizard's config, cache and data folders
(SLM_WIZARD_CONFIG_DIR, _CACHE_DIR, _DATA_DIR) and the Foundry Local cache are in one temporary
folder, removed at the end; the user's own folders are never read or written.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

SIZE = (110, 36)


async def _settle(pilot, predicate: Callable[[], bool] | None = None, timeout: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while predicate is not None and not predicate() and loop.time() < deadline:
        await pilot.pause(0.1)
    await pilot.pause(0.3)


SMALL = (80, 24)  # the smallest terminal the wizard is laid out for
SMALL_TOO = ("chat", "validate", "serve")  # screens also shown at SMALL in the README
Hook = Callable[..., Awaitable[None]]


async def shoot(out_dir: Path, name: str, app, before: Hook | None = None,
                size: tuple[int, int] = SIZE, after: Hook | None = None) -> Path:
    """Render `app` into out_dir/name.svg once `before` has run; `after` runs once it is saved."""
    async with app.run_test(size=size) as pilot:
        for widget in app.screen.query("Input, TextArea"):
            if hasattr(widget, "cursor_blink"):
                widget.cursor_blink = False
        await _settle(pilot)
        if before is not None:
            await before(pilot)
        path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out_dir)))
        if after is not None:
            await after(pilot)
    print(f"  {path}", file=sys.stderr)
    return path


@contextlib.contextmanager
def throwaway_dirs(work: Path) -> Iterator[None]:
    """slm-wizard's config, cache and data folders in `work` for the run, then as they were."""
    names = [f"SLM_WIZARD_{n}_DIR" for n in ("CONFIG", "CACHE", "DATA")]
    saved = {n: os.environ.get(n) for n in names}
    for n in names:
        os.environ[n] = str(work / n.split("_")[2].lower())
    try:
        yield
    finally:
        for n, value in saved.items():
            if value is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = value


def prepare(work: Path):
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

    # In the run's throw-away folders: the Convert screen's default output folder (in the data
    # folder, so the command it previews is the one that ran), a Foundry Local cache of its own.
    c = convert.Options(demo, precision="int4")
    converted = convert.run(c)
    if not converted.ok:
        raise SystemExit(f"conversion failed: {converted.conversion.error}")
    onnx = converted.conversion.output_dir
    done["convert"] = convert.to_record(c, converted)
    d = deploy.Options(onnx, "lumo-demo", cache_dir=work / "foundry-cache", replace=True)
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
    app, screen = pilot.app, pilot.app.screen
    before = app.state.get("validate")  # the run at 80x24 starts from a copy that has one

    def finished() -> bool:
        rec = app.state.get("validate")
        return rec is not before and rec is not None and rec.done and not screen.step_running()

    screen.query_one("#val-run").press()
    await _settle(pilot, finished, timeout=300)
    if not finished():
        raise SystemExit("validate: the quick checks did not finish")


def _outside_request(base_url: str, model_id: str) -> str:
    """A streamed chat request from the real openai client, as the user's own app makes it."""
    from openai import OpenAI

    with OpenAI(base_url=base_url, api_key="unused", timeout=60, max_retries=0) as client:
        stream = client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "How much does Lumo cost?"}],
            max_tokens=32, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


async def _serve_one_request(pilot) -> None:
    """Serve: start the endpoint on a free loopback port and make one request from outside."""
    from slm_wizard.core.steps import serve as serve_step

    screen = pilot.app.screen
    screen.query_one("#serve-port").value = str(serve_step.free_port())
    screen.query_one("#serve-start").press()
    await _settle(pilot, lambda: screen.step_running("serve"), timeout=10)
    await _settle(pilot, lambda: screen.ready is not None or not screen.step_running("serve"),
                  timeout=180)
    if screen.ready is None:
        raise SystemExit(f"serve did not start: {screen.query_one('#serve-status').content}")
    await asyncio.to_thread(_outside_request, screen.ready.base_url, screen.ready.model_id)
    table = screen.query_one("#requests")
    await _settle(pilot, lambda: table.row_count >= 1, timeout=30)
    await _settle(pilot, lambda: "--" not in str(screen.query_one("#serve-rss").content),
                  timeout=10)
    if table.row_count < 1:
        raise SystemExit("serve: the outside request did not reach the request table")


async def _stop_serving(pilot) -> None:
    """Serve: Stop, then check that no process and no port is left behind."""
    import psutil

    screen = pilot.app.screen
    ready = screen.ready
    screen.query_one("#serve-start").press()
    await _settle(pilot, lambda: not screen.step_running("serve"), timeout=120)
    if screen.step_running("serve"):
        raise SystemExit("serve did not stop")
    with contextlib.suppress(psutil.NoSuchProcess):
        if psutil.Process(ready.pid).status() != psutil.STATUS_ZOMBIE:
            raise SystemExit(f"serve: its process {ready.pid} is still running after Stop")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", ready.port))  # raises if the port is still taken


BEFORE = {"chat": _ask_demo_question, "validate": _run_quick_checks,
          "serve": _serve_one_request}
AFTER = {"serve": _stop_serving}


async def render_all(out_dir: Path) -> list[Path]:
    from slm_wizard.tui.app import WizardApp
    from slm_wizard.tui.steps import STEPS

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="slm-wizard-screenshots-",
                                     ignore_cleanup_errors=True) as tmp, \
            throwaway_dirs(Path(tmp)):
        work = Path(tmp)
        # One run, carried from screen to screen: each screen shows the record of the steps
        # before it (Chat, Validate and Serve add their own), so the step bar and Summary are true.
        state, done = prepare(work)
        shots: list[Path] = []
        for i, s in enumerate(STEPS, start=1):
            sizes = [SIZE, SMALL] if s.id in SMALL_TOO else [SIZE]
            for size in sizes:  # a second size shows the same moment: on a copy of the run
                run = state if size == sizes[0] else copy.deepcopy(state)
                app = WizardApp(state=run, start=s.id, config_dir=work / "config")
                name = f"{i:02d}-{s.id}" + ("" if size == SIZE else f"-{size[0]}x{size[1]}")
                shots.append(await shoot(out_dir, name, app, BEFORE.get(s.id), size,
                                         AFTER.get(s.id)))
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
