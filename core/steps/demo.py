"""The demo step: build (or find, cached) the embedded demo model (core.model.demo).

Shared by the wizard's Welcome screen ("Use the demo model") and `slm-wizard demo`. The build's
lines come as log `Progress` events; `cancel` stops it at its next training step (nothing of it
is kept). A refused output folder raises DemoRefused (a core.base.status.Refused); a build that
could not be done (a folder that cannot be written, a cancel) is a Result with `error` set.
torch and transformers are imported only when a model is really trained.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slm_wizard.core.base.status import Status
from slm_wizard.core.run.record import StepRecord
from slm_wizard.core.steps import Progress, ProgressFn

STEP = "welcome"  # choosing the demo model is how the Welcome step ends


@dataclass(frozen=True)
class Options:
    out: Path | None = None  # None: the cache folder named after the recipe
    force: bool = False  # rebuild even when `out` holds this demo model

    def argv(self) -> list[str]:
        """The headless command that builds (or finds, cached) this demo model."""
        return ["slm-wizard", "demo", *(["--out", str(self.out)] if self.out is not None else []),
                *(["--force"] if self.force else [])]


@dataclass
class Result:
    """`folder` is the demo model's folder; None when it could not be built (`error` says why,
    `cancelled` when the build was stopped)."""

    folder: Path | None
    seconds: float = 0.0
    error: str = ""
    cancelled: bool = False

    @property
    def status(self) -> Status:
        return Status.OK if self.folder is not None else Status.FAIL

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.folder is not None, "folder": str(self.folder) if self.folder else None,
                "seconds": round(self.seconds, 1), "error": self.error,
                "cancelled": self.cancelled}


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Build the demo model; raises DemoRefused for an output folder it may not use."""
    from slm_wizard.core.model.demo import DemoCancelled, DemoError, DemoRefused, build_demo_model

    def say(line: str) -> None:
        if on_progress is not None:
            on_progress(Progress("demo", text=line, log=True))

    started = time.monotonic()
    try:
        folder = build_demo_model(options.out, force=options.force, progress=say, cancel=cancel)
    except DemoRefused:
        raise
    except DemoCancelled as exc:
        return Result(None, time.monotonic() - started, str(exc), cancelled=True)
    except DemoError as exc:
        return Result(None, time.monotonic() - started, str(exc))
    return Result(folder, time.monotonic() - started)


def to_record(options: Options, result: Result) -> StepRecord:
    """The Welcome step's record when the user chose the demo model the run built."""
    if result.folder is None:
        raise ValueError("no demo model was built: nothing to record")
    return demo_record(result.folder, options.out, result.seconds)


def demo_record(folder: Path, out: Path | None = None, seconds: float | None = None) -> StepRecord:
    """The Welcome step's record when the user chose the demo model built into `folder`."""
    figures = {"build time": f"{seconds:.1f} s"} if seconds is not None else {}
    return StepRecord(STEP, Status.OK, f"demo model: {folder}",
                      options={"model_dir": folder, "demo": True, "out": out},
                      files={"model": str(folder)}, figures=figures,
                      command=Options(out).argv())
