"""LoRA adapters (PEFT): read an adapter folder, check a base model against it, merge, verify.

An adapter folder holds `adapter_config.json` and `adapter_model.safetensors` (the lora_A/lora_B
matrices of the target modules), not a model. Two routes make it an ONNX model:
- merge: `PeftModel.from_pretrained(base, adapter).merge_and_unload()` then `save_pretrained` into a
  temporary full model that converts like any other (Foundry Local needs this one);
- adapter: `olive auto-opt -m BASE -a ADAPTER --use_model_builder` writes the base model plus
  `adapter_weights.onnx_adapter`, which onnxruntime-genai switches on and off at run time.

Reading and checking use only JSON files and safetensors headers (no torch). Merging and the
reference answers (transformers + PEFT) import torch, transformers and peft inside the functions.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.core.model.model_info import (
    DOMAIN_FILE,
    TOKENIZER_FILES,
    ModelFolderError,
    ModelInfo,
    _safetensors_tensors,
    inspect_model,
)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
ONNX_ADAPTER_FILE = "adapter_weights.onnx_adapter"
ADAPTER_MODES = ("merge", "adapter")
DEFAULT_ADAPTER_MODE = "merge"
# The fixed prompts of the adapter check when the base model has no domain file (DOMAIN_FILE).
FIXED_PROMPTS = ("Hello", "What can you do?", "Explain what a LoRA adapter is.")
CHECK_PROMPTS = 5  # at most this many domain prompts
CHECK_TOKENS = 16  # greedy tokens compared per prompt


class AdapterError(ModelFolderError):
    """The adapter or its base folder cannot be used; the message says why, for the user."""


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter folder says about itself (adapter_config.json + the weight headers)."""

    path: Path
    peft_type: str
    rank: int | None
    alpha: float | None
    target_modules: tuple[str, ...]
    base_model: str  # base_model_name_or_path (a hub id or a local path)
    base_class: str  # base_model_class / auto_mapping, when PEFT wrote it
    weight_files: tuple[str, ...]
    param_count: int
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # module -> (in, out)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def base_folder(self) -> Path | None:
        """The base model's folder when the adapter names a local folder that exists."""
        if not self.base_model:
            return None
        p = Path(self.base_model).expanduser()
        return p.resolve() if p.is_dir() and (p / "config.json").is_file() else None

    @property
    def needs(self) -> str:
        """What converting it needs, in words."""
        named = f" (the adapter names {self.base_model!r})" if self.base_model else ""
        return (f"a local folder of its base model{named}: convert with "
                f"`slm-wizard convert {self.path} --base BASE_DIR`.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "name": self.name, "is_lora_adapter": True,
            "peft_type": self.peft_type, "rank": self.rank, "alpha": self.alpha,
            "target_modules": list(self.target_modules),
            "base_model_name_or_path": self.base_model, "base_model_class": self.base_class,
            "base_folder": str(self.base_folder) if self.base_folder else None,
            "weight_files": list(self.weight_files), "param_count": self.param_count,
            "needs": self.needs, "problems": list(self.problems),
        }


def is_adapter_folder(path: str | Path) -> bool:
    """True for a folder holding adapter_config.json and no model config.json."""
    folder = Path(str(path).strip()).expanduser()
    return (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").is_file()


def _module_of(tensor: str) -> tuple[str, str] | None:
    """("model.layers.0.self_attn.q_proj", "A"|"B") for a PEFT LoRA tensor name."""
    for part in ("A", "B"):
        for suffix in (f".lora_{part}.weight", f".lora_{part}.default.weight"):
            if tensor.endswith(suffix):
                name = tensor[: -len(suffix)]
                for prefix in ("base_model.model.", "base_model."):
                    if name.startswith(prefix):
                        name = name[len(prefix):]
                        break
                return name, part
    return None


def inspect_adapter(path: str | Path) -> AdapterInfo:
    """Read an adapter folder; raise AdapterError when it is not a usable LoRA adapter."""
    from slm_wizard.core.base.fileio import read_json

    text = str(path).strip()
    folder = Path(text).expanduser()
    if not text or not folder.is_dir():
        raise AdapterError(f"{folder} does not exist or is not a folder.")
    if not (folder / ADAPTER_CONFIG).is_file():
        raise AdapterError(f"{folder} has no {ADAPTER_CONFIG}: it is not a PEFT adapter folder.")
    folder = folder.resolve()
    cfg = read_json(folder / ADAPTER_CONFIG, AdapterError, "adapter config")
    if not isinstance(cfg, dict):
        raise AdapterError(f"{folder / ADAPTER_CONFIG} is not a JSON object.")
    peft_type = str(cfg.get("peft_type") or "")
    if peft_type.upper() != "LORA":
        raise AdapterError(f"{folder} holds a {peft_type or 'unknown'} adapter: only LoRA "
                           "adapters (peft_type LORA) can be merged or converted.")
    targets = cfg.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    weights = tuple(n for n in ADAPTER_WEIGHTS if (folder / n).is_file())
    if not weights:
        raise AdapterError(f"{folder} has no adapter weights: expected "
                           f"{' or '.join(ADAPTER_WEIGHTS)}.")
    problems: list[str] = []
    shapes: dict[str, tuple[int, int]] = {}
    count = 0
    if weights[0].endswith(".safetensors"):
        a_in: dict[str, int] = {}
        b_out: dict[str, int] = {}
        for name, dims in _shapes(folder / weights[0]).items():
            n = 1
            for d in dims:
                n *= d
            count += n
            hit = _module_of(name)
            if hit is None:
                continue
            if hit[1] == "A" and len(dims) == 2:
                a_in[hit[0]] = dims[1]
            elif hit[1] == "B" and len(dims) == 2:
                b_out[hit[0]] = dims[0]
        shapes = {m: (a_in[m], b_out[m]) for m in a_in if m in b_out}
        if not shapes:
            problems.append("The adapter weights hold no lora_A/lora_B tensors.")
    if cfg.get("use_dora"):
        problems.append("DoRA adapter (use_dora): merging works, the adapter route does not.")
    base_class = str(cfg.get("base_model_class") or "")
    auto = cfg.get("auto_mapping")
    if not base_class and isinstance(auto, dict):
        base_class = str(auto.get("base_model_class") or "")
    rank = cfg.get("r")
    alpha = cfg.get("lora_alpha")
    modules = sorted({m.rsplit(".", 1)[-1] for m in shapes}) or sorted(
        t for t in (targets or []) if isinstance(t, str))
    return AdapterInfo(
        path=folder, peft_type=peft_type.upper(),
        rank=rank if isinstance(rank, int) else None,
        alpha=alpha if isinstance(alpha, (int, float)) else None,
        target_modules=tuple(modules), base_model=str(cfg.get("base_model_name_or_path") or ""),
        base_class=base_class, weight_files=weights, param_count=count, shapes=shapes,
        problems=problems)


def _shapes(path: Path) -> dict[str, list[int]]:
    """Every tensor's shape in a safetensors file, from its JSON header (validated by
    core.model_info's reader first, which raises ModelFolderError for a broken file)."""
    _safetensors_tensors(path)
    import struct

    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size).decode("utf-8"))
    return {k: list(v.get("shape") or []) for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict)}


def _base_shapes(info: ModelInfo) -> dict[str, tuple[int, int]]:
    """Linear weights of the base model: module name -> (in features, out features)."""
    out: dict[str, tuple[int, int]] = {}
    for file in info.weight_files:
        if not file.endswith(".safetensors"):
            continue
        for name, dims in _shapes(info.path / file).items():
            if len(dims) == 2 and name.endswith(".weight"):
                out[name[: -len(".weight")]] = (dims[1], dims[0])
    return out


def resolve_base(adapter: AdapterInfo, base_dir: str | Path | None) -> Path:
    """The base folder to use: `base_dir`, else the local folder the adapter names."""
    if base_dir is None or not str(base_dir).strip():
        if adapter.base_folder is not None:
            return adapter.base_folder
        raise AdapterError(
            f"{adapter.path} is a LoRA adapter; it needs {adapter.needs} The folder it names "
            "is not on this machine." if adapter.base_model else
            f"{adapter.path} is a LoRA adapter and names no base model: give the base "
            "model's folder with --base BASE_DIR.")
    folder = Path(str(base_dir).strip()).expanduser()
    if not folder.is_dir():
        named = adapter.base_model or "unnamed"
        raise AdapterError(f"The base model folder {folder} does not exist: the adapter "
                           f"{adapter.name} needs its base model ({named}) in a local folder.")
    return folder.resolve()


def check_base(adapter: AdapterInfo, base_dir: str | Path | None) -> tuple[ModelInfo, list[str]]:
    """The base model's info and every difference that makes it the wrong base for `adapter`.

    Compared: the architecture (base_model_class), the hidden size and each target module's
    input/output size, and that every target module exists in the base. Raises AdapterError
    when the base folder is missing or is not a model."""
    folder = resolve_base(adapter, base_dir)
    try:
        info = inspect_model(folder)
    except ModelFolderError as exc:
        raise AdapterError(f"The base model folder cannot be used: {exc}") from exc
    if info.is_lora_adapter:
        raise AdapterError(f"The base folder {folder} is itself an adapter: give the full model.")
    found: list[str] = []
    if adapter.base_class and info.architecture and adapter.base_class != info.architecture:
        found.append(f"architecture: the adapter was trained on {adapter.base_class}, the base "
                     f"folder is {info.architecture}")
    base = _base_shapes(info)
    if base and adapter.shapes:
        missing = sorted(m for m in adapter.shapes if m not in base)
        if missing:
            kinds = sorted({m.rsplit(".", 1)[-1] for m in missing})
            found.append(f"target modules: {', '.join(kinds)} not found in the base model "
                         f"({len(missing)} of {len(adapter.shapes)} modules missing, e.g. "
                         f"{missing[0]})")
        wrong = [(m, s, base[m]) for m, s in sorted(adapter.shapes.items())
                 if m in base and s != base[m]]
        if wrong:
            m, (a_in, a_out), (b_in, b_out) = wrong[0]
            what = "hidden size" if a_in != b_in else "output size"
            ours = a_in if a_in != b_in else a_out
            theirs = b_in if a_in != b_in else b_out
            hidden = f" (base hidden_size {info.hidden_size})" if what == "hidden size" else ""
            found.append(f"{what}: the adapter's {m} expects {ours}, the base model has "
                         f"{theirs}{hidden}; {len(wrong)} module(s) differ")
    elif not base and adapter.target_modules:
        found.append("target modules: the base model has no safetensors weights to check the "
                     "adapter against")
    return info, found


def merge(adapter_dir: Path, base_dir: Path, out_dir: Path) -> Path:
    """Merge the adapter into its base with PEFT and save a full model (+ tokenizer) to out_dir."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_transformers(), torch.inference_mode():
        base = AutoModelForCausalLM.from_pretrained(base_dir, trust_remote_code=False)
        merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
        merged.save_pretrained(out_dir, safe_serialization=True)
    # The tokenizer: the adapter's own files when it saved some, else the base model's.
    for name in (*TOKENIZER_FILES, "generation_config.json", DOMAIN_FILE):
        src = adapter_dir / name if (adapter_dir / name).is_file() else base_dir / name
        if src.is_file() and not (out_dir / name).exists():
            shutil.copy2(src, out_dir / name)
    return out_dir


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No tqdm bars on stderr while loading or saving (they would garble a CLI or TUI log)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


# ---------------------------------------------------------------- verification

def check_prompts(base_dir: Path) -> list[list[dict[str, str]]]:
    """The prompts of the adapter check: the model's domain prompts, else a fixed set."""
    from slm_wizard.core.base.fileio import read_jsonl

    rows: list[Any] = []
    path = base_dir / DOMAIN_FILE
    if path.is_file():
        try:
            rows = [row for _n, row in read_jsonl(path, ValueError, "evaluation set")]
        except ValueError:
            rows = []
    out = []
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("prompt"), str):
            msgs = [{"role": "user", "content": row["prompt"]}]
            if isinstance(row.get("system"), str) and row["system"]:
                msgs.insert(0, {"role": "system", "content": row["system"]})
            out.append(msgs)
        if len(out) >= CHECK_PROMPTS:
            break
    return out or [[{"role": "user", "content": p}] for p in FIXED_PROMPTS]


def onnx_greedy(folder: Path, prompts: list[list[dict[str, str]]], *, adapter: str | None = None,
                tokens: int = CHECK_TOKENS) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, greedy new ids) of a converted model, with `adapter` (a .onnx_adapter file)
    active when given. Generation stops at the end-of-sequence token (kept in the ids)."""
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    tok = og.Tokenizer(model)
    adapters = None
    if adapter is not None:
        adapters = og.Adapters(model)
        adapters.load(str(adapter), "adapter")
    inputs, outputs = [], []
    for messages in prompts:
        ids = list(tok.encode(tok.apply_chat_template(json.dumps(messages),
                                                      add_generation_prompt=True)))
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + tokens, do_sample=False)
        gen = og.Generator(model, params)
        if adapters is not None:
            gen.set_active_adapter(adapters, "adapter")
        gen.append_tokens(ids)
        new: list[int] = []
        while not gen.is_done() and len(new) < tokens:
            gen.generate_next_token()
            new.append(int(gen.get_next_tokens()[0]))
        inputs.append(ids)
        outputs.append(new)
    return inputs, outputs


def torch_greedy(base_dir: Path, adapter_dir: Path | None, inputs: list[list[int]],
                 eos: set[int], tokens: int = CHECK_TOKENS) -> list[list[int]]:
    """Greedy new ids of transformers (+ PEFT merged when adapter_dir) for the same prompt ids."""
    import torch
    from transformers import AutoModelForCausalLM

    with quiet_transformers(), torch.inference_mode():
        model = AutoModelForCausalLM.from_pretrained(base_dir, trust_remote_code=False)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
        model.eval()
        out = []
        for ids in inputs:
            seq = torch.tensor([ids])
            new: list[int] = []
            for _ in range(tokens):
                token = int(model(seq).logits[0, -1].argmax())
                new.append(token)
                if token in eos:
                    break
                seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
            out.append(new)
    return out


def _eos_ids(folder: Path) -> set[int]:
    from slm_wizard.core.base.fileio import read_json

    try:
        cfg = read_json(folder / "genai_config.json")
        eos = cfg["model"]["eos_token_id"]
    except (ValueError, KeyError, TypeError):
        return set()
    return {int(e) for e in (eos if isinstance(eos, list) else [eos])}


def _cut(ids: list[int], eos: set[int]) -> list[int]:
    for i, t in enumerate(ids):
        if t in eos:
            return ids[: i + 1]
    return ids


def verify_adapter(onnx_dir: Path, base_dir: Path, adapter_dir: Path, mode: str,
                   precision: str) -> list[CheckResult]:
    """The adapter checks of a converted model (item: verified answers).

    merge: the ONNX model's greedy answers equal transformers + PEFT merged ones, and differ from
    the base model's. adapter: with the .onnx_adapter active they equal the merged model's,
    without it the base model's. Equality is essential at fp32; at int4/int8 quantization may
    change a token, so a difference is a warning there."""
    prompts = check_prompts(base_dir)
    eos = _eos_ids(onnx_dir)
    n = len(prompts)
    exact = precision in ("fp32", "fp16")
    miss = Status.FAIL if exact else Status.WARN
    checks: list[CheckResult] = []
    try:
        if mode == "adapter":
            inputs, with_adapter = onnx_greedy(onnx_dir, prompts,
                                               adapter=onnx_dir / ONNX_ADAPTER_FILE)
            _, without = onnx_greedy(onnx_dir, prompts)
        else:
            inputs, with_adapter = onnx_greedy(onnx_dir, prompts)
            without = []
        merged = torch_greedy(base_dir, adapter_dir, inputs, eos)
        base = torch_greedy(base_dir, None, inputs, eos)
    except Exception as exc:  # a failure to run is a failed check, not a crash
        return [CheckResult("adapter", "Adapter answers", Status.FAIL,
                            found=f"could not compare the answers: {exc}",
                            required="greedy answers equal transformers + PEFT",
                            fix="See the conversion log; check peft and onnxruntime-genai.",
                            essential=True)]
    same = sum(_cut(a, eos) == _cut(b, eos) for a, b in zip(with_adapter, merged, strict=True))
    route = "with the adapter active" if mode == "adapter" else "merged ONNX"
    checks.append(CheckResult(
        "adapter", "Adapter answers", Status.OK if same == n else miss,
        found=f"{route}: {same} of {n} greedy answers equal transformers + PEFT merged",
        required=f"{n} of {n} equal" + ("" if exact else " (quantization may change a token)"),
        fix="" if same == n else "Convert at fp32 to compare exactly, or check the adapter and "
        "its base folder.", essential=exact, data={"equal": same, "prompts": n}))
    changed = sum(_cut(a, eos) != _cut(b, eos) for a, b in zip(merged, base, strict=True))
    checks.append(CheckResult(
        "adapter-effect", "Adapter changes answers", Status.OK if changed else Status.WARN,
        found=f"{changed} of {n} greedy answers differ from the base model's",
        required="at least one answer differs from the base model",
        fix="" if changed else "The adapter changes nothing on these prompts: was it trained "
        "(PEFT initialises lora_B to zero)?", essential=False,
        data={"differ": changed, "prompts": n}))
    if mode == "adapter":
        same_base = sum(_cut(a, eos) == _cut(b, eos) for a, b in zip(without, base, strict=True))
        checks.append(CheckResult(
            "adapter-off", "Without the adapter", Status.OK if same_base == n else miss,
            found=f"adapter off: {same_base} of {n} greedy answers equal the base model's",
            required=f"{n} of {n} equal",
            fix="" if same_base == n else "Convert at fp32 to compare exactly.",
            essential=exact, data={"equal": same_base, "prompts": n}))
    return checks


def adapter_files(folder: Path | str) -> list[Path]:
    """The .onnx_adapter files of a converted folder (the adapter route writes one)."""
    p = Path(folder)
    return sorted(p.glob("*.onnx_adapter")) if p.is_dir() else []
