"""Training output folders (a Hugging Face Trainer's checkpoint-<step>/ model folders): recognised
by inspect, convert and the screens, the checkpoint to use named, outputs named after the run
(issue 25, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_wizard.cli.main import main
from slm_wizard.core.convert.options import default_output_dir
from slm_wizard.core.model.checkpoints import find_training_run, output_name, run_of_checkpoint
from slm_wizard.core.model.model_info import (
    ModelFolderError,
    TrainingOutputFolder,
    check_model_folder,
)
from slm_wizard.core.steps import inspect as inspect_step
from slm_wizard.core.steps.deploy import suggest_name
from tests.helpers.folders import make_model


def _run(root: Path, steps=(500, 1000, 90), best: str | None = None) -> Path:
    run = root / "lumo-sft"
    for step in steps:
        make_model(run / f"checkpoint-{step}")
        (run / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(
            {"global_step": step, "best_model_checkpoint": best}))
    (run / "checkpoint-7-tmp").mkdir()  # not a checkpoint name
    (run / "checkpoint-2000").mkdir()  # no model in it (an interrupted save)
    (run / "runs").mkdir()
    (run / "training_args.bin").write_bytes(b"x")
    return run


def test_the_latest_checkpoint_by_step_number(tmp_path: Path) -> None:
    run = find_training_run(_run(tmp_path))
    assert run is not None and run.name == "lumo-sft"
    assert [c.name for c in run.checkpoints] == ["checkpoint-90", "checkpoint-500",
                                                 "checkpoint-1000"]  # numeric, not text order
    assert run.chosen.name == "checkpoint-1000" and run.reason == "the latest, step 1000"
    assert [c.name for c in run.others] == ["checkpoint-90", "checkpoint-500"]


def test_the_best_checkpoint_when_trainer_state_names_it(tmp_path: Path) -> None:
    run = find_training_run(_run(tmp_path, best="outputs/lumo-sft/checkpoint-500"))
    assert run is not None and run.chosen.name == "checkpoint-500"
    assert "best_model_checkpoint" in run.reason
    # A best checkpoint that is no longer there: the latest.
    run = find_training_run(_run(tmp_path / "b", best="x/checkpoint-3"))
    assert run is not None and run.chosen.name == "checkpoint-1000"


def test_a_run_folder_is_refused_with_the_checkpoint_to_use(tmp_path: Path, capsys) -> None:
    folder = _run(tmp_path)
    with pytest.raises(TrainingOutputFolder) as err:
        check_model_folder(folder)
    message = str(err.value)
    assert "training output folder" in message and str(folder / "checkpoint-1000") in message
    assert "checkpoint-500" in message and "checkpoint-90" in message
    assert isinstance(err.value, ModelFolderError)
    # Headless: inspect and convert name the path to use (refused input, exit 2).
    for argv in (["inspect", str(folder)], ["convert", str(folder), "--dry-run"]):
        assert main(argv) == 2
        assert str(folder / "checkpoint-1000") in capsys.readouterr().err
    # Not a run: the plain message.
    with pytest.raises(ModelFolderError) as err:
        check_model_folder(folder / "runs")
    assert not isinstance(err.value, TrainingOutputFolder)


def test_outputs_are_named_after_the_run_folder(tmp_path: Path) -> None:
    folder = _run(tmp_path)
    latest, older = folder / "checkpoint-1000", folder / "checkpoint-500"
    assert run_of_checkpoint(latest) is not None and run_of_checkpoint(folder) is None
    for checkpoint in (latest, older):  # also the checkpoint folder given itself
        assert output_name(checkpoint) == "lumo-sft"
        assert default_output_dir(checkpoint, "int8").name == "lumo-sft-int8"
        assert suggest_name(tmp_path / "onnx", checkpoint) == "lumo-sft"
    assert default_output_dir(make_model(tmp_path / "mine"), "int4").name == "mine-int4"


def test_inspecting_a_checkpoint_names_its_run_and_the_others(tmp_path: Path) -> None:
    folder = _run(tmp_path)
    facts = dict(inspect_step.model_facts(inspect_step.run(
        inspect_step.Options(folder / "checkpoint-1000")).info))
    assert "checkpoint-1000 (the latest, step 1000)" in facts["Training run"]
    assert "checkpoint-500" in facts["Training run"] and "lumo-sft-" in facts["Training run"]
    facts = dict(inspect_step.model_facts(inspect_step.run(
        inspect_step.Options(folder / "checkpoint-500")).info))
    assert facts["Training run"].split(" · ")[1].startswith("checkpoint checkpoint-500; the "
                                                            "wizard would offer checkpoint-1000")
    plain = dict(inspect_step.model_facts(inspect_step.run(
        inspect_step.Options(make_model(tmp_path / "mine"))).info))
    assert "Training run" not in plain


async def test_welcome_offers_the_checkpoint_of_a_run_folder(wizard, tmp_path: Path) -> None:
    from textual.widgets import Input, Static

    folder = _run(tmp_path)
    async with wizard.run("welcome", size=(100, 32)) as pilot:
        screen = pilot.app.screen
        screen.query_one("#model-path", Input).value = str(folder)
        screen.open_folder(str(folder))
        await pilot.pause()
        assert screen.query_one("#model-path", Input).value == str(folder / "checkpoint-1000")
        assert "press Enter to open it" in str(screen.query_one("#path-error", Static).content)
        assert pilot.app.state.model_dir is None  # nothing opened yet: offered
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.state.model_dir == (folder / "checkpoint-1000").resolve()


async def test_model_screen_offers_the_checkpoint_of_a_run_folder(wizard, tmp_path: Path) -> None:
    from textual.widgets import Input, Static

    folder = _run(tmp_path, best="out/checkpoint-500")
    async with wizard.run("model", size=(100, 32)) as pilot:
        screen = pilot.app.screen
        screen.query_one("#model-path", Input).value = str(folder)
        screen.inspect_pressed()
        await pilot.pause()
        assert screen.query_one("#model-path", Input).value == str(folder / "checkpoint-500")
        said = str(screen.query_one("#model-error", Static).content)
        assert "best_model_checkpoint" in said and "checkpoint-1000" in said
