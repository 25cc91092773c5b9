"""The Foundry Local CLI (`foundry`): finding it, asking it, and parsing what it prints.

The CLI is optional (the foundry-local-sdk package carries the runtime), so every function here
handles its absence: `foundry_cli_info()` returns `path=None`, `cli_cache_listing()` returns None.
The parsers accept the old CLI (`foundry service status`, `foundry cache ls`) and the new one
(`foundry server status -o json`, `foundry cache list`), text or JSON, and ignore what they do not
know. They are tested against the CLI's documented output.
"""

from __future__ import annotations

import contextlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from slm_wizard.core.base.proc import run_command, which
from slm_wizard.core.base.versions import find_version


class FoundryCliError(Exception):
    """The CLI is there but a command failed; the message says which and how."""


# ---------------------------------------------------------------------- Foundry Local CLI


@dataclass(frozen=True)
class FoundryCliInfo:
    path: str | None  # None: no `foundry` on PATH
    version: str | None = None
    cache_dir: Path | None = None
    running: bool | None = None  # the service/server; None when unknown
    endpoint: str | None = None
    problem: str = ""  # what went wrong while asking the CLI ("" when nothing did)


def parse_cache_location(text: str) -> Path | None:
    """The cache folder in `foundry cache location` output (any format: find a path)."""
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        for value in _walk_values(data):
            if isinstance(value, str) and _looks_like_path(value):
                return Path(value).expanduser()
    for line in text.splitlines():
        line = _URL_RE.sub(" ", line).strip()
        m = re.search(r"(?:^|[\s:'\"])([A-Za-z]:[\\/].*|~?/.*|\\\\.*)$", line)
        if m:
            candidate = m.group(1).strip().strip("'\"").rstrip(".")
            if candidate:
                return Path(candidate).expanduser()
    return None


def _looks_like_path(value: str) -> bool:
    return bool(re.match(r"([A-Za-z]:[\\/]|~?/|\\\\)", value)) and "://" not in value


def _walk_values(data):
    if isinstance(data, dict):
        for value in data.values():
            yield from _walk_values(value)
    elif isinstance(data, list):
        for value in data:
            yield from _walk_values(value)
    else:
        yield data


_URL_RE = re.compile(r"https?://[^\s\"'<>]+")


def _base_url(url: str) -> str:
    p = urlparse(url.rstrip(".,;"))
    return f"{p.scheme}://{p.netloc}"


def parse_service_status(text: str) -> tuple[bool | None, str | None]:
    """(running, endpoint) from the old CLI's `foundry service status` text."""
    low = text.lower()
    running: bool | None = None
    if "not running" in low or "🔴" in text or "stopped" in low:
        running = False
    elif "is running" in low or "🟢" in text:
        running = True
    m = _URL_RE.search(text)
    return running, (_base_url(m.group(0)) if m else None)


def parse_server_status_json(text: str) -> tuple[bool | None, str | None] | None:
    """(running, endpoint) from the new CLI's `foundry server status -o json`; None if not JSON."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        data = json.loads(text[start:])
    except ValueError:
        return None
    running: bool | None = None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                k = key.lower().replace("_", "")
                if isinstance(value, (dict, list)):
                    stack.append(value)
                elif k in ("running", "isrunning") and isinstance(value, bool):
                    running = value
                elif k in ("status", "state") and isinstance(value, str) and running is None:
                    running = value.lower() in ("running", "started", "up", "ok", "healthy")
    urls = [v for v in _walk_values(data) if isinstance(v, str) and _URL_RE.match(v)]
    endpoint = _base_url(urls[0]) if urls else None
    if endpoint is not None and running is None:
        running = True
    return running, endpoint


def foundry_cli_info(timeout: float = 5.0) -> FoundryCliInfo:
    """Ask the `foundry` CLI for its version, cache folder and service status (old or new CLI)."""
    path = which("foundry")
    if path is None:
        return FoundryCliInfo(None)
    res = run_command([path, "--version"], timeout)
    if not res.ok:
        return FoundryCliInfo(path, problem=res.describe())
    version = find_version(res.output)
    problem = "" if version else f"unreadable version: {res.output[:60]!r}"

    def cache() -> tuple[Path | None, str]:
        r = run_command([path, "cache", "location"], timeout)
        return (parse_cache_location(r.output), "") if r.ok else (None, r.describe())

    def status() -> tuple[bool | None, str | None, str]:
        r = run_command([path, "server", "status", "-o", "json"], timeout)
        parsed = parse_server_status_json(r.stdout) if r.ok else None
        if parsed is not None:
            return (*parsed, "")
        if r.timed_out:
            return None, None, r.describe()
        r = run_command([path, "service", "status"], timeout)
        running, endpoint = parse_service_status(r.output)
        if running is None and not r.ok:
            return None, None, r.describe()
        return running, endpoint, ""

    with ThreadPoolExecutor(max_workers=2) as pool:
        f_cache, f_status = pool.submit(cache), pool.submit(status)
        cache_dir, cache_problem = f_cache.result()
        running, endpoint, status_problem = f_status.result()
    problem = "; ".join(p for p in (problem, cache_problem, status_problem) if p)
    return FoundryCliInfo(path, version, cache_dir, running, endpoint, problem)



# --- the foundry CLI's cache listing ----------------------------------------------------------

@dataclass(frozen=True)
class CachedModel:
    alias: str
    model_id: str


_BOX = str.maketrans({c: " " for c in "│┃║|┆┊╎"})
_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(:\d+)?$")
_RULE = re.compile(r"^[\s\-=+─━═┼╋╬┌┐└┘├┤┬┴╭╮╰╯┏┓┗┛┣┫┳┻|:]*$")


def parse_cache_list(text: str) -> list[CachedModel]:
    """Models in the output of `foundry cache ls` (old CLI: "Models cached on device:" then
    `💾 alias   model-id` rows) or `foundry cache list` (new CLI: a table with Alias / Model ID
    columns, possibly boxed, or JSON with `-o json`). Unknown lines are ignored."""
    text = text.strip()
    if text[:1] in "[{":
        try:
            return _parse_cache_json(json.loads(text))
        except ValueError:
            pass
    models: list[CachedModel] = []
    for raw in text.splitlines():
        line = raw.translate(_BOX).replace("💾", " ").strip()
        low = line.lower()
        if not line or _RULE.match(line):
            continue
        if low.startswith(("models cached", "no models", "alias", "name ", "cache", "model id",
                           "total", "found ")) or low.endswith(":"):
            continue
        cells = [c.strip() for c in re.split(r"\s{2,}|\t", line) if c.strip()]
        # A model row has an alias and a model id column ("name:version" when versioned).
        if len(cells) < 2 or not _ID.match(cells[0]) or not _ID.match(cells[1]):
            continue
        models.append(CachedModel(alias=cells[0], model_id=cells[1]))
    return models


def _parse_cache_json(data: Any) -> list[CachedModel]:
    items = data
    if isinstance(data, dict):
        items = next((v for v in data.values() if isinstance(v, list)), [data])
    out = []
    for it in items if isinstance(items, list) else []:
        if isinstance(it, str):
            out.append(CachedModel(it.split(":")[0], it))
        elif isinstance(it, dict):
            low = {k.lower().replace("_", ""): v for k, v in it.items()}
            mid = low.get("modelid") or low.get("id") or low.get("name")
            alias = low.get("alias") or (str(mid).split(":")[0] if mid else None)
            if mid:
                out.append(CachedModel(str(alias), str(mid)))
    return out


def cli_cache_listing(timeout: float = 20.0) -> tuple[str, list[CachedModel]] | None:
    """Run the CLI's cache listing (new `cache list`, else old `cache ls`); None without a CLI.
    Returns (the command run, the parsed models)."""
    exe = which("foundry")
    if exe is None:
        return None
    for sub in ("list", "ls"):
        res = run_command([exe, "cache", sub], timeout)
        if res.ok:
            return f"foundry cache {sub}", parse_cache_list(res.stdout)
    raise FoundryCliError(f"`foundry cache list` / `foundry cache ls` failed: {res.describe()}")
