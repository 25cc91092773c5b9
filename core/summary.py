"""What a wizard run did, and the headless commands that reproduce it."""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.state import WizardState


@dataclass(frozen=True)
class FileItem:
    label: str
    path: Path
    size_bytes: int | None


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _item(label: str, path: Path | None) -> FileItem | None:
    if path is None or not path.exists():
        return None
    size = folder_size(path) if path.is_dir() else path.stat().st_size
    return FileItem(label, path, size)


def deployed_folder(state: WizardState) -> Path | None:
    if not (state.deployed_name and state.foundry_cache):
        return None
    name = state.deployed_name.split(":", 1)[0]
    return state.foundry_cache / "custom" / name


def files_written(state: WizardState) -> list[FileItem]:
    deployed = deployed_folder(state)
    reports = state.options.get("validate", {}) if isinstance(state.options.get("validate"),
                                                                dict) else {}
    candidates = [
        ("Model (Hugging Face)", state.model_dir),
        ("Converted ONNX model", state.onnx_dir),
        ("Deployed model folder", deployed),
        ("inference_model.json", deployed / "inference_model.json" if deployed else None),
        ("Validation report", Path(reports["report_dir"]) if reports.get("report_dir") else None),
    ]
    return [item for label, path in candidates if (item := _item(label, path))]


def reproduce_commands(state: WizardState) -> list[list[str]]:
    """Argument lists of the headless commands that redo this run."""
    cmds: list[list[str]] = [["slm-wizard", "check"]]
    if state.model_dir is None:
        return cmds
    if state.is_demo:
        cmds.append(["slm-wizard", "demo"])
    opts = state.options.get("convert")
    opts = opts if isinstance(opts, dict) else {}
    if state.onnx_dir is not None:
        convert = ["slm-wizard", "convert", str(state.model_dir), "--output", str(state.onnx_dir),
                   "--precision", str(opts.get("precision") or state.precision or "int4")]
        if opts.get("method"):
            convert += ["--method", str(opts["method"])]
        if (opts.get("precision") or state.precision) == "int4":
            if opts.get("block_size"):
                convert += ["--block-size", str(opts["block_size"])]
            if "symmetric" in opts:
                convert.append("--symmetric" if opts["symmetric"] else "--asymmetric")
            if opts.get("accuracy_level"):
                convert += ["--accuracy-level", str(opts["accuracy_level"])]
        cmds.append(convert)
    if state.deployed_name and state.onnx_dir is not None:
        name, _, version = state.deployed_name.partition(":")
        deploy = ["slm-wizard", "deploy", str(state.onnx_dir), "--name", name]
        if version:
            deploy += ["--version", version]
        if state.foundry_cache:
            deploy += ["--cache-dir", str(state.foundry_cache)]
        cmds.append(deploy)
    if state.onnx_dir is not None:
        cmds.append(["slm-wizard", "chat", str(state.onnx_dir)])
        cmds.append(["slm-wizard", "validate", str(state.onnx_dir)])
    if state.deployed_name and shutil.which("foundry"):
        cmds.append(["foundry", "model", "run", state.deployed_name.split(":", 1)[0]])
    return cmds


def as_shell(cmds: list[list[str]]) -> str:
    """One line per command, quoted for a POSIX shell, chained with && like a script would."""
    return " &&\n".join(shlex.join(c) for c in cmds)
