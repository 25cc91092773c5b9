"""The run record and the settings file it is saved in: round trip, schema, wrong types."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from helpers import converted_record, record_deployment

from slm_wizard.core.base.status import CheckResult, Status, overall
from slm_wizard.core.run.record import (
    RecordError,
    RunRecord,
    StepRecord,
    reproduce_commands,
)
from slm_wizard.core.run.settings import (
    SCHEMA,
    Settings,
    load_settings,
    remember,
    restore,
    save_settings,
    settings_path,
)
from slm_wizard.tui.app import WizardApp


def _record(tmp_path: Path) -> RunRecord:
    onnx = tmp_path / "onnx"
    onnx.mkdir()
    (onnx / "genai_config.json").write_text("{}")
    rec = converted_record(tmp_path / "hf", onnx, "int4", block_size=32)
    record_deployment(rec, "lumo", "2", tmp_path / "my cache", Status.WARN)
    rec.get("deploy").notes.append("template mismatch accepted")
    return rec


def test_round_trip_through_the_settings_file(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    settings = Settings()
    remember(settings, rec, "deploy")
    path = save_settings(settings, tmp_path / "cfg")
    assert stat.S_IMODE(path.stat().st_mode) & 0o644 == 0o644  # the umask's mode, not 0600
    loaded, notice = load_settings(tmp_path / "cfg")
    assert notice is None
    back, last = restore(loaded, str(rec.model_dir))
    assert last == "deploy"
    assert back.foundry_cache == tmp_path / "my cache"  # the cache folder the user chose
    assert (back.deployed_name, back.deployed_version) == ("lumo", "2")  # stored apart
    assert back.onnx_dir == rec.onnx_dir and back.precision == "int4"
    assert back.steps["deploy"].status == Status.WARN
    assert back.steps["deploy"].notes == ["template mismatch accepted"]
    assert back.done == {"convert", "deploy"}
    assert reproduce_commands(back) == reproduce_commands(rec)


def test_rerunning_convert_drops_the_records_it_outdates(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    rec.record(StepRecord("chat", Status.OK, "1 reply"))
    rec.record(StepRecord("convert", Status.OK, "int8 verified"))
    assert set(rec.steps) == {"convert"}


def test_vanished_outputs_are_forgotten_on_restore(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    settings = Settings()
    remember(settings, rec, "deploy")
    (rec.onnx_dir / "genai_config.json").unlink()
    back, _ = restore(settings, str(rec.model_dir))
    assert back.onnx_dir is None and "convert" not in back.steps and "deploy" not in back.steps
    # The saved record itself is not changed by restoring it.
    assert "convert" in settings.projects[str(rec.model_dir)].steps


@pytest.mark.parametrize("text, word", [
    ('schema = 2\n[projects."/m"]\ndone = 5\nsteps = 3\n', "steps"),
    ('schema = 2\nrecent = "not a list"\n', "recent"),
    ('schema = 2\n[projects."/m".steps.convert]\nstep = "convert"\nstatus = "great"\n', "status"),
    ('schema = 2\n[projects."/m".steps.chat]\nstep = "convert"\nstatus = "ok"\n', "chat"),
    ('recent = []\n[projects."/m"]\ndone = ["convert"]\n', "schema"),  # the first version's file
    ('schema = 3\n', "schema"),
    ("this is = = not toml", "could not be used"),
])
def test_unusable_settings_are_moved_aside(tmp_path: Path, text: str, word: str) -> None:
    path = settings_path(tmp_path)
    path.write_text(text)
    settings, notice = load_settings(tmp_path)
    assert settings.projects == {} and notice is not None
    assert word in notice and "moved to" in notice
    assert not path.exists()
    aside = list(tmp_path.glob("settings.toml.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == text  # nothing the user had is lost


def test_step_record_rejects_wrong_types() -> None:
    with pytest.raises(RecordError, match="files"):
        StepRecord.from_dict({"step": "convert", "status": "ok", "files": ["a"]}, "x")
    with pytest.raises(RecordError, match="command"):
        StepRecord.from_dict({"step": "convert", "status": "ok", "command": [1]}, "x")
    with pytest.raises(RecordError, match="is_demo"):
        RunRecord.from_dict({"is_demo": "yes"})


def test_one_status_vocabulary() -> None:
    assert Status.parse("pass") is Status.OK and Status.parse("skipped") is Status.SKIP
    assert Status.parse("failed") is Status.FAIL
    with pytest.raises(ValueError, match="unknown status"):
        Status.parse("great")
    checks = [CheckResult("a", "A", "ok"), CheckResult("b", "B", Status.WARN)]
    assert overall(checks) is Status.WARN
    assert overall([*checks, CheckResult("c", "C", "fail", essential=True)]) is Status.FAIL
    assert CheckResult("c", "C", "fail", essential=True).blocks
    assert overall([]) is Status.SKIP


async def test_wizard_starts_after_a_wrong_typed_settings_file(tmp_path: Path) -> None:
    """A settings file that parses but holds a wrong type never crashes the wizard."""
    settings_path(tmp_path).write_text(f'schema = {SCHEMA}\nrecent = ["/m"]\n'
                                       '[projects."/m"]\nsteps = 5\n')
    app = WizardApp(config_dir=tmp_path)
    async with app.run_test(size=(100, 36)) as pilot:
        await pilot.pause()
        assert app.is_running
        assert type(app.screen).__name__ == "WelcomeScreen"
        shown = [n.message for n in app._notifications]
        assert any("moved to" in m for m in shown)
    assert list(tmp_path.glob("settings.toml.corrupt-*"))
