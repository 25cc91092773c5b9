"""The run record and the settings file it is saved in: round trip, schema, wrong types."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from slm_wizard.core.base.status import CheckResult, Status
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
from tests.helpers import converted_record, record_deployment


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
    assert CheckResult("c", "C", "fail", essential=True).blocks
    assert not CheckResult("b", "B", Status.WARN, essential=True).blocks


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


def _folder(path: Path) -> Path:
    """A converted model folder (what drop_vanished and the keep rule look for)."""
    path.mkdir(parents=True)
    (path / "genai_config.json").write_text("{}")
    return path


def _variant(record: RunRecord, folder: Path, precision: str = "int8") -> StepRecord:
    """Make a sweep variant the current model, by the sweep step's own record of it."""
    from slm_wizard.core.evaluate.sweep import SweepResult, VariantResult
    from slm_wizard.core.steps.sweep import variant_to_record

    sweep = SweepResult(str(record.model_dir), [VariantResult(
        precision, precision.upper(), precision, output_dir=str(folder), ok=True)])
    return record.record(variant_to_record(sweep, precision))


def test_the_artefacts_are_read_from_the_step_records(tmp_path: Path) -> None:
    rec = converted_record(tmp_path / "hf", _folder(tmp_path / "onnx"), "int4")
    assert (rec.onnx_dir, rec.precision) == (tmp_path / "onnx", "int4")
    assert rec.deployed_name is None and rec.foundry_cache is None
    record_deployment(rec, "lumo", "3", tmp_path / "cache")
    assert (rec.deployed_name, rec.deployed_version, rec.deployed_id) == ("lumo", "3", "lumo:3")
    assert rec.foundry_cache == tmp_path / "cache"
    with pytest.raises(AttributeError):  # nothing writes them beside the records
        rec.onnx_dir = tmp_path  # type: ignore[misc]
    assert set(rec.to_dict()) == {"model_dir", "is_demo", "last_step", "updated", "steps"}


def test_a_failed_rerun_keeps_the_earlier_conversion_with_a_note(tmp_path: Path) -> None:
    from slm_wizard.core.convert.run import ConvertResult
    from slm_wizard.core.steps import convert

    rec = converted_record(tmp_path / "hf", _folder(tmp_path / "onnx"), "int4")
    record_deployment(rec, "lumo", "1", tmp_path / "cache")
    opts = convert.Options(tmp_path / "hf", output_dir=tmp_path / "other", precision="int8")
    failed = convert.to_record(opts, convert.result_of(ConvertResult(False, None, None, "boom")))
    kept = rec.record(failed)
    assert kept is rec.get("convert") and kept.done and kept is not failed
    assert (rec.onnx_dir, rec.precision) == (tmp_path / "onnx", "int4")
    assert rec.deployed_name == "lumo"  # nothing was outdated
    assert kept.notes[-1].startswith("a later run") and "boom" in kept.notes[-1]
    rec.record(failed)  # a second failure replaces the note, it does not pile up
    assert sum(n.startswith("a later run") for n in kept.notes) == 1
    # Once the earlier output is gone, the failure is what holds.
    (tmp_path / "onnx" / "genai_config.json").unlink()
    assert rec.record(failed) is failed and rec.onnx_dir is None
    # ...but it made nothing: the deployment made from the earlier model is still in Foundry
    # Local, and stays recorded (issue 25: Deploy, Chat and Validate were reset).
    assert rec.deployed_name == "lumo"
    # A conversion that succeeds replaces the model: what was made from the old one goes.
    done = convert.to_record(opts, convert.result_of(ConvertResult(True, _folder(
        tmp_path / "other"), None)))
    assert rec.record(done) is done and "deploy" not in rec.steps


def test_a_failed_deployment_replaces_the_earlier_one(tmp_path: Path) -> None:
    rec = converted_record(tmp_path / "hf", _folder(tmp_path / "onnx"))
    record_deployment(rec, "lumo", "1", tmp_path / "cache")
    rec.record(StepRecord("deploy", Status.FAIL, "not deployed: load failed"))
    assert rec.deployed_name is None and not rec.is_done("deploy")


def test_records_keep_run_order_and_so_do_the_commands(tmp_path: Path) -> None:
    rec = converted_record(tmp_path / "hf", _folder(tmp_path / "onnx"))
    rec.record(StepRecord("prereqs", Status.OK, "ok", command=["slm-wizard", "check"]))
    assert list(rec.steps) == ["convert", "prereqs"]  # a re-run moves to the end
    assert [c[1] for c in reproduce_commands(rec)] == ["convert", "check"]


def test_a_chosen_variant_outdates_what_described_the_old_model(tmp_path: Path) -> None:
    rec = converted_record(tmp_path / "hf", _folder(tmp_path / "onnx"), "int4")
    rec.record(StepRecord("chat", Status.OK, "1 reply"))
    rec.record(StepRecord("validate", Status.OK, "checklist passed",
                          options={"phases": ["checklist"]}))
    record_deployment(rec, "lumo", "1", tmp_path / "cache")
    variant = _variant(rec, _folder(tmp_path / "sweep" / "hash" / "int8-k"))
    assert list(rec.steps) == ["convert", "variant"]
    assert (rec.onnx_dir, rec.precision) == (tmp_path / "sweep" / "hash" / "int8-k", "int8")
    # Its command rebuilds that very folder: the sweep of this one variant into the same root.
    assert variant.command[:2] == ["slm-wizard", "sweep"]
    assert variant.command[variant.command.index("--variants") + 1] == "int8"
    assert variant.command[variant.command.index("--output") + 1] == str(tmp_path / "sweep")
    # A validate record of the sweep alone measured the variants, not the old model: it stays.
    rec.record(StepRecord("validate", Status.OK, "sweep", options={"phases": ["sweep"]}))
    _variant(rec, tmp_path / "sweep" / "hash" / "int8-k")
    assert list(rec.steps) == ["convert", "validate", "variant"]
    # Converting again makes Convert's folder current and outdates the variant.
    rec.record(rec.get("convert"))
    assert "variant" not in rec.steps and rec.onnx_dir == tmp_path / "onnx"


def test_a_vanished_variant_folder_gives_the_converted_one_back(tmp_path: Path) -> None:
    rec = converted_record(tmp_path / "hf", _folder(tmp_path / "onnx"), "int4")
    variant = _folder(tmp_path / "sweep" / "h" / "int8-k")
    _variant(rec, variant)
    record_deployment(rec, "lumo", "1", tmp_path / "cache")
    (variant / "genai_config.json").unlink()
    gone = rec.drop_vanished()
    assert gone == [f"the converted model {variant} no longer exists"]
    assert list(rec.steps) == ["convert"] and rec.onnx_dir == tmp_path / "onnx"


def test_settings_saved_with_top_level_artefacts_are_upgraded(tmp_path: Path) -> None:
    """Settings written before the record read its artefacts from the steps: onnx_dir,
    precision, deployed_name = "name:version" and foundry_cache at the top level."""
    onnx = _folder(tmp_path / "onnx")
    settings_path(tmp_path).write_text(
        f'schema = {SCHEMA}\nrecent = ["/m"]\n[projects."/m"]\nmodel_dir = "/m"\n'
        f'onnx_dir = "{onnx}"\nprecision = "int8"\ndeployed_name = "lumo:4"\n'
        f'foundry_cache = "{tmp_path / "cache"}"\nlast_step = "deploy"\n'
        '[projects."/m".steps.convert]\nstep = "convert"\nstatus = "ok"\n'
        '[projects."/m".steps.deploy]\nstep = "deploy"\nstatus = "ok"\n')
    settings, notice = load_settings(tmp_path)
    assert notice is None
    back, last = restore(settings, "/m")
    assert (back.onnx_dir, back.precision) == (onnx, "int8") and last == "deploy"
    assert (back.deployed_name, back.deployed_version) == ("lumo", "4")
    assert back.foundry_cache == tmp_path / "cache"
    # Values no record stands behind are dropped: the step records are the source.
    old = RunRecord.from_dict({"onnx_dir": str(onnx), "deployed_name": "x:1"})
    assert old.onnx_dir is None and old.deployed_name is None
