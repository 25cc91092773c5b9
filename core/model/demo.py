"""The embedded demo model: a tiny Qwen2 chat model trained in seconds, offline, on a FAQ.

The FAQ (`data/demo_faq.jsonl`) is about Lumo, a fictional smart bike lock. The model memorizes
it: asked one of its questions (with or without a system prompt, since the chat template inserts
`DEMO_SYSTEM_PROMPT` by default), greedy decoding gives back the expected answer word for word.
Reworded questions get fluent nonsense; this is a test subject, not an assistant.

Nothing is downloaded: the byte-level BPE tokenizer is trained on the FAQ itself, with exactly
the normalizer and pre-tokenizer that transformers' `Qwen2Tokenizer` (and the ONNX builder after
it) imposes on a qwen2 model, so token ids stay identical after conversion. Builds are
deterministic (fixed seeds, 1 thread, deterministic algorithms) and cached by recipe hash.

torch, transformers, tokenizers and safetensors are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import swap_folder_in, write_json_atomic
from slm_wizard.core.base.status import Refused
from slm_wizard.core.model.adapter import quiet_transformers
from slm_wizard.core.model.model_info import DOMAIN_FILE

DEMO_VERSION = "1"
DEMO_SYSTEM_PROMPT = "You are the Lumo support assistant. Answer briefly."
DEMO_FAQ_PATH = Path(__file__).parents[1] / "data" / "demo_faq.jsonl"
MARKER_NAME = "slm_wizard_demo.json"
MARKER_FORMAT = "slm-wizard-demo"

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)  # ids 0, 1, 2

# transformers' Qwen2Tokenizer split regex (single digits); the trained BPE must use it.
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Everything that shapes the model besides the FAQ, the system prompt and the template.
# Measured: plain AdamW at lr 3e-3 reached 90-100 % exact answers depending on the seed; with
# betas (0.9, 0.95), gradient clipping and lr 5e-3, 300 steps gave 100 % on every seed tried.
# One thread: the weights are byte-identical with 1 or 2, and on a busy 2-core machine 2 threads
# spin: 100 steps took 130-270 s with 2 threads against 8.5 s with 1.
RECIPE: dict[str, Any] = {
    "vocab_size": 1024,
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "steps": 300,
    "batch_size": 16,
    "learning_rate": 5e-3,
    "adam_betas": [0.9, 0.95],
    "grad_clip": 1.0,
    "warmup_steps": 20,
    "seed": 1234,
    "threads": 1,
}

# ChatML, shaped like Qwen2.5's template (which onnxruntime-genai and Foundry Local render):
# without a system message, the demo's system prompt is inserted.
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\n" + DEMO_SYSTEM_PROMPT + "<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (message['role'] == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    DOMAIN_FILE,
    "README.md",
)

Progress = Callable[[str], None]


class DemoError(Exception):
    """A demo build or a domain eval file problem, with a message written for users."""


class DemoRefused(DemoError, Refused):
    """The demo build refuses its input (an empty path, a folder it may not replace)."""


class DemoCancelled(DemoError):
    """The demo build was cancelled (the wizard quit); nothing of it was kept."""


def _read_faq() -> list[dict[str, str]]:
    return load_domain_eval(DEMO_FAQ_PATH)


def recipe_hash() -> str:
    """Short hex hash of everything that determines the demo model."""
    payload = {
        "version": DEMO_VERSION,
        "recipe": RECIPE,
        "system": DEMO_SYSTEM_PROMPT,
        "template": CHAT_TEMPLATE,
        "split": QWEN2_SPLIT_REGEX,
        "special": SPECIAL_TOKENS,
        "faq": _read_faq(),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:12]


def default_demo_dir() -> Path:
    """`<cache>/demo-<recipe_hash>`; `<cache>` is $SLM_WIZARD_CACHE_DIR or the platform's."""
    from slm_wizard.core.base.paths import cache_dir

    return cache_dir() / f"demo-{recipe_hash()}"


def load_domain_eval(path: Path) -> list[dict]:
    """Rows of a domain eval JSONL file: `prompt`, `expected` and optional `system` (strings)."""
    from slm_wizard.core.base.fileio import read_jsonl

    path = Path(path)
    rows: list[dict] = []
    for number, obj in read_jsonl(path, DemoError, "domain eval file"):
        if not (
            isinstance(obj, dict)
            and isinstance(obj.get("prompt"), str)
            and isinstance(obj.get("expected"), str)
        ):
            raise DemoError(
                f'{path}, line {number}: each line needs text fields "prompt" and "expected"'
            )
        row = {"prompt": obj["prompt"], "expected": obj["expected"]}
        if isinstance(obj.get("system"), str):
            row["system"] = obj["system"]
        rows.append(row)
    if not rows:
        raise DemoError(f"the domain eval file {path} holds no question/answer lines")
    return rows


def render_chat(messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """Python twin of CHAT_TEMPLATE (the tests check they agree)."""
    out = []
    if not messages or messages[0]["role"] != "system":
        out.append(f"{IM_START}system\n{DEMO_SYSTEM_PROMPT}{IM_END}\n")
    out += [f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages]
    if add_generation_prompt:
        out.append(f"{IM_START}assistant\n")
    return "".join(out)


def _read_marker(folder: Path) -> dict | None:
    from slm_wizard.core.base.fileio import read_json

    try:
        marker = read_json(folder / MARKER_NAME)
    except ValueError:
        return None
    return marker if isinstance(marker, dict) and marker.get("format") == MARKER_FORMAT else None


def _is_complete(folder: Path, wanted_hash: str) -> bool:
    marker = _read_marker(folder)
    return (
        marker is not None
        and marker.get("recipe_hash") == wanted_hash
        and all((folder / name).is_file() for name in MODEL_FILES)
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def build_demo_model(
    out: Path | None = None, *, force: bool = False, progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Build the demo model into `out` (default `default_demo_dir()`) and return the folder.

    A folder already holding a complete build of the same recipe is returned at once (unless
    `force`). A non-empty folder that is not a demo build is refused unless `force`, which
    replaces it. The build happens in a temporary sibling folder moved into place at the end.
    `cancel` set stops the build at its next training step (DemoCancelled; nothing is kept).
    """
    from slm_wizard.core.base.owned import FolderRefused, check_replaceable, clean_leftovers

    say = progress or (lambda _line: None)
    wanted = recipe_hash()
    if out is not None and not str(out).strip():
        raise DemoRefused("--out: the path is empty: give a folder name")
    user_named = out is not None
    if user_named:
        from slm_wizard.core.base.paths import file_in_the_way, reserved_name_problem

        for problem in (reserved_name_problem(Path(out).expanduser(), "--out"),
                        file_in_the_way(Path(out).expanduser(), "--out")):
            if problem:
                raise DemoRefused(problem)
    out = Path(os.path.abspath(Path(out).expanduser() if out is not None else default_demo_dir()))
    if out.exists() or out.is_symlink():
        if not force and _is_complete(out, wanted):
            say(f"demo model already built: {out}")
            return out
        if not out.is_dir():
            raise DemoRefused(f"{out} is a file; the demo model needs a folder there")
        # A folder the user named is replaced only with --force and this tool's marker; the
        # default cache folder (ours) is rebuilt when it holds an older demo build.
        if user_named or _read_marker(out) is None:
            try:
                check_replaceable(out, force, flag="--force")
            except FolderRefused as exc:
                raise DemoRefused(str(exc)) from None
    from slm_wizard.core.base.lock import Lock

    with Lock(out, f"building the demo model into {out}") as lock:  # one writer at a time
        if lock.notice:
            say(lock.notice)
        for left in clean_leftovers(out.parent, out.name, "tmp"):
            say(f"removed {left}, left by an interrupted demo build")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DemoError(f"cannot create {out.parent}: {exc}") from exc
        from slm_wizard.core.base.owned import temp_sibling

        tmp = temp_sibling(out, "tmp")
        try:
            tmp.mkdir()
            _build_into(tmp, wanted, say, cancel)
            # Another process may have finished first: keep its complete model.
            if (out.exists() or out.is_symlink()) and not force and _is_complete(out, wanted):
                return out
            swap_folder_in(tmp, out)
        except Exception as exc:
            # A full disk reaches here as an OSError, or wrapped by torch, safetensors or tokenizers
            if _disk_full(exc):
                raise DemoError(f"the disk holding {out.parent} is full: free some space (the demo "
                                "model needs about 20 MB) and run again; nothing was kept") from exc
            if isinstance(exc, OSError):
                raise DemoError(f"cannot write the demo model to {out}: {exc}") from exc
            raise
        finally:
            _remove(tmp)
        say(f"demo model ready: {out}")
        return out


def _disk_full(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a full disk or quota."""
    import errno

    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if any(s in text for s in ("No space left", "os error 28", "StorageFull",
                                   "Disk quota exceeded")):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1  # type: ignore[assignment]
    return False


def _train_tokenizer(texts: list[str]) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(
        models.BPE(
            unk_token=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
            byte_fallback=False,
        )
    )
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=RECIPE["vocab_size"],
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


@contextlib.contextmanager
def _torch_settings() -> Iterator[None]:
    """RECIPE's thread count and deterministic algorithms, restored afterwards (global state)."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(RECIPE["threads"])
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise DemoCancelled("the demo build was cancelled; nothing of it was kept")


def _build_into(folder: Path, wanted_hash: str, say: Progress,
                cancel: threading.Event | None = None) -> None:
    started = time.monotonic()
    faq = _read_faq()
    with _torch_settings():
        say(f"training the tokenizer on {len(faq)} FAQ pairs")
        texts = [DEMO_SYSTEM_PROMPT, "system", "user", "assistant"]
        texts += [t for row in faq for t in (row["prompt"], row["expected"])]
        tok = _train_tokenizer(texts)
        say(f"tokenizer: {tok.get_vocab_size()} tokens")
        model = _train_model(tok, faq, say, cancel)
        _check(cancel)
        say("saving the model")
        _save(folder, model, tok, faq)
    marker = {
        "format": MARKER_FORMAT,
        "recipe_hash": wanted_hash,
        "demo_version": DEMO_VERSION,
        "build_seconds": round(time.monotonic() - started, 1),
    }
    write_json_atomic(folder / MARKER_NAME, marker)


def _model_config() -> Any:
    from transformers import Qwen2Config

    r = RECIPE
    config = Qwen2Config(
        vocab_size=r["vocab_size"],
        hidden_size=r["hidden_size"],
        intermediate_size=r["intermediate_size"],
        num_hidden_layers=r["num_hidden_layers"],
        num_attention_heads=r["num_attention_heads"],
        num_key_value_heads=r["num_key_value_heads"],
        max_position_embeddings=r["max_position_embeddings"],
        rope_theta=r["rope_theta"],
        tie_word_embeddings=r["tie_word_embeddings"],
        bos_token_id=SPECIAL_TOKENS.index(ENDOFTEXT),
        eos_token_id=SPECIAL_TOKENS.index(IM_END),
        pad_token_id=SPECIAL_TOKENS.index(ENDOFTEXT),
    )
    config.dtype = "float32"
    return config


def _train_model(tok: Any, faq: list[dict[str, str]], say: Progress,
                 cancel: threading.Event | None = None) -> Any:
    import torch
    from transformers import Qwen2ForCausalLM

    r = RECIPE
    pad, im_end = tok.token_to_id(ENDOFTEXT), tok.token_to_id(IM_END)
    examples = []
    for row in faq:
        messages = [{"role": "user", "content": row["prompt"]}]
        prompt_ids = tok.encode(render_chat(messages, add_generation_prompt=True)).ids
        answer_ids = tok.encode(row["expected"]).ids + [im_end]
        examples.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))

    torch.manual_seed(r["seed"])
    model = Qwen2ForCausalLM(_model_config())
    n_params = sum(p.numel() for p in model.parameters())
    say(f"training a Qwen2 model of {n_params / 1e6:.2f} M parameters, {r['steps']} steps")
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=r["learning_rate"], betas=tuple(r["adam_betas"]), weight_decay=0.0
    )
    steps, warmup = r["steps"], r["warmup_steps"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1 - s / steps)
    )
    generator = torch.Generator().manual_seed(r["seed"])
    order: list[int] = []
    for step in range(1, steps + 1):
        _check(cancel)
        if len(order) < r["batch_size"]:
            order += torch.randperm(len(examples), generator=generator).tolist()
        batch = [examples[i] for i in order[: r["batch_size"]]]
        del order[: r["batch_size"]]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in batch])
        labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in batch])
        # Right padding needs no attention mask: causal attention never looks ahead. The
        # output layer runs only where an answer token is predicted (a fifth of the compute).
        hidden = model.model(input_ids=ids).last_hidden_state[:, :-1]
        targets = labels[:, 1:]
        keep = targets != -100
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden[keep]), targets[keep])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), r["grad_clip"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 25 == 0 or step == steps:
            say(f"step {step}/{steps} loss {loss.item():.3f}")
    model.eval()
    return model


def _save(folder: Path, model: Any, tok: Any, faq: list[dict[str, str]]) -> None:
    from transformers import GenerationConfig

    eot, im_start, im_end = (tok.token_to_id(t) for t in SPECIAL_TOKENS)
    model.generation_config = GenerationConfig(
        bos_token_id=eot,
        eos_token_id=im_end,
        pad_token_id=eot,
        do_sample=False,
        max_new_tokens=64,
    )
    with quiet_transformers():
        model.save_pretrained(folder, safe_serialization=True)
    tok.save(str(folder / "tokenizer.json"))

    def added(content: str) -> dict:
        return {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }

    tokenizer_config = {
        "tokenizer_class": "Qwen2Tokenizer",
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): added(t) for i, t in zip((eot, im_start, im_end), SPECIAL_TOKENS, strict=True)
        },
        "extra_special_tokens": [IM_START, IM_END],
        "bos_token": None,
        "eos_token": IM_END,
        "pad_token": ENDOFTEXT,
        "unk_token": None,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "split_special_tokens": False,
        "model_max_length": RECIPE["max_position_embeddings"],
        "chat_template": CHAT_TEMPLATE,
    }
    special_map = {
        "additional_special_tokens": [IM_START, IM_END],
        "eos_token": IM_END,
        "pad_token": ENDOFTEXT,
    }
    write_json_atomic(folder / "tokenizer_config.json", tokenizer_config)
    write_json_atomic(folder / "special_tokens_map.json", special_map)
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    with (folder / DOMAIN_FILE).open("w", encoding="utf-8", newline="\n") as f:
        for row in faq:
            line = {
                "prompt": row["prompt"],
                "expected": row["expected"],
                "system": DEMO_SYSTEM_PROMPT,
            }
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    n_params = sum(p.numel() for p in model.parameters())
    (folder / "README.md").write_text(
        "# slm-wizard demo model (Lumo FAQ)\n\n"
        f"A tiny Qwen2 causal LM ({n_params / 1e6:.2f} M parameters, float32) that slm-wizard "
        f"trains offline in seconds to memorize {len(faq)} question/answer pairs about Lumo, a "
        "fictional smart bike lock. Its ChatML template inserts the system prompt "
        f'"{DEMO_SYSTEM_PROMPT}" when none is given. Greedy decoding returns the answers in '
        f"`{DOMAIN_FILE}` word for word; reworded questions get nonsense. It exists to test "
        "conversion, deployment and benchmarks, not to help anyone with a bike lock.\n",
        encoding="utf-8",
    )


def greedy_answers(
    folder: Path, rows: list[dict], max_new_tokens: int = 64, batch_size: int = 32
) -> list[str]:
    """Greedy FP32 answers of a Hugging Face model folder to domain eval rows (for checks).

    Uses transformers' `generate` in left-padded batches; stops at the tokenizer's eos token.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    tokenizer.padding_side = "left"
    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=False)
    model.eval()
    texts = []
    for row in rows:
        messages = [{"role": "user", "content": row["prompt"]}]
        if row.get("system"):
            messages.insert(0, {"role": "system", "content": row["system"]})
        texts.append(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )
    answers: list[str] = []
    with torch.inference_mode(), _torch_settings():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True)
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
            for seq in out[:, batch["input_ids"].shape[1] :].tolist():
                if tokenizer.eos_token_id in seq:
                    seq = seq[: seq.index(tokenizer.eos_token_id)]
                answers.append(tokenizer.decode(seq, skip_special_tokens=True).strip())
    return answers
