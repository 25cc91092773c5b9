"""Deployment into Foundry Local: seconds per stage (write, copy, register, load, answer) for the
demo model and for a Qwen2.5-0.5B-shaped INT4 model (built once by bench/qwen_shape.py; skipped
with a message if it cannot be built), each into a fresh temporary cache. No goal: figures only.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench._common import demo_onnx


def _one(label: str, onnx: Path) -> None:
    from slm_wizard.core.deploy import foundry, foundry_sdk
    from slm_wizard.core.steps import deploy as deploy_step

    with tempfile.TemporaryDirectory(prefix="slm-bench-deploy-") as tmp:
        src = Path(tmp) / "onnx"
        shutil.copytree(onnx, src)
        result = deploy_step.run(deploy_step.Options(
            src, "bench-model", cache_dir=Path(tmp) / "cache", prompt="What is Lumo?",
            max_tokens=16))
        stages_run = result.deploy.stages if result.deploy else []
        size = sum(f.stat().st_size for f in src.rglob("*") if f.is_file()) / 1e6
        stages = "  ".join(f"{s.id} {s.seconds:.2f}s" for s in stages_run)
        total = sum(s.seconds for s in stages_run)
        print(f"{label:<22} {size:8.1f} MB  {stages}  total {total:.2f}s  ok={result.ok}"
              + (f"  ({result.error})" if result.error else ""))
        if result.ok:
            foundry.undeploy("bench-model", "1", Path(tmp) / "cache")
        foundry_sdk.close_manager()


def main() -> None:
    _one("demo (int4)", demo_onnx("deploy"))
    try:
        from bench.qwen_shape import build_realistic_model

        qwen = build_realistic_model()
    except Exception as e:  # the bench goes on without the large model
        print(f"qwen2.5-0.5b shape: skipped ({e})")
        return
    _one("qwen2.5-0.5b shape", qwen)


if __name__ == "__main__":
    main()
