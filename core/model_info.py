"""Inspect a Hugging Face model folder without loading its weights."""

from __future__ import annotations

from pathlib import Path


class ModelFolderError(ValueError):
    """The folder cannot be used as a model; the message says why, for the user."""


def check_model_folder(path: str | Path) -> Path:
    """Return the resolved folder if it looks like a Hugging Face model, else raise."""
    text = str(path).strip()
    if not text:
        raise ModelFolderError("Enter the path of a model folder.")
    folder = Path(text).expanduser()
    if not folder.exists():
        raise ModelFolderError(f"{folder} does not exist.")
    if not folder.is_dir():
        raise ModelFolderError(f"{folder} is a file, not a folder: choose the folder that holds it.")
    if not (folder / "config.json").is_file():
        if (folder / "adapter_config.json").is_file():
            raise ModelFolderError(
                f"{folder} holds a LoRA adapter (adapter_config.json), not a full model: merge the "
                "adapter into its base model first (PEFT: model.merge_and_unload(), then "
                "save_pretrained) and open the merged folder."
            )
        raise ModelFolderError(f"{folder} has no config.json: it is not a Hugging Face model folder.")
    return folder.resolve()
