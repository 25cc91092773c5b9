"""Settings and saved progress, as TOML in the config folder (see core.paths.config_dir).

A corrupt or unreadable settings file is moved aside (never deleted) and a fresh one is started;
the caller gets a notice to show the user.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.paths import config_dir
from core.state import WizardState

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

FILENAME = "settings.toml"
MAX_RECENT = 10


@dataclass
class Settings:
    recent: list[str] = field(default_factory=list)  # model folders, newest first
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)  # model folder -> progress
    theme: str = ""


def settings_path(folder: Path | None = None) -> Path:
    return (folder or config_dir()) / FILENAME


def load_settings(folder: Path | None = None) -> tuple[Settings, str | None]:
    """Read the settings; returns (settings, notice) where notice tells of a recovery."""
    path = settings_path(folder)
    if not path.exists():
        return Settings(), None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        settings = Settings(
            recent=[str(p) for p in data.get("recent", [])],
            projects={str(k): dict(v) for k, v in data.get("projects", {}).items()},
            theme=str(data.get("theme", "")),
        )
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TypeError, ValueError,
            AttributeError) as exc:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(path, aside)
            where = f"it was moved to {aside}"
        except OSError:
            where = "it could not be moved aside and will be overwritten on the next save"
        return Settings(), f"The settings file {path} could not be read ({exc}); {where}. " \
                          "Starting with fresh settings."
    return settings, None


def save_settings(settings: Settings, folder: Path | None = None) -> Path:
    import tomli_w

    path = settings_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"recent": settings.recent[:MAX_RECENT], "projects": settings.projects}
    if settings.theme:
        payload["theme"] = settings.theme
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _opt(value: Path | str | None) -> str:
    return "" if value is None else str(value)


def _tomlable(value: Any) -> Any:
    """TOML has no null and no paths: drop None, write paths as text."""
    if isinstance(value, dict):
        return {str(k): _tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple, set)):
        return [_tomlable(v) for v in value if v is not None]
    if isinstance(value, Path):
        return str(value)
    return value


def remember(settings: Settings, state: WizardState, step: str) -> None:
    """Record the state's progress for its model folder (in memory; call save_settings after)."""
    if state.model_dir is None:
        return
    key = str(state.model_dir)
    settings.recent = [key] + [p for p in settings.recent if p != key][: MAX_RECENT - 1]
    settings.projects[key] = {
        "last_step": step,
        "is_demo": state.is_demo,
        "onnx_dir": _opt(state.onnx_dir),
        "precision": state.precision or "",
        "deployed_name": state.deployed_name or "",
        "foundry_cache": _opt(state.foundry_cache),
        "done": sorted(state.done),
        "notes": dict(state.notes),
        "options": _tomlable(dict(state.options)),
        "figures": dict(state.figures),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def restore(settings: Settings, model_dir: str) -> tuple[WizardState, str]:
    """Rebuild the state saved for model_dir; returns (state, last step reached)."""
    p = settings.projects.get(model_dir, {})

    def path(key: str) -> Path | None:
        value = p.get(key) or ""
        return Path(value) if value else None

    state = WizardState(
        model_dir=Path(model_dir),
        is_demo=bool(p.get("is_demo", False)),
        onnx_dir=path("onnx_dir"),
        precision=p.get("precision") or None,
        deployed_name=p.get("deployed_name") or None,
        foundry_cache=path("foundry_cache"),
        done=set(p.get("done", [])),
        notes={str(k): str(v) for k, v in p.get("notes", {}).items()},
        options=dict(p.get("options", {})),
        figures={str(k): str(v) for k, v in p.get("figures", {}).items()},
    )
    # Outputs that vanished since are not offered as done.
    if state.onnx_dir is not None and not (state.onnx_dir / "genai_config.json").is_file():
        state.onnx_dir = None
        state.done.discard("convert")
    return state, str(p.get("last_step", "welcome"))
