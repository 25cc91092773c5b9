"""Step runners: one module per step, shared by the wizard's screens and the headless CLI.

Each module here (demo, prereqs, inspect, convert, template, deploy, chat, bench, checklist,
sweep) follows one contract, so a screen and a command differ only in how they show things:

- `Options`: a frozen dataclass of everything that decides *what* runs (defaults and bounds live
  here); `options.argv()` is the `slm-wizard ...` command that runs exactly these options.
- `plan(options, ...)` (convert, deploy; `checklist.make_plan` for Validate): the decisions made
  before anything runs (method, template, estimates, issues to show, previews), with the
  runner's shape, so a screen computes it off the UI thread and the fronts only render it.
- `run(options, *, on_progress=None, cancel=None) -> Result`: does the work, called from a
  worker thread. It reports `Progress` events (core.base.status, the one progress type) and
  checks `cancel`, a `threading.Event`, between stages. Bad input raises a `Refused` subclass
  with a message for the user (cli.main exits 2 on it in one place; a screen shows it).
- `Result`: the outcome (a `Status`, `checks` where the step has checks, files, figures) and
  `to_dict()` for `--json`.
- `to_record(options, result) -> StepRecord`: what goes into the run record; its `outputs`
  (core.run.record's keys: onnx_dir, precision, name, version, foundry_cache) are what later
  steps use, and the record alone derives the current model, deployment and cache from them.

The TUI runs every runner (and every plan) through `StepScreen.run_step` with a run pane; the CLI
calls them directly. Nothing here imports Textual; heavy libraries are imported inside the
functions that need them. `DOMAIN_FILE` (core.model) is here for the fronts.
"""

from __future__ import annotations

from slm_wizard.core.base.status import Progress, ProgressFn, Refused
from slm_wizard.core.model.model_info import DOMAIN_FILE

__all__ = ["DOMAIN_FILE", "Progress", "ProgressFn", "Refused"]
