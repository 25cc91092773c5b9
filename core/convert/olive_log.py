"""Reading Olive's output: each line turned into a stage message and a real progress fraction,
and the reason of a failure gathered from what Olive printed.
"""

from __future__ import annotations

import re

_PASS_RE = re.compile(r"Running pass (\S+?):")
_LAYER_RE = re.compile(r"Reading layer (\d+)")
TQDM_RE = re.compile(r"^Saving .*?:\s+(\d+)%\|")
_KQUANT_RE = re.compile(r"^Progress: \[[# ]*\]\s+([\d.]+)%")  # neural-compressor's k-quant
_SAVED_RE = re.compile(r"Model is saved at (.+)$")
# Olive's last words: after these the output is complete (or definitely absent).
FINISHED_RE = re.compile(r"Model is saved at |Saved output model to |No output model produced")
_ERRORISH_RE = re.compile(
    r"\[ERROR\]|\] (?:FP16|BF16).*not supported|pruned due to|^\w*(?:Error|Exception): |"
    r"No output model produced|is not supported"
)


class ProgressParser:
    """Turns Olive's output lines into stage messages and a real progress fraction.

    Bands: start-up 0-5 %, passes 5-95 % (the ModelBuilder pass weighs 10, others 1; inside it,
    reading layers is 5-65 % of the pass, one step per layer, quantizing 70-80 % and saving the
    tensors 80-98 %, one step per percent), saving 95-97 %. Every step has a stage message.
    """

    def __init__(self, passes: list[str], num_layers: int | None) -> None:
        self.passes = passes
        self.num_layers = num_layers or 0
        weights = [10.0 if p in ("builder", "model_builder") else 1.0 for p in passes] or [1.0]
        total = sum(weights)
        self.starts, acc = [], 0.0
        for w in weights:
            self.starts.append(acc / total)
            acc += w
        self.widths = [w / total for w in weights]
        self.current = -1
        self.progress = 0.0
        self.reasons: list[str] = []
        self.saved_at: str | None = None
        self.no_output = False
        self.tail: list[str] = []  # the last plain lines: the reason when nothing else says

    def _at(self, within: float) -> float:
        i = max(self.current, 0)
        i = min(i, len(self.widths) - 1)
        return 0.05 + 0.90 * (self.starts[i] + self.widths[i] * min(max(within, 0.0), 1.0))

    def _set(self, value: float) -> float:
        self.progress = max(self.progress, min(value, 1.0))
        return self.progress

    def feed(self, line: str) -> tuple[str | None, float]:
        """(stage message or None, progress) for one output line."""
        text = line.strip()
        if text and not TQDM_RE.match(text):
            self.tail = [*self.tail[-2:], text]
        if _ERRORISH_RE.search(text):
            self.reasons.append(re.sub(r"^\[[^\]]*\] \[\w+\] \[[^\]]*\] ", "", text))
        if "No output model produced" in text:
            self.no_output = True
            return "Olive produced no output model", self.progress
        m = _PASS_RE.search(text)
        if m:
            name = m.group(1)
            self.current = self.passes.index(name) if name in self.passes else self.current + 1
            return f"Running pass {name}", self._set(self._at(0.0))
        if text.startswith("Loading HuggingFace model") or "Running workflow" in text:
            return "Starting the workflow", self._set(0.04)
        if text == "Reading embedding layer":
            return "Reading the embedding layer", self._set(self._at(0.04))
        m = _LAYER_RE.match(text)
        if m:
            i = int(m.group(1))
            n = max(self.num_layers, i + 1)
            return f"Reading layer {i + 1} of {n}", self._set(self._at(0.05 + 0.6 * (i + 1) / n))
        if text in ("Reading final norm", "Reading LM head"):
            return text, self._set(self._at(0.67))
        if text.startswith("Saving ONNX model"):
            return "Saving the ONNX model", self._set(self._at(0.70))
        m = _KQUANT_RE.match(text)
        if m:
            pct = float(m.group(1))
            return f"Quantizing the weights: {pct:.0f} %", self._set(self._at(0.70 + 0.1 * pct
                                                                              / 100))
        m = TQDM_RE.match(text)
        if m:
            pct = int(m.group(1))
            return f"Saving the weights: {pct} %", self._set(self._at(0.80 + 0.18 * pct / 100))
        if text.startswith("Saving GenAI config"):
            return "Saving the GenAI config and tokenizer", self._set(self._at(0.98))
        if "Pass " in text and " finished in " in text:
            return f"Pass {text.split('Pass ', 1)[1].split(':', 1)[0]} finished", \
                self._set(self._at(1.0))
        if "Saved output model to" in text:
            return "Saving the output model", self._set(0.95)
        m = _SAVED_RE.search(text)
        if m:
            self.saved_at = m.group(1).strip()
            return "Olive finished", self._set(0.97)
        return None, self.progress

    def reason(self) -> str:
        seen: list[str] = []
        for r in self.reasons or self.tail:
            if r not in seen:
                seen.append(r)
        return " | ".join(seen[-4:])
