"""Snapshots of the wizard's frame screens (welcome, help, summary) at a fixed terminal size."""

from __future__ import annotations

from pathlib import Path

import pytest

from slm_wizard.core.base.status import Status
from slm_wizard.core.run.record import RunRecord, StepRecord
from slm_wizard.tui.app import WizardApp
from tests.helpers import converted_record

SIZE = (100, 32)


def test_welcome_snapshot(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(WizardApp(config_dir=tmp_path), terminal_size=SIZE)


def test_help_snapshot(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(WizardApp(config_dir=tmp_path), terminal_size=SIZE, press=["f1"])


def _fixed_script_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reproduce script's path (in the test's temporary data folder) shown as a fixed one."""
    from slm_wizard.tui.screens import summary

    monkeypatch.setattr(summary, "write_reproduce", lambda record: [
        Path("/home/me/.local/share/slm-wizard/reports/lumo-hf/reproduce.sh")]
        if summary.reproduce_commands(record) else [])


def test_summary_snapshot(wizard, snap_compare, tmp_path: Path, monkeypatch) -> None:
    # Made-up step records (the Summary shows records, it reads no artefact from them).
    _fixed_script_path(monkeypatch)
    state = RunRecord(model_dir=Path("/models/lumo-hf"))
    convert = ["slm-wizard", "convert", "/models/lumo-hf", "--output", "/models/lumo-int4",
               "--precision", "int4", "--method", "auto-opt", "--block-size", "32", "--symmetric"]
    state.record(StepRecord("welcome", Status.OK, "model: /models/lumo-hf"))
    state.record(StepRecord("convert", Status.OK,
                            "int4 · 1.4 MB · verified (MatMulNBits 4-bit, block 32)",
                            options={"precision": "int4", "block_size": 32}, command=convert))
    state.record(StepRecord("chat", Status.OK, "1 reply with onnxruntime-genai",
                            figures={"decode tok/s (onnxruntime-genai)": "412.0"},
                            command=["slm-wizard", "chat", "/models/lumo-int4", "--prompt",
                                     "Who makes Lumo?"]))
    app = wizard("summary", state)
    assert snap_compare(app, terminal_size=(100, 44))


def test_model_step_snapshot(wizard, snap_compare, tmp_path: Path) -> None:
    """The Model step before a folder is chosen."""
    app = wizard("model")
    assert snap_compare(app, terminal_size=SIZE)


# -- issue 14: the smallest supported terminal (80x24) and a roomy one (110x36) ----------------

SIZES = [(80, 24), (110, 36)]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "110x36"])
def test_welcome_snapshot_sizes(snap_compare, tmp_path: Path, size) -> None:
    assert snap_compare(WizardApp(config_dir=tmp_path), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "110x36"])
def test_help_per_screen_snapshot_sizes(wizard, snap_compare, tmp_path: Path, size) -> None:
    app = wizard("model")
    assert snap_compare(app, terminal_size=size, press=["f1"])


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "110x36"])
def test_model_step_snapshot_sizes(wizard, snap_compare, tmp_path: Path, size) -> None:
    app = wizard("model")
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "110x36"])
def test_validate_snapshot_sizes(wizard, snap_compare, tmp_path: Path, size) -> None:
    state = converted_record(Path("/models/lumo-hf"), Path("/models/lumo-int4"), is_demo=True)
    app = wizard("validate", state)
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "110x36"])
def test_summary_snapshot_sizes(snap_compare, tmp_path: Path, size, monkeypatch) -> None:
    _fixed_script_path(monkeypatch)
    app = WizardApp(state=RunRecord(model_dir=Path("/models/lumo-hf")), start="summary",
                    config_dir=tmp_path)
    assert snap_compare(app, terminal_size=size)
