"""Settings and saved progress, as TOML in the config folder (see core.paths.config_dir).

A corrupt or unreadable settings file is moved aside (never deleted) and a fresh one is started;
the caller gets a notice to show the user.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import write_bytes_atomic
from slm_wizard.core.base.paths import config_dir
from slm_wizard.core.run.record import FOUNDRY_CACHE, RecordError, RunRecord


def _toml():  # imported when there is a file to read: a first start reads none
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    return tomllib

FILENAME = "settings.toml"
MAX_RECENT = 10


SCHEMA = 2  # the settings file's layout; an older or newer one is moved aside, never misread


@dataclass
class Settings:
    recent: list[str] = field(default_factory=list)  # model folders, newest first
    projects: dict[str, RunRecord] = field(default_factory=dict)  # model folder -> run record
    theme: str = ""
    # The Foundry Local cache the user last deployed to: the next model's Deploy starts there.
    foundry_cache: str = ""


def settings_path(folder: Path | None = None) -> Path:
    return (folder or config_dir()) / FILENAME


SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "a TOML table",
    "properties": {
        "schema": {"const": SCHEMA, "description": f"the layout number {SCHEMA}"},
        "recent": {"type": "array", "description": "a list of folder paths",
                   "items": {"type": "string", "description": "a folder path"}},
        "theme": {"type": "string", "description": "a theme name"},
        "foundry_cache": {"type": "string", "description": "a folder path"},
        "projects": {"type": "object", "description": "a table of run records by model folder",
                     "additionalProperties": {"type": "object",
                                              "description": "a table (a run record)"}},
    },
}


def _parse(data: dict[str, Any]) -> Settings:
    from slm_wizard.core.base.schema import SchemaError, check

    try:  # the declared schema first, then each run record's own checks
        check(data, SETTINGS_SCHEMA, "settings")
    except SchemaError as exc:
        raise RecordError(str(exc).removeprefix("settings: ")) from None
    schema = data.get("schema")
    if schema != SCHEMA:
        raise RecordError(f"it was written with another layout (schema {schema!r}, this version "
                          f"reads schema {SCHEMA})")
    recent = data.get("recent", [])
    theme = data.get("theme", "")
    projects_in = data.get("projects", {})
    projects = {str(k): RunRecord.from_dict(v, f"projects.{k!r}") for k, v in projects_in.items()}
    return Settings(recent=list(recent), projects=projects, theme=theme,
                    foundry_cache=data.get("foundry_cache", ""))


def load_settings(folder: Path | None = None) -> tuple[Settings, str | None]:
    """Read the settings; returns (settings, notice) where notice tells of a recovery.

    A file that cannot be read, does not parse, has another schema or a value of the wrong type
    is moved aside (never deleted) and fresh settings start; the notice says where it went.
    """
    path = settings_path(folder)
    if not path.exists():
        return Settings(), None
    tomllib = _toml()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return _parse(data), None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecordError) as exc:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(path, aside)
            where = f"it was moved to {aside}"
        except OSError:
            where = "it could not be moved aside and will be overwritten on the next save"
        return Settings(), f"The settings file {path} could not be used ({exc}); {where}. " \
                          "Starting with fresh settings."


def save_settings(settings: Settings, folder: Path | None = None,
                  on_notice: Callable[[str], None] | None = None) -> Path:
    """Write the settings under the settings file's lock, merged with what another wizard
    sharing the folder saved since (its recent models and progress are kept; for a model both
    know, this one's record wins). `settings` is updated to the merged content. `on_notice`
    hears of a stale lock taken over."""
    from slm_wizard.core.base.lock import Lock

    path = settings_path(folder)
    with Lock(path, "saving the wizard's settings", wait=10.0) as lock:
        if lock.notice and on_notice is not None:
            on_notice(lock.notice)
        _merge_saved(settings, path)
        return _write(settings, path)


def _merge_saved(settings: Settings, path: Path) -> None:
    if not path.is_file():
        return
    try:
        saved = _parse(_toml().loads(path.read_text(encoding="utf-8")))
    except Exception:  # noqa: BLE001 - unreadable now: this save replaces it (load warned)
        return
    settings.recent = settings.recent + [p for p in saved.recent if p not in settings.recent]
    settings.projects = {**saved.projects, **settings.projects}
    settings.theme = settings.theme or saved.theme
    settings.foundry_cache = settings.foundry_cache or saved.foundry_cache


def _write(settings: Settings, path: Path) -> Path:
    import tomli_w

    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "recent": settings.recent[:MAX_RECENT],
        "projects": {k: r.to_dict() for k, r in settings.projects.items()},
    }
    if settings.theme:
        payload["theme"] = settings.theme
    if settings.foundry_cache:
        payload["foundry_cache"] = settings.foundry_cache
    return write_bytes_atomic(path, tomli_w.dumps(payload).encode("utf-8"))


def remember(settings: Settings, record: RunRecord, step: str) -> None:
    """Keep the record of its model folder (in memory; call save_settings after)."""
    if record.model_dir is None:
        return
    key = str(record.model_dir)
    record.last_step = step
    settings.recent = [key] + [p for p in settings.recent if p != key][: MAX_RECENT - 1]
    settings.projects[key] = record
    deploy = record.get("deploy")
    if deploy is not None and deploy.done and deploy.outputs.get(FOUNDRY_CACHE):
        settings.foundry_cache = deploy.outputs[FOUNDRY_CACHE]


def foundry_cache_choice(settings: Settings, record: RunRecord) -> Path | None:
    """The Foundry Local cache a Deploy starts from: the one this run deployed to, else the one
    the user deployed to last (another model), else the one Prerequisites found."""
    deploy = record.get("deploy")
    if deploy is not None and deploy.outputs.get(FOUNDRY_CACHE):
        return Path(deploy.outputs[FOUNDRY_CACHE])
    if settings.foundry_cache:
        return Path(settings.foundry_cache)
    return record.foundry_cache


def restore(settings: Settings, model_dir: str) -> tuple[RunRecord, str]:
    """The record saved for model_dir (outputs that vanished are forgotten) and its last step."""
    saved = settings.projects.get(model_dir)
    if saved is None:
        return RunRecord(model_dir=Path(model_dir)), "welcome"
    record = RunRecord.from_dict(saved.to_dict())  # a copy: the saved one stays as it was
    record.model_dir = Path(model_dir)
    record.drop_vanished()
    return record, record.last_step
