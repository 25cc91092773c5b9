"""One judge of "the model answered" (core.answer), shared by convert's verification and deploy's
answer stage: an empty or whitespace-only reply is a warning shown raw with its likely causes,
never a failure that leaves a half-deployed model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slm_wizard.core.base.status import Status
from slm_wizard.core.deploy import foundry, foundry_sdk
from slm_wizard.core.deploy import inference_model as im
from slm_wizard.core.model.answer import LIKELY_CAUSES, judge


@pytest.mark.parametrize("reply, found", [
    ("", "the model answered nothing"),
    (None, "the model answered nothing"),
    ("  \n", "the model answered only whitespace '  \\n'"),
])
def test_an_empty_reply_is_a_warning_shown_raw_with_its_causes(reply, found: str) -> None:
    j = judge(reply, tokens=3)
    assert j.status == Status.WARN and not j.answered
    assert j.found == found + " (3 tokens generated)"
    assert j.fix == LIKELY_CAUSES and "template" in j.fix and "stop tokens" in j.fix


def test_any_text_is_an_answer() -> None:
    j = judge(" It locks the bike. ")
    assert j.answered and j.status == Status.OK and j.found == " It locks the bike. "


def test_convert_verification_warns_on_a_whitespace_reply(
    demo_onnx: Path, demo_model: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from slm_wizard.core.convert import verify
    from slm_wizard.core.convert.options import ConvertOptions

    monkeypatch.setattr(verify, "generate_sample", lambda folder: (" \n ", 4, 0.1))
    opts = ConvertOptions(demo_model, demo_onnx, precision="int4", method="auto-opt")
    v = verify.verify_output(demo_onnx, opts)
    gen = next(c for c in v.checks if c.id == "generation")
    assert gen.status == Status.WARN and "' \\n '" in gen.found and gen.fix == LIKELY_CAUSES
    assert v.ok  # a warning, like deploy's answer stage: the same judge


def test_deploy_answer_stage_warns_and_keeps_the_model_deployed(
    demo_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from slm_wizard.core.steps import deploy as deploy_step

    if not foundry_sdk.sdk_available():
        pytest.skip("foundry-local-sdk is not installed")
    onnx = tmp_path / "onnx"
    shutil.copytree(demo_onnx, onnx)
    monkeypatch.setattr("slm_wizard.core.base.proc.which", lambda name: None)  # no foundry CLI
    monkeypatch.setattr(foundry, "ask_model", lambda *a, **k: "   ")
    cache = tmp_path / "cache"
    opts = deploy_step.Options(onnx, "quiet", cache_dir=cache, max_tokens=8)
    result = deploy_step.run(opts)
    try:
        assert result.ok and result.status == Status.WARN, result.error
        stages = {s.id: s for s in result.deploy.stages}
        assert [stages[s].status for s in ("write", "copy", "register", "load")] == \
            [Status.OK] * 4
        answer = stages["answer"]
        assert answer.status == Status.WARN and "only whitespace '   '" in answer.found
        assert "stop tokens" in answer.found
        rec = deploy_step.to_record(result.options, result)
        assert rec.status == Status.WARN and any("answer:" in n for n in rec.notes)
        # Still registered and in the cache: usable, and removable as usual.
        assert foundry._registered(foundry_sdk.local_catalog(cache), "quiet:1") is not None
        assert (cache / "custom" / "quiet" / im.FILENAME).is_file()
    finally:
        foundry.undeploy("quiet", "1", cache)
        foundry_sdk.close_manager()
