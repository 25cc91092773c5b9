"""core.convert, core.verify and `slm-wizard convert` with real Olive and onnxruntime-genai."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import slm_wizard.core.convert.run as convert
from slm_wizard.cli.main import main
from slm_wizard.core.convert.estimate import estimate, resources
from slm_wizard.core.convert.olive_config import (
    auto_opt_args,
    build_config,
    check_config_file,
    write_config,
)
from slm_wizard.core.convert.olive_log import ProgressParser
from slm_wizard.core.convert.options import ConvertOptions
from slm_wizard.core.convert.run import run_conversion
from slm_wizard.core.convert.validation import validate_options
from slm_wizard.core.convert.verify import verify_output
from slm_wizard.core.model.demo import load_domain_eval
from slm_wizard.core.model.model_info import inspect_model

pytestmark = pytest.mark.slow


def _matmulnbits(folder: Path) -> list[tuple[dict, list[str]]]:
    """(attributes, inputs) of every MatMulNBits node, read straight from the graph."""
    import onnx

    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    return [({a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}, list(n.input))
            for n in model.graph.node if n.op_type == "MatMulNBits"]


def _answer(folder: Path, row: dict) -> str:
    """Greedy answer of a converted model to one FAQ question (onnxruntime-genai)."""
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    tok = og.Tokenizer(model)
    messages = ([{"role": "system", "content": row["system"]}] if row.get("system") else []) + [
        {"role": "user", "content": row["prompt"]}]
    ids = tok.encode(tok.apply_chat_template(json.dumps(messages), add_generation_prompt=True))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + 96, do_sample=False)
    gen = og.Generator(model, params)
    gen.append_tokens(ids)
    out: list[int] = []
    while not gen.is_done():
        gen.generate_next_token()
        out.append(int(gen.get_next_tokens()[0]))
    return tok.decode(out).strip()


@pytest.fixture(scope="session")
def faq(demo_model: Path) -> list[dict]:
    return load_domain_eval(demo_model / "domain_eval.jsonl")[:3]


def _answers_well(folder: Path, faq: list[dict]) -> None:
    answers = [_answer(folder, row) for row in faq]
    exact = sum(a == row["expected"].strip() for a, row in zip(answers, faq, strict=True))
    assert exact >= 2, list(zip(answers, [r["expected"] for r in faq], strict=True))


@pytest.fixture(scope="session")
def block128(demo_model: Path, tmp_path_factory) -> tuple[ConvertOptions, convert.ConvertResult]:
    """int4 by config file, block 128, asymmetric, into a non-empty folder confirmed replaced
    (an earlier conversion's folder: it carries the tool's marker)."""
    from slm_wizard.core.base.owned import write_marker

    out = tmp_path_factory.mktemp("block128") / "int4-b128"
    out.mkdir()
    (out / "old-file.txt").write_text("from an earlier run")
    write_marker(out, "convert")
    opts = ConvertOptions(demo_model, out, precision="int4", method="config", block_size=128,
                          symmetric=False, replace=True)
    return opts, run_conversion(opts)


@pytest.fixture(scope="session")
def int8(demo_model: Path, tmp_path_factory) -> tuple[convert.ConvertResult, list]:
    events: list = []
    out = tmp_path_factory.mktemp("int8") / "int8"
    result = run_conversion(ConvertOptions(demo_model, out, precision="int8", method="config"),
                            events.append)
    return result, events


# ------------------------------------------------------------------ real conversions

def test_int4_auto_opt_is_block32_symmetric_and_answers(demo_onnx: Path, demo_model: Path,
                                                          faq) -> None:
    opts = ConvertOptions(demo_model, demo_onnx, precision="int4", method="auto-opt")
    v = verify_output(demo_onnx, opts)
    assert v.ok, v.failures()
    nodes = _matmulnbits(demo_onnx)
    assert nodes and all(a["bits"] == 4 and a["block_size"] == 32 for a, _ in nodes)
    assert all(len(inputs) < 4 or not inputs[3] for _, inputs in nodes)  # no zero points
    assert not list(demo_onnx.parent.glob(".*slm-wizard*"))  # the work folder is gone
    assert not list(demo_onnx.glob("olive-cli-tmp-*"))
    _answers_well(demo_onnx, faq)


def test_config_file_block128_asymmetric_really_is(block128, faq) -> None:
    opts, result = block128
    assert result.ok, result.error
    out = opts.output_dir
    assert not (out / "old-file.txt").exists()  # the confirmed replacement happened
    nodes = _matmulnbits(out)
    assert nodes
    for attrs, inputs in nodes:
        assert attrs["bits"] == 4 and attrs["block_size"] == 128
        assert len(inputs) > 3 and inputs[3], "asymmetric means a zero-point input"
    assert result.verification.graph.zero_points is True
    assert result.verification.mismatches == []
    saved = json.loads(result.config_path.read_text())
    builder = saved["passes"]["builder"]
    assert builder == {"type": "ModelBuilder", "precision": "int4", "int4_block_size": 128,
                       "int4_is_symmetric": False}
    assert check_config_file(result.config_path) == []
    if (out / "model_config.json").is_file():  # Olive's metadata names the final folder
        assert ".slm-wizard-" not in (out / "model_config.json").read_text()
    _answers_well(out, faq)


def test_int8_by_config_is_8bit_streams_progress_and_answers(int8, faq) -> None:
    result, events = int8
    assert result.ok, result.error
    nodes = _matmulnbits(result.output_dir)
    assert nodes and all(a["bits"] == 8 for a, _ in nodes)
    progress = [e.fraction for e in events if e.fraction is not None]
    assert progress == sorted(progress) and progress[-1] == 1.0
    stages = [e.text for e in events if e.phase == "stage"]
    assert "Reading layer 2 of 2" in stages
    assert "Running pass quantize_int8" in stages
    assert events[-1].phase == "done"
    log = result.log_path.read_text()
    assert "Running pass builder:modelbuilder" in log and "# exit code 0" in log
    _answers_well(result.output_dir, faq)


def test_fp32_through_the_cli(demo_model: Path, tmp_path: Path, capsys, faq,
                              monkeypatch) -> None:
    import shutil

    shutil.copytree(demo_model, tmp_path / "hf")
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    out = tmp_path / "fp32"
    code = main(["convert", "hf", "--output", "fp32", "--precision", "fp32", "--json"])
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert code == 0 and data["ok"], data
    assert "Reading layer 1 of 2" in captured.err  # progress on stderr
    assert data["verification"]["graph"]["matmul_nbits"] == 0
    assert data["command"].startswith("olive auto-opt ")
    assert _matmulnbits(out) == []
    _answers_well(out, faq)


def test_size_on_disk_is_close_to_the_estimate(demo_onnx, block128, int8, demo_model) -> None:
    info = inspect_model(demo_model)
    from slm_wizard.core.base.fileio import onnx_size

    est = {e.precision: e.size_bytes for e in estimate(info)}
    assert abs(onnx_size(demo_onnx) - est["int4"]) / est["int4"] < 0.1
    assert abs(onnx_size(int8[0].output_dir) - est["int8"]) / est["int8"] < 0.1
    est128 = {e.precision: e.size_bytes for e in estimate(info, 128, False)}
    size128 = block128[1].verification.size_bytes
    assert abs(size128 - est128["int4"]) / est128["int4"] < 0.1


def test_cancel_mid_run_leaves_nothing(demo_model: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def on_event(e) -> None:
        seen.append(e.text)
        if e.phase == "stage" and e.text.startswith("Running pass"):
            cancel.set()

    hub = Path.home() / ".cache" / "huggingface" / "hub"
    markers_before = set(hub.glob(".olive_build_*"))
    out = tmp_path / "parent" / "cancelled"
    result = run_conversion(ConvertOptions(demo_model, out), on_event, cancel)
    assert result.cancelled and not result.ok
    assert any(m.startswith("Running pass") for m in seen)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no work folder, no olive-cli-tmp-*
    # Olive's build marker went to the work folder (HF_HUB_CACHE), removed with it.
    assert set(hub.glob(".olive_build_*")) <= markers_before


def test_exit_0_without_output_is_a_failure_with_olives_reason(demo_model, tmp_path,
                                                                monkeypatch) -> None:
    # Bypass our own refusal to show what Olive does with fp16 on CPU.
    monkeypatch.setattr(convert, "validate_options", lambda opts, info: [])
    out = tmp_path / "fp16"
    result = run_conversion(ConvertOptions(demo_model, out, precision="fp16"))
    assert not result.ok
    assert "produced no model" in result.error
    assert "FP16 is not supported on CPU" in result.error
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ refusals (no Olive run)

def test_fp16_on_cpu_is_refused_with_the_reason(demo_model: Path, tmp_path: Path) -> None:
    result = run_conversion(ConvertOptions(demo_model, tmp_path / "x", precision="fp16"))
    assert not result.ok and result.log_path is None
    assert "needs a GPU execution provider" in result.error
    assert "writes nothing" in result.error
    assert not (tmp_path / "x").exists()


def test_bad_model_folder_and_existing_output(demo_model: Path, tmp_path: Path) -> None:
    result = run_conversion(ConvertOptions(tmp_path / "nope", tmp_path / "out"))
    assert not result.ok and "does not exist" in result.error
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = run_conversion(ConvertOptions(demo_model, busy))
    assert not result.ok and f"{busy} is not empty: choose a new or empty folder" in result.error
    result = run_conversion(ConvertOptions(demo_model, busy, replace=True))  # not ours: kept
    assert not result.ok and "not made by slm-wizard" in result.error
    assert (busy / "keep.txt").read_text() == "mine"


def test_validation_rules(demo_model: Path, tmp_path: Path) -> None:
    info = inspect_model(demo_model)

    def errors(**kw) -> str:
        opts = ConvertOptions(demo_model, tmp_path / "o", **kw)
        return " ".join(i.message for i in validate_options(opts, info) if i.is_error)

    assert errors() == ""
    assert errors(precision="int8", method="config") == ""
    assert "cannot make int8" in errors(precision="int8", method="auto-opt")
    assert "no flags for block size" in errors(block_size=128)
    assert "no flags for block size" in errors(symmetric=False)
    assert errors(block_size=128, symmetric=False, method="config") == ""
    assert "Block size 48" in errors(block_size=48, method="config")
    assert "Accuracy level" in errors(accuracy_level=7, method="config")
    assert "bf16" in errors(precision="bf16")
    assert "other providers" in errors(provider="CUDAExecutionProvider", device="gpu")
    inside = ConvertOptions(demo_model, demo_model / "onnx")
    assert any("must not be the model folder" in i.message
               for i in validate_options(inside, info))
    replace = ConvertOptions(demo_model, demo_model.parent, replace=True)
    assert any(i.is_error for i in validate_options(replace, info))  # a parent of the model


def test_disk_and_ram_shortages_warn_or_refuse(demo_model, tmp_path, monkeypatch) -> None:
    import collections
    import shutil

    import psutil

    info = inspect_model(demo_model)
    opts = ConvertOptions(demo_model, tmp_path / "o")
    need = resources(opts, info)
    usage = collections.namedtuple("usage", "total used free")
    mem = collections.namedtuple("mem", "total available")

    def issues(free_disk: int, total_ram: int, free_ram: int) -> dict[str, str]:
        monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 0, free_disk))
        monkeypatch.setattr(psutil, "virtual_memory", lambda: mem(total_ram, free_ram))
        return {i.field: i.level for i in validate_options(opts, info)
                if i.field in ("disk", "ram")}

    plenty = 10**12
    assert issues(plenty, plenty, plenty) == {}
    assert issues(need.disk_needed - 1, plenty, plenty) == {"disk": "warning"}
    assert issues(need.disk_needed // 4, plenty, plenty) == {"disk": "error"}
    assert issues(plenty, plenty, need.ram_needed - 1) == {"ram": "warning"}
    assert issues(plenty, need.ram_needed - 1, 0) == {"ram": "error"}


def test_missing_olive_is_named(demo_model: Path, tmp_path: Path, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "olive" else real(name, *a))
    result = run_conversion(ConvertOptions(demo_model, tmp_path / "o"))
    assert not result.ok and "olive-ai==0.13.0 is not installed" in result.error


def test_auto_opt_args_and_configs(demo_model: Path, tmp_path: Path) -> None:
    opts = ConvertOptions(demo_model, tmp_path / "out", precision="int4")
    assert auto_opt_args(opts) == [
        "olive", "auto-opt", "--model_name_or_path", str(demo_model), "--device", "cpu",
        "--provider", "CPUExecutionProvider", "--use_model_builder", "--precision", "int4",
        "--output_path", str(tmp_path / "out"), "--log_level", "1"]
    cfg = build_config(ConvertOptions(demo_model, tmp_path / "o", precision="int4",
                                      method="config", accuracy_level=4))
    assert cfg["passes"]["builder"]["int4_accuracy_level"] == 4
    assert cfg["systems"]["local_system"]["accelerators"] == [
        {"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]
    assert cfg["output_dir"] == str(tmp_path / "o")
    int8_cfg = build_config(ConvertOptions(demo_model, tmp_path / "o", precision="int8",
                                           method="config"))
    assert [p["type"] for p in int8_cfg["passes"].values()] == [
        "ModelBuilder", "OnnxBlockWiseRtnQuantization", "GraphSurgeries"]
    path = write_config(ConvertOptions(demo_model, tmp_path / "o", method="config"),
                        tmp_path / "finetuned_conversion_config.json")
    assert check_config_file(path) == []


def test_the_guides_quantization_config_is_flagged(tmp_path: Path, capsys) -> None:
    guide = tmp_path / "finetuned_conversion_config.json"
    guide.write_text(json.dumps({
        "input_model": {"type": "HfModel", "model_path": "my-model"},
        "passes": {"builder": {"type": "ModelBuilder", "config": {
            "precision": "int4",
            "quantization_config": {"block_size": 128, "is_symmetric": False}}}},
    }))
    found = check_config_file(guide)
    assert len(found) == 1
    assert "quantization_config" in found[0] and "Olive ignores it" in found[0]
    assert '"int4_block_size": 128' in found[0] and '"int4_is_symmetric": false' in found[0]
    assert main(["convert", "--check-config", str(guide)]) == 1
    assert "int4_block_size" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{")
    assert "not valid JSON" in check_config_file(tmp_path / "bad.json")[0]


def test_cli_dry_run(demo_model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "dry"
    assert main(["convert", str(demo_model), "--output", str(out), "--block-size", "128",
                 "--asymmetric", "--dry-run", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["options"]["method"] == "config"  # chosen because auto-opt cannot do it
    assert data["config"]["passes"]["builder"]["int4_block_size"] == 128
    assert data["command"] == "olive run --config finetuned_conversion_config.json"
    assert not out.exists()
    res = data["resources"]
    fp32_bytes = inspect_model(demo_model).param_count * 4
    assert res["ram_needed"] >= 11 * fp32_bytes and res["ram_free"] > 0
    assert res["disk_needed"] > data["estimates"][-1]["size_bytes"] and res["disk_free"] > 0
    assert main(["convert", str(demo_model), "--output", str(out), "--precision", "fp16",
                 "--dry-run", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"] and any("GPU" in i["message"] for i in data["issues"])
    assert main(["convert", str(demo_model), "--output", str(out), "--precision", "fp16"]) == 2


def test_progress_parser_on_builder_output() -> None:
    parser = ProgressParser(["model_builder", "extract_adapters"], num_layers=4)
    values = []
    for line in ["Loading HuggingFace model from x",
                 "[2026-01-01] [INFO] [engine.py:1:_run_pass] Running pass model_builder:mb",
                 "Reading embedding layer", "Reading layer 0", "Reading layer 3",
                 "Saving ONNX model in /x", "Saving lm_head (f32, [1,2]):  50%|█ | 1/2",
                 "[x] [INFO] [engine.py:1:_run_pass] Pass model_builder:mb finished in 1.5s",
                 "Model is saved at /out"]:
        stage, p = parser.feed(line)
        values.append(p)
    assert values == sorted(values) and 0 < values[3] < values[4] < values[6] < values[-1]
    assert parser.feed("Reading layer 1")[0] == "Reading layer 2 of 4"
    assert parser.saved_at == "/out"


def test_model_folder_found_in_a_subfolder_and_swapped_in(tmp_path: Path) -> None:
    staged = tmp_path / "work" / "output"
    (staged / "model").mkdir(parents=True)
    (staged / "model" / "genai_config.json").write_text("{}")
    (staged / "footprint.json").write_text("{}")
    found = convert._find_model_folder(staged)
    assert found == staged / "model"
    assert convert._find_model_folder(tmp_path / "empty") is None
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    convert._move_into_place(found, out, tmp_path / "work")
    assert sorted(p.name for p in out.iterdir()) == ["genai_config.json"]
    assert (tmp_path / "work" / "previous-output" / "old.txt").is_file()  # removed with work


def test_the_models_domain_set_travels_with_the_conversion(demo_model: Path, demo_onnx: Path):
    copied = demo_onnx / "domain_eval.jsonl"
    assert copied.read_bytes() == (demo_model / "domain_eval.jsonl").read_bytes()
    from slm_wizard.core.evaluate.validate import find_domain_file

    assert find_domain_file(demo_onnx) == copied
