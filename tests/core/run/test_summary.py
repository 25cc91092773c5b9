"""The summary: files, figures, and commands that reproduce the run."""

from __future__ import annotations

import shlex
from pathlib import Path

from slm_wizard.cli.main import build_parser
from slm_wizard.core.base.status import Status
from slm_wizard.core.run.record import RunRecord, StepRecord
from slm_wizard.core.run.summary import as_shell, files_written, reproduce_commands
from tests.helpers import converted_record


def _state(tmp_path: Path) -> RunRecord:
    model = tmp_path / "hf"
    onnx = tmp_path / "onnx"
    cache = tmp_path / "cache"
    for d in (model, onnx, cache / "custom" / "lumo"):
        d.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (onnx / "genai_config.json").write_text("{}")
    (onnx / "model.onnx").write_bytes(b"x" * 2048)
    (cache / "custom" / "lumo" / "inference_model.json").write_text("{}")
    state = converted_record(model, onnx, "int4", method="config", block_size=128,
                             symmetric=False, deployed="lumo", foundry_cache=cache)
    state.record(StepRecord("chat", Status.OK, "1 reply (onnxruntime-genai)",
                            figures={"decode tokens/s": "410.2"}))
    state.record(StepRecord("validate", Status.FAIL, "checklist: 1 failed",
                            command=["slm-wizard", "validate", str(onnx)]))
    return state


def test_commands_reproduce_the_options(tmp_path: Path) -> None:
    state = _state(tmp_path)
    cmds = reproduce_commands(state)
    convert = next(c for c in cmds if c[1] == "convert")
    assert convert[2:] == [str(state.model_dir), "--output", str(state.onnx_dir), "--precision",
                           "int4", "--method", "config", "--block-size", "128", "--asymmetric"]
    deploy = next(c for c in cmds if c[1] == "deploy")
    assert deploy[deploy.index("--name") + 1] == "lumo"
    assert deploy[deploy.index("--cache-dir") + 1] == str(state.foundry_cache)
    # Every slm-wizard command is one the CLI really has, and its options parse.
    parser = build_parser()
    for cmd in cmds:
        if cmd[0] == "slm-wizard":
            args = parser.parse_args(cmd[1:])
            assert args.command == cmd[1]
    text = as_shell(cmds)
    assert shlex.split(text.splitlines()[0].rstrip(" &")) == convert
    # Only finished steps are reproduced: the failed validation is not offered as a recipe.
    assert not any(c[1] == "validate" for c in cmds)
    # A step without a command (this chat record) adds nothing.
    assert len(cmds) == 2


def test_files_written_lists_existing_outputs(tmp_path: Path) -> None:
    state = _state(tmp_path)
    items = {i.label: i for i in files_written(state)}
    assert items["Converted ONNX model"].size_bytes >= 2048
    deployed = items["Deployed model (in the Foundry Local cache)"]
    assert deployed.path == tmp_path / "cache" / "custom" / "lumo"
    (state.onnx_dir / "model.onnx").unlink()
    (state.onnx_dir / "genai_config.json").unlink()
    state.onnx_dir.rmdir()
    assert "Converted ONNX model" not in {i.label for i in files_written(state)}


def test_files_written_leaves_out_what_was_only_read(tmp_path: Path) -> None:
    state = _state(tmp_path)
    state.record(StepRecord("model", Status.OK, "inspected",
                            files={"model": str(state.model_dir)}))
    items = files_written(state)
    assert state.model_dir not in {i.path for i in items}  # the user's own model folder
    assert tmp_path / "cache" not in {i.path for i in items}  # Foundry Local's cache
    assert [i.label for i in items] == ["Converted ONNX model",
                                       "Deployed model (in the Foundry Local cache)"]
    # The demo model is one this tool built: written.
    demo = RunRecord(model_dir=state.model_dir, is_demo=True)
    demo.record(StepRecord("welcome", Status.OK, "demo built",
                           files={"model": str(state.model_dir)}))
    assert [(i.label, i.path) for i in files_written(demo)] == [("Demo model", state.model_dir)]


async def test_summary_screen_shows_the_run(wizard, tmp_path: Path) -> None:
    state = _state(tmp_path)
    app = wizard("summary", state)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        text = app.screen.query_one("#commands").text
        assert "slm-wizard convert" in text and "--block-size 128" in text
        files = app.screen.query_one("#files")
        assert files.row_count == 2  # the ONNX model, the deployment (not the inputs)
        figures = app.screen.query_one("#figures")
        measured = [figures.get_row_at(i) for i in range(figures.row_count)]
        assert ["chat", "decode tokens/s", "410.2"] in measured
        assert [r[0] for r in measured][0] == "convert"  # in run order: convert, deploy, chat
        steps = app.screen.query_one("#steps")
        rows = {steps.get_row_at(i)[0]: steps.get_row_at(i)[1] for i in range(steps.row_count)}
        assert rows["Convert"].plain == "✓ ok" and rows["Validate"].plain == "✗ fail"
        assert rows["Prerequisites"].plain == "– not run"
