"""A bad-input corpus across every command: each case asserts the exit code (2 refused input,
1 a failure), no traceback and no "bug" message on stderr, a message naming the problem, and the
file tree under the test's folder unchanged.

The commands run in-process through `slm_wizard.cli.main.main` (fast); `test_subprocess_*` run a
few of them as real processes to prove no traceback reaches the terminal.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from slm_wizard.cli.main import main
from tests.helpers.folders import GOOD_CONFIG, GOOD_HEADER, make_model, make_onnx, safetensors, tree

# --------------------------------------------------------------------------- the world


def world(t: Path) -> dict[str, str]:
    """Every input the cases name, built under `t`; returns the placeholders of the argv."""
    make_model(t / "model")
    make_model(t / "arch_nested", {**GOOD_CONFIG, "architectures": [["Qwen2ForCausalLM"]]})
    make_model(t / "arch_text", {**GOOD_CONFIG, "architectures": "Qwen2ForCausalLM"})
    make_model(t / "hidden_text", {**GOOD_CONFIG, "hidden_size": "abc"})
    make_model(t / "config_list", [1, 2])
    make_model(t / "config_bad_json", "{not json")
    make_model(t / "config_empty_obj", {})
    make_model(t / "header_list", weights=safetensors([1, 2, 3]))
    make_model(t / "shape_text", weights=safetensors(
        {"w": {"dtype": "F32", "shape": "abc", "data_offsets": [0, 4]}}, b"\0" * 4))
    make_model(t / "shape_negative", weights=safetensors(
        {"w": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 4]}}, b"\0" * 4))
    make_model(t / "truncated", weights=safetensors(GOOD_HEADER, b"\0" * 8))
    make_model(t / "empty_weights", weights=b"")
    make_model(t / "huge_header", weights=struct.pack("<Q", 10**12) + b"{}")
    lora = t / "lora"
    lora.mkdir()
    (lora / "adapter_config.json").write_text("{}")
    noweights = make_model(t / "noweights")
    (noweights / "model.safetensors").unlink()
    (t / "empty").mkdir()
    (t / "afile").write_text("I am a file\n")
    (t / "loop1").symlink_to(t / "loop2")
    (t / "loop2").symlink_to(t / "loop1")
    (t / "dangling").symlink_to(t / "nowhere")
    user = t / "userdir"
    user.mkdir()
    (user / "notes.txt").write_text("precious\n")
    sweep_out = t / "sweepout"
    (sweep_out / "int4").mkdir(parents=True)
    (sweep_out / "int4" / "mine.txt").write_text("precious\n")
    make_onnx(t / "onnx_nomodel", onnx=None)
    make_onnx(t / "onnx_truncated")
    make_onnx(t / "onnx_badgenai", genai="{ broken")
    make_onnx(t / "onnx_genai_list", genai=[1])
    make_onnx(t / "onnx_genai_nomodel", genai={"search": {}})
    make_onnx(t / "onnx_empty", onnx=b"")
    (t / "list.json").write_text("[1, 2]")
    (t / "badcache").mkdir()
    (t / "badcache" / "foundry.local.modelinfo.json").write_text('{"models": [')
    (t / "emptycache").mkdir()
    (t / "emptycache" / "foundry.local.modelinfo.json").write_bytes(b"")
    (t / "bad.json").write_text("{ nope")
    (t / "acc_level.json").write_text(json.dumps({
        "input_model": {"type": "HfModel", "model_path": "x"},
        "passes": {"mb": {"type": "ModelBuilder", "precision": "int4",
                          "int4_accuracy_level": {"a": 1}}}}))
    (t / "block_text.json").write_text(json.dumps({
        "input_model": {"type": "HfModel", "model_path": "x"},
        "passes": {"mb": {"type": "ModelBuilder", "config": {"int4_block_size": "x"}}}}))
    (t / "domain_bad.jsonl").write_text("{not json}\n")
    (t / "domain_types.jsonl").write_text(json.dumps({"prompt": 5, "expected": ["x"]}) + "\n")
    (t / "domain_empty.jsonl").write_text("")
    (t / "domain_expected_empty.jsonl").write_text(json.dumps({"prompt": "q", "expected": ""})
                                                   + "\n")
    (t / "domain_bad_schema.jsonl").write_text(
        json.dumps({"prompt": "q", "expected": "a"}) + "\n"
        + json.dumps({"prompt": "q", "schema": {"type": "nonsense"}}) + "\n")
    (t / "domain_latin1.jsonl").write_bytes(b'{"prompt": "caf\xe9", "expected": "x"}\n')
    (t / "prompts_bad.jsonl").write_text("[[[\n")
    (t / "template_bad.json").write_text("{ nope")
    (t / "template_list.json").write_text("[1]")
    (t / "template_noslots.json").write_text(json.dumps({"system": 1, "user": 2}))
    files = broken_models(t)
    files |= {k.split(".")[0]: str(t / k) for k in (
        "model", "arch_nested", "arch_text", "hidden_text", "config_list", "config_bad_json",
        "config_empty_obj", "header_list", "shape_text", "shape_negative", "truncated",
        "empty_weights", "huge_header", "lora", "noweights", "empty", "afile", "userdir",
        "sweepout", "badcache", "emptycache", "loop1", "dangling", "onnx_nomodel",
        "onnx_truncated", "onnx_badgenai", "onnx_genai_list", "onnx_genai_nomodel",
        "onnx_empty", "list.json", "bad.json", "acc_level.json",
        "block_text.json", "domain_bad.jsonl", "domain_types.jsonl", "domain_empty.jsonl",
        "prompts_bad.jsonl", "domain_expected_empty.jsonl", "domain_bad_schema.jsonl",
        "domain_latin1.jsonl", "template_bad.json", "template_list.json",
        "template_noslots.json")}
    return files | {"missing": str(t / "missing"), "t": str(t),
                                      "cache": str(t / "cache")}


def broken_models(t: Path) -> dict[str, str]:
    """Model folders that Olive would fail on after minutes (core.model.folder_check finds each
    at once)."""
    two = {"model.embed_tokens.weight": {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, 32]}}
    out = {}

    def model(name: str, config: object = None, **files: object) -> None:
        folder = make_model(t / name, config)
        for file, content in files.items():
            path = folder / file.replace("__", ".")
            if content is None:
                path.unlink()
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content if isinstance(content, str) else json.dumps(content))
        out[name] = str(folder)

    index = {"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                            "lm_head.weight": "model-00002-of-00002.safetensors"}}
    model("shard_missing", model__safetensors=None, **{
        "model-00001-of-00002__safetensors": safetensors(two, b"\0" * 32),
        "model__safetensors__index__json": index})
    model("shard_tensor_absent", **{"model__safetensors__index__json": {
        "weight_map": {"model.norm.weight": "model.safetensors"}}})
    model("index_corrupt", model__safetensors__index__json="{ half")
    model("index_no_map", model__safetensors__index__json={"metadata": {}})
    model("vocab_small", {**GOOD_CONFIG, "vocab_size": 3})
    model("vocab_big", {**GOOD_CONFIG, "vocab_size": 1000})
    model("hidden_mismatch", {**GOOD_CONFIG, "hidden_size": 8, "num_attention_heads": 2})
    model("heads_indivisible", {**GOOD_CONFIG, "num_attention_heads": 3})
    model("kv_heads_bad", {**GOOD_CONFIG, "num_attention_heads": 2,
                           "num_key_value_heads": 3})
    model("dtype_int7", {**GOOD_CONFIG, "torch_dtype": "int7"})
    model("dtype_bogus", {**GOOD_CONFIG, "dtype": "float99"})
    model("tokenizer_empty", tokenizer__json="")
    model("tokenizer_corrupt", tokenizer__json='{"model": {"vocab": {"a": 0,')
    model("tokenizer_latin1", tokenizer__json=b'{"x": "caf\xe9"}')
    model("tokenizer_list", tokenizer__json="[1, 2]")
    model("tokenizer_no_model", tokenizer__json="{}")
    model("tokenizer_ids_big", tokenizer__json={"model": {"vocab": {"a": 0, "b": 9}},
                                                "added_tokens": [{"id": 12}]})
    model("tokcfg_empty", tokenizer_config__json="")
    model("tokcfg_corrupt", tokenizer_config__json="{ nope")
    model("genconfig_corrupt", generation_config__json="{")
    model("special_map_empty", special_tokens_map__json=b"")
    model("config_zero", "")
    model("two_problems", {**GOOD_CONFIG, "torch_dtype": "int7", "num_attention_heads": 3})
    return out


# --------------------------------------------------------------------------- the corpus

R, F = 2, 1  # refused input, failure
# (id, argv with {placeholders}, exit code, a word of the message (case-insensitive))
CASES: list[tuple[str, list[str], int, str]] = [
    # --- paths: the empty path, missing, a file, a file in the path
    ("inspect-empty-path", ["inspect", ""], R, "path is empty"),
    ("convert-empty-model", ["convert", ""], R, "path is empty"),
    ("convert-empty-out", ["convert", "{model}", "-o", ""], R, "path is empty"),
    ("convert-empty-out-eq", ["convert", "{model}", "--output="], R, "path is empty"),
    ("demo-empty-out-force", ["demo", "--out", "", "--force"], R, "path is empty"),
    ("deploy-empty-cache", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir", ""], R,
     "path is empty"),
    ("check-empty-output-dir", ["check", "--output-dir", ""], R, "path is empty"),
    ("check-empty-model", ["check", "--model", ""], R, "path is empty"),
    ("config-dir-empty", ["--config-dir", "", "check"], R, "path is empty"),
    ("chat-empty-model", ["chat", "", "--prompt", "hi"], R, "path is empty"),
    ("bench-empty-model", ["bench", ""], R, "path is empty"),
    ("validate-empty-model", ["validate", ""], R, "path is empty"),
    ("sweep-empty-output", ["sweep", "{model}", "--output", ""], R, "path is empty"),
    ("validate-empty-domain", ["validate", "{model}", "--domain", ""], R, "path is empty"),
    ("template-empty-file", ["template", "{model}", "--prompt-template", ""], R,
     "path is empty"),
    ("inspect-missing", ["inspect", "{missing}"], R, "does not exist"),
    ("inspect-file", ["inspect", "{afile}"], R, "is a file"),
    ("inspect-empty-folder", ["inspect", "{empty}"], R, "no config.json"),
    ("convert-missing", ["convert", "{missing}", "-o", "{t}/out"], R, "does not exist"),
    ("convert-out-is-file", ["convert", "{model}", "-o", "{afile}"], R, "is a file"),
    ("convert-out-under-file", ["convert", "{model}", "-o", "{afile}/sub"], R, "is a file"),
    ("convert-out-is-model", ["convert", "{model}", "-o", "{model}"], R, "model folder"),
    ("convert-out-nonempty", ["convert", "{model}", "-o", "{userdir}"], R, "not empty"),
    ("convert-out-nonempty-replace", ["convert", "{model}", "-o", "{userdir}", "--replace"], R,
     "not made by slm-wizard"),
    ("check-model-missing", ["check", "--model", "{missing}"], R, "does not exist"),
    ("check-output-dir-file", ["check", "--output-dir", "{afile}"], R, "is a file"),
    ("demo-out-file", ["demo", "--out", "{afile}"], R, "is a file"),
    ("demo-out-nonempty", ["demo", "--out", "{userdir}"], R, "not empty"),
    ("demo-out-nonempty-force", ["demo", "--out", "{userdir}", "--force"], R,
     "not made by slm-wizard"),
    ("sweep-missing", ["sweep", "{missing}"], R, "does not exist"),
    ("sweep-output-nonempty", ["sweep", "{model}", "--output", "{sweepout}"], R,
     "not made by slm-wizard"),
    ("chat-missing", ["chat", "{missing}", "--prompt", "hi"], R, "does not exist"),
    ("deploy-missing", ["deploy", "{missing}", "--name", "x", "--cache-dir", "{cache}"], R,
     "genai_config.json"),
    # --- model folders
    ("inspect-arch-nested", ["inspect", "{arch_nested}"], R, "architectures.0"),
    ("inspect-arch-text", ["inspect", "{arch_text}"], R, "architectures"),
    ("inspect-hidden-text", ["inspect", "{hidden_text}"], R, "hidden_size"),
    ("inspect-config-list", ["inspect", "{config_list}"], R, "JSON object"),
    ("inspect-config-bad-json", ["inspect", "{config_bad_json}"], R, "not valid JSON"),
    ("inspect-config-empty", ["inspect", "{config_empty_obj}"], R, "model_type"),
    ("inspect-header-list", ["inspect", "{header_list}"], R, "safetensors header"),
    ("inspect-shape-text", ["inspect", "{shape_text}"], R, "w.shape"),
    ("inspect-shape-negative", ["inspect", "{shape_negative}"], R, "w.shape.0"),
    ("inspect-truncated", ["inspect", "{truncated}"], R, "truncated"),
    ("inspect-empty-weights", ["inspect", "{empty_weights}"], R, "truncated or empty"),
    ("inspect-huge-header", ["inspect", "{huge_header}"], R, "bad header size"),
    ("inspect-lora", ["inspect", "{lora}"], R, "LoRA adapter"),
    ("inspect-no-weights", ["inspect", "{noweights}"], R, "no weights"),
    ("convert-arch-nested", ["convert", "{arch_nested}", "-o", "{t}/o"], R, "architectures.0"),
    ("convert-header-list", ["convert", "{header_list}", "-o", "{t}/o"], R, "safetensors"),
    ("convert-shape-text", ["convert", "{shape_text}", "-o", "{t}/o"], R, "shape"),
    ("convert-truncated", ["convert", "{truncated}", "-o", "{t}/o"], R, "truncated"),
    ("check-model-arch-nested", ["check", "--model", "{arch_nested}"], R, "architectures.0"),
    ("check-model-header-list", ["check", "--model", "{header_list}"], R, "safetensors"),
    ("check-model-shape-text", ["check", "--model", "{shape_text}"], R, "shape"),
    ("sweep-arch-nested", ["sweep", "{arch_nested}"], R, "architectures.0"),
    ("sweep-shape-text", ["sweep", "{shape_text}"], R, "shape"),
    # --- model folders Olive would fail on after minutes: refused at once (folder_check)
    *[(f"{cmd}-{name.replace('_', '-')}", argv, R, word)
      for name, word in (
          ("shard_missing", "model-00002-of-00002.safetensors"),
          ("shard_tensor_absent", "model.norm.weight"),
          ("index_corrupt", "model.safetensors.index.json is not valid JSON"),
          ("index_no_map", "weight_map"),
          ("vocab_small", "vocab_size 3 does not match"),
          ("vocab_big", "vocab_size 1000 does not match"),
          ("hidden_mismatch", "hidden_size 8 does not match"),
          ("heads_indivisible", "num_attention_heads 3 does not divide hidden_size 2"),
          ("kv_heads_bad", "num_key_value_heads 3"),
          ("dtype_int7", "'int7' is not a dtype"),
          ("dtype_bogus", "'float99' is not a dtype"),
          ("tokenizer_empty", "tokenizer.json is empty"),
          ("tokenizer_corrupt", "tokenizer.json is not valid JSON"),
          ("tokenizer_latin1", "tokenizer.json is not UTF-8"),
          ("tokenizer_list", "tokenizer.json must hold a JSON object"),
          ("tokenizer_no_model", "tokenizer.json is not a tokenizer"),
          ("tokenizer_ids_big", "token ids up to 12"),
          ("tokcfg_empty", "tokenizer_config.json is empty"),
          ("tokcfg_corrupt", "tokenizer_config.json is not valid JSON"),
          ("genconfig_corrupt", "generation_config.json is not valid JSON"),
          ("special_map_empty", "special_tokens_map.json is empty"),
          ("config_zero", "config.json is empty"),
          ("two_problems", "2 problems"))
      for cmd, argv in (("inspect", ["inspect", "{" + name + "}"]),
                        ("convert", ["convert", "{" + name + "}", "-o", "{t}/o"]))],
    *[(f"{cmd}-{name.replace('_', '-')}", argv, R, word)
      for name, word in (("shard_missing", "missing"), ("tokenizer_corrupt", "tokenizer.json"),
                         ("vocab_small", "vocab_size"), ("dtype_int7", "int7"))
      for cmd, argv in (("check", ["check", "--model", "{" + name + "}"]),
                        ("sweep", ["sweep", "{" + name + "}"]))],
    # --- domain files, report folders, sweep options, deploy sizes
    ("validate-domain-expected-empty", ["validate", "{onnx_truncated}", "--domain",
                                        "{domain_expected_empty}"], R, '"expected" is empty'),
    ("sweep-domain-expected-empty", ["sweep", "{model}", "--domain",
                                     "{domain_expected_empty}"], R, '"expected" is empty'),
    ("validate-domain-bad-schema", ["validate", "{onnx_truncated}", "--domain",
                                    "{domain_bad_schema}"], R,
     "line 2: \"schema\" is not a valid JSON schema"),
    ("sweep-domain-bad-schema", ["sweep", "{model}", "--domain", "{domain_bad_schema}"], R,
     "line 2"),
    ("validate-domain-latin1", ["validate", "{onnx_truncated}", "--domain", "{domain_latin1}"],
     R, "not UTF-8 text (line 1"),
    ("bench-prompts-latin1", ["bench", "{onnx_truncated}", "--prompts", "{domain_latin1}"], R,
     "not UTF-8"),
    ("validate-report-dir-file", ["validate", "{onnx_truncated}", "--report-dir", "{afile}"], R,
     "--report-dir"),
    ("bench-report-dir-file", ["bench", "{onnx_truncated}", "--report-dir", "{afile}"], R,
     "is a file"),
    ("bench-report-dir-under-file", ["bench", "{onnx_truncated}", "--report-dir",
                                     "{afile}/reports"], R, "which is a file"),
    ("sweep-report-dir-file", ["sweep", "{model}", "--report-dir", "{afile}"], R, "is a file"),
    ("sweep-variants-empty", ["sweep", "{model}", "--variants", ""], R, "--variants is empty"),
    ("sweep-variants-commas", ["sweep", "{model}", "--variants", ",,"], R, "variant"),
    ("sweep-fidelity-tokens-zero", ["sweep", "{model}", "--fidelity-tokens", "0"], R,
     "--fidelity-tokens"),
    ("sweep-max-kld-nan", ["sweep", "{model}", "--max-kld", "nan"], R, "--max-kld"),
    ("deploy-max-length-zero", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                                "{cache}", "--max-length", "0", "--dry-run"], R,
     "--max-length"),
    ("deploy-max-tokens-zero", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                                "{cache}", "--max-tokens", "0", "--dry-run"], R,
     "--max-tokens"),
    ("bench-repeats-huge", ["bench", "{onnx_truncated}", "--repeats", "100000000"], R,
     "from 1 to 100"),
    # --- symbolic links, Windows device names, folders of the wrong kind (chat)
    *[(f"{cmd}-loop", [*argv], R, "symbolic link loop") for cmd, argv in (
        ("inspect", ["inspect", "{loop1}"]), ("convert", ["convert", "{loop1}", "-o", "{t}/o"]),
        ("chat", ["chat", "{loop1}", "--prompt", "hi"]), ("check", ["check", "--model",
                                                                  "{loop1}"]),
        ("sweep", ["sweep", "{loop1}"]))],
    ("inspect-dangling-link", ["inspect", "{dangling}"], R, "which does not exist"),
    *[(f"{cmd}-reserved-{name.lower()}", argv, R, "device name Windows reserves")
      for name in ("CON", "nul.txt")
      for cmd, argv in (
          ("convert", ["convert", "{model}", "-o", "{t}/" + name, "--dry-run"]),
          ("demo", ["demo", "--out", "{t}/x/" + name]),
          ("sweep", ["sweep", "{model}", "--output", "{t}/" + name]),
          ("bench", ["bench", "{onnx_truncated}", "--report-dir", "{t}/" + name]),
          ("validate", ["validate", "{onnx_truncated}", "--report-dir", "{t}/" + name]),
          ("check", ["check", "--output-dir", "{t}/" + name]))],
    ("deploy-name-reserved", ["deploy", "{onnx_nomodel}", "--name", "NUL", "--remove",
                              "--cache-dir", "{cache}"], R, "device name Windows reserves"),
    ("deploy-name-reserved-com1", ["deploy", "{onnx_nomodel}", "--name", "com1", "--remove",
                                   "--cache-dir", "{cache}"], R, "Windows reserves"),
    ("chat-hf-folder", ["chat", "{model}", "--prompt", "hi"], R, "Hugging Face model folder"),
    ("bench-hf-folder", ["bench", "{model}"], R, "Hugging Face model folder"),
    ("validate-hf-folder", ["validate", "{model}"], R, "Hugging Face model folder"),
    ("bench-loop", ["bench", "{loop1}"], R, "symbolic link loop"),
    ("bench-foundry-cache-file", ["bench", "m:1", "--backend", "foundry", "--cache-dir",
                                  "{afile}"], R, "--cache-dir"),
    ("validate-foundry-cache-file", ["validate", "m:1", "--backend", "foundry", "--cache-dir",
                                     "{afile}"], R, "is a file"),
    ("chat-no-genai", ["chat", "{empty}", "--prompt", "hi"], R, "no genai_config.json"),
    ("chat-file", ["chat", "{afile}", "--prompt", "hi"], R, "is a file"),
    ("chat-adapter-missing", ["chat", "{onnx_truncated}", "--prompt", "hi", "--adapter",
                              "nope"], R, "no nope.onnx_adapter"),
    ("chat-foundry-cache-file", ["chat", "m:1", "--backend", "foundry", "--cache-dir",
                                 "{afile}", "--prompt", "hi"], R, "--cache-dir"),
    ("deploy-cache-file", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                           "{afile}"], R, "afile"),
    # --- text that is not UTF-8 (a Latin-1 "é" reaches Python as a lone surrogate)
    ("chat-prompt-latin1", ["chat", "{onnx_truncated}", "--prompt", "caf\udce9"], R,
     "the prompt is not valid UTF-8 text (byte 0xe9"),
    ("chat-system-latin1", ["chat", "{onnx_truncated}", "--prompt", "hi", "--system",
                            "\udcff"], R, "system prompt is not valid UTF-8"),
    ("deploy-prompt-latin1", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                              "{cache}", "--prompt", "caf\udce9", "--dry-run"], R,
     "--prompt is not valid UTF-8"),
    ("deploy-description-latin1", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                                   "{cache}", "--description", "\udce9", "--dry-run"], R,
     "--description is not valid UTF-8"),
    # --- a corrupt Foundry Local registration file: named before anything is copied
    ("deploy-registry-corrupt", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                                 "{badcache}"], R, "foundry.local.modelinfo.json is not valid"),
    ("deploy-registry-empty", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                               "{emptycache}"], R, "modelinfo.json is empty"),
    ("deploy-remove-registry-corrupt", ["deploy", "{onnx_truncated}", "--name", "x",
                                        "--remove", "--cache-dir", "{badcache}"], R,
     "Move the file aside"),
    # --- a folder where a file is expected, a file that is a link loop
    ("validate-domain-folder", ["validate", "{onnx_truncated}", "--domain", "{empty}"], R,
     "is a folder, not a file"),
    ("sweep-domain-folder", ["sweep", "{model}", "--domain", "{empty}"], R, "folder"),
    ("bench-prompts-folder", ["bench", "{onnx_truncated}", "--prompts", "{empty}"], R,
     "is a folder, not a file"),
    ("bench-prompts-loop", ["bench", "{onnx_truncated}", "--prompts", "{loop1}"], R,
     "symbolic link loop"),
    ("validate-domain-loop", ["validate", "{onnx_truncated}", "--domain", "{loop1}"], R,
     "symbolic link loop"),
    ("template-file-folder", ["template", "{model}", "--prompt-template", "{empty}"], R,
     "empty"),
    # --- a file where a parent folder should be
    ("check-output-dir-under-file", ["check", "--output-dir", "{afile}/sub"], R,
     "which is a file"),
    ("sweep-output-under-file", ["sweep", "{model}", "--output", "{afile}/sub"], R,
     "which is a file"),
    ("demo-out-under-file", ["demo", "--out", "{afile}/sub"], R, "which is a file"),
    ("deploy-cache-under-file", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                                 "{afile}/c"], R, "which is a file"),
    # --- options that do not apply
    ("convert-adapter-mode-not-adapter", ["convert", "{model}", "-o", "{t}/o", "--adapter-mode",
                                          "adapter"], R, "not a LoRA adapter folder"),
    ("convert-adapter-mode-merge-not-adapter", ["convert", "{model}", "-o", "{t}/o",
                                                "--adapter-mode", "merge", "--dry-run"], R,
     "--adapter-mode merge"),
    # --- configs
    ("check-config-acc-dict", ["convert", "--check-config", "{acc_level}"], F,
     "int4_accuracy_level"),
    ("check-config-block-text", ["convert", "--check-config", "{block_text}"], F,
     "int4_block_size"),
    ("check-config-list", ["convert", "--check-config", "{list}"], F, "JSON object"),
    ("check-config-bad-json", ["convert", "--check-config", "{bad}"], F, "not valid JSON"),
    ("check-config-missing", ["convert", "--check-config", "{missing}"], R, "does not exist"),
    ("check-config-folder", ["convert", "--check-config", "{empty}"], R, "is a folder"),
    ("check-config-loop", ["convert", "--check-config", "{loop1}"], R, "symbolic link loop"),
    # --- converted folders (deploy checks them before copying or registering)
    ("deploy-no-model-onnx", ["deploy", "{onnx_nomodel}", "--name", "x", "--cache-dir",
                              "{cache}"], R, "model.onnx is missing"),
    ("deploy-truncated-onnx", ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir",
                               "{cache}"], R, "truncated or corrupt"),
    ("deploy-empty-onnx", ["deploy", "{onnx_empty}", "--name", "x", "--cache-dir", "{cache}"],
     R, "is empty"),
    ("deploy-bad-genai", ["deploy", "{onnx_badgenai}", "--name", "x", "--cache-dir", "{cache}"],
     R, "not valid JSON"),
    ("deploy-genai-list", ["deploy", "{onnx_genai_list}", "--name", "x", "--cache-dir",
                           "{cache}"], R, "JSON object"),
    ("deploy-genai-no-model", ["deploy", "{onnx_genai_nomodel}", "--name", "x", "--cache-dir",
                               "{cache}"], R, "model: missing"),
    ("deploy-hf-folder", ["deploy", "{model}", "--name", "x", "--cache-dir", "{cache}"], R,
     "genai_config.json"),
    # --- names and versions
    ("deploy-name-empty", ["deploy", "{onnx_nomodel}", "--name", "", "--remove", "--cache-dir",
                           "{cache}"], R, "name is empty"),
    ("deploy-name-path", ["deploy", "{onnx_nomodel}", "--name", "../evil", "--remove",
                          "--cache-dir", "{cache}"], R, "looks like a path"),
    ("deploy-name-space", ["deploy", "{onnx_nomodel}", "--name", "a b", "--remove",
                           "--cache-dir", "{cache}"], R, "may hold only"),
    ("deploy-name-long", ["deploy", "{onnx_nomodel}", "--name", "a" * 80, "--remove",
                          "--cache-dir", "{cache}"], R, "at most"),
    ("deploy-version-text-remove", ["deploy", "{onnx_nomodel}", "--name", "lumo", "--version",
                                    "abc", "--remove", "--cache-dir", "{cache}"], R,
     "whole number"),
    ("deploy-version-negative", ["deploy", "{onnx_nomodel}", "--name", "lumo", "--version=-1",
                                 "--remove", "--cache-dir", "{cache}"], R, "whole number"),
    ("deploy-version-huge", ["deploy", "{onnx_nomodel}", "--name", "lumo", "--version",
                             "99999999999", "--remove", "--cache-dir", "{cache}"], R,
     "too large"),
    ("deploy-version-leading-zero", ["deploy", "{onnx_nomodel}", "--name", "lumo", "--version",
                                     "01", "--remove", "--cache-dir", "{cache}"], R,
     "leading zeros"),
    # --- templates
    ("template-bad-json", ["template", "{model}", "--prompt-template", "{template_bad}"],
     R, "template_bad.json"),
    ("template-list", ["template", "{model}", "--prompt-template", "{template_list}"], R,
     "template_list.json"),
    ("template-missing", ["template", "{model}", "--prompt-template", "{missing}"], R,
     "missing"),
    ("template-family-bogus", ["template", "{model}", "--family", "bogus"], R,
     "invalid choice"),
    # --- chat parameters
    ("chat-max-tokens-zero", ["chat", "{onnx_truncated}", "--prompt", "hi", "--max-tokens",
                              "0"], R, "max"),
    ("chat-temperature-negative", ["chat", "{onnx_truncated}", "--prompt", "hi",
                                   "--temperature=-1"], R, "temperature"),
    ("chat-temperature-nan", ["chat", "{onnx_truncated}", "--prompt", "hi", "--temperature",
                              "nan"], R, "temperature"),
    ("chat-top-p-big", ["chat", "{onnx_truncated}", "--prompt", "hi", "--top-p", "1.5"], R,
     "top"),
    ("chat-top-k-text", ["chat", "{onnx_truncated}", "--prompt", "hi", "--top-k", "x"], R,
     "invalid int"),
    ("chat-backend-bogus", ["chat", "{onnx_truncated}", "--backend", "gpu"], R,
     "invalid choice"),
    # --- prompts and domain files
    ("validate-domain-missing", ["validate", "{onnx_truncated}", "--domain", "{missing}"], R,
     "missing"),
    ("validate-domain-bad", ["validate", "{onnx_truncated}", "--domain",
                             "{domain_bad}"], R, "line 1"),
    ("validate-domain-types", ["validate", "{onnx_truncated}", "--domain",
                               "{domain_types}"], R, "prompt"),
    ("sweep-domain-bad", ["sweep", "{model}", "--domain", "{domain_bad}"], R, "line 1"),
    ("bench-prompts-missing", ["bench", "{onnx_truncated}", "--prompts", "{missing}"], R,
     "missing"),
    ("bench-prompts-bad", ["bench", "{onnx_truncated}", "--prompts", "{prompts_bad}"], R,
     "line 1"),
    # --- sizes and thresholds
    ("check-min-ram-nan", ["check", "--min-ram-gb", "nan"], R, "finite number"),
    ("check-min-ram-negative", ["check", "--min-ram-gb=-1"], R, "positive number"),
    ("check-min-ram-zero", ["check", "--min-ram-gb", "0"], R, "positive number"),
    ("check-min-ram-inf", ["check", "--min-ram-gb", "inf"], R, "finite number"),
    ("check-min-ram-text", ["check", "--min-ram-gb", "lots"], R, "invalid float"),
    ("check-timeout-zero", ["check", "--timeout", "0"], R, "--timeout"),
    ("validate-max-prompts-neg", ["validate", "{onnx_truncated}", "--max-prompts=-1"], R,
     "--max-prompts"),
    ("validate-max-prompts-zero", ["validate", "{onnx_truncated}", "--max-prompts", "0"], R,
     "--max-prompts"),
    ("validate-edge-timeout-neg", ["validate", "{onnx_truncated}", "--edge-timeout=-1"], R,
     "--edge-timeout"),
    ("validate-edge-timeout-nan", ["validate", "{onnx_truncated}", "--edge-timeout", "nan"], R,
     "finite number"),
    ("validate-speed-ratio-neg", ["validate", "{onnx_truncated}", "--max-speed-ratio=-1"], R,
     "--max-speed-ratio"),
    ("validate-speed-ratio-zero", ["validate", "{onnx_truncated}", "--max-speed-ratio", "0"], R,
     "--max-speed-ratio"),
    ("validate-min-score-big", ["validate", "{onnx_truncated}", "--min-score", "1.5"], R,
     "--min-score"),
    ("validate-max-leak-neg", ["validate", "{onnx_truncated}", "--max-leak=-3"], R,
     "--max-leak"),
    ("validate-soak-small", ["validate", "{onnx_truncated}", "--soak", "2"], R, "--soak"),
    ("validate-repeats-zero", ["validate", "{onnx_truncated}", "--repeats", "0"], R,
     "--repeats"),
    ("bench-repeats-zero", ["bench", "{onnx_truncated}", "--repeats", "0"], R, "--repeats"),
    ("bench-warmup-neg", ["bench", "{onnx_truncated}", "--warmup=-1"], R, "--warmup"),
    ("bench-max-tokens-zero", ["bench", "{onnx_truncated}", "--max-tokens", "0"], R,
     "--max-tokens"),
    ("sweep-max-prompts-zero", ["sweep", "{model}", "--max-prompts", "0"], R, "--max-prompts"),
    ("sweep-precision-bogus", ["sweep", "{model}", "--precisions", "int3"], R, "int3"),
    ("convert-block-size-bad", ["convert", "{model}", "-o", "{t}/o", "--block-size", "7"], R,
     "invalid choice"),
    ("convert-accuracy-bad", ["convert", "{model}", "-o", "{t}/o", "--accuracy-level", "9"], R,
     "invalid choice"),
    ("deploy-max-length-neg", ["deploy", "{onnx_nomodel}", "--name", "x", "--max-length=-5",
                               "--cache-dir", "{cache}"], R, "model.onnx is missing"),
    ("deploy-temperature-nan-remove", ["deploy", "{onnx_nomodel}", "--name", "x",
                                       "--temperature", "nan", "--version", "x", "--remove",
                                       "--cache-dir", "{cache}"], R, "whole number"),
]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusing an option
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 200  # issue 24: at least 200 (and NUMERIC adds one per option)
    assert len({c[0] for c in CASES}) == len(CASES)
    commands = {next(a for a in c[1] if not a.startswith("-") and a) for c in CASES}
    assert {"check", "inspect", "convert", "template", "deploy", "chat", "bench", "validate",
            "sweep", "demo"} <= commands | {"check"}


@pytest.mark.parametrize(("argv", "code", "word"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input(argv: list[str], code: int, word: str, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    places = world(tmp_path)
    argv = [a.format(**places) for a in argv]
    before = tree(tmp_path)
    got, out, err = run_cli(argv, capsys)
    assert "Traceback" not in err and "Traceback" not in out
    assert "is a bug in slm-wizard" not in err, err
    assert got == code, (got, out, err)
    assert word.lower() in (err + out).lower(), (out, err)
    assert tree(tmp_path) == before


# --------------------------------------------------------------------------- as real processes


def _proc(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slm_wizard.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=os.environ.copy())


def test_subprocess_demo_empty_out_force_keeps_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    res = _proc(["demo", "--out", "", "--force"], tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "path is empty" in res.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine\n"


@pytest.mark.parametrize("name", ["arch_nested", "header_list", "shape_text"])
def test_subprocess_inspect_bad_model_no_traceback(name: str, tmp_path: Path) -> None:
    places = world(tmp_path)
    res = _proc(["inspect", places[name]], tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert places[name] in res.stderr


def test_subprocess_check_with_bad_model_never_prints_a_crash(tmp_path: Path) -> None:
    places = world(tmp_path)
    res = _proc(["check", "--model", places["arch_nested"]], tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "crashed" not in res.stderr
    assert "architectures.0" in res.stderr


# --------------------------------------------------------------------------- unit rules


def test_check_config_names_the_file_key_and_expectation(tmp_path: Path) -> None:
    from slm_wizard.core.convert.olive_config import check_config_file

    world(tmp_path)
    found = check_config_file(tmp_path / "acc_level.json")
    assert len(found) == 1
    assert str(tmp_path / "acc_level.json") in found[0]
    assert "passes.mb: int4_accuracy_level: expected one of 1, 2, 3, 4" in found[0]


def test_settings_with_a_wrong_type_are_moved_aside(tmp_path: Path) -> None:
    from slm_wizard.core.run.settings import load_settings

    (tmp_path / "settings.toml").write_text('schema = 2\nrecent = ["/x"]\n[projects."/x"]\n'
                                            "done = 5\nsteps = 5\n")
    settings, notice = load_settings(tmp_path)
    assert settings.projects == {}
    assert notice is not None and "steps" in notice and "moved to" in notice
    assert not (tmp_path / "settings.toml").exists()
    assert len(list(tmp_path.glob("settings.toml.corrupt-*"))) == 1
    (tmp_path / "settings.toml").write_text('schema = 2\nrecent = [5]\n')
    _, notice = load_settings(tmp_path)
    assert notice is not None and "recent.0: expected a folder path" in notice


def test_schema_names_source_key_and_expectation() -> None:
    from slm_wizard.core.base.schema import HF_CONFIG, SchemaError, check

    with pytest.raises(SchemaError) as err:
        check({"architectures": [["A"]]}, HF_CONFIG, "/m/config.json")
    assert str(err.value) == ('/m/config.json: architectures.0: expected a class name such as '
                              '"Qwen2ForCausalLM", found ["A"]')
    with pytest.raises(SchemaError, match="expected a finite number"):
        check({"x": float("nan")}, {"type": "object"}, "the command line")


def test_folder_replacement_rule(tmp_path: Path) -> None:
    from slm_wizard.core.base.owned import FolderRefused, check_replaceable, write_marker

    assert check_replaceable(tmp_path / "new", confirmed=False) is False
    (tmp_path / "empty").mkdir()
    assert check_replaceable(tmp_path / "empty", confirmed=False) is False
    user = tmp_path / "user"
    user.mkdir()
    (user / "a.txt").write_text("x")
    with pytest.raises(FolderRefused, match="not empty"):
        check_replaceable(user, confirmed=False)
    with pytest.raises(FolderRefused, match="not made by slm-wizard"):
        check_replaceable(user, confirmed=True)
    write_marker(user, "convert")
    with pytest.raises(FolderRefused, match="not empty"):
        check_replaceable(user, confirmed=False)
    assert check_replaceable(user, confirmed=True) is True


def test_empty_path_argument_finds_every_form() -> None:
    from slm_wizard.cli.main import build_parser, empty_path_argument

    parser = build_parser()
    assert empty_path_argument(parser, ["demo", "--out", ""]) == "--out"
    assert empty_path_argument(parser, ["demo", "--out="]) == "--out"
    assert empty_path_argument(parser, ["convert", "x", "-o", " "]) == "-o"
    assert empty_path_argument(parser, ["inspect", ""]) == "MODEL_DIR"
    assert empty_path_argument(parser, ["chat", "m", "--system", ""]) is None
    assert empty_path_argument(parser, ["deploy", "m", "--name", "x", "--description",
                                        ""]) is None
    assert empty_path_argument(parser, ["demo", "--out", "x"]) is None


_: Callable[..., object] = make_onnx  # used by test_faults too


async def test_model_step_shows_a_bad_config_without_crashing(tmp_path: Path) -> None:
    """The Model step on `architectures: [["Qwen2ForCausalLM"]]` (once an AttributeError /
    TypeError): the screen names the file and key, the app keeps running."""
    from textual.widgets import Static

    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.tui.app import WizardApp
    from tests.helpers import wait_until

    folder = make_model(tmp_path / "nested", {**GOOD_CONFIG,
                                               "architectures": [["Qwen2ForCausalLM"]]})
    app = WizardApp(state=RunRecord(model_dir=folder), start="model",
                    config_dir=tmp_path / "cfg")

    def error_text() -> str:
        return str(app.get_screen("model").query_one("#model-error", Static).content)

    async with app.run_test(size=(100, 32)) as pilot:
        await wait_until(pilot, lambda: "architectures.0" in error_text(), 30, "the error")
        assert "config.json" in error_text() and "Inspection failed" not in error_text()
        assert app.is_running


async def test_model_step_shows_the_pre_conversion_findings(tmp_path: Path) -> None:
    """The Model step reports what inspect and convert report (core.model.folder_check): a
    folder Olive would fail on after minutes cannot continue, every problem named."""
    from textual.widgets import Static

    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.tui.app import WizardApp
    from tests.helpers import wait_until

    folder = make_model(tmp_path / "broken", {**GOOD_CONFIG, "vocab_size": 3})
    (folder / "tokenizer.json").write_text("")
    app = WizardApp(state=RunRecord(model_dir=folder), start="model",
                    config_dir=tmp_path / "cfg")

    def error_text() -> str:
        return str(app.get_screen("model").query_one("#model-error", Static).content)

    async with app.run_test(size=(100, 32)) as pilot:
        await wait_until(pilot, lambda: "2 problems" in error_text(), 30, "the findings")
        assert "tokenizer.json is empty" in error_text()
        assert "vocab_size 3 does not match the weights" in error_text()
        assert app.is_running


@pytest.mark.parametrize("command", ["check", "inspect", "convert", "template", "deploy", "chat",
                                     "bench", "validate", "sweep", "demo"])
def test_every_help_text_renders(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` never raises (a stray % in a help text once did, for sweep)."""
    code, out, err = run_cli([command, "--help"], capsys)
    assert code == 0 and f"usage: slm-wizard {command}" in out and "Traceback" not in err


# --------------------------------------------------------------------------- numeric bounds


def _numeric_options() -> list[tuple[str, str]]:
    """(command, option) of every option that takes a number without a fixed list of choices:
    each has an upper bound (core.base.schema's table), so a new one cannot be forgotten."""
    import argparse

    from slm_wizard.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for command, cmd in sub.choices.items():
        for action in cmd._actions:
            numeric = action.type in (int, float) or getattr(action.type, "__name__", "") in (
                "_positive", "_share")
            if numeric and not action.choices and action.option_strings:
                out.append((command, action.option_strings[-1]))
    return out


# A command line that reaches each command's checks without running anything slow.
_BASE = {"check": ["check"], "chat": ["chat", "{onnx_truncated}", "--prompt", "hi"],
         "bench": ["bench", "{onnx_truncated}"], "validate": ["validate", "{onnx_truncated}"],
         "sweep": ["sweep", "{model}"], "serve": ["serve", "x:1", "--cache-dir", "{cache}"],
         "deploy": ["deploy", "{onnx_truncated}", "--name", "x", "--cache-dir", "{cache}",
                    "--dry-run"]}
NUMERIC = _numeric_options()


def test_numeric_options_are_found() -> None:
    assert len(NUMERIC) >= 25
    assert ("bench", "--repeats") in NUMERIC and ("deploy", "--max-length") in NUMERIC


@pytest.mark.parametrize(("command", "option"), NUMERIC, ids=[f"{c}{o}" for c, o in NUMERIC])
def test_every_numeric_option_has_an_upper_bound(command: str, option: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    places = world(tmp_path)
    argv = [a.format(**places) for a in _BASE[command]] + [option, "1000000000000"]
    before = tree(tmp_path)
    code, out, err = run_cli(argv, capsys)
    assert "Traceback" not in err and "is a bug" not in err
    assert code == 2, (code, err)
    name = option.lstrip("-")
    assert any(n in err.lower() for n in (name, name.replace("-", "_"), name.replace("-", " ")))
    assert tree(tmp_path) == before
