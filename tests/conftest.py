"""Shared fixtures. Tests never touch the real home folders: all slm-wizard dirs are temp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point config, cache and data folders at a session temp dir, and keep tools offline."""
    root = tmp_path_factory.mktemp("slm-home")
    for name in ("CONFIG", "CACHE", "DATA"):
        os.environ[f"SLM_WIZARD_{name}_DIR"] = str(root / name.lower())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    return root


@pytest.fixture(scope="session")
def demo_model(isolated_dirs: Path) -> Path:
    """The demo model's Hugging Face folder, built once per session by core.demo (cached).

    It lands in <session temp>/cache/demo-<hash> (SLM_WIZARD_CACHE_DIR set by isolated_dirs).
    """
    from slm_wizard.core.model.demo import build_demo_model

    return build_demo_model()


@pytest.fixture(scope="session")
def demo_onnx(demo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model converted to INT4 ONNX once per session (Olive auto-opt, core.convert)."""
    from slm_wizard.core.convert.options import ConvertOptions
    from slm_wizard.core.convert.run import run_conversion

    out = tmp_path_factory.mktemp("demo-onnx-int4") / "model"
    result = run_conversion(ConvertOptions(demo_model, out, precision="int4", method="auto-opt"))
    assert result.ok, result.error
    assert (out / "genai_config.json").is_file()
    return out
