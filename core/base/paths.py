"""Where slm-wizard keeps its files (platformdirs folders, overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "slm-wizard"


def _dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME))


def config_dir() -> Path:
    """Settings and saved progress (TOML). Override: SLM_WIZARD_CONFIG_DIR or --config-dir."""
    return _dir("SLM_WIZARD_CONFIG_DIR", "config")


def cache_dir() -> Path:
    """Rebuildable files: the demo model. Override: SLM_WIZARD_CACHE_DIR."""
    return _dir("SLM_WIZARD_CACHE_DIR", "cache")


def data_dir() -> Path:
    """Outputs a user keeps: converted models, reports, logs. Override: SLM_WIZARD_DATA_DIR."""
    return _dir("SLM_WIZARD_DATA_DIR", "data")


def logs_dir() -> Path:
    return data_dir() / "logs"
