"""Teacher-forced fidelity (core.fidelity) on the demo's INT4 model: the measure is zero against
itself, repeatable, and grows when the weights are damaged."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from slm_wizard.core.evaluate import fidelity as fid


def test_log_softmax_and_sample_keys():
    rows = fid._log_softmax(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32))
    assert np.allclose(np.exp(rows).sum(axis=1), 1.0)
    assert rows[1][0] == pytest.approx(np.log(1 / 3))
    a = [fid.Sample.of("Hi?", "Hello.", "Be brief.")]
    assert a[0].chat(True)[0] == {"role": "system", "content": "Be brief."}
    assert a[0].chat(True)[-1] == {"role": "assistant", "content": "Hello."}
    assert fid.samples_key(a, 100) != fid.samples_key(a, 200)
    assert fid.samples_key(a, 100) != fid.samples_key([fid.Sample.of("Hi?", "Hey.")], 100)
    assert len(fid.neutral_samples()) == len(fid.NEUTRAL_SAMPLES) >= 10


def test_fidelity_against_itself_and_a_damaged_copy(demo_onnx: Path, tmp_path: Path):
    ref = fid.build_reference(demo_onnx, fid.neutral_samples(), tmp_path / "ref.npy",
                              max_tokens=200)
    assert ref is not None and 0 < ref.tokens <= 200 and ref.vocab == 1024
    loaded = fid.Reference.load(tmp_path / "ref.npy")
    assert loaded.sequences == ref.sequences and loaded.perplexity == ref.perplexity
    same = fid.compare(demo_onnx, loaded)
    assert same.mean_kld == pytest.approx(0.0, abs=1e-7) and same.top1_agreement == 1.0
    assert same.perplexity == pytest.approx(ref.perplexity, rel=1e-5)
    assert fid.compare(demo_onnx, loaded).mean_kld == same.mean_kld  # repeatable

    from tests.helpers.onnx import damage as _damage

    broken = tmp_path / "broken"
    shutil.copytree(demo_onnx, broken)
    _damage(broken)
    bad = fid.compare(broken, loaded)
    assert bad.mean_kld > 0.01 and bad.p99_kld >= bad.mean_kld
    # (perplexity may go either way on text the demo never saw: it is out of its domain)
    assert bad.top1_agreement < 0.5 and bad.perplexity != pytest.approx(same.perplexity)
    # A reference of another vocabulary is refused, not compared.
    other = fid.Reference(loaded.logprobs_path, loaded.sequences, loaded.starts, 999,
                          loaded.perplexity)
    with pytest.raises(fid.FidelityError, match="vocabulary"):
        fid.compare(demo_onnx, other)
