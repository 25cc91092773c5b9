"""Bench-only: a model with the exact shape of Qwen2.5-0.5B-Instruct (494 M parameters, vocab
151936) and random weights, built offline and converted to INT4 with onnxruntime-genai's builder.

Its speed is that of the real model (same matrices, same tokenizer size); its answers are noise.
Built once and cached under `core.paths.cache_dir() / "bench-qwen2.5-0.5b-shape"`; never used by
tests or CI (building takes a few minutes and about 2 GB of disk while it runs).

The tokenizer is a synthetic byte-level BPE with Qwen2's pre-tokenizer and exactly Qwen2.5's
151643 regular tokens (all byte pairs, then byte triples), plus its three chat special tokens at
their real ids; the chat template is ChatML.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from slm_wizard.core.base.paths import cache_dir

SHAPE = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
REGULAR_TOKENS = 151643
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")  # ids 151643, 151644, 151645
CHATML = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
VERSION = "1"


def folder() -> Path:
    return cache_dir() / "bench-qwen2.5-0.5b-shape"


def _tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    from slm_wizard.core.model.demo import QWEN2_SPLIT_REGEX

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    merges: list[tuple[str, str]] = []

    def add(a: str, b: str) -> bool:
        if len(vocab) >= REGULAR_TOKENS:
            return False
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
            merges.append((a, b))
        return True

    pairs = [a + b for a in alphabet for b in alphabet]
    for a in alphabet:
        for b in alphabet:
            add(a, b)
    for ab in pairs:
        for c in alphabet:
            if not add(ab, c):
                break
        if len(vocab) >= REGULAR_TOKENS:
            break
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None, fuse_unk=False,
                               byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIALS))
    assert tok.token_to_id(SPECIALS[0]) == REGULAR_TOKENS
    return tok


def _write_hf(out: Path, say: Callable[[str], None]) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    eot, im_start, im_end = REGULAR_TOKENS, REGULAR_TOKENS + 1, REGULAR_TOKENS + 2
    config = Qwen2Config(**SHAPE, bos_token_id=eot, eos_token_id=im_end, pad_token_id=eot)
    torch.manual_seed(0)
    say("initializing 494 M random weights")
    with torch.no_grad():
        model = Qwen2ForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    del model
    say("writing the tokenizer (151 643 BPE tokens)")
    _tokenizer().save(str(out / "tokenizer.json"))

    def added(content: str) -> dict:
        return {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
                "single_word": False, "special": True}

    cfg = {
        "tokenizer_class": "Qwen2Tokenizer", "add_prefix_space": False,
        "added_tokens_decoder": {str(i): added(t)
                                 for i, t in zip((eot, im_start, im_end), SPECIALS, strict=True)},
        "additional_special_tokens": list(SPECIALS[1:]), "bos_token": None,
        "eos_token": SPECIALS[2], "pad_token": SPECIALS[0], "unk_token": None,
        "clean_up_tokenization_spaces": False, "errors": "replace",
        "split_special_tokens": False, "model_max_length": SHAPE["max_position_embeddings"],
        "chat_template": CHATML,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    (out / "chat_template.jinja").write_text(CHATML, encoding="utf-8")


def build_realistic_model(progress: Callable[[str], None] | None = None) -> Path:
    """Return the INT4 ONNX folder of the Qwen2.5-0.5B-shaped model, building it once."""
    say = progress or (lambda s: None)
    root = folder()
    onnx = root / "int4"
    marker = root / "built.json"
    if (onnx / "genai_config.json").is_file() and marker.is_file() and \
            json.loads(marker.read_text()).get("version") == VERSION:
        return onnx
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    hf = root / "hf"
    t0 = time.monotonic()
    _write_hf(hf, say)
    say("converting to INT4 with onnxruntime-genai's builder (a few minutes)")
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o",
           str(onnx), "-p", "int4", "-e", "cpu", "-c", str(root / "builder-cache")]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0 or not (onnx / "genai_config.json").is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError("the builder failed: " + " | ".join(tail))
    shutil.rmtree(hf, ignore_errors=True)  # 2 GB of fp32 weights, not needed any more
    shutil.rmtree(root / "builder-cache", ignore_errors=True)
    marker.write_text(json.dumps({"version": VERSION, "seconds": round(time.monotonic() - t0)}))
    return onnx


def build_fp32_reference(progress: Callable[[str], None] | None = None) -> Path:
    """The FP32 ONNX folder of the same model (same seed, same weights as the INT4 one): the
    quantization advisor's reference. Built once (about 2 GB on disk, several GB of RAM)."""
    say = progress or (lambda s: None)
    root = folder()
    out = root / "fp32"
    marker = root / "fp32.json"
    if (out / "genai_config.json").is_file() and marker.is_file() and \
            json.loads(marker.read_text()).get("version") == VERSION:
        return out
    build_realistic_model(progress)  # the tokenizer and INT4 first: same weights, same seed
    shutil.rmtree(out, ignore_errors=True)
    hf = root / "hf-fp32"
    t0 = time.monotonic()
    _write_hf(hf, say)
    say("converting to FP32 with onnxruntime-genai's builder (a few minutes)")
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o",
           str(out), "-p", "fp32", "-e", "cpu", "-c", str(root / "builder-cache")]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=3600)
    shutil.rmtree(hf, ignore_errors=True)
    shutil.rmtree(root / "builder-cache", ignore_errors=True)
    if done.returncode != 0 or not (out / "genai_config.json").is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError("the builder failed: " + " | ".join(tail))
    marker.write_text(json.dumps({"version": VERSION, "seconds": round(time.monotonic() - t0)}))
    return out


if __name__ == "__main__":
    print(build_realistic_model(print))
