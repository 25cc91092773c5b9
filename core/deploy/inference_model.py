"""`inference_model.json`: build, validate, diff and write it (atomically, never silently over an
existing file), and optionally copy the sampling values into genai_config.json's `search` section.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import read_json_object, write_bytes_atomic, write_text_atomic
from slm_wizard.core.base.schema import MAX_INPUT_TOKENS
from slm_wizard.core.deploy.templates import TemplateError, validate_template

FILENAME = "inference_model.json"
NAME_MAX = 64
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION_RE = re.compile(r"^(0|[1-9][0-9]{0,8})$")


class InferenceModelError(Exception):
    """A problem with inference_model.json the user can act on."""


class InferenceModelExists(InferenceModelError):
    """The target already holds a different inference_model.json: `diff` shows what would change.
    Call again with replace=True once the user confirmed."""

    def __init__(self, path: Path, diff: list[str]) -> None:
        super().__init__(f"{path} already exists with other content: confirm to replace it.")
        self.path = path
        self.diff = diff


class CorruptInferenceModel(InferenceModelError):
    """The existing inference_model.json is not valid JSON (or not an object): left untouched."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"The existing {path} is corrupt ({reason}); it was left untouched. "
                         "Confirm to replace it (a copy is kept as inference_model.json.corrupt).")
        self.path = path
        self.reason = reason


DEFAULT_MAX_LENGTH = 2048  # ModelConfig max_length unless the context is shorter


@dataclass(frozen=True)
class ModelConfig:
    max_length: int = DEFAULT_MAX_LENGTH
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.0


@dataclass(frozen=True)
class Bound:
    """The allowed range of one ModelConfig field (`hi` None: the model's context length)."""

    lo: float
    hi: float | None
    lo_open: bool = False
    integer: bool = False


# The one place the ModelConfig bounds live: the CLI, the runner and the screen's fields use them
# through `validate_config_field` / `validate_model_config`.
BOUNDS: dict[str, Bound] = {
    "max_length": Bound(1, None, integer=True),
    "temperature": Bound(0, 2, lo_open=True),
    "top_p": Bound(0, 1, lo_open=True),
    "repetition_penalty": Bound(1.0, 2.0),
}


def default_max_length(ctx_len: int | None) -> int:
    """ModelConfig max_length by default: 2048, or the context length when that is shorter."""
    return min(DEFAULT_MAX_LENGTH, ctx_len or DEFAULT_MAX_LENGTH)


def _field_problem(key: str, value: object, ctx_len: int | None) -> tuple[float | None, str]:
    """(the value as a number, "") or (None, what is wrong with it)."""
    b = BOUNDS[key]
    if isinstance(value, str):
        try:
            value = int(value) if b.integer else float(value)
        except ValueError:
            return None, f"{key} must be {'a whole number' if b.integer else 'a number'}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{key} must be a number"
    if b.integer and not float(value).is_integer():
        return None, f"{key} must be a whole number"
    x = int(value) if b.integer else float(value)
    if b.integer and b.hi is None:
        if x < b.lo:
            return None, f"{key} must be at least {b.lo:g}"
        if ctx_len is not None and x > ctx_len:
            return None, f"{key} {x} exceeds the model's context length {ctx_len}"
        if x > MAX_INPUT_TOKENS:
            return None, f"{key} {x} is above the largest context slm-wizard accepts " \
                f"({MAX_INPUT_TOKENS:,})"
        return x, ""
    hi = b.hi if b.hi is not None else float("inf")
    if not (x > b.lo if b.lo_open else x >= b.lo) or x > hi:
        lo = f"> {b.lo:g}" if b.lo_open else f">= {b.lo:g}"
        if not b.lo_open:
            return None, f"{key} must be between {b.lo:g} and {hi:g} (found {x:g})"
        return None, f"{key} must be {lo} and <= {hi:g} (found {x:g})"
    return x, ""


def validate_config_field(key: str, value: object, ctx_len: int | None = None) -> float:
    """One ModelConfig field (a number or the text of an input field) within its bounds.
    Returns the number; raises InferenceModelError with a message naming the field."""
    if key not in BOUNDS:
        raise InferenceModelError(f"unknown ModelConfig key: {key}")
    x, problem = _field_problem(key, value, ctx_len)
    if problem:
        raise InferenceModelError(problem + ".")
    return x  # type: ignore[return-value]


def validate_name(name: object) -> str:
    """A Foundry Local model name: letters, digits, '-', '_', '.', at most 64, no paths."""
    if not isinstance(name, str) or not name.strip():
        raise InferenceModelError("Name is empty: give the model a name such as 'my-model'.")
    if name != name.strip():
        raise InferenceModelError("Name must not start or end with spaces.")
    if len(name) > NAME_MAX:
        raise InferenceModelError(f"Name is {len(name)} characters long: at most {NAME_MAX}.")
    if "/" in name or "\\" in name or os.path.isabs(name) or ".." in name:
        raise InferenceModelError(
            f"Name {name!r} looks like a path: no '/', '\\' or '..' (it becomes a folder name)."
        )
    from slm_wizard.core.base.paths import reserved_name

    if reserved_name(name):
        raise InferenceModelError(
            f"Name {name!r} is a device name Windows reserves (CON, PRN, AUX, NUL, COM1-COM9, "
            "LPT1-LPT9): it becomes a folder name Foundry Local on Windows cannot use; choose "
            "another.")
    if not _NAME_RE.match(name):
        raise InferenceModelError(
            f"Name {name!r} may hold only letters, digits, '-', '_' and '.', and must start with "
            "a letter or digit."
        )
    return name


def validate_version(version: object) -> str:
    """Foundry Local ids are `<name>:<version>` with a non-negative integer version."""
    v = str(version).strip() if isinstance(version, (str, int)) else ""
    if v.isdigit() and len(v) > 9 and not v.startswith("0"):
        raise InferenceModelError(f"Version {version!r} is too large: at most 999999999.")
    if not _VERSION_RE.match(v):
        raise InferenceModelError(
            f"Version {version!r} must be a whole number such as 1 (Foundry Local ids are "
            "<name>:<version> with an integer version, no leading zeros)."
        )
    return v


def context_length(onnx_dir: Path) -> int | None:
    """`model.context_length` from genai_config.json, or None when unknown."""
    try:
        data = read_json_object(Path(onnx_dir) / "genai_config.json")
        n = data["model"]["context_length"]
    except (ValueError, KeyError, TypeError):
        return None
    return int(n) if isinstance(n, int) and n > 0 else None


def validate_model_config(cfg: dict[str, Any] | ModelConfig,
                          ctx_len: int | None = None) -> ModelConfig:
    """Every ModelConfig field within its bounds (all problems in one InferenceModelError)."""
    d = asdict(cfg) if isinstance(cfg, ModelConfig) else dict(cfg)
    problems: list[str] = []
    values: dict[str, float] = {}
    for key in BOUNDS:
        x, problem = _field_problem(key, d.get(key), ctx_len)
        if problem:
            problems.append(problem)
        else:
            values[key] = x  # type: ignore[assignment]
    unknown = sorted(set(d) - set(BOUNDS))
    if unknown:
        problems.append(f"unknown ModelConfig keys: {', '.join(unknown)}")
    if problems:
        raise InferenceModelError("ModelConfig: " + "; ".join(problems) + ".")
    return ModelConfig(int(values["max_length"]), float(values["temperature"]),
                       float(values["top_p"]), float(values["repetition_penalty"]))


def build_inference_model(name: str, version: str | int, template: dict, model_config,
                          description: str = "", ctx_len: int | None = None) -> dict:
    """The validated inference_model.json content (raises InferenceModelError)."""
    try:
        tmpl = validate_template(template)
    except TemplateError as e:
        raise InferenceModelError(str(e)) from e
    cfg = validate_model_config(model_config, ctx_len)
    return {
        "Name": validate_name(name),
        "Description": str(description or ""),
        "Version": validate_version(version),
        "PromptTemplate": tmpl,
        "ModelConfig": asdict(cfg),
    }




def to_text(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def diff_text(old: str, new: str, path: str = FILENAME) -> list[str]:
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=f"{path} (now)",
                                     tofile=f"{path} (new)", lineterm=""))


def read_existing(path: Path) -> tuple[str, dict] | None:
    """(text, data) of an existing file, None when absent; CorruptInferenceModel when unreadable."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CorruptInferenceModel(path, str(e).split("\n")[0]) from e
    if not isinstance(data, dict):
        raise CorruptInferenceModel(path, "it is not a JSON object")
    return text, data


@dataclass
class ExistingStatus:
    state: str  # "absent", "same", "different", "corrupt"
    diff: list[str]
    problem: str = ""


def inference_model_status(folder: Path, data: dict) -> ExistingStatus:
    """Compare an existing `folder/inference_model.json` with `data` without writing."""
    try:
        existing = read_existing(Path(folder) / FILENAME)
    except CorruptInferenceModel as e:
        return ExistingStatus("corrupt", [], f"corrupt: {e.reason}")
    if existing is None:
        return ExistingStatus("absent", [])
    new_text = to_text(data)
    if existing[0] == new_text:
        return ExistingStatus("same", [])
    return ExistingStatus("different", diff_text(existing[0], new_text))


@dataclass
class WriteResult:
    path: Path
    written: bool  # False when the same content was already there
    diff: list[str]  # changes against the previous file (empty for a new file)


def write_inference_model(folder: Path, data: dict, *, replace: bool = False) -> WriteResult:
    """Write `folder/inference_model.json` atomically.

    An identical file is left as is. A different one raises InferenceModelExists (with the diff)
    unless replace=True; a corrupt one raises CorruptInferenceModel unless replace=True (then a
    copy is kept as inference_model.json.corrupt).
    """
    path = Path(folder) / FILENAME
    new_text = to_text(data)
    diff: list[str] = []
    try:
        existing = read_existing(path)
    except CorruptInferenceModel:
        if not replace:
            raise
        with contextlib.suppress(OSError):  # the copy is a courtesy; the replace goes on
            write_bytes_atomic(path.parent / (FILENAME + ".corrupt"), path.read_bytes())
        existing = None
    if existing is not None:
        old_text, _ = existing
        if old_text == new_text:
            return WriteResult(path, False, [])
        diff = diff_text(old_text, new_text)
        if not replace:
            raise InferenceModelExists(path, diff)
    try:
        write_text_atomic(path, new_text)
    except OSError as e:
        raise InferenceModelError(f"Cannot write {path}: {e.strerror or e}") from e
    return WriteResult(path, True, diff)


def search_defaults_diff(onnx_dir: Path, cfg: ModelConfig) -> tuple[dict, list[str]]:
    """The genai_config.json with `search` carrying cfg's values, and the diff (no write)."""
    path = Path(onnx_dir) / "genai_config.json"
    try:
        old_text = path.read_text(encoding="utf-8")
        data = json.loads(old_text)
    except (OSError, ValueError) as e:
        raise InferenceModelError(f"Cannot read {path}: {e}") from e
    search = data.setdefault("search", {})
    search.update(max_length=cfg.max_length, temperature=cfg.temperature, top_p=cfg.top_p,
                  repetition_penalty=cfg.repetition_penalty)
    new_text = json.dumps(data, indent=4) + "\n"
    return data, diff_text(old_text, new_text, "genai_config.json")


def write_search_defaults(onnx_dir: Path, cfg: ModelConfig, *, consent: bool) -> list[str]:
    """Copy the sampling values into genai_config.json's `search` section so every runtime uses
    them. Needs the user's consent (consent=True); returns the diff. Note: onnxruntime-genai only
    samples when `do_sample` is true; it is left as the model builder set it."""
    cfg = validate_model_config(cfg, context_length(onnx_dir))
    data, diff = search_defaults_diff(onnx_dir, cfg)
    if not consent:
        raise InferenceModelError("Writing genai_config.json search defaults needs consent.")
    if diff:
        try:
            text = json.dumps(data, indent=4) + "\n"
            write_text_atomic(Path(onnx_dir) / "genai_config.json", text)
        except OSError as e:
            raise InferenceModelError(f"Cannot write genai_config.json: {e}") from e
    return diff
