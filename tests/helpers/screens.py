"""Screen helpers: the layout check of every screen at a size, and fixed prerequisite results
with a stand-in for the checks (so a screen shows the same table on every machine)."""

from __future__ import annotations

from rich.cells import cell_len
from textual.geometry import Region
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from slm_wizard.core.base.status import CheckResult

PY = "/usr/bin/python3"  # fixed text for the snapshot (no machine paths on screen)


def _controls(screen: Screen) -> list[Widget]:
    """Buttons, inputs and status lines (ids ending in status/outcome) that are displayed."""
    found: list[Widget] = []
    for w in screen.query("Button, Input, Static").results():
        wanted = isinstance(w, (Button, Input)) or (
            type(w) is Static and (w.id or "").endswith(("status", "outcome")))
        shown = w.display and w.visible and all(
            a.display for a in w.ancestors if isinstance(a, Widget))
        if wanted and shown:
            found.append(w)
    return found


def _covered_by(screen: Screen, w: Widget, region: Region) -> Widget | None:
    """The first other widget drawn over `region` of `w`, else None."""
    for y in range(region.y, region.bottom):
        for x in range(region.x, region.right):
            top, _ = screen.get_widget_at(x, y)
            if top is not w and w not in top.ancestors:
                return top
    return None


async def layout_problems(pilot, screen: Screen) -> list[str]:
    """What is not whole on `screen`: clipped, covered, cut labels or cut status lines."""
    problems: list[str] = []
    size = screen.size
    whole = Region(0, 0, size.width, size.height)
    for w in _controls(screen):
        if w.region.height == 0 and w.region.width == 0:
            w.scroll_visible(animate=False, immediate=True)
            await pilot.pause()
        w.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        name = f"{type(w).__name__}#{w.id}"
        try:
            geometry = screen.find_widget(w)
        except Exception:  # noqa: BLE001 - not in the compositor's map: not shown at all
            problems.append(f"{name}: not on screen")
            continue
        region = geometry.region
        visible = region.intersection(geometry.clip).intersection(whole)
        if region.area == 0:
            problems.append(f"{name}: no size")
            continue
        if visible != region:
            problems.append(f"{name}: clipped {region} → {visible}")
            continue
        other = _covered_by(screen, w, region)
        if other is not None:
            problems.append(f"{name}: covered by {type(other).__name__}#{other.id}")
        if isinstance(w, Button):
            label = cell_len(w.label.plain if hasattr(w.label, "plain") else str(w.label))
            if w.content_region.width < label:
                problems.append(f"{name}: label {w.label!s:.20} cut to {w.content_region.width}")
        if isinstance(w, Input) and w.content_region.width < 8:
            problems.append(f"{name}: too narrow ({w.content_region.width})")
        if type(w) is Static:
            need = w.get_content_height(w.container_size, w.app.size, w.content_region.width)
            if need > w.content_region.height:
                problems.append(f"{name}: status needs {need} lines, has "
                                f"{w.content_region.height}")
    return problems


def fixed_results(olive: str = "fail") -> list[CheckResult]:
    """A fixed, machine-independent set: one warning, and olive-ai missing (essential)."""
    olive_result = (
        CheckResult("package:olive-ai", "olive-ai", "fail", "not installed (converts)",
                    "==0.13.0", f"{PY} -m pip install olive-ai==0.13.0", True,
                    data={"package": "olive-ai"})
        if olive == "fail" else
        CheckResult("package:olive-ai", "olive-ai", "ok", "0.13.0", "==0.13.0", "", True,
                    data={"package": "olive-ai"})
    )
    return [
        CheckResult("python", "Python", "ok", f"3.11.7 ({PY})", ">= 3.10", "", True),
        CheckResult("os", "Operating system", "ok", "Linux x86_64", "Windows, macOS or Linux"),
        CheckResult("ram", "Memory (RAM)", "ok", "16.0 GB total, 12.0 GB available", ">= 8 GB"),
        CheckResult("cmake", "CMake", "warn", "3.25.1, older than 3.31",
                    ">= 3.31 (source builds only)",
                    "Not needed now: onnxruntime-genai 0.14.1 is a prebuilt package. To update it: "
                    f"{PY} -m pip install 'cmake>=3.31'"),
        CheckResult("foundry", "Foundry Local", "ok", "CLI 0.8.117, service running; SDK 2.2.1",
                    "foundry CLI or foundry-local-sdk", "",
                    data={"cache_dir": "/home/u/.foundry/cache/models"}),
        olive_result,
        CheckResult("compat", "Toolchain compatibility", "skip", "olive-ai not installed",
                    "olive-ai 0.13 with onnxruntime-genai < 0.16", "", True),
    ]


class FakeChecks:
    """Stands in for prereqs.run_checks: returns the queued result lists, counts calls."""

    def __init__(self, *runs: list[CheckResult]) -> None:
        self.runs = list(runs)
        self.calls = 0

    def __call__(self, **kwargs) -> list[CheckResult]:
        self.calls += 1
        return self.runs[min(self.calls, len(self.runs)) - 1]




def shown(w: Widget, whole_up_to: int = 10) -> bool:
    """`w` is drawn where a user sees it: inside the terminal, not clipped by its scroll area
    (whole when it is at most `whole_up_to` rows high, else at least 3 of its rows), and no other
    widget (a docked bar, a dialog) drawn over any of its visible cells."""
    screen = w.screen
    try:
        geometry = screen.find_widget(w)
    except Exception:  # noqa: BLE001 - not in the compositor's map: not shown at all
        return False
    region = geometry.region
    visible = region.intersection(geometry.clip).intersection(Region(0, 0, *screen.size))
    if region.area == 0 or visible.area == 0:
        return False
    if region.height <= whole_up_to and visible != region:
        return False
    if visible.height < min(3, region.height):
        return False

    def own(top: Widget) -> bool:
        return top is w or w in top.ancestors

    return all(own(screen.get_widget_at(x, y)[0])
               for y in range(visible.y, visible.bottom) for x in range(visible.x, visible.right))
