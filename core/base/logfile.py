"""The log files: what a user (or a bug report) needs after the fact, never on the screen.

The interactive wizard writes `wizard.log` and the headless commands `cli.log`, both in the data
folder's `logs/` (core.base.paths.logs_dir), rotated at 1 MB with three older files kept
(`wizard.log.1` ...). Records of INFO and above go there, an unexpected error with its traceback.
Every message that sends the user to "the log" names the file (`log_path`).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from slm_wizard.core.base.paths import logs_dir

WIZARD_LOG = "wizard.log"
CLI_LOG = "cli.log"
MAX_BYTES = 1_000_000
BACKUPS = 3


def log_path(name: str = WIZARD_LOG) -> Path:
    """Where the log file `name` is (it exists once `log_to_file(name)` ran)."""
    return logs_dir() / name


class _OurHandler(logging.handlers.RotatingFileHandler):
    """The handler log_to_file installs (told apart from anyone else's)."""


def log_to_file(name: str = WIZARD_LOG) -> Path | None:
    """Send log records to the log file `name` (rotated), once per process and path.

    Returns the file's path, or None when its folder cannot be written: then records are
    dropped rather than shown on the terminal (a handler that writes nothing is installed)."""
    root = logging.getLogger()
    path = log_path(name)
    for handler in list(root.handlers):
        if isinstance(handler, _OurHandler):
            if Path(handler.baseFilename) == path.absolute():
                return path
            root.removeHandler(handler)  # the data folder moved (a test, --config-dir)
            handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new: logging.Handler = _OurHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                           encoding="utf-8")
    except OSError:
        if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
            root.addHandler(logging.NullHandler())
        return None
    new.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(new)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return path


def log_bug(what: str, error: BaseException, name: str = WIZARD_LOG) -> str:
    """Write an unexpected error's traceback to the log file; returns where it went, as the
    words a message to the user ends with ("the traceback is in /.../wizard.log")."""
    path = log_to_file(name)
    logging.getLogger("slm_wizard").error("%s", what, exc_info=error)
    if path is None:
        return f"the log folder {logs_dir()} could not be written, so no traceback was kept"
    return f"the traceback is in {path}"
