"""Foundry Local's SDK in this process: the one manager per model cache, its local catalog, and a
deployed model looked up and loaded.

The SDK (`foundry_local_sdk`) is imported lazily: importing this module costs nothing.
`FoundryLocalManager` is a process-wide singleton; `foundry_manager(cache)` is the only place
that creates it, so callers with different caches (tests, the TUI, the chat backend) never
collide.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from slm_wizard.core.base import paths

APP_NAME = "slm-wizard"

_manager_lock = threading.RLock()
_manager_cache: Path | None = None
_manager_web: str | None = None


class FoundryError(Exception):
    """A Foundry Local problem the user can act on (message written for them)."""


def _sdk() -> Any:
    try:
        import foundry_local_sdk
    except ImportError as e:  # pragma: no cover - depends on the install
        raise FoundryError(
            "The Foundry Local Python SDK is not installed. Install it with "
            "`pip install foundry-local-sdk==2.2.1` (or `pip install 'slm-wizard[foundry]'`)."
        ) from e
    return foundry_local_sdk


def sdk_available() -> bool:
    """True when foundry-local-sdk can be imported (its native runtime included)."""
    try:
        _sdk()
    except Exception:
        return False
    return True


def foundry_manager(cache_dir: Path, web_url: str | None = None) -> Any:
    """Return the initialized `FoundryLocalManager` for this model cache.

    Reuses the process-wide singleton when it already serves `cache_dir` (and `web_url`, when
    given: the address its web service binds, set at initialization); otherwise closes it and
    initializes a new one (the SDK allows only one at a time). Thread-safe.
    """
    global _manager_cache, _manager_web
    sdk = _sdk()
    cache = Path(cache_dir).expanduser().resolve()
    with _manager_lock:
        current = sdk.FoundryLocalManager.instance
        if current is not None and _manager_cache == cache and web_url in (None, _manager_web):
            return current
        if current is not None:
            current.close()
            _manager_cache = _manager_web = None
        try:
            cache.mkdir(parents=True, exist_ok=True)
            app_data = paths.data_dir() / "foundry"
            logs = paths.logs_dir() / "foundry"
            app_data.mkdir(parents=True, exist_ok=True)
            logs.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FoundryError(f"Cannot create the Foundry Local folders for {cache}: {e}") from e
        cfg = sdk.Configuration(
            app_name=APP_NAME,
            model_cache_dir=str(cache),
            app_data_dir=str(app_data),
            logs_dir=str(logs),
            log_level=sdk.LogLevel.WARNING,
            web=sdk.Configuration.WebService(urls=web_url) if web_url else None,
        )
        try:
            sdk.FoundryLocalManager.initialize(cfg)
        except Exception as e:
            raise FoundryError(f"Foundry Local could not start for the cache {cache}: {e}") from e
        _manager_cache, _manager_web = cache, web_url
        return sdk.FoundryLocalManager.instance


def close_manager() -> None:
    """Close the process-wide manager if one is open (unloads its models)."""
    global _manager_cache, _manager_web
    with _manager_lock:
        try:
            import foundry_local_sdk as sdk
        except ImportError:
            return
        if sdk.FoundryLocalManager.instance is not None:
            sdk.FoundryLocalManager.instance.close()
        _manager_cache = _manager_web = None


def local_catalog(cache_dir: Path) -> Any:
    sdk = _sdk()
    return foundry_manager(cache_dir).get_catalog(sdk.CatalogType.LOCAL)


def load_foundry_model(cache_dir: Path, model_id: str) -> Any:
    """Return the SDK model `model_id` ("name:version" or alias) from the cache, loaded."""
    if not Path(cache_dir).expanduser().is_dir():  # nothing to load: create no cache folder
        raise FoundryError(f"{model_id} is not registered: there is no Foundry Local cache at "
                           f"{cache_dir}. Deploy it first, or give the right --cache-dir.")
    catalog = local_catalog(cache_dir)
    model = None
    try:
        model = catalog.get_model_variant(model_id) if ":" in model_id else None
        if model is None:
            model = catalog.get_model(model_id.split(":")[0] if ":" in model_id else model_id)
    except Exception as e:
        raise FoundryError(f"Foundry Local could not look up {model_id}: {e}") from e
    if model is None:
        raise FoundryError(
            f"{model_id} is not registered in the Foundry Local cache {cache_dir}: deploy it first."
        )
    try:
        if not model.is_loaded:
            model.load()
    except Exception as e:
        raise FoundryError(f"Foundry Local could not load {model_id}: {e}") from e
    return model


def sdk_version() -> str:
    """The installed foundry-local-sdk's version ("unknown" when it cannot be read)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("foundry-local-sdk")
    except PackageNotFoundError:
        return "unknown"


def prompt_tokens(model: Any, messages: list[dict[str, str]]) -> int:
    """How many prompt tokens Foundry Local's runtime makes of `messages` (its own rendering of
    the model's chat template, counted by the runtime before it runs anything)."""
    sdk = _sdk()
    roles = {"system": sdk.MessageRole.SYSTEM, "user": sdk.MessageRole.USER,
             "assistant": sdk.MessageRole.ASSISTANT}
    with sdk.ChatSession(model) as session, sdk.Request() as request:
        for m in messages:
            request.add_item(sdk.MessageItem(roles[m["role"]], m["content"]))
        return int(session.preflight_request(request).prompt_tokens)
