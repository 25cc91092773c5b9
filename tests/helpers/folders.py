"""Small model and ONNX folders built by hand (good or broken on purpose), and a digest of a
file tree (to prove a command left it unchanged)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path


def safetensors(header: object, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


GOOD_HEADER = {"model.embed_tokens.weight": {"dtype": "F32", "shape": [4, 2],
                                             "data_offsets": [0, 32]}}
GOOD_CONFIG = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 2,
               "num_hidden_layers": 1, "num_attention_heads": 1, "vocab_size": 4,
               "max_position_embeddings": 64}


# The smallest tokenizer.json the folder check accepts (a "model" section; ids below vocab 4).
TOKENIZER = {"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
             "added_tokens": []}


def make_model(folder: Path, config: object = None, weights: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = GOOD_CONFIG if config is None else config
    (folder / "config.json").write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))
    (folder / "model.safetensors").write_bytes(
        safetensors(GOOD_HEADER, b"\0" * 32) if weights is None else weights)
    (folder / "tokenizer.json").write_text(json.dumps(TOKENIZER))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}))
    return folder


GENAI = {"model": {"context_length": 128, "decoder": {"filename": "model.onnx"}},
         "search": {"max_length": 128}}


def make_onnx(folder: Path, genai: object = None, onnx: bytes | None = b"\x08\x07garbage") \
        -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    g = GENAI if genai is None else genai
    (folder / "genai_config.json").write_text(g if isinstance(g, str) else json.dumps(g))
    if onnx is not None:
        (folder / "model.onnx").write_bytes(onnx)
    return folder


def tree(root: Path) -> dict[str, str]:
    """Every path under root with a digest of its content (folders: "dir")."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = ("link to " + os.readlink(p)) if os.path.islink(p) \
                else hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


