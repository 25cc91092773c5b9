"""Inspect a Hugging Face model folder without loading its weights.

Everything comes from small files: config.json, the tokenizer files, and the JSON headers of the
safetensors weight files (which give every tensor's shape and dtype, so the parameter count is
exact without reading a single weight). Nothing here imports torch or transformers.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.schema import HF_CONFIG, SAFETENSORS_HEADER, SchemaError, check_file
from slm_wizard.core.base.status import Refused

# The file of domain prompts and expected answers next to a model (the demo model ships one):
# validation, the sweep, the deploy test and the adapter check read it; conversion copies it.
DOMAIN_FILE = "domain_eval.jsonl"


class ModelFolderError(Refused):
    """The folder cannot be used as a model; the message says why, for the user."""


class TrainingOutputFolder(ModelFolderError):
    """The folder is a training run's output (core.model.checkpoints), not a model: the message
    names the checkpoint to use (`run.chosen`) and the others."""

    def __init__(self, run: Any) -> None:
        self.run = run
        super().__init__(run.refusal())


# Architectures the ONNX model builder of onnxruntime-genai 0.14.1 (used by Olive's ModelBuilder
# pass) knows, read from its create_model().
BUILDER_ARCHITECTURES = frozenset({
    "ChatGLMForConditionalGeneration", "ChatGLMModel", "Ernie4_5ForCausalLM", "GemmaForCausalLM",
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForConditionalGeneration",
    "GptOssForCausalLM", "GraniteForCausalLM", "HunYuanDenseV1ForCausalLM", "InternLM2ForCausalLM",
    "Lfm2ForCausalLM", "LlamaForCausalLM", "MistralForCausalLM",
    "Mistral3ForConditionalGeneration", "NemotronForCausalLM", "OlmoForCausalLM",
    "PhiForCausalLM", "Phi3ForCausalLM", "PhiMoEForCausalLM", "Phi3SmallForCausalLM",
    "Phi3VForCausalLM", "Phi4MMForCausalLM", "Qwen2ForCausalLM", "VideoChatFlashQwenForCausalLM",
    "Qwen2_5_VLForConditionalGeneration", "Qwen3ForCausalLM", "Qwen3_5ForConditionalGeneration",
    "Qwen3_5MoeForConditionalGeneration", "Qwen3VLForConditionalGeneration",
    "SmolLM3ForCausalLM",
})

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json",
                   "merges.txt", "special_tokens_map.json", "added_tokens.json",
                   "chat_template.jinja", "chat_template.json")

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64",
                "I8": "int8", "U8": "uint8"}


@dataclass(frozen=True)
class TensorGroups:
    """Parameter counts by role, which decides how each part is stored after conversion."""

    embedding: int = 0  # token embedding (a Gather in ONNX)
    lm_head: int = 0  # output projection (a MatMul; the builder writes it even when tied)
    linear: int = 0  # the layers' 2-D weights (MatMuls: quantized at int4/int8)
    other: int = 0  # norms, biases: kept in float


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    architecture: str
    model_type: str
    hidden_size: int | None
    num_layers: int | None
    num_heads: int | None
    num_kv_heads: int | None
    vocab_size: int | None
    context_length: int | None
    dtype: str
    param_count: int
    param_count_exact: bool  # True when counted from safetensors headers
    weight_files: tuple[str, ...]
    tokenizer_files: tuple[str, ...]
    chat_template: str | None
    family: str  # qwen | deepseek | phi | llama | mistral | gemma | other
    needs_remote_code: bool
    is_lora_adapter: bool
    builder_supported: bool
    problems: list[str] = field(default_factory=list)
    groups: TensorGroups = field(default_factory=TensorGroups)
    tie_word_embeddings: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "name": self.name, "architecture": self.architecture,
            "model_type": self.model_type, "family": self.family,
            "hidden_size": self.hidden_size, "num_layers": self.num_layers,
            "num_heads": self.num_heads, "num_kv_heads": self.num_kv_heads,
            "vocab_size": self.vocab_size, "context_length": self.context_length,
            "dtype": self.dtype, "param_count": self.param_count,
            "param_count_exact": self.param_count_exact,
            "fp32_size_bytes": fp32_size_bytes(self),
            "weight_files": list(self.weight_files),
            "tokenizer_files": list(self.tokenizer_files),
            "has_chat_template": self.chat_template is not None,
            "needs_remote_code": self.needs_remote_code,
            "is_lora_adapter": self.is_lora_adapter,
            "builder_supported": self.builder_supported,
            "problems": list(self.problems),
        }


def check_model_folder(path: str | Path, *, allow_adapter: bool = False) -> Path:
    """Return the resolved folder if it looks like a Hugging Face model, else raise.

    `allow_adapter`: a LoRA adapter folder (adapter_config.json, no config.json) is accepted too
    (core.adapter reads it; converting it needs its base model's folder)."""
    text = str(path).strip()
    if not text:
        raise ModelFolderError("Enter the path of a model folder.")
    folder = Path(text).expanduser()
    if not folder.exists():
        from slm_wizard.core.base.paths import missing_reason

        raise ModelFolderError(f"{folder} {missing_reason(folder)}.")
    if not folder.is_dir():
        raise ModelFolderError(
            f"{folder} is a file, not a folder: choose the folder that holds it."
        )
    if not (folder / "config.json").is_file():
        if (folder / "adapter_config.json").is_file():
            if allow_adapter:
                return folder.resolve()
            raise ModelFolderError(_lora_message(folder))
        from slm_wizard.core.model.checkpoints import find_training_run

        run = find_training_run(folder)
        if run is not None:  # checkpoint-<step>/ model folders inside: names the one to use
            raise TrainingOutputFolder(run)
        raise ModelFolderError(
            f"{folder} has no config.json: it is not a Hugging Face model folder."
        )
    return folder.resolve()


def _lora_message(folder: Path) -> str:
    return (
        f"{folder} holds a LoRA adapter (adapter_config.json), not a full model: convert it "
        f"with its base model's folder (`slm-wizard convert {folder} --base BASE_DIR` merges it "
        "with PEFT merge_and_unload, or --adapter-mode adapter keeps it separate); "
        f"`slm-wizard inspect {folder}` shows what it needs."
    )


def fp32_size_bytes(info: ModelInfo) -> int:
    """The weights' size at full precision (the guide's "Base")."""
    return info.param_count * 4


def inspect_model(path: str | Path) -> ModelInfo:
    """Read a model folder's description; raise ModelFolderError when it cannot be used at all."""
    folder = check_model_folder(path)
    config = _read_json(folder / "config.json")
    _check_schema(config, HF_CONFIG, folder / "config.json")
    text_cfg = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}

    def get(*keys: str) -> Any:
        for source in (config, text_cfg):
            for key in keys:
                if source.get(key) is not None:
                    return source[key]
        return None

    problems: list[str] = []
    archs = config.get("architectures") or []
    architecture = archs[0] if isinstance(archs, list) and archs else ""
    model_type = str(config.get("model_type") or "")
    is_lora = (folder / "adapter_config.json").is_file()
    if not model_type and not architecture:
        raise ModelFolderError(
            f"{folder / 'config.json'} has neither `model_type` nor `architectures`: "
            "it does not describe a model."
        )
    builder_supported = architecture in BUILDER_ARCHITECTURES
    if not architecture:
        problems.append("config.json lists no `architectures`: the ONNX model builder needs it "
                        "(e.g. \"Qwen2ForCausalLM\").")
    elif not builder_supported:
        problems.append(
            f"Architecture {architecture} is not supported by the ONNX model builder "
            "(supported: Llama, Mistral, Qwen2/3, Phi, Gemma, and a few others)."
        )
    needs_remote = "auto_map" in config
    if needs_remote:
        problems.append("config.json has `auto_map`: the model ships its own Python code. "
                        "slm-wizard never runs it (trust_remote_code stays off).")

    weight_files, counted, tensor_dtypes, groups = _read_weights(folder)
    if is_lora and not weight_files:
        problems.append(_lora_message(folder))
    elif not weight_files:
        raise ModelFolderError(
            f"{folder} has no weights: expected model.safetensors (or model-0000x-of-0000y"
            ".safetensors shards, or pytorch_model.bin)."
        )
    _refuse_findings(folder, config)

    hidden = _int(get("hidden_size", "n_embd", "d_model"))
    layers = _int(get("num_hidden_layers", "n_layer", "num_layers"))
    heads = _int(get("num_attention_heads", "n_head"))
    kv_heads = _int(get("num_key_value_heads", "num_kv_heads")) or heads
    vocab = _int(get("vocab_size"))
    context = _int(get("max_position_embeddings", "n_positions", "seq_length", "max_seq_len"))
    tied = bool(get("tie_word_embeddings"))
    exact = counted is not None
    if counted is None:
        groups = _estimate_groups(config, text_cfg)
        param_count = groups.embedding + groups.lm_head + groups.linear + groups.other
        if param_count <= 0:
            problems.append("The parameter count could not be estimated from config.json.")
    else:
        param_count = counted
    if tied and groups.lm_head == 0:
        groups = TensorGroups(groups.embedding, groups.embedding, groups.linear, groups.other)
    dtype = str(get("torch_dtype", "dtype") or "")
    if not dtype and tensor_dtypes:
        dtype = _DTYPE_NAMES.get(tensor_dtypes.most_common(1)[0][0], "")

    tokenizer_files = tuple(n for n in TOKENIZER_FILES if (folder / n).is_file())
    has_tokenizer = any((folder / n).is_file() for n in ("tokenizer.json", "tokenizer.model")) \
        or ((folder / "vocab.json").is_file() and (folder / "merges.txt").is_file())
    if not has_tokenizer:
        problems.append(
            "No tokenizer: tokenizer.json (or tokenizer.model, or vocab.json + merges.txt) is "
            "missing. Save it next to the model: tokenizer.save_pretrained(folder)."
        )
    template = _chat_template(folder)
    problems += _template_place_problems(folder)
    if template is None and not any("malformed" in p for p in problems):
        problems.append("No chat template (tokenizer_config.json `chat_template` or "
                        "chat_template.jinja): chat apps will not know how to format prompts.")
    return ModelInfo(
        path=folder, architecture=architecture, model_type=model_type, hidden_size=hidden,
        num_layers=layers, num_heads=heads, num_kv_heads=kv_heads, vocab_size=vocab,
        context_length=context, dtype=dtype or "unknown", param_count=param_count,
        param_count_exact=exact, weight_files=weight_files, tokenizer_files=tokenizer_files,
        chat_template=template, family=_family(model_type, architecture, template, config),
        needs_remote_code=needs_remote, is_lora_adapter=is_lora,
        builder_supported=builder_supported, problems=problems, groups=groups,
        tie_word_embeddings=tied,
    )


def _refuse_findings(folder: Path, config: dict[str, Any]) -> None:
    """The complete pre-conversion check (core.model.folder_check): every problem named."""
    from slm_wizard.core.model.folder_check import findings

    found = findings(folder, config)
    if len(found) == 1:
        raise ModelFolderError(f"{folder} cannot be converted: {found[0]}")
    if found:
        raise ModelFolderError(f"{folder} cannot be converted ({len(found)} problems):\n"
                               + "\n".join(f"  - {f}" for f in found))


def _read_json(path: Path) -> Any:
    from slm_wizard.core.base.fileio import read_json

    return read_json(path, ModelFolderError, "model file")


def _check_schema(data: Any, schema: dict[str, Any], path: Path) -> None:
    """The declared schema of a model file; ModelFolderError naming the file, key, expectation."""
    try:
        check_file(data, schema, path)
    except SchemaError as exc:
        raise ModelFolderError(str(exc)) from None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_weights(folder: Path) -> tuple[tuple[str, ...], int | None, Counter, TensorGroups]:
    """Weight files, exact parameter count (None without safetensors), dtypes, role groups."""
    shards = sorted(p for p in folder.glob("*.safetensors") if not p.name.startswith("adapter_"))
    bins = sorted(p for p in folder.glob("pytorch_model*.bin"))
    if not shards:
        return tuple(p.name for p in bins), None, Counter(), TensorGroups()
    total = 0
    dtypes: Counter = Counter()
    emb = head = linear = other = 0
    for shard in shards:
        for name, dtype, count, ndim in _safetensors_tensors(shard):
            total += count
            dtypes[dtype] += count
            if "embed_tokens" in name or name.endswith(("wte.weight", "word_embeddings.weight")):
                emb += count
            elif "lm_head" in name:
                head += count
            elif ndim >= 2:
                linear += count
            else:
                other += count
    return tuple(p.name for p in shards), total, dtypes, TensorGroups(emb, head, linear, other)


def _safetensors_tensors(path: Path, check_size: bool = True) -> list[tuple[str, str, int, int]]:
    """(name, dtype, element count, ndim) of every tensor, from the file's JSON header (checked
    against its schema). `check_size`: the file must also hold all the data the header
    describes (a truncated copy is refused)."""
    try:
        with path.open("rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ModelFolderError(f"{path} is truncated or empty: re-save the model.")
            (size,) = struct.unpack("<Q", raw)
            if size <= 0 or size > 100_000_000 or size > path.stat().st_size:
                raise ModelFolderError(f"{path} is not a valid safetensors file (bad header size).")
            header = json.loads(f.read(size).decode("utf-8"))
    except OSError as exc:
        raise ModelFolderError(f"{path} cannot be read: {exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(f"{path} is not a valid safetensors file (unreadable header).") \
            from exc
    try:
        check_file(header, SAFETENSORS_HEADER, f"{path} (safetensors header)")
    except SchemaError as exc:
        raise ModelFolderError(f"{exc}: the file is not a valid safetensors file; re-save the "
                               "model.") from None
    out = []
    data_end = 0
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        shape = meta["shape"]
        offsets = meta.get("data_offsets")
        if offsets:
            data_end = max(data_end, offsets[1])
        count = 1
        for dim in shape:
            count *= dim
        out.append((name, str(meta.get("dtype", "")), count, len(shape)))
    if check_size and 8 + size + data_end > path.stat().st_size:
        raise ModelFolderError(
            f"{path} is truncated: its header describes {8 + size + data_end} bytes, the file "
            f"has {path.stat().st_size}. Copy or save the model again.")
    return out


def _estimate_groups(config: dict, text_cfg: dict) -> TensorGroups:
    """Parameter counts of a standard decoder from its config (when only .bin weights exist)."""
    cfg = {**config, **text_cfg}
    h = _int(cfg.get("hidden_size")) or 0
    n = _int(cfg.get("num_hidden_layers")) or 0
    heads = _int(cfg.get("num_attention_heads")) or 1
    kv = _int(cfg.get("num_key_value_heads")) or heads
    head_dim = _int(cfg.get("head_dim")) or (h // heads if heads else 0)
    inter = _int(cfg.get("intermediate_size")) or 4 * h
    vocab = _int(cfg.get("vocab_size")) or 0
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    mlp = 3 * h * inter
    emb = vocab * h
    head = 0 if cfg.get("tie_word_embeddings") else vocab * h
    return TensorGroups(embedding=emb, lm_head=head, linear=n * (attn + mlp), other=(2 * n + 1) * h)


def _template_place_problems(folder: Path) -> list[str]:
    """Two different chat templates in a folder's two places, or a malformed one: Foundry
    Local's runtime reads tokenizer_config.json's `chat_template` first, transformers
    chat_template.jinja first."""
    try:
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        value = cfg.get("chat_template") if isinstance(cfg, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        value = None
    jinja = folder / "chat_template.jinja"
    try:
        jinja_text = jinja.read_text(encoding="utf-8") if jinja.is_file() else None
    except (OSError, UnicodeDecodeError):
        jinja_text = None
    if value is None or isinstance(value, list) and any(
            isinstance(d, dict) and isinstance(d.get("template"), str) for d in value):
        return []
    if not isinstance(value, str):
        kind = "a list without named templates" if isinstance(value, list) else \
            f"{type(value).__name__}, not a template"
        return [f"tokenizer_config.json's `chat_template` is malformed ({kind}): Foundry "
                "Local's runtime fails to load the model (deploy writes a plain template into "
                "its copy)."]
    if jinja_text is not None and jinja_text != value:
        return ["Two different chat templates: tokenizer_config.json's `chat_template` (which "
                "Foundry Local's runtime renders) and chat_template.jinja (which transformers "
                "renders). `slm-wizard template` shows the difference; deploy writes "
                "chat_template.jinja's into both places of its copy."]
    return []


def _chat_template(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        try:
            return jinja.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    for name in ("tokenizer_config.json", "chat_template.json"):
        p = folder / name
        if not p.is_file():
            continue
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        value = data.get("chat_template") if isinstance(data, dict) else None
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list):  # [{"name": "default", "template": "..."}, ...]
            named = {d.get("name"): d.get("template") for d in value if isinstance(d, dict)}
            chosen = named.get("default") or next(iter(named.values()), None)
            if isinstance(chosen, str):
                return chosen
    return None


def _family(model_type: str, architecture: str, template: str | None, config: dict) -> str:
    text = f"{model_type} {architecture}".lower()
    name = str(config.get("_name_or_path", "")).lower()
    if "deepseek" in text or "deepseek" in name or (template and "<｜Assistant｜>" in template):
        return "deepseek"
    for family in ("qwen", "phi", "mistral", "gemma", "llama"):
        if family in text:
            return family
    return "other"
