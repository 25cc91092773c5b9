"""Step runners: one module per step, shared by the wizard's screens and the headless CLI.

Each module here (prereqs, inspect, convert, template, deploy, chat, bench, checklist, sweep)
follows one contract, so a screen and a command differ only in how they show things:

- `Options`: a frozen dataclass holding everything that decides *what* runs. Defaults, test
  prompts, plans and bounds live here and nowhere else. `options.argv()` is the headless
  `slm-wizard ...` command that runs exactly these options (the Summary shows it; a test runs it).
- `Result`: a dataclass with the outcome: a `Status`, `checks` (a list of core.status.CheckResult
  where the step has checks), the files it wrote and the figures it measured, and `to_dict()` for
  `--json`.
- `run(options, *, on_progress=None, cancel=None) -> Result`: does the work. Progress goes to the
  callback as `core.base.status.Progress` events, the one progress type of every step (called
  from the worker thread; the TUI's run pane shows them, the CLI prints them); cancel is a
  `threading.Event` checked between and, where possible, within stages. Bad input raises the
  step's error type, a subclass of `core.base.status.Refused`, with a message for the user: the
  CLI exits 2 on it in one place (cli.main), a screen shows the message.
- `to_record(options, result) -> StepRecord`: what goes into the run record (core.record).

Nothing here imports Textual; heavy libraries are imported inside the functions that need them.
"""

from __future__ import annotations

from slm_wizard.core.base.status import Progress, ProgressFn, Refused
from slm_wizard.core.model.model_info import DOMAIN_FILE

__all__ = ["DOMAIN_FILE", "Progress", "ProgressFn", "Refused"]
