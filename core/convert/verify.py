"""Prove a converted model is what was asked: files, the ONNX graph's quantization, a generation.

The graph is read with `onnx.load(path, load_external_data=False)` (no weights in memory): every
MatMulNBits node gives its bits, block_size, accuracy_level and whether it has zero points
(asymmetric). Those are compared with the options the user chose; any difference is listed as a
mismatch, because Olive does not complain when it builds something else than asked.

This module does not import core.convert (convert imports it): the options are read by their
attributes (precision, method, block_size, symmetric, accuracy_level), and the size estimate is
given by the caller.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.fileio import onnx_size
from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.core.model.answer import judge as judge_answer

REQUIRED_FILES = ("genai_config.json", "model.onnx", "tokenizer.json", "tokenizer_config.json")


CHECK_TITLES = {
    "files": "Files",
    "weights": "Weights",
    "graph": "Graph quantization",
    "generation": "Generation",
}


def _check(check_id: str, ok: bool, found: str, required: str, fix: str = "") -> CheckResult:
    return CheckResult(check_id, CHECK_TITLES[check_id], Status.OK if ok else Status.FAIL,
                       found=found, required=required, fix="" if ok else fix, essential=True)


@dataclass(frozen=True)
class GraphQuant:
    matmul_nbits: int  # quantized MatMul nodes
    float_matmuls: int  # MatMul nodes left in float
    bits: tuple[int, ...]
    block_sizes: tuple[int, ...]
    accuracy_levels: tuple[int, ...]
    zero_points: bool | None  # True: asymmetric, False: symmetric, None: nothing quantized
    gather_quantized: int  # embeddings quantized (GatherBlockQuantized)

    def describe(self) -> str:
        if not self.matmul_nbits:
            return f"no quantized MatMul ({self.float_matmuls} float MatMul)"
        sym = "asymmetric (zero points)" if self.zero_points else "symmetric (no zero points)"
        return (f"{self.matmul_nbits} MatMulNBits: bits {_join(self.bits)}, block "
                f"{_join(self.block_sizes)}, {sym}, accuracy level "
                f"{_join(self.accuracy_levels) if any(self.accuracy_levels) else 'unset'}")


def _join(values: tuple[int, ...]) -> str:
    return "/".join(map(str, values)) or "-"


@dataclass
class Verification:
    folder: Path
    checks: list[CheckResult] = field(default_factory=list)
    graph: GraphQuant | None = None
    mismatches: list[str] = field(default_factory=list)
    size_bytes: int = 0
    estimate_bytes: int | None = None
    sample: str = ""  # the generated text
    tokens: int = 0
    tokens_per_s: float | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.mismatches

    def failures(self) -> list[str]:
        return [f"{c.id}: {c.found}" for c in self.checks if not c.ok] + [
            f"MISMATCH: {m}" for m in self.mismatches]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "folder": str(self.folder),
            "checks": [c.to_dict() for c in self.checks],
            "graph": asdict(self.graph) if self.graph else None,
            "graph_summary": self.graph.describe() if self.graph else None,
            "mismatches": list(self.mismatches), "size_bytes": self.size_bytes,
            "estimate_bytes": self.estimate_bytes, "sample": self.sample, "tokens": self.tokens,
            "tokens_per_s": self.tokens_per_s,
        }


def inspect_graph(model_path: Path | str) -> GraphQuant:
    """MatMulNBits attributes of an ONNX graph, without loading its weights."""
    import onnx
    from onnx import helper

    model = onnx.load(str(model_path), load_external_data=False)
    bits: set[int] = set()
    blocks: set[int] = set()
    levels: set[int] = set()
    zp: set[bool] = set()
    nbits = float_mm = gathers = 0
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            nbits += 1
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            bits.add(int(attrs.get("bits", 4)))
            blocks.add(int(attrs.get("block_size", 0)))
            levels.add(int(attrs.get("accuracy_level", 0)))
            zp.add(len(node.input) > 3 and bool(node.input[3]))
        elif node.op_type == "MatMul":
            float_mm += 1
        elif node.op_type == "GatherBlockQuantized":
            gathers += 1
    return GraphQuant(
        matmul_nbits=nbits, float_matmuls=float_mm, bits=tuple(sorted(bits)),
        block_sizes=tuple(sorted(blocks)), accuracy_levels=tuple(sorted(levels)),
        zero_points=(any(zp) if zp else None), gather_quantized=gathers,
    )


def expected_graph(opts) -> dict[str, Any]:
    """What the graph must show for these options (a core.convert.ConvertOptions)."""
    if opts.precision in ("fp32", "fp16"):
        return {"quantized": False}
    exp: dict[str, Any] = {"quantized": True, "bits": 4 if opts.precision == "int4" else 8,
                           "block_size": opts.block_size, "zero_points": not opts.symmetric}
    if opts.accuracy_level is not None:
        exp["accuracy_level"] = opts.accuracy_level
    if opts.method == "auto-opt" and opts.precision == "int4":
        exp.update(block_size=32, zero_points=False, accuracy_level=4)
    return exp


def compare(graph: GraphQuant, opts) -> list[str]:
    exp = expected_graph(opts)
    out = []
    if not exp["quantized"]:
        if graph.matmul_nbits:
            out.append(f"asked {opts.precision}, but the graph has {graph.matmul_nbits} "
                       "quantized MatMulNBits nodes")
        return out
    if not graph.matmul_nbits:
        return [f"asked {opts.precision}, but the graph has no quantized MatMul "
                "(MatMulNBits): the model was not quantized"]
    if graph.bits != (exp["bits"],):
        out.append(f"asked {exp['bits']}-bit weights, the graph has bits {_join(graph.bits)}")
    if graph.block_sizes != (exp["block_size"],):
        out.append(f"asked block size {exp['block_size']}, the graph has "
                   f"{_join(graph.block_sizes)}")
    if graph.zero_points != exp["zero_points"]:
        asked = "asymmetric (zero points)" if exp["zero_points"] else "symmetric"
        got = "asymmetric (zero points)" if graph.zero_points else "symmetric (no zero points)"
        out.append(f"asked {asked}, the graph is {got}")
    if "accuracy_level" in exp and graph.accuracy_levels != (exp["accuracy_level"],):
        out.append(f"asked accuracy level {exp['accuracy_level']}, the graph has "
                   f"{_join(graph.accuracy_levels)}")
    return out


def _external_files(model_path: Path) -> set[str]:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    names = set()
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            for entry in init.external_data:
                if entry.key == "location":
                    names.add(entry.value)
    return names


def generate_sample(folder: Path, prompt: str = "Hello", max_new_tokens: int = 8) \
        -> tuple[str, int, float]:
    """Load with onnxruntime-genai and generate a few tokens greedily: (text, tokens, seconds)."""
    import onnxruntime_genai as og

    t0 = time.perf_counter()
    model = og.Model(str(folder))
    tokenizer = og.Tokenizer(model)
    try:
        text = tokenizer.apply_chat_template(
            json.dumps([{"role": "user", "content": prompt}]), add_generation_prompt=True)
    except Exception:  # no chat template: the raw prompt still proves the model runs
        text = prompt
    ids = tokenizer.encode(text)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + max_new_tokens, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens(ids)
    out: list[int] = []
    while not generator.is_done() and len(out) < max_new_tokens:
        generator.generate_next_token()
        out.append(int(generator.get_next_tokens()[0]))
    return tokenizer.decode(out), len(out), time.perf_counter() - t0


def describe_expected(opts) -> str:
    """What the graph must show, in words (the `required` column of the graph check)."""
    exp = expected_graph(opts)
    if not exp["quantized"]:
        return f"{opts.precision}: no quantized MatMul"
    sym = "asymmetric (zero points)" if exp["zero_points"] else "symmetric (no zero points)"
    level = f", accuracy level {exp['accuracy_level']}" if "accuracy_level" in exp else ""
    return f"{exp['bits']}-bit MatMulNBits, block {exp['block_size']}, {sym}{level}"


def verify_output(folder: Path | str, opts, estimate_bytes: int | None = None) -> Verification:
    """Check a converted folder against the options it was made with.

    `estimate_bytes` (core.convert.estimate for these options) is kept to compare with the size
    on disk."""
    folder = Path(folder)
    v = Verification(folder, estimate_bytes=estimate_bytes)
    missing = [n for n in REQUIRED_FILES if not (folder / n).is_file()]
    v.checks.append(_check(
        "files", not missing,
        "genai_config.json, model.onnx and the tokenizer are present" if not missing
        else "missing: " + ", ".join(missing),
        ", ".join(REQUIRED_FILES), "Convert again: the output folder is incomplete."))
    model_path = folder / "model.onnx"
    if model_path.is_file():
        required = describe_expected(opts)
        try:
            ext = _external_files(model_path)
            lost = sorted(n for n in ext if not (folder / n).is_file())
            v.checks.append(_check(
                "weights", not lost,
                (f"external data: {', '.join(sorted(ext))}" if ext
                 else "weights inside model.onnx") if not lost
                else "missing external data: " + ", ".join(lost),
                "every external data file of model.onnx",
                "Convert again: weight files are missing."))
            v.graph = inspect_graph(model_path)
            v.mismatches = compare(v.graph, opts)
            v.checks.append(_check(
                "graph", not v.mismatches, v.graph.describe(), required,
                "Convert with the config-file method, which passes every option to Olive."))
        except Exception as exc:  # a corrupt graph is a verification failure, not a crash
            v.checks.append(_check("graph", False, f"model.onnx cannot be read: {exc}",
                                   required, "Convert again: model.onnx is damaged."))
        v.size_bytes = onnx_size(folder)
    if not missing:
        try:
            v.sample, v.tokens, seconds = generate_sample(folder)
            v.tokens_per_s = v.tokens / seconds if seconds > 0 else None
            said = judge_answer(v.sample, v.tokens)  # one judge with deploy's answer stage
            if v.tokens > 0 and not said.answered:
                v.checks.append(CheckResult(
                    "generation", CHECK_TITLES["generation"], Status.WARN,
                    f"loads with onnxruntime-genai, but {said.found}",
                    "loads with onnxruntime-genai and generates tokens", said.fix))
                return v
            v.checks.append(_check(
                "generation", v.tokens > 0,
                f"loads with onnxruntime-genai and generated {v.tokens} tokens: {v.sample!r}",
                "loads with onnxruntime-genai and generates tokens",
                "See the conversion log; check onnxruntime-genai==0.14.1 is installed."))
        except Exception as exc:
            v.checks.append(_check("generation", False,
                                   f"onnxruntime-genai could not run it: {exc}",
                                   "loads with onnxruntime-genai and generates tokens",
                                   "Check onnxruntime-genai==0.14.1 is installed (Prerequisites "
                                   "step), then convert again."))
    return v
