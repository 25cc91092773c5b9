"""The complete check of a model folder before any conversion starts (one place).

Olive loads the model with transformers and hands it to the ONNX model builder: a missing shard,
a corrupt tokenizer file, a `vocab_size` that does not match the weights, heads that do not divide
the hidden size or an unknown dtype make it fail after minutes, with a raw error. `findings()`
finds all of these in well under a second from small files (the JSON files, the safetensors
headers; no tensor is loaded), so `inspect`, the Convert step's plan and the wizard's Model step
refuse such a folder at once with every problem named (core.model.model_info calls it).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

# The JSON files of a model folder that transformers parses when it loads the model or its
# tokenizer; each must be valid UTF-8 JSON holding an object (a zero-byte file is not).
JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
              "added_tokens.json", "chat_template.json", "generation_config.json", "vocab.json")
SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
# torch dtype names a config may give as `torch_dtype` / `dtype` (with or without "torch.").
DTYPES = frozenset({
    "auto", "float32", "float", "float16", "half", "bfloat16", "float64", "double",
    "float8_e4m3fn", "float8_e5m2", "int8", "uint8", "int16", "int32", "int64", "bool",
})
_EMBEDDING_SUFFIXES = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight")
_HEADER_LIMIT = 100_000_000
_SHOWN = 3  # missing files or tensors named in one finding


def findings(folder: Path, config: dict[str, Any]) -> list[str]:
    """Every problem of the folder that a conversion would meet; [] when there is none.

    `config` is its config.json, already parsed and checked against its schema."""
    folder = Path(folder)
    out: list[str] = []
    parsed = {}
    for name in JSON_FILES:
        value, problem = _json_file(folder / name)
        if problem:
            out.append(problem)
        elif value is not None:
            parsed[name] = value
    tokenizer = parsed.get("tokenizer.json")
    if tokenizer is not None and not isinstance(tokenizer.get("model"), dict):
        out.append(f"{folder / 'tokenizer.json'} is not a tokenizer: it has no \"model\" "
                   "section (the tokenizers library cannot load it); save the tokenizer again "
                   "(tokenizer.save_pretrained(folder)).")
    if (folder / "tokenizer.model").is_file() and _size(folder / "tokenizer.model") == 0:
        out.append(f"{folder / 'tokenizer.model'} is empty (0 bytes): save the tokenizer again "
                   "(tokenizer.save_pretrained(folder)).")
    out += _shard_problems(folder)
    out += _config_problems(config)
    out += _size_problems(folder, config, parsed.get("tokenizer.json"))
    return out


def _get(config: dict[str, Any], *keys: str) -> Any:
    """A config value, from the top level or its text_config (multimodal models)."""
    text_cfg = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    for source in (config, text_cfg):
        for key in keys:
            value = source.get(key)
            if value is not None:
                return value
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _json_file(path: Path) -> tuple[Any, str]:
    """(the parsed object, "") or (None, what is wrong with the file); (None, "") when absent."""
    if not path.is_file():
        return None, ""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"{path} cannot be read: {exc.strerror or exc}."
    if not raw.strip():
        return None, (f"{path} is empty ({len(raw)} bytes): copy or save it again "
                      "(tokenizer.save_pretrained / model.save_pretrained).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"{path} is not UTF-8 text (byte {exc.start}): it is corrupt; save it again."
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, (f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                      f"{exc.msg}): it is corrupt or truncated; save it again.")
    if not isinstance(value, dict):
        return None, f"{path} must hold a JSON object, not {type(value).__name__}."
    return value, ""


def _shard_problems(folder: Path) -> list[str]:
    """A shard index against the files: every shard it names exists and holds its tensors."""
    out = []
    for index_name in SHARD_INDEXES:
        value, problem = _json_file(folder / index_name)
        if problem:
            out.append(problem)
            continue
        if value is None:
            continue
        index = folder / index_name
        weight_map = value.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in weight_map.items()):
            out.append(f"{index}: weight_map: expected an object mapping tensor names to shard "
                       "file names.")
            continue
        shards: dict[str, list[str]] = {}
        for tensor, shard in weight_map.items():
            shards.setdefault(shard, []).append(tensor)
        bad = [s for s in shards if Path(s).name != s]
        if bad:
            out.append(f"{index} names {bad[0]!r}, which is not a file name in the folder.")
            continue
        missing = [s for s in sorted(shards) if not (folder / s).is_file()]
        if missing:
            out.append(f"{index} names {len(missing)} shard file(s) that are missing: "
                       f"{_names(missing)}. Copy every shard of the model into {folder}.")
            continue
        if index_name.startswith("model.safetensors"):
            for shard, tensors in sorted(shards.items()):
                header = _header(folder / shard)
                if header is None:
                    continue  # an unreadable shard is reported by the weights' own check
                absent = [t for t in tensors if t not in header]
                if absent:
                    out.append(f"{index} places {len(absent)} tensor(s) in {shard} that it does "
                               f"not hold: {_names(absent)}. The index and the shards come "
                               "from different saves; copy them again together.")
    return out


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _config_problems(config: dict[str, Any]) -> list[str]:
    """dtype and attention heads, as the model builder and transformers need them."""
    out = []
    for key in ("torch_dtype", "dtype"):
        value = _get(config, key)
        if isinstance(value, str) and value.removeprefix("torch.") not in DTYPES:
            out.append(f"config.json: {key} {value!r} is not a dtype: expected one of float32, "
                       "float16, bfloat16 (or auto).")
    hidden = _int(_get(config, "hidden_size", "n_embd", "d_model"))
    heads = _int(_get(config, "num_attention_heads", "n_head"))
    kv_heads = _int(_get(config, "num_key_value_heads", "num_kv_heads"))
    head_dim = _int(_get(config, "head_dim"))
    if hidden and heads and head_dim is None and hidden % heads:
        out.append(f"config.json: num_attention_heads {heads} does not divide hidden_size "
                   f"{hidden} (and no head_dim is given): the attention heads cannot be built.")
    if heads and kv_heads and (kv_heads > heads or heads % kv_heads):
        out.append(f"config.json: num_key_value_heads {kv_heads} does not divide "
                   f"num_attention_heads {heads}: grouped-query attention needs it to.")
    return out


def _size_problems(folder: Path, config: dict[str, Any], tokenizer: Any) -> list[str]:
    """vocab_size against the embedding's rows and the tokenizer's ids, hidden_size against its
    columns."""
    out = []
    vocab = _int(_get(config, "vocab_size"))
    hidden = _int(_get(config, "hidden_size", "n_embd", "d_model"))
    shape = _embedding_shape(folder)
    if shape is not None:
        rows, cols = shape
        if vocab is not None and vocab != rows:
            out.append(f"config.json: vocab_size {vocab} does not match the weights: the token "
                       f"embedding has {rows} rows. Fix vocab_size (or save the model again).")
        if hidden is not None and hidden != cols:
            out.append(f"config.json: hidden_size {hidden} does not match the weights: the token "
                       f"embedding has {cols} columns.")
    top = _tokenizer_top_id(tokenizer)
    limit = rows if shape is not None else vocab
    if top is not None and limit is not None and top >= limit:
        what = "the token embedding's rows" if shape is not None else "vocab_size"
        out.append(f"{folder / 'tokenizer.json'} has token ids up to {top}, but {what} "
                   f"{'are' if shape is not None else 'is'} {limit}: the tokenizer does not "
                   "belong to these weights (or vocab_size is too small).")
    return out


def _tokenizer_top_id(tokenizer: Any) -> int | None:
    """The largest token id of a tokenizer.json (its vocabulary and added tokens)."""
    if not isinstance(tokenizer, dict):
        return None
    ids: list[int] = []
    model = tokenizer.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(vocab, dict):
        ids += [v for v in vocab.values() if _int(v) is not None]
    elif isinstance(vocab, list) and vocab:  # Unigram: [[piece, score], ...], ids by position
        ids.append(len(vocab) - 1)
    added = tokenizer.get("added_tokens")
    if isinstance(added, list):
        ids += [a["id"] for a in added if isinstance(a, dict) and _int(a.get("id")) is not None]
    return max(ids) if ids else None


def _embedding_shape(folder: Path) -> tuple[int, int] | None:
    """(rows, columns) of the token embedding, read from a safetensors header; None when there is
    no readable float embedding."""
    for shard in sorted(folder.glob("*.safetensors")):
        if shard.name.startswith("adapter_"):
            continue
        header = _header(shard)
        for name, meta in (header or {}).items():
            if not name.endswith(_EMBEDDING_SUFFIXES) or not isinstance(meta, dict):
                continue
            shape = meta.get("shape")
            if meta.get("dtype") in ("F32", "F16", "BF16", "F64") and isinstance(shape, list) \
                    and len(shape) == 2 and all(_int(d) is not None for d in shape):
                return shape[0], shape[1]
    return None


def _header(path: Path) -> dict[str, Any] | None:
    """A safetensors file's JSON header, None when it cannot be read (model_info refuses such a
    file with its own message)."""
    try:
        with path.open("rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                return None
            (size,) = struct.unpack("<Q", raw)
            if not 0 < size <= _HEADER_LIMIT:
                return None
            header = json.loads(f.read(size).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return header if isinstance(header, dict) else None
