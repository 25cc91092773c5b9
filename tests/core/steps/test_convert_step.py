"""The Convert step runner (core/steps/convert.py) and the one subprocess runner
(core/base/proc.py), without running Olive."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from slm_wizard.cli.commands.convert import options_from_args
from slm_wizard.cli.main import build_parser
from slm_wizard.core.base.proc import stream_command
from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.core.convert.options import choose_method, default_output_dir
from slm_wizard.core.convert.run import ConvertResult
from slm_wizard.core.convert.verify import Verification, verify_output
from slm_wizard.core.run.record import RunRecord, reproduce_commands
from slm_wizard.core.steps import convert as step


def _parsed(argv: list[str]) -> step.Options:
    assert argv[:2] == ["slm-wizard", "convert"]
    return options_from_args(build_parser().parse_args(argv[1:]))


@pytest.mark.parametrize("options", [
    step.Options(Path("/models/m")),
    step.Options(Path("/models/m"), Path("/out/m-int8"), precision="int8", method="config",
                 block_size=128, symmetric=False, accuracy_level=4, replace=True),
    step.Options(Path("rel/m"), Path("out dir/x"), precision="fp32", method="auto-opt",
                 log_level=3, verify=False),
    step.Options(Path("/m"), precision="int4", block_size=64, accuracy_level=1),
])
def test_argv_parsed_by_the_cli_gives_the_same_options(options: step.Options) -> None:
    argv = options.argv()
    assert _parsed(argv) == options
    assert _parsed(argv).argv() == argv


def test_argv_names_every_option_that_decides_the_run() -> None:
    opts = step.Options(Path("/m"), Path("/o"), precision="int8", method="config",
                        block_size=64, symmetric=False, accuracy_level=2, replace=True)
    assert opts.argv() == ["slm-wizard", "convert", "/m", "--output", "/o", "--precision",
                           "int8", "--method", "config", "--block-size", "64", "--asymmetric",
                           "--accuracy-level", "2", "--replace"]


def test_defaults_and_the_method_choice_live_in_core() -> None:
    parsed = _parsed(["slm-wizard", "convert", "/m"])
    assert parsed == step.Options(Path("/m"))
    assert parsed.precision == "int4" and parsed.block_size == 32 and parsed.symmetric
    assert parsed.chosen_method == "auto-opt"
    assert parsed.chosen_output == default_output_dir(Path("/m"), "int4")
    assert step.Options(Path("/m"), block_size=128).chosen_method == "config"
    assert step.Options(Path("/m"), precision="int8").chosen_method == "config"
    assert choose_method("int4", 32, True, 4) == "auto-opt"
    assert choose_method("int4", 32, False) == "config"
    resolved = step.Options(Path("/m"), Path("/o"), precision="int8").resolved()
    assert (resolved.method, resolved.output_dir, resolved.precision) == (
        "config", Path("/o"), "int8")


def test_refused_input_raises_a_value_error(demo_model: Path, tmp_path: Path) -> None:
    with pytest.raises(step.ConvertRefused, match="does not exist") as info:
        step.run(step.Options(tmp_path / "missing", tmp_path / "o"))
    assert isinstance(info.value, ValueError)
    with pytest.raises(step.ConvertRefused, match="needs a GPU execution provider") as info:
        step.run(step.Options(demo_model, tmp_path / "o", precision="fp16"))
    assert any(i.field == "precision" for i in info.value.issues)
    assert not (tmp_path / "o").exists()


def test_the_plan_holds_the_decisions_the_fronts_render(demo_model: Path, tmp_path: Path) -> None:
    """Method and why, the issues a form shows, estimates, resources, preview, config."""
    auto = step.plan(step.Options(demo_model, tmp_path / "o"))
    assert auto.method == "auto-opt" and auto.method_reason.startswith("auto-opt: one command")
    assert auto.steps == [auto.command] and auto.command.startswith("olive auto-opt")
    assert auto.config is None and auto.preview_text == auto.command
    assert [r[0] for r in auto.estimate_rows()] == list(step.PRECISIONS)
    assert [r[5] for r in auto.estimate_rows()].count("◀ chosen") == 1
    assert "makes a model of about" in auto.needs() and " free)" not in auto.needs()
    assert " free)" in auto.needs(with_free=True)
    int8 = step.plan(step.Options(demo_model, tmp_path / "o", precision="int8"))
    assert int8.method == "config" and "cannot build int8" in int8.method_reason
    assert int8.config is not None and int8.preview_text.startswith("{")
    assert int8.preview_head == f"Preview: {int8.command}, with this file:"
    chosen = step.plan(step.Options(demo_model, tmp_path / "o", precision="int8",
                                    method="auto-opt"))
    assert "your choice" in chosen.method_reason
    assert any("cannot make int8" in i.message for i in chosen.errors)
    fp16 = step.plan(step.Options(demo_model, tmp_path / "o", precision="fp16"))
    assert fp16.resources is None and fp16.needs() == "" and fp16.errors
    # A non-empty folder of ours: the form's note, not a warning among the issues.
    out = tmp_path / "ours"
    out.mkdir()
    (out / "x").write_text("x")
    from slm_wizard.core.base.owned import write_marker

    write_marker(out, "convert")
    replacing = step.plan(step.Options(demo_model, out, replace=True))
    assert replacing.replacing and "is not empty" in replacing.replace_note
    assert any(i.field == "output_dir" for i in replacing.issues)
    assert not any(i.field == "output_dir" for i in replacing.shown_issues)
    assert not auto.replacing and auto.replace_note == ""


def test_the_cli_inspects_once_and_runs_the_plan_it_checked(
        demo_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from slm_wizard.cli.main import main
    from slm_wizard.core.convert import run as olive_run
    from slm_wizard.core.convert import validation
    from slm_wizard.core.model import model_info
    from tests.helpers import spy_everywhere

    inspections = spy_everywhere(monkeypatch, model_info, "inspect_model")
    checks = spy_everywhere(monkeypatch, validation, "validate_options")
    monkeypatch.setattr(olive_run, "_run_olive", lambda *a: (1, ""))
    assert main(["convert", str(demo_model), "-o", str(tmp_path / "o")]) == 1
    assert "produced no model" in capsys.readouterr().out
    assert (len(inspections), len(checks)) == (1, 1)
    assert main(["convert", str(demo_model), "-o", str(tmp_path / "o"), "--precision", "int8",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (len(inspections), len(checks)) == (2, 2)
    assert out.startswith("olive run --config") and '"bits": 8' in out
    assert "method: config (switched from auto-opt): olive auto-opt cannot build int8" in out
    assert "This conversion makes a model of about" in out


def test_the_step_strips_olives_log_prefix(demo_model: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.base.status import Progress

    def olive(opts, on_event, cancel, **_kw):
        on_event(Progress("log", text="[2026-01-01 10:00:00,123] [WARNING] [engine.py:9:run] "
                                      "Running pass model_builder", fraction=0.3, log=True))
        on_event(Progress("stage", text="Reading layer 1", fraction=0.5))
        return ConvertResult(False, None, None, "Olive exited with code 1")

    monkeypatch.setattr(step, "run_conversion", olive)
    seen: list = []
    result = step.run(step.Options(demo_model, tmp_path / "o"), on_progress=seen.append)
    assert not result.ok
    assert [(e.text, e.log) for e in seen] == [("WARNING Running pass model_builder", True),
                                               ("Reading layer 1", False)]


def test_result_and_record_of_a_verified_conversion(tmp_path: Path) -> None:
    opts = step.Options(Path("/m"), tmp_path / "out", precision="int4", method="auto-opt",
                        replace=True)
    checks = [CheckResult("files", "Files", Status.OK, found="present"),
              CheckResult("graph", "Graph quantization", Status.OK, found="4-bit")]
    v = Verification(tmp_path / "out", checks=checks, size_bytes=3 * 1024 * 1024,
                     estimate_bytes=3 * 1024 * 1024)
    conv = ConvertResult(True, tmp_path / "out", tmp_path / "c.log", verification=v,
                         elapsed_s=12.34, command="olive auto-opt ...")
    result = step.result_of(conv)
    assert result.status == Status.OK and result.ok and result.checks == checks
    assert result.files == {step.FILE_ONNX: str(tmp_path / "out"),
                            step.FILE_LOG: str(tmp_path / "c.log")}
    assert result.figures["conversion time"] == "12.3 s"
    assert result.figures["ONNX size"] == "3.0 MB"
    data = result.to_dict()
    assert data["status"] == "ok" and data["verification"]["checks"][0]["status"] == "ok"
    rec = step.to_record(opts, result)
    assert rec.step == "convert" and rec.status == Status.OK and rec.done
    assert rec.command == opts.argv()
    assert rec.options["precision"] == "int4" and rec.options["model_dir"] == "/m"
    state = RunRecord(model_dir=Path("/m"))
    state.record(rec)
    assert reproduce_commands(state) == [opts.argv()]
    assert "convert" in state.done


def test_failed_and_cancelled_results() -> None:
    failed = step.result_of(ConvertResult(False, None, None, "Olive exited with code 1"))
    assert failed.status == Status.FAIL and failed.error.startswith("Olive exited")
    cancelled = step.result_of(ConvertResult(False, None, None, "Cancelled", cancelled=True))
    assert cancelled.status == Status.SKIP and cancelled.cancelled
    rec = step.to_record(step.Options(Path("/m")), failed)
    assert not rec.done and rec.outcome.startswith("failed:")


def test_verification_of_an_incomplete_folder_uses_check_results(tmp_path: Path) -> None:
    opts = step.Options(Path("/m"), tmp_path, precision="int4").resolved()
    v = verify_output(tmp_path, opts, estimate_bytes=1000)
    assert not v.ok and v.estimate_bytes == 1000
    assert [c.id for c in v.checks] == ["files"]
    files = v.checks[0]
    assert isinstance(files, CheckResult) and files.status == Status.FAIL and files.essential
    assert "missing: genai_config.json" in files.found and files.fix
    assert v.failures()[0].startswith("files: missing")


# ------------------------------------------------------------------ the subprocess runner

def _python(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


def test_stream_splits_progress_bars_only_when_asked() -> None:
    code = "import sys; sys.stdout.write('a 10%\\ra 50%\\ra 100%\\nnext\\n')"
    seen: list[str] = []
    assert stream_command(_python(code), seen.append, split_cr=True).ok
    assert seen == ["a 10%", "a 50%", "a 100%", "next"]
    seen.clear()
    assert stream_command(_python(code), seen.append).ok
    assert seen == ["a 100%", "next"]


def test_stream_cuts_a_program_short_after_its_last_useful_line() -> None:
    code = "import time; print('Model is saved at /x', flush=True); time.sleep(30)"
    t0 = time.monotonic()
    res = stream_command(_python(code), lambda line: None,
                         finished=lambda line: line.startswith("Model is saved"),
                         finish_grace=0.3)
    assert time.monotonic() - t0 < 10
    assert res.cut_short and res.ok and res.returncode == 0 and res.pid
    assert "Model is saved at /x" in res.stdout


def test_stream_cancel_kills_a_program_that_ignores_ctrl_c_after_the_grace() -> None:
    code = ("import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
    cancel = threading.Event()

    def on_line(line: str) -> None:
        if line == "ready":
            cancel.set()

    t0 = time.monotonic()
    res = stream_command(_python(code), on_line, cancel=cancel, grace=0.5)
    took = time.monotonic() - t0
    assert res.cancelled and not res.ok and res.returncode is None
    assert took < 5, took


def test_stream_timeout_and_a_missing_program() -> None:
    res = stream_command(_python("import time; time.sleep(30)"), lambda line: None,
                         timeout=0.5, grace=0.5)
    assert res.timed_out and "stopped after 0.5 s" in res.error
    missing = stream_command(["/no/such/program-xyz"], lambda line: None)
    assert not missing.ok and "was not found" in missing.error


def test_a_model_folder_that_vanished_after_the_plan_is_named(tmp_path) -> None:
    """Deleted between the plan (the screen's, the dry run's) and the run: a clear message with
    the path, not Olive's traceback frame about a repo id; nothing is left behind."""
    import shutil

    from slm_wizard.core.steps import convert as step
    from tests.helpers.folders import make_model

    model = make_model(tmp_path / "m")
    options = step.Options(model, tmp_path / "out")
    plan = step.plan(options)
    shutil.rmtree(model)
    result = step.run(options, plan=plan)
    assert not result.ok
    assert f"{model.resolve()} is gone" in result.error and 'File "' not in result.error
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_output_parent_that_vanished_during_the_run_is_named(tmp_path, monkeypatch) -> None:
    import shutil

    from slm_wizard.core.convert import run as convert_run
    from slm_wizard.core.steps import convert as step
    from tests.helpers.folders import make_model

    parent = tmp_path / "outputs"
    parent.mkdir()

    def olive(argv, work, log, parser, emit, cancel, timeout_s):
        shutil.rmtree(parent)  # removed by someone else while Olive runs
        return 0, "finished"

    monkeypatch.setattr(convert_run, "_run_olive", olive)
    options = step.Options(make_model(tmp_path / "m"), parent / "out")
    result = step.run(options)
    assert not result.ok
    assert f"parent {parent.resolve()}" in result.error and "disappeared" in result.error
