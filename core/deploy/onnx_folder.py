"""Is a converted folder usable as a Foundry Local model? Checked before anything is copied or
registered (deploy's preflight, its plan and the resume check)."""

from __future__ import annotations

from pathlib import Path

from slm_wizard.core.deploy.foundry_sdk import FoundryError


def check_onnx_folder(onnx_dir: Path) -> list[str]:
    """What makes `onnx_dir` unusable as a Foundry Local model (empty when it is fine): checked
    before anything is copied or registered. genai_config.json must parse and fit its schema,
    the decoder's ONNX file must exist and parse, and its external data must be complete."""
    from slm_wizard.core.base.fileio import read_json
    from slm_wizard.core.base.schema import GENAI_CONFIG, SchemaError, check_file

    onnx_dir = Path(onnx_dir)
    cfg_path = onnx_dir / "genai_config.json"
    try:
        cfg = check_file(read_json(cfg_path, FoundryError, "genai_config.json"), GENAI_CONFIG,
                         cfg_path)
    except (FoundryError, SchemaError) as e:
        return [str(e)]
    decoder = cfg["model"].get("decoder") or {}
    name = decoder.get("filename") or "model.onnx"
    onnx = onnx_dir / name
    if not onnx.is_file():
        return [f"{onnx} is missing (genai_config.json names it as the model): convert again."]
    if onnx.stat().st_size == 0:
        return [f"{onnx} is empty: convert again."]
    try:
        import onnx as onnx_lib
    except ImportError:  # the converter is not installed: the size check above must do
        return []
    try:
        proto = onnx_lib.load(str(onnx), load_external_data=False)
    except Exception as e:  # a truncated or corrupt protobuf
        return [f"{onnx} is not a readable ONNX model ({type(e).__name__}): the file is "
                "truncated or corrupt; convert again."]
    sizes: dict[str, int] = {}
    for tensor in proto.graph.initializer:
        if tensor.data_location != onnx_lib.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        end = int(info.get("offset", 0) or 0) + int(info.get("length", 0) or 0)
        loc = info.get("location", "")
        sizes[loc] = max(sizes.get(loc, 0), end)
    for loc, end in sizes.items():
        data = onnx_dir / loc
        if not data.is_file():
            return [f"{data} is missing (the ONNX model keeps its weights there): convert again."]
        if data.stat().st_size < end:
            return [f"{data} is truncated ({data.stat().st_size} of {end} bytes): convert "
                    "again."]
    return []
