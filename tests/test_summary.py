"""The summary: files, figures, and commands that reproduce the run."""

from __future__ import annotations

import shlex
from pathlib import Path

from slm_wizard.cli.main import build_parser
from slm_wizard.core.state import WizardState
from slm_wizard.core.summary import as_shell, files_written, reproduce_commands
from slm_wizard.tui.app import WizardApp


def _state(tmp_path: Path) -> WizardState:
    model = tmp_path / "hf"
    onnx = tmp_path / "onnx"
    cache = tmp_path / "cache"
    for d in (model, onnx, cache / "custom" / "lumo"):
        d.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (onnx / "genai_config.json").write_text("{}")
    (onnx / "model.onnx").write_bytes(b"x" * 2048)
    (cache / "custom" / "lumo" / "inference_model.json").write_text("{}")
    state = WizardState(model_dir=model, onnx_dir=onnx, precision="int4",
                        deployed_name="lumo:1", foundry_cache=cache)
    state.options["convert"] = {"precision": "int4", "method": "config", "block_size": 128,
                                "symmetric": False}
    state.mark_done("convert", "int4, 1.2 MB, verified")
    state.figures["decode tokens/s"] = "410.2"
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
    assert shlex.split(text.splitlines()[0].rstrip(" &")) == ["slm-wizard", "check"]


def test_files_written_lists_existing_outputs(tmp_path: Path) -> None:
    state = _state(tmp_path)
    items = {i.label: i for i in files_written(state)}
    assert items["Converted ONNX model"].size_bytes >= 2048
    assert items["inference_model.json"].path.name == "inference_model.json"
    state.onnx_dir = tmp_path / "gone"
    assert "Converted ONNX model" not in {i.label for i in files_written(state)}


async def test_summary_screen_shows_the_run(tmp_path: Path) -> None:
    state = _state(tmp_path)
    app = WizardApp(state=state, start="summary", config_dir=tmp_path / "cfg")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        text = app.screen.query_one("#commands").text
        assert "slm-wizard convert" in text and "--block-size 128" in text
        files = app.screen.query_one("#files")
        assert files.row_count == 4
        figures = app.screen.query_one("#figures")
        assert figures.get_row_at(0) == ["decode tokens/s", "410.2"]
