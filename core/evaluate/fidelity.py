"""Fidelity of a quantized model to its full-precision reference, teacher forced.

Each sample is a conversation (system + user message, through the model's own chat template)
followed by its expected answer. The whole token sequence is appended to an onnxruntime-genai
generator at once and the logits of every position are read back (`get_output("logits")`); the
positions that predict the answer's tokens are compared with the reference model's:

- KL divergence of the variant's next-token distribution from the reference's, per token
  (mean and 99th percentile), as llama.cpp's `llama-perplexity --kl-divergence` reports it;
- top-1 agreement: how often both put the same token first;
- perplexity of the expected answer under each model.

The reference's log-probabilities are computed once and kept on disk (float32, one row per
answer token, as wide as the vocabulary), so each variant's pass is one forward pass of its own.
Every model reads the *same token ids* (the reference's tokenization), so variants are compared
position by position. Heavy libraries (numpy, onnxruntime_genai) are imported in the functions.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import read_json_object, write_text_atomic

MAX_TOKENS = 1024  # answer tokens compared per variant (about 40 short answers)
FORMAT = 2  # of the reference files; a change invalidates cached references

# Used when there is no domain set: everyday questions with plain answers (the result says so).
NEUTRAL_SAMPLES: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "The capital of France is Paris."),
    ("How many days are in a week?", "A week has seven days."),
    ("What colour is the sky on a clear day?", "On a clear day the sky is blue."),
    ("What do bees make?", "Bees make honey and wax."),
    ("How do I boil an egg?",
     "Put the egg in boiling water for about eight minutes, then cool it in cold water."),
    ("Why do we need sleep?",
     "Sleep lets the body and the brain rest and recover, and it helps memory."),
    ("What is two plus three?", "Two plus three is five."),
    ("Name a fruit that is yellow.", "A banana is a yellow fruit."),
    ("What is water made of?", "Water is made of hydrogen and oxygen."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What should I bring on a short hike?",
     "Bring water, a snack, a light jacket and comfortable shoes."),
    ("What is the opposite of hot?", "The opposite of hot is cold."),
)


class FidelityError(RuntimeError):
    """The fidelity pass could not run (no logits, a reference that does not fit)."""


@dataclass(frozen=True)
class Sample:
    """A conversation and the answer the model is teacher-forced through."""

    messages: tuple[tuple[str, str], ...]  # (role, content), without the answer
    answer: str

    @staticmethod
    def of(prompt: str, answer: str, system: str | None = None) -> Sample:
        msgs = ((("system", system),) if system else ()) + (("user", prompt),)
        return Sample(msgs, answer)

    def chat(self, with_answer: bool) -> list[dict[str, str]]:
        out = [{"role": r, "content": c} for r, c in self.messages]
        return out + ([{"role": "assistant", "content": self.answer}] if with_answer else [])


def neutral_samples() -> list[Sample]:
    return [Sample.of(p, a) for p, a in NEUTRAL_SAMPLES]


def samples_key(samples: Sequence[Sample], max_tokens: int) -> str:
    """A short hash naming a sample set (and its token cap) in cache file names."""
    blob = json.dumps([[list(s.messages), s.answer] for s in samples] + [max_tokens, FORMAT])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


@dataclass
class Fidelity:
    """Figures of one variant against the reference (the reference itself: 0 KLD, 100 %)."""

    tokens: int
    samples: int
    mean_kld: float
    p99_kld: float
    max_kld: float
    top1_agreement: float
    perplexity: float
    reference_perplexity: float
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reference:
    """The reference's answer-token log-probabilities on disk, and the token ids they follow."""

    logprobs_path: Path
    sequences: list[list[int]]  # full token ids per sample
    starts: list[int]  # index of each sample's first answer token
    vocab: int
    perplexity: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return sum(len(s) - b for s, b in zip(self.sequences, self.starts, strict=True))

    def index_path(self) -> Path:
        return self.logprobs_path.with_suffix(".json")

    @staticmethod
    def load(path: Path) -> Reference | None:
        """The reference saved at `path` (the .npy file), or None when absent or stale."""
        index = Path(path).with_suffix(".json")
        if not Path(path).is_file() or not index.is_file():
            return None
        try:
            obj = read_json_object(index, what="fidelity reference")
        except ValueError:
            return None
        if obj.get("format") != FORMAT:
            return None
        return Reference(Path(path), obj["sequences"], obj["starts"], obj["vocab"],
                         obj["perplexity"], obj.get("meta", {}))


def _log_softmax(logits: Any) -> Any:
    """float32 log-probabilities; the normaliser is summed in float64 (150k-token vocabularies)."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float32)
    x = x - x.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(x).sum(axis=-1, keepdims=True, dtype=np.float64))
    return x - lse.astype(np.float32)


class _Runner:
    """An onnxruntime-genai model whose logits are read for a whole token sequence at once.

    One generator serves consecutive samples: it is rewound to the prefix a sample shares with
    the previous one (the system prompt and the chat template's opening), so only the rest is
    computed (the logits are the same as from a fresh generator)."""

    def __init__(self, onnx_dir: Path) -> None:
        import onnxruntime_genai as og

        self.og = og
        self.model = og.Model(str(onnx_dir))
        self.tokenizer = og.Tokenizer(self.model)
        cfg = read_json_object(Path(onnx_dir) / "genai_config.json", what="genai_config.json")
        self.context = int(cfg.get("model", {}).get("context_length") or 2048)
        self.gen: Any = None
        self.max_len = 0  # of the current generator (its KV cache is allocated for it)
        self.tokens: list[int] = []  # what the current generator holds

    def tokenize(self, sample: Sample) -> tuple[list[int], int]:
        """(token ids of prompt + answer, index of the first answer token)."""
        prompt = self.tokenizer.apply_chat_template(json.dumps(sample.chat(False)),
                                                    add_generation_prompt=True)
        ids_prompt = [int(t) for t in self.tokenizer.encode(prompt)]
        try:
            full = self.tokenizer.apply_chat_template(json.dumps(sample.chat(True)),
                                                      add_generation_prompt=False)
            ids = [int(t) for t in self.tokenizer.encode(full)]
        except Exception:  # a template that refuses an assistant turn: append the answer
            ids = []
        if ids[:len(ids_prompt)] != ids_prompt or len(ids) <= len(ids_prompt):
            ids = ids_prompt + [int(t) for t in self.tokenizer.encode(sample.answer)]
        return ids, len(ids_prompt)

    def logprobs(self, ids: Sequence[int], start: int) -> Any:
        """Log-softmax rows predicting ids[start:], shape [len(ids) - start, vocab]."""
        import numpy as np

        common = 0
        limit = min(len(self.tokens), start - 1)  # the last prompt token is always computed
        while common < limit and self.tokens[common] == ids[common]:
            common += 1
        if self.gen is None or common == 0 or len(ids) + 1 > self.max_len:
            self.gen = None
            self.max_len = max(self.max_len, len(ids) + 1)
            params = self.og.GeneratorParams(self.model)
            params.set_search_options(max_length=self.max_len, do_sample=False)
            self.gen, self.tokens, common = self.og.Generator(self.model, params), [], 0
        else:
            self.gen.rewind_to(common)
        self.tokens = []  # unknown until the append succeeded
        self.gen.append_tokens(np.asarray(ids[common:], dtype=np.int32))
        logits = np.asarray(self.gen.get_output("logits"))
        if logits.ndim != 3 or logits.shape[1] != len(ids) - common:
            raise FidelityError(f"the model returned logits of shape {logits.shape} for "
                                f"{len(ids) - common} tokens: it cannot be teacher forced")
        self.tokens = list(ids)
        return _log_softmax(logits[0, start - 1 - common:len(ids) - 1 - common])


def build_reference(onnx_dir: Path, samples: Sequence[Sample], path: Path, *,
                    max_tokens: int = MAX_TOKENS,
                    on_progress: Callable[[int, int], None] | None = None,
                    cancel: threading.Event | None = None) -> Reference | None:
    """Teacher-force the reference model through `samples`; save its log-probs at `path`.

    Stops after `max_tokens` answer tokens. None when cancelled (nothing is left behind).
    """
    import numpy as np

    runner = _Runner(onnx_dir)
    seqs: list[list[int]] = []
    starts: list[int] = []
    total = 0
    for s in samples:
        ids, start = runner.tokenize(s)
        if len(ids) >= runner.context or start < 1:
            continue
        if total + len(ids) - start > max_tokens:
            ids = ids[:start + max_tokens - total]
        if len(ids) <= start:
            break
        seqs.append(ids)
        starts.append(start)
        total += len(ids) - start
        if total >= max_tokens:
            break
    if not seqs:
        raise FidelityError("no sample fits the model's context: nothing to compare")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    runner.max_len = max(len(ids) for ids in seqs) + 1
    first = runner.logprobs(seqs[0], starts[0])
    vocab = int(first.shape[1])
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, vocab))
    row, nll = 0, 0.0
    try:
        for i, (ids, start) in enumerate(zip(seqs, starts, strict=True)):
            if cancel is not None and cancel.is_set():
                return None
            lp = first if i == 0 else runner.logprobs(ids, start)
            n = lp.shape[0]
            out[row:row + n] = lp
            nll -= float(lp[np.arange(n), ids[start:]].astype(np.float64).sum())
            row += n
            if on_progress is not None:
                on_progress(i + 1, len(seqs))
        out.flush()
        del out
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    ref = Reference(path, seqs, starts, vocab, math.exp(nll / total),
                    {"model": str(onnx_dir)})
    write_text_atomic(ref.index_path(), json.dumps(
        {"format": FORMAT, "sequences": seqs, "starts": starts, "vocab": vocab,
         "perplexity": ref.perplexity, "meta": ref.meta}, separators=(",", ":")) + "\n")
    return ref


def compare(onnx_dir: Path, reference: Reference, *,
            on_progress: Callable[[int, int], None] | None = None,
            cancel: threading.Event | None = None) -> Fidelity | None:
    """Teacher-force `onnx_dir` through the reference's tokens; None when cancelled."""
    import time

    import numpy as np

    t0 = time.perf_counter()
    runner = _Runner(onnx_dir)
    ref = np.load(reference.logprobs_path, mmap_mode="r")
    runner.max_len = max(len(ids) for ids in reference.sequences) + 1
    klds: list[Any] = []
    same = 0
    nll = 0.0
    row = 0
    for i, (ids, start) in enumerate(zip(reference.sequences, reference.starts, strict=True)):
        if cancel is not None and cancel.is_set():
            return None
        q = runner.logprobs(ids, start)
        n = q.shape[0]
        if q.shape[1] != reference.vocab:
            raise FidelityError(f"vocabulary of {q.shape[1]} tokens, the reference has "
                                f"{reference.vocab}: not the same model")
        p = np.asarray(ref[row:row + n], dtype=np.float32)
        row += n
        # float32 terms, float64 sums: exact enough for KLDs of 1e-6, twice as fast.
        klds.append(np.maximum((np.exp(p) * (p - q)).sum(axis=1, dtype=np.float64), 0.0))
        same += int((p.argmax(axis=1) == q.argmax(axis=1)).sum())
        nll -= float(q[np.arange(n), ids[start:]].sum(dtype=np.float64))
        if on_progress is not None:
            on_progress(i + 1, len(reference.sequences))
    kld = np.concatenate(klds)
    return Fidelity(
        tokens=int(kld.size), samples=len(reference.sequences), mean_kld=float(kld.mean()),
        p99_kld=float(np.percentile(kld, 99)), max_kld=float(kld.max()),
        top1_agreement=same / kld.size, perplexity=math.exp(nll / kld.size),
        reference_perplexity=reference.perplexity, seconds=time.perf_counter() - t0)


def of_reference(reference: Reference) -> Fidelity:
    """The reference against itself: the figures every variant is measured from."""
    return Fidelity(reference.tokens, len(reference.sequences), 0.0, 0.0, 0.0, 1.0,
                    reference.perplexity, reference.perplexity)
