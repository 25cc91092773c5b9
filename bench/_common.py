"""Shared set-up for the benchmarks (not a benchmark itself: `make bench` runs only b_*.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def demo_onnx(tag: str) -> Path:
    """The demo model converted to INT4 by onnxruntime-genai's builder, cached per benchmark."""
    from slm_wizard.core.base.paths import cache_dir
    from slm_wizard.core.model.demo import build_demo_model

    hf = build_demo_model()
    out = cache_dir() / f"bench-{tag}" / f"{hf.name}-int4"
    if not (out / "genai_config.json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o",
               str(out), "-p", "int4", "-e", "cpu", "-c", str(out.parent / "builder-cache")]
        subprocess.run(cmd, check=True, capture_output=True, cwd=out.parent, timeout=900)
    return out


def converted_record(onnx_dir: Path):
    """The run record a conversion into `onnx_dir` leaves (the Convert step's own record, made
    by its `to_record`), so a screen opens on that model as it does after the Convert step."""
    from slm_wizard.core.convert.run import ConvertResult
    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.core.steps import convert

    record = RunRecord()
    opts = convert.Options(onnx_dir, output_dir=onnx_dir, precision="int4")
    record.record(convert.to_record(opts, convert.result_of(ConvertResult(True, onnx_dir, None))))
    return record
