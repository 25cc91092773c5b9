"""Foundry Local: where its model cache is, deploy into it (write, copy, register, load, answer,
rolled back on failure) and undeploy.

The SDK itself (the one manager per cache, the catalog, loading a model) is in
core/deploy/foundry_sdk.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import folder_size, swap_folder_in
from slm_wizard.core.base.owned import refuse_unmarked
from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.core.base.units import human_bytes
from slm_wizard.core.deploy.foundry_cli import cli_cache_listing
from slm_wizard.core.deploy.foundry_sdk import (
    FoundryError,
    _sdk,
    load_foundry_model,
    local_catalog,
    prompt_tokens,
    sdk_available,
)
from slm_wizard.core.deploy.inference_model import (
    InferenceModelError,
    build_inference_model,
    context_length,
    inference_model_status,
    write_inference_model,
)
from slm_wizard.core.deploy.inference_model import validate_name as validate_name
from slm_wizard.core.deploy.onnx_folder import check_onnx_folder
from slm_wizard.core.model.answer import judge as judge_answer

# --- cache discovery -------------------------------------------------------------------------

DEFAULT_CACHE = Path("~/.foundry/cache/models")  # documented default on Windows, macOS, Linux


@dataclass(frozen=True)
class CacheLocation:
    path: Path
    source: str  # "your choice", "foundry cache location", "documented default"


def default_cache_dir() -> Path:
    return DEFAULT_CACHE.expanduser()


def find_cache_dir(override: Path | str | None = None, *, ask_cli: bool = True) -> CacheLocation:
    """Where Foundry Local keeps models: the user's override, else what `foundry cache location`
    says when the CLI exists, else the documented default `~/.foundry/cache/models`."""
    if override:
        return CacheLocation(Path(override).expanduser(), "your choice")
    if ask_cli:
        from slm_wizard.core.deploy.foundry_cli import foundry_cli_info

        info = foundry_cli_info()
        if info.path and info.cache_dir:
            return CacheLocation(info.cache_dir, "foundry cache location")
    return CacheLocation(default_cache_dir(), "documented default")


def custom_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "custom"


def target_dir(cache_dir: Path, name: str) -> Path:
    return custom_dir(cache_dir) / validate_name(name)


# --- deploy ----------------------------------------------------------------------------------

STAGES = ("write", "copy", "register", "load", "answer")


class TargetExists(FoundryError):
    """The model is already installed (folder and/or registration): confirm to replace it."""

    def __init__(self, message: str, target: Path, diff: list[str] | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.diff = diff or []


def stage_result(stage: str, status: Status, detail: str, seconds: float = 0.0) -> CheckResult:
    """A deployment stage as a check: id and title are the stage, `found` is what it did."""
    return CheckResult(id=stage, title=stage, status=status, found=detail, essential=True,
                       seconds=seconds)


@dataclass
class DeployResult:
    name: str
    version: str
    model_id: str  # "<name>:<version>"
    cache_dir: Path
    target: Path
    stages: list[CheckResult] = field(default_factory=list)
    answer: str | None = None
    cli_listing: list[str] | None = None  # model ids the CLI lists (None: no CLI)
    run_command: str = ""
    exported: bool = False  # Foundry Local not available: the folder is ready, nothing ran
    instructions: str = ""
    prompt_tokens: int | None = None  # Foundry Local's count for the checked probe conversation

    @property
    def ok(self) -> bool:
        return all(s.status != Status.FAIL for s in self.stages) and bool(self.stages)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok, "name": self.name, "version": self.version, "model_id": self.model_id,
            "cache_dir": str(self.cache_dir), "target": str(self.target),
            "stages": [s.to_dict() for s in self.stages], "answer": self.answer,
            "cli_listing": self.cli_listing, "run_command": self.run_command,
            "exported": self.exported, "instructions": self.instructions,
            "prompt_tokens": self.prompt_tokens,
        }


StageCallback = Callable[[str, Status, str], None]  # (stage, status (RUNNING first), detail)


def _install_hint() -> str:
    import sys

    if sys.platform == "win32":
        return "winget install Microsoft.FoundryLocal"
    if sys.platform == "darwin":
        return "brew tap microsoft/foundrylocal && brew install foundrylocal"
    return ("pip install foundry-local-sdk==2.2.1 (the Python SDK carries the runtime), or the "
            "Foundry Local CLI from https://github.com/microsoft/Foundry-Local/releases")


def _check_writable(cache_dir: Path) -> Path:
    """Create `<cache>/custom` and prove it takes files (FoundryError with a clear message)."""
    custom = custom_dir(cache_dir)
    try:
        custom.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".slm-wizard-probe-", dir=custom)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise FoundryError(
            f"The Foundry Local cache {cache_dir} is not writable ({e.strerror or e}). Choose "
            "another cache folder (--cache-dir / the Cache field) or fix its permissions."
        ) from e
    return custom


def _registered(catalog: Any, model_id: str) -> Any:
    try:
        return catalog.get_model_variant(model_id)
    except Exception:
        return None


def _disk_full_message(src: Path, custom: Path) -> str:
    need = folder_size(src)
    try:
        free = shutil.disk_usage(custom).free
    except OSError:
        free = 0
    return (f"The disk holding {custom} is full: the model needs {human_bytes(need)}, "
            f"{human_bytes(free)} are free. Free some space or choose another cache folder "
            "(--cache-dir); nothing was installed.")


def _copy_error(exc: BaseException, src: Path, custom: Path) -> FoundryError:
    """A copy failure as one sentence (shutil.Error carries a list of (src, dst, why))."""
    import errno

    if isinstance(exc, shutil.Error):
        rows = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
        whys = [str(r[2]) for r in rows if isinstance(r, tuple) and len(r) == 3]
        if any("No space left" in w or "[Errno 28]" in w for w in whys):
            return FoundryError(_disk_full_message(src, custom))
        first = rows[0] if rows and isinstance(rows[0], tuple) and len(rows[0]) == 3 else None
        detail = f"{first[0]}: {first[2]}" if first else str(exc)
        return FoundryError(f"Could not copy the model into {custom} ({len(rows) or 1} file(s) "
                            f"failed, first: {detail}); nothing was installed.")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return FoundryError(_disk_full_message(src, custom))
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return FoundryError(f"Could not copy the model into {custom}: {why}; nothing was installed.")


def _copy_atomically(src: Path, custom: Path, target: Path, replace: bool,
                     files: dict[str, str] | None = None) -> int:
    """Copy src into a temp folder inside `custom` (named after this process, so that a later
    run removes it if this one is killed), write `files` (name -> text) into the copy, then
    rename it to target. Returns bytes."""
    from slm_wizard.core.base.owned import temp_sibling, write_marker

    tmp = temp_sibling(target, "partial")
    try:
        try:
            shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(
                ".*", "__pycache__", "*.corrupt", "*.tmp"))
            write_marker(tmp, "deploy")
            for fname, text in (files or {}).items():  # the checked chat template
                (tmp / fname).write_text(text, encoding="utf-8")
        except (shutil.Error, OSError) as exc:
            raise _copy_error(exc, src, custom) from None
        size = folder_size(tmp)
        if target.exists() and not replace:
            raise TargetExists(f"{target} already exists: confirm to replace it.", target)
        swap_folder_in(tmp, target)
        return size
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ask_model(model: Any, prompt: str, *, system: str | None = None, max_tokens: int = 32) -> str:
    """One prompt through the Foundry Local runtime (a fresh ChatSession, greedy)."""
    sdk = _sdk()
    parts: list[str] = []
    with sdk.ChatSession(model) as session:
        session.set_options(sdk.RequestOptions(search=sdk.SearchOptions(
            max_output_tokens=max_tokens, do_sample=False)))
        session.set_streaming(True)
        with sdk.Request() as request:
            if system:
                request.add_item(sdk.MessageItem(sdk.MessageRole.SYSTEM, system))
            request.add_item(sdk.MessageItem(sdk.MessageRole.USER, prompt))
            with session.process_streaming_request(request) as stream:
                for item in stream:
                    text = getattr(item, "text", None)
                    if text:
                        parts.append(text)
    return "".join(parts)


def preflight(onnx_dir: Path, name: str, version: str, template: dict, model_config: Any,
              cache_dir: Path, description: str = "") -> tuple[dict, Path]:
    """Validate everything before anything is written: (inference_model.json data, target)."""
    onnx_dir = Path(onnx_dir)
    if not (onnx_dir / "genai_config.json").is_file():
        raise FoundryError(f"{onnx_dir} is not a converted model folder (no genai_config.json): "
                           "run the Convert step first.")
    problems = check_onnx_folder(onnx_dir)
    if problems:
        raise FoundryError(f"{onnx_dir} cannot be deployed: {problems[0]}")
    try:
        data = build_inference_model(name, version, template, model_config, description,
                                     context_length(onnx_dir))
    except InferenceModelError as e:
        raise FoundryError(str(e)) from e
    return data, target_dir(cache_dir, data["Name"])


def deploy(onnx_dir: Path, name: str, version: str, template: dict, model_config: Any,
           cache_dir: Path, replace: bool = False, on_stage: StageCallback | None = None, *,
           description: str = "", prompt: str = "Hello!", system: str | None = None,
           max_tokens: int = 32, template_files: dict[str, str] | None = None,
           prompt_check: tuple[list[dict[str, str]], int] | None = None) -> DeployResult:
    """`_deploy` under a lock per model name (a second deployment of the same name at the same
    time is refused), after removing the leftovers (partial copies) of an interrupted one."""
    from slm_wizard.core.base.owned import clean_leftovers, refuse_output_place

    emit = on_stage or (lambda *_: None)
    cache = Path(cache_dir).expanduser().absolute()
    name = validate_name(name)
    refuse_output_place(cache, what="the Foundry Local cache")  # not / nor the home folder
    custom = _check_writable(cache)
    with name_lock(cache, name, f"deploying {name} into {cache}") as lock:
        if lock.notice:
            emit("info", Status.WARN, lock.notice)
        for left in clean_leftovers(custom, name, "partial") + clean_leftovers(custom, name,
                                                                                "old"):
            emit("info", Status.OK, f"Removed {left}, left by an interrupted deployment.")
        return _deploy(onnx_dir, name, version, template, model_config, cache, replace,
                       on_stage, description=description, prompt=prompt, system=system,
                       max_tokens=max_tokens, template_files=template_files,
                       prompt_check=prompt_check)


def name_lock(cache_dir: Path, name: str, what: str):
    """The one-writer lock of the deployed name `<cache>/custom/<name>` (deploy and remove):
    a second writer of the same name is refused (exit 2), naming the first's process."""
    from slm_wizard.core.base.lock import Lock

    return Lock(target_dir(cache_dir, name), what)


def _deploy(onnx_dir: Path, name: str, version: str, template: dict, model_config: Any,
            cache_dir: Path, replace: bool = False, on_stage: StageCallback | None = None, *,
            description: str = "", prompt: str = "Hello!", system: str | None = None,
            max_tokens: int = 32, template_files: dict[str, str] | None = None,
            prompt_check: tuple[list[dict[str, str]], int] | None = None) -> DeployResult:
    """Install a converted model into Foundry Local and prove it works.

    Stages: write (inference_model.json into onnx_dir), copy (to `<cache>/custom/<name>` via a
    temporary folder and a rename; `template_files` are written into the copy: the checked chat
    template in both of its places), register (`<name>:<version>` in the SDK's local catalog),
    load, prompt (with `prompt_check` (messages, expected count): Foundry Local's own prompt
    token count of the messages must equal the checked rendering's), answer (one prompt).
    Raises TargetExists (before changing anything) when the folder, the registration or a
    different inference_model.json exists and replace is False; raises FoundryError for other
    problems found up front. A failing stage ends the run and is recorded in the result (later
    stages are skipped).
    """
    emit = on_stage or (lambda *_: None)
    onnx_dir, cache_dir = Path(onnx_dir), Path(cache_dir).expanduser().absolute()
    data, target = preflight(onnx_dir, name, str(version), template, model_config, cache_dir,
                             description)
    name, version = data["Name"], data["Version"]
    model_id = f"{name}:{version}"
    result = DeployResult(name, version, model_id, cache_dir, target,
                          run_command=f"foundry model run {name}")
    have_sdk = sdk_available()
    from slm_wizard.core.base.proc import which

    have_cli = which("foundry") is not None
    custom = _check_writable(cache_dir)

    # Everything that needs confirmation is found before anything changes.
    catalog = local_catalog(cache_dir) if have_sdk else None
    exists: list[str] = []
    if target.exists():
        exists.append(f"the folder {target}")
    if catalog is not None and _registered(catalog, model_id) is not None:
        exists.append(f"the registration {model_id}")
    existing = inference_model_status(onnx_dir, data)
    if existing.state in ("different", "corrupt"):
        exists.append(f"a {existing.state} {onnx_dir / 'inference_model.json'}"
                      + (f" ({existing.problem})" if existing.problem else ""))
    if exists and not replace:
        raise TargetExists(f"Already there: {' and '.join(exists)}. Confirm to replace.",
                           target, existing.diff)
    refuse_unmarked(target, "replaced", "Deploy under another --name, or move the folder away "
                    "yourself; nothing was changed.")

    warned: set[str] = set()  # stages that finished with a warning (an empty answer)

    def stage(stage_name: str, fn: Callable[[], str]) -> bool:
        emit(stage_name, Status.RUNNING, "")
        t0 = time.perf_counter()
        try:
            detail = fn()
        except Exception as e:  # recorded for the user; the result says which stage failed
            msg = str(e) if isinstance(e, (FoundryError, InferenceModelError, OSError)) else \
                f"{type(e).__name__}: {e}"
            result.stages.append(stage_result(stage_name, Status.FAIL, msg,
                                              time.perf_counter() - t0))
            emit(stage_name, Status.FAIL, msg)
            return False
        status = Status.WARN if stage_name in warned else Status.OK
        result.stages.append(stage_result(stage_name, status, detail,
                                          time.perf_counter() - t0))
        emit(stage_name, status, detail)
        return True

    def skip(stage_name: str, why: str) -> None:
        result.stages.append(stage_result(stage_name, Status.SKIP, why))
        emit(stage_name, Status.SKIP, why)

    def do_write() -> str:
        res = write_inference_model(onnx_dir, data, replace=replace)
        how = "replaced" if res.diff else ("written" if res.written else "unchanged")
        return f"{res.path} {how} ({name}, version {version})"

    def do_copy() -> str:
        size = _copy_atomically(onnx_dir, custom, target, replace, template_files)
        return f"{target} ({human_bytes(size)})"

    def do_register() -> str:
        sdk = _sdk()
        old = _registered(catalog, model_id)
        if old is not None:  # replacing (confirmed): the new files are already in place
            with contextlib.suppress(Exception):
                if old.is_loaded:
                    old.unload()
            catalog.unregister_model(model_id)
        with sdk.ModelInfoBuilder() as meta:
            meta.set_string_property("task", "chat-completion")
            model = catalog.register_model(str(target), model_id, meta)
        listed = [m.id for m in catalog.list_models()]
        if model_id not in listed:
            raise FoundryError(f"{model_id} was registered but the local catalog does not list it")
        return f"{model.id} in the local catalog ({len(listed)} model(s) listed)"

    def do_load() -> str:
        load_foundry_model(cache_dir, model_id)
        return f"{model_id} loaded by the Foundry Local runtime"

    def do_prompt() -> str:
        assert prompt_check is not None
        messages, expected = prompt_check
        result.prompt_tokens = prompt_tokens(load_foundry_model(cache_dir, model_id), messages)
        if result.prompt_tokens != expected:
            raise FoundryError(f"Foundry Local makes {result.prompt_tokens} prompt tokens of the "
                               f"probe conversation, the checked chat template {expected}: the "
                               "deployed model is not prompted as checked.")
        return (f"Foundry Local's prompt for the probe conversation: {expected} tokens, as "
                "checked")

    def do_answer() -> str:
        model = load_foundry_model(cache_dir, model_id)
        result.answer = ask_model(model, prompt, system=system, max_tokens=max_tokens)
        verdict = judge_answer(result.answer)  # one judge with convert's verification
        if not verdict.answered:  # a warning shown raw, not a failure: the model is in place
            warned.add("answer")
            return f"{prompt!r} → {verdict.found}. {verdict.fix}"
        return f"{prompt!r} → {result.answer.strip()[:200]!r}"

    copied_new = not target.exists()
    try:
        ok = stage("write", do_write) and stage("copy", do_copy)
        if not have_sdk:
            for s in ("register", "load", *(("prompt",) if prompt_check else ()), "answer"):
                skip(s, "foundry-local-sdk is not installed")
        else:
            steps = [("register", do_register), ("load", do_load)]
            steps += [("prompt", do_prompt)] if prompt_check is not None else []
            for s, fn in (*steps, ("answer", do_answer)):
                if ok:
                    ok = stage(s, fn)
                    if not ok and s in ("register", "load"):
                        _roll_back(result, catalog, model_id, target if copied_new else None,
                                   emit)
                else:
                    skip(s, "an earlier stage failed")
    except BaseException:  # interrupted (Ctrl-C, SIGTERM, SIGHUP): nothing half-deployed stays
        if any(st.id == "copy" and st.status == Status.OK for st in result.stages):
            result.stages.append(stage_result("interrupted", Status.FAIL, "interrupted"))
            _roll_back(result, catalog, model_id, target if copied_new else None, emit)
        raise
    if have_cli and ok:
        def do_list() -> str:
            listing = cli_cache_listing()
            ids = [m.model_id for m in listing[1]] if listing else []
            result.cli_listing = ids
            if not any(i == model_id or i.split(":")[0] == name or m.alias == name
                       for i, m in zip(ids, listing[1] if listing else [], strict=False)):
                raise FoundryError(f"{listing[0] if listing else 'foundry cache'} does not list "
                                   f"{name}")
            return f"{listing[0]} lists {name}"

        stage("list", do_list)
    if not have_sdk and not have_cli:
        result.exported = True
        result.instructions = export_instructions(target, name, cache_dir)
    return result


def _roll_back(result: DeployResult, catalog: Any, model_id: str, copied: Path | None,
               emit: StageCallback) -> None:
    """After a failed register/load: unregister `model_id` and remove the folder this run
    copied, so nothing broken stays installed; the failed stage's text says what was undone."""
    from dataclasses import replace as dc_replace

    undone: list[str] = []
    if _registered(catalog, model_id) is not None:
        try:
            catalog.unregister_model(model_id)
            undone.append(f"unregistered {model_id}")
        except Exception as e:  # noqa: BLE001 - say it, keep going
            undone.append(f"could not unregister {model_id} ({e})")
    if copied is not None and copied.is_dir():
        shutil.rmtree(copied, ignore_errors=True)
        undone.append(f"removed {copied}")
    if not undone:
        return
    text = "rolled back: " + ", ".join(undone)
    last = result.stages[-1]
    result.stages[-1] = dc_replace(last, found=f"{last.found} ({text})")
    emit("info", Status.WARN, f"Deployment {text}.")


def export_instructions(target: Path, name: str, cache_dir: Path) -> str:
    return (
        f"Foundry Local is not installed here, so the model was exported ready to use:\n"
        f"  {target}\n"
        f"1. Install Foundry Local: {_install_hint()}\n"
        f"2. If its cache is not {cache_dir}, copy the folder into `<foundry cache location>/"
        f"custom/{name}` (or run `foundry cache cd {cache_dir}`).\n"
        f"3. Check that it is listed: `foundry cache list` (older CLIs: `foundry cache ls`).\n"
        f"4. Run it: `foundry model run {name}`."
    )


def _folder_version(target: Path) -> str | None:
    """The Version in `<target>/inference_model.json`, None when unreadable."""
    from slm_wizard.core.base.fileio import read_json

    try:
        data = read_json(target / "inference_model.json")
    except ValueError:
        return None
    v = data.get("Version") if isinstance(data, dict) else None
    return str(v) if v is not None else None


def _other_versions(catalog: Any, name: str, model_id: str) -> list[str]:
    """Registered ids `<name>:<other version>` (they share `<cache>/custom/<name>`)."""
    ids: set[str] = set()
    with contextlib.suppress(Exception):
        model = catalog.get_model(name)
        for v in (getattr(model, "variants", None) or []) if model is not None else []:
            ids.add(v.id)
    with contextlib.suppress(Exception):
        ids.update(m.id for m in catalog.list_models())
    return sorted(i for i in ids if i.split(":")[0] == name and i != model_id)


def undeploy(name: str, version: str | int, cache_dir: Path) -> list[str]:
    """Remove exactly `<name>:<version>`: unload and unregister it, and remove
    `<cache>/custom/<name>` only when no other registered version uses it and the folder holds
    this version. Returns what was done; FoundryError when `<name>:<version>` is not deployed."""
    from slm_wizard.core.deploy.inference_model import validate_version

    name = validate_name(name)
    version = validate_version(version)
    model_id = f"{name}:{version}"
    cache_dir = Path(cache_dir).expanduser()
    target = target_dir(cache_dir, name)
    if not cache_dir.is_dir():  # a no-op: nothing is created (the SDK would make the cache)
        raise FoundryError(f"{model_id} is not deployed in {cache_dir} (no such folder); "
                           "nothing was removed.")
    made_custom = not target.parent.exists()
    try:
        with name_lock(cache_dir, name, f"removing {model_id} from {cache_dir}"):
            return _undeploy(name, version, cache_dir, target)
    finally:
        if made_custom:  # only the lock needed it
            with contextlib.suppress(OSError):
                target.parent.rmdir()


def _undeploy(name: str, version: str, cache_dir: Path, target: Path) -> list[str]:
    model_id = f"{name}:{version}"
    held = _folder_version(target) if target.is_dir() else None
    done: list[str] = []
    catalog = local_catalog(cache_dir) if sdk_available() else None
    model = _registered(catalog, model_id) if catalog is not None else None
    others = _other_versions(catalog, name, model_id) if catalog is not None else []
    if model is None and held != version:
        what = f"the folder {target} holds {name}:{held}" if held else \
            f"no folder {target}" if not target.is_dir() else f"{target} names no version"
        listed = f"; registered: {', '.join(others)}" if others else ""
        raise FoundryError(f"{model_id} is not deployed in {cache_dir} ({what}{listed}); "
                           "nothing was removed.")
    kept = f"{', '.join(others)} still use(s) it" if others else \
        f"it holds {name}:{held}" if held is not None and held != version else ""
    if target.is_dir() and not kept:  # it will be removed: the marker rule, before any change
        refuse_unmarked(target, "removed", "Remove it yourself; nothing was removed.")
    if model is not None:
        with contextlib.suppress(Exception):
            if model.is_loaded:
                model.unload()
                done.append(f"unloaded {model_id}")
        catalog.unregister_model(model_id)
        done.append(f"unregistered {model_id}")
    if target.is_dir():
        if kept:
            done.append(f"kept {target}: {kept}")
        else:
            try:
                shutil.rmtree(target)
            except OSError as e:
                raise FoundryError(f"Cannot remove {target}: {e.strerror or e}") from e
            done.append(f"removed {target}")
    return done
