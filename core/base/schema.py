"""Declared schemas for every value the wizard reads from a file or the command line.

One rule: a value read from a model folder, a config, a settings file or a command line is checked
against a schema here before use, and a bad value gives one message that names the file (or the
option), the key and what was expected, e.g.

    /m/config.json: key `architectures.0`: expected a class name such as "Qwen2ForCausalLM",
    found ["Qwen2ForCausalLM"]

The schemas are JSON Schema (the `jsonschema` package, a dependency); each one's `description`
is the "expected ..." of the message. Non-finite numbers (nan, inf) are refused wherever a number
is expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class SchemaError(ValueError):
    """A value breaks its declared schema; the message names the source, the key and the rule."""

    def __init__(self, message: str, source: str = "", key: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.key = key


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _non_finite(value: Any, path: tuple = ()) -> tuple | None:
    """The path of the first nan/inf number in `value`, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _non_finite(v, (*path, k))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _non_finite(v, (*path, i))
            if found is not None:
                return found
    return None


def _key(path: Any, names: Mapping[str, str] | None) -> str:
    parts = [str(p) for p in path]
    key = ".".join(parts) or "(top level)"
    if names and parts and parts[0] in names:
        return names[parts[0]] + ("." + ".".join(parts[1:]) if len(parts) > 1 else "")
    return key


def check(data: Any, schema: dict[str, Any], source: str, *,
          names: Mapping[str, str] | None = None) -> Any:
    """Return `data` when it fits `schema`, else raise SchemaError naming `source` (a file, or
    "the command line"), the key (`names` maps a key to what the user typed, e.g. an option) and
    what was expected."""
    from jsonschema import Draft202012Validator

    bad = _non_finite(data)
    if bad is not None:
        key = _key(bad, names)
        raise SchemaError(f"{source}: {key}: expected a finite number, found "
                          f"{_short(_get(data, bad))}", source, key)
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path),
                                                                list(map(str, e.absolute_path))))
    if not errors:
        return data
    error = errors[0]
    path = tuple(error.absolute_path)
    if error.validator == "required":  # the missing key is named in the message
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        path = (*path, missing)
        key = _key(path, names)
        sub = error.schema.get("properties", {}).get(missing, {}) if isinstance(
            error.schema, dict) else {}
        expected = sub.get("description", "a value") if isinstance(sub, dict) else "a value"
        raise SchemaError(f"{source}: {key}: missing (expected {expected})", source, key)
    key = _key(path, names)
    expected = error.schema.get("description") if isinstance(error.schema, dict) else None
    expected = expected or error.message
    raise SchemaError(f"{source}: {key}: expected {expected}, found {_short(error.instance)}",
                      source, key)


def _get(data: Any, path: tuple) -> Any:
    for p in path:
        data = data[p]
    return data


def check_file(data: Any, schema: dict[str, Any], path: Any) -> Any:
    """`check` for a value read from the file `path`."""
    return check(data, schema, str(path))


def check_options(values: Mapping[str, Any], schema: dict[str, Any],
                  names: Mapping[str, str]) -> None:
    """`check` for command-line values; `names` maps a field to its option (e.g. --max-prompts).
    Fields whose value is None (not given) are not checked."""
    given = {k: v for k, v in values.items() if v is not None}
    check(given, {"type": "object", "properties": schema}, "the command line", names=names)


# --- numbers --------------------------------------------------------------------------------
# Every numeric option has a lower and an upper bound: the steps' Options check theirs with the
# helpers below and these upper bounds (one table), so `bench --repeats 100000000` is refused in
# a second instead of running for hours. (Generation settings: core.runtime.chat.SETTING_BOUNDS;
# ModelConfig: core.deploy.inference_model.BOUNDS.)

MAX_REPEATS = 100  # bench/validate repetitions of one measurement
MAX_WARMUP = 20  # bench warm-up runs
MAX_PROMPTS = 10_000  # domain prompts answered (validate --max-prompts, sweep --max-prompts)
DOMAIN_CAP = 1_000  # domain prompts validate answers when --max-prompts is not given
BENCH_PROMPTS_CAP = 200  # prompts of a bench --prompts file measured (each × repeats)
MAX_SOAK = 10_000  # validate --soak generations
MAX_TOKENS = 1_000_000  # tokens generated per answer (as the chat's bound)
MAX_INPUT_TOKENS = 1_048_576  # a prompt's length in tokens (bench --lengths), max_length
MAX_FIDELITY_TOKENS = 100_000  # sweep --fidelity-tokens
MAX_SECONDS = 86_400.0  # timeouts: one day
MAX_RAM_GB = 65_536.0  # check --min-ram-gb
MAX_RATIO = 1_000.0  # validate --max-speed-ratio
MAX_LEAK_MB = 1_000_000.0  # validate --max-leak (MB per 100 generations)
MAX_KLD = 100.0  # sweep --max-kld


def positive_number(what: str, maximum: float) -> dict[str, Any]:
    return {"type": "number", "exclusiveMinimum": 0, "maximum": maximum,
            "description": f"a positive number of at most {maximum:g} ({what})"}


def number_range(what: str, minimum: float, maximum: float) -> dict[str, Any]:
    return {"type": "number", "minimum": minimum, "maximum": maximum,
            "description": f"a number from {minimum:g} to {maximum:g} ({what})"}


def whole_number(what: str, minimum: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum,
            "description": f"a whole number from {minimum} to {maximum:,} ({what})"}


def positive_int(what: str, maximum: int) -> dict[str, Any]:
    return whole_number(what, 1, maximum)


# --- a Hugging Face model folder ------------------------------------------------------------

_SIZE = {"type": ["integer", "null"], "minimum": 1, "description": "a whole number of at least 1"}

HF_CONFIG: dict[str, Any] = {
    "type": "object",
    "description": "a JSON object (a Hugging Face config.json)",
    "properties": {
        "architectures": {
            "type": ["array", "null"],
            "description": 'a list of class names such as ["Qwen2ForCausalLM"]',
            "items": {"type": "string",
                      "description": 'a class name such as "Qwen2ForCausalLM"'},
        },
        "model_type": {"type": ["string", "null"], "description": 'text such as "qwen2"'},
        "hidden_size": _SIZE, "n_embd": _SIZE, "d_model": _SIZE,
        "num_hidden_layers": _SIZE, "n_layer": _SIZE, "num_layers": _SIZE,
        "num_attention_heads": _SIZE, "n_head": _SIZE,
        "num_key_value_heads": _SIZE, "num_kv_heads": _SIZE,
        "vocab_size": _SIZE, "intermediate_size": _SIZE, "head_dim": _SIZE,
        "max_position_embeddings": _SIZE, "n_positions": _SIZE, "seq_length": _SIZE,
        "max_seq_len": _SIZE,
        "tie_word_embeddings": {"type": ["boolean", "null"], "description": "true or false"},
        "torch_dtype": {"type": ["string", "null"], "description": 'text such as "bfloat16"'},
        "dtype": {"type": ["string", "null"], "description": 'text such as "bfloat16"'},
        "text_config": {"type": ["object", "null"], "description": "a JSON object"},
        "auto_map": {"type": ["object", "null"], "description": "a JSON object"},
    },
}

SAFETENSORS_HEADER: dict[str, Any] = {
    "type": "object",
    "description": "a JSON object mapping tensor names to {dtype, shape, data_offsets}",
    "properties": {"__metadata__": {"type": "object", "description": "a JSON object of texts"}},
    "additionalProperties": {
        "type": "object",
        "description": "an object with dtype, shape and data_offsets",
        "required": ["dtype", "shape"],
        "properties": {
            "dtype": {"type": "string", "description": 'a dtype such as "F32"'},
            "shape": {"type": "array", "description": "a list of whole numbers ≥ 0",
                      "items": {"type": "integer", "minimum": 0,
                                "description": "a whole number ≥ 0"}},
            "data_offsets": {"type": "array", "minItems": 2, "maxItems": 2,
                             "description": "two whole numbers [start, end]",
                             "items": {"type": "integer", "minimum": 0,
                                       "description": "a whole number ≥ 0"}},
        },
    },
}

GENAI_CONFIG: dict[str, Any] = {
    "type": "object",
    "description": "a JSON object (onnxruntime-genai's genai_config.json)",
    "required": ["model"],
    "properties": {
        "model": {
            "type": "object",
            "description": "an object with the model's decoder and sizes",
            "properties": {
                "context_length": {"type": "integer", "minimum": 1,
                                   "description": "a whole number of at least 1"},
                "decoder": {"type": "object", "description": "an object naming the ONNX file",
                            "properties": {"filename": {
                                "type": "string", "minLength": 1,
                                "description": 'a file name such as "model.onnx"'}}},
            },
        },
        "search": {"type": "object", "description": "an object of search defaults"},
    },
}


# --- an Olive workflow's ModelBuilder pass -----------------------------------------------------

_BUILDER_OPTIONS: dict[str, Any] = {
    "precision": {"type": "string", "description": 'text such as "int4"'},
    "int4_block_size": {"enum": [16, 32, 64, 128, 256],
                        "description": "one of 16, 32, 64, 128, 256"},
    "int4_accuracy_level": {"enum": [1, 2, 3, 4], "description": "one of 1, 2, 3, 4"},
    "int4_is_symmetric": {"type": "boolean", "description": "true or false"},
}

MODEL_BUILDER_PASS: dict[str, Any] = {
    "type": "object",
    "properties": {**_BUILDER_OPTIONS,
                   "config": {"type": "object", "description": "a JSON object of pass options",
                              "properties": _BUILDER_OPTIONS}},
}


# --- text from the command line -------------------------------------------------------------


def utf8_problem(text: str | None, what: str) -> str:
    """Why `text` is not valid UTF-8 ("" when it is): bytes the terminal or the shell passed
    that are not UTF-8 reach Python as lone surrogates (e.g. a Latin-1 "é", byte 0xe9)."""
    if not text:
        return ""
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return (f"{what} is not valid UTF-8 text (byte 0x{ord(ch) - 0xdc00:02x} at character "
                    f"{i + 1}): set the terminal to UTF-8, or write the text in UTF-8")
        if "\ud800" <= ch <= "\udfff":
            return f"{what} is not valid UTF-8 text (a lone surrogate at character {i + 1})"
    return ""
