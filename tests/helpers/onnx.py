"""Damage a converted model on purpose (for the measures that must see it)."""

from __future__ import annotations

from pathlib import Path


def damage(folder: Path) -> None:
    """Perturb the 4-bit weights of every MatMulNBits in the model (random nibbles)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(folder / "model.onnx"))
    rng = np.random.default_rng(0)
    hit = 0
    for t in model.graph.initializer:
        if "_Q4" in t.name and t.data_type == onnx.TensorProto.UINT8:
            arr = numpy_helper.to_array(t)
            noisy = rng.integers(0, 256, size=arr.shape, dtype=np.uint8)
            t.CopyFrom(numpy_helper.from_array(np.where(rng.random(arr.shape) < 0.3, noisy, arr)
                                               .astype(np.uint8), t.name))
            hit += 1
    assert hit >= 4
    (folder / "model.onnx.data").unlink()
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data")
