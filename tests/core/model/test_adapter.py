"""LoRA adapters: inspect, base checks, both conversion routes and their answer checks, chat.

A LoRA adapter is built once per session on top of the demo model with PEFT (offline, seconds):
every target module of both layers, with lora_B set to seeded random values so that its greedy
answers differ from the demo model's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from slm_wizard.cli.main import main
from slm_wizard.core.base.status import Status
from slm_wizard.core.model.adapter import (
    ONNX_ADAPTER_FILE,
    AdapterError,
    check_base,
    inspect_adapter,
    is_adapter_folder,
)
from slm_wizard.core.model.model_info import ModelFolderError, check_model_folder
from slm_wizard.core.steps import convert as convert_step
from slm_wizard.core.steps import inspect as inspect_step
from tests.helpers import converted_record

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _make_adapter(base: Path, out: Path, *, seed: int = 7, rank: int = 8) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank,
                                                  target_modules=TARGETS))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn_like(param) * 0.2)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def lora_adapter(demo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter (rank 8, alpha 16, 7 target modules) on the demo model."""
    return _make_adapter(demo_model, tmp_path_factory.mktemp("lora") / "lumo-lora")


@pytest.fixture(scope="session")
def other_base(tmp_path_factory: pytest.TempPathFactory, demo_model: Path) -> Path:
    """A tiny Qwen2 of another hidden size (64), saved with the demo's tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(demo_model)
    cfg.hidden_size, cfg.intermediate_size = 64, 128
    folder = tmp_path_factory.mktemp("other-base") / "qwen-64"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(demo_model / name, folder / name)
    return folder


def _copy_with_config(adapter: Path, dest: Path, **changes: object) -> Path:
    shutil.copytree(adapter, dest)
    cfg = json.loads((dest / "adapter_config.json").read_text())
    cfg.update(changes)
    (dest / "adapter_config.json").write_text(json.dumps(cfg))
    return dest


# ---------------------------------------------------------------- prerequisites


def test_prerequisites_report_peft_with_its_pin() -> None:
    import tomllib

    from slm_wizard.core.setup import prereqs
    from tests.helpers import ROOT as root

    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["convert"]
    assert "peft==0.21.2" in extra
    assert "peft" in dict(prereqs.PACKAGES)
    specs = prereqs.project_requirements()
    assert specs["peft"] == "==0.21.2"
    check = prereqs.check_package("peft", "LoRA", specs)
    assert check.status == Status.OK and check.found == "0.21.2"


# ---------------------------------------------------------------- inspect


def test_inspect_reads_rank_alpha_targets_and_base(lora_adapter: Path, demo_model: Path) -> None:
    assert is_adapter_folder(lora_adapter) and not is_adapter_folder(demo_model)
    a = inspect_adapter(lora_adapter)
    assert (a.peft_type, a.rank, a.alpha) == ("LORA", 8, 16)
    assert set(a.target_modules) == set(TARGETS)
    assert Path(a.base_model).resolve() == demo_model.resolve()
    assert a.base_folder == demo_model.resolve()
    assert a.shapes["model.layers.0.self_attn.q_proj"] == (128, 128)
    # The wizard's folder check accepts it when asked to, and still explains it otherwise.
    assert check_model_folder(lora_adapter, allow_adapter=True) == lora_adapter.resolve()
    with pytest.raises(ModelFolderError, match="--base BASE_DIR"):
        check_model_folder(lora_adapter)


def test_inspect_step_and_cli_say_what_the_adapter_needs(
        lora_adapter: Path, demo_model: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    result = inspect_step.run(inspect_step.Options(lora_adapter))
    assert result.adapter is not None and result.info is not None
    assert result.status == Status.OK and not result.base_problems
    record = inspect_step.to_record(inspect_step.Options(lora_adapter), result)
    assert record.figures["LoRA rank"] == "8" and "LoRA adapter" in record.outcome
    # --base: the given folder is checked (and recorded in the command).
    with_base = inspect_step.Options(lora_adapter, demo_model)
    assert with_base.argv()[-2:] == ["--base", str(demo_model)]
    assert main([*with_base.argv()[1:], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["base"]["path"] == str(demo_model.resolve())

    moved = _copy_with_config(lora_adapter, tmp_path / "orphan",
                              base_model_name_or_path="/nowhere/Qwen2.5-0.5B-Instruct")
    assert main(["inspect", str(moved), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["is_lora_adapter"] and data["rank"] == 8 and data["alpha"] == 16
    assert data["base_model_name_or_path"] == "/nowhere/Qwen2.5-0.5B-Instruct"
    assert data["base"] is None and "local folder of its base model" in data["needs"]
    assert main(["inspect", str(moved)]) == 0
    text = capsys.readouterr().out
    assert "rank 8, alpha 16" in text and "Needs a local folder" in text


# ---------------------------------------------------------------- refusals


def test_missing_base_folder_is_refused_with_the_name(
        lora_adapter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    moved = _copy_with_config(lora_adapter, tmp_path / "orphan",
                              base_model_name_or_path="/nowhere/base-model")
    with pytest.raises(convert_step.ConvertRefused, match="/nowhere/base-model"):
        convert_step.plan(convert_step.Options(moved))
    code = main(["convert", str(moved), "--base", str(tmp_path / "no-such-base"),
                 "-o", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no-such-base does not exist" in err and "/nowhere/base-model" in err
    assert not (tmp_path / "out").exists()


def test_mismatched_base_is_refused_naming_the_difference(
        lora_adapter: Path, other_base: Path, demo_model: Path, tmp_path: Path) -> None:
    a = inspect_adapter(lora_adapter)
    _info, found = check_base(a, other_base)
    assert found and "hidden size" in found[0] and "128" in found[0] and "64" in found[0]
    with pytest.raises(convert_step.ConvertRefused, match="hidden size"):
        convert_step.plan(convert_step.Options(lora_adapter, base_dir=other_base))
    # Another architecture named by the adapter.
    llama = _copy_with_config(lora_adapter, tmp_path / "llama-lora",
                              base_model_class="LlamaForCausalLM")
    with pytest.raises(convert_step.ConvertRefused,
                       match="architecture.*LlamaForCausalLM.*Qwen2ForCausalLM"):
        convert_step.plan(convert_step.Options(llama, base_dir=demo_model))
    # Target modules the base does not have.
    renamed = tmp_path / "renamed"
    shutil.copytree(lora_adapter, renamed)
    from safetensors.torch import load_file, save_file

    tensors = load_file(renamed / "adapter_model.safetensors")
    save_file({k.replace("q_proj", "qkv_proj"): v for k, v in tensors.items()},
              renamed / "adapter_model.safetensors")
    _info, found = check_base(inspect_adapter(renamed), demo_model)
    assert any("qkv_proj not found" in f for f in found)
    # A base folder that is itself an adapter.
    with pytest.raises(AdapterError, match="cannot be used.*holds a LoRA adapter"):
        check_base(a, lora_adapter)


def test_adapter_mode_refuses_the_config_method(lora_adapter: Path, tmp_path: Path) -> None:
    p = convert_step.plan(convert_step.Options(lora_adapter, output_dir=tmp_path / "o",
                                               precision="int8", adapter_mode="adapter"))
    assert any(i.field == "method" and "auto-opt -a" in i.message for i in p.errors)
    merged = convert_step.plan(convert_step.Options(lora_adapter, output_dir=tmp_path / "o",
                                                    precision="int8"))
    assert not merged.errors and merged.conversion.adapter_dir is None


def test_adapter_mode_refuses_int4_before_converting(lora_adapter: Path, tmp_path: Path) -> None:
    """At int4 (the default precision) `olive auto-opt -a` quantizes the LoRA MatMuls and the
    model fails to run with the adapter off (measured): refused before converting, with the
    two ways that work; fp32 adapter mode and int4 merge mode are planned."""
    p = convert_step.plan(convert_step.Options(lora_adapter, output_dir=tmp_path / "o",
                                               adapter_mode="adapter"))
    assert p.options.precision == "int4"
    assert any(i.field == "precision" and "fp32 only" in i.message and "--adapter-mode merge"
               in i.message for i in p.errors)
    for precision, mode in (("fp32", "adapter"), ("int4", "merge")):
        ok = convert_step.plan(convert_step.Options(lora_adapter, output_dir=tmp_path / "o",
                                                    precision=precision, adapter_mode=mode))
        assert not ok.errors, (precision, mode, ok.errors)


def test_the_merge_plan_holds_its_steps_and_reuses_a_known_inspection(
        lora_adapter: Path, demo_model: Path, other_base: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The merge preview is the plan's data (the merge, then Olive on MERGED_MODEL, its config
    file naming the merged model); a re-plan of the same adapter and base inspects nothing."""
    from tests.helpers import spy_everywhere

    p = convert_step.plan(convert_step.Options(lora_adapter, output_dir=tmp_path / "o",
                                               precision="int8"))
    assert p.steps[0].startswith(f"merge {lora_adapter.resolve()} into {demo_model.resolve()}")
    assert p.method == "config" and "int8" in p.method_reason
    config = json.dumps(p.config)
    assert convert_step.MERGED_MODEL in config and str(demo_model.resolve()) not in config
    assert p.preview_text.startswith("1. merge") and "\n2. olive run --config" in p.preview_text
    from slm_wizard.core.model import adapter as adapter_module

    checks = spy_everywhere(monkeypatch, adapter_module, "check_base")
    again = convert_step.plan(convert_step.Options(lora_adapter, output_dir=tmp_path / "o2",
                                                   base_dir=demo_model), known=p)
    assert checks == [] and again.info is p.info and again.adapter is p.adapter
    with pytest.raises(convert_step.ConvertRefused, match="hidden size") as refused:
        convert_step.plan(convert_step.Options(lora_adapter, base_dir=other_base), known=p)
    assert len(checks) == 1 and refused.value.adapter is p.adapter  # another base: checked


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("mode", ["merge", "adapter"])
def test_argv_round_trip(mode: str, lora_adapter: Path, demo_model: Path, tmp_path: Path) -> None:
    from slm_wizard.cli.commands.convert import options_from_args
    from slm_wizard.cli.main import build_parser

    opts = convert_step.Options(lora_adapter, output_dir=tmp_path / "o", precision="fp32",
                                base_dir=demo_model, adapter_mode=mode)
    argv = opts.argv()
    assert ("--adapter-mode" in argv) == (mode == "adapter")
    assert argv[argv.index("--base") + 1] == str(demo_model)
    assert options_from_args(build_parser().parse_args(argv[1:])) == opts
    p = convert_step.plan(opts)
    assert p.adapter is not None and p.conversion.model_dir == demo_model.resolve()
    if mode == "adapter":
        assert p.conversion.adapter_dir == lora_adapter.resolve()
        assert any("not in Foundry Local" in i.message for i in p.issues)


# ---------------------------------------------------------------- conversions (slow)


@pytest.fixture(scope="session")
def merged_onnx(lora_adapter: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("lora-merged") / "model"
    opts = convert_step.Options(lora_adapter, output_dir=out, precision="fp32")
    return opts, convert_step.run(opts)


@pytest.fixture(scope="session")
def adapter_onnx(lora_adapter: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("lora-separate") / "model"
    opts = convert_step.Options(lora_adapter, output_dir=out, precision="fp32",
                                adapter_mode="adapter")
    return opts, convert_step.run(opts)


def _checks(result) -> dict:
    return {c.id: c for c in result.checks}


@pytest.mark.slow
def test_merge_mode_converts_and_matches_peft(merged_onnx, lora_adapter: Path) -> None:
    opts, result = merged_onnx
    assert result.ok, result.error
    out = result.output_dir
    assert (out / "genai_config.json").is_file() and not (out / ONNX_ADAPTER_FILE).exists()
    checks = _checks(result)
    assert checks["adapter"].status == Status.OK, checks["adapter"].found
    assert checks["adapter"].data["equal"] == checks["adapter"].data["prompts"] == 5
    assert checks["adapter-effect"].status == Status.OK
    assert checks["adapter-effect"].data["differ"] >= 1
    # The temporary merged model is gone; the command says what it held.
    assert not [p for p in out.parent.iterdir() if ".merge-" in p.name]
    assert "PEFT merge of" in result.conversion.command
    assert "--model_name_or_path MERGED_MODEL" in result.conversion.command
    data = result.to_dict()
    assert {"adapter", "adapter-effect"} <= {c["id"] for c in data["verification"]["checks"]}
    record = convert_step.to_record(opts, result)
    assert "merged" in record.outcome and record.command == opts.argv()


@pytest.mark.slow
def test_adapter_mode_writes_the_onnx_adapter_and_switches(adapter_onnx) -> None:
    opts, result = adapter_onnx
    assert result.ok, result.error
    assert (result.output_dir / ONNX_ADAPTER_FILE).is_file()
    checks = _checks(result)
    for cid in ("adapter", "adapter-off", "adapter-effect"):
        assert checks[cid].status == Status.OK, (cid, checks[cid].found)
    assert "adapter on" not in checks["adapter-off"].found
    record = convert_step.to_record(opts, result)
    assert "onnxruntime-genai only" in record.outcome
    assert any("Foundry Local" in n for n in record.notes)


@pytest.mark.slow
def test_merged_model_answers_differ_from_the_demo(merged_onnx, demo_onnx: Path) -> None:
    """The demo flow with an adapter: the merged model's chat replies are not the demo's."""
    from slm_wizard.core.model.adapter import check_prompts, onnx_greedy

    _opts, result = merged_onnx
    prompts = check_prompts(result.output_dir)
    _, merged = onnx_greedy(result.output_dir, prompts)
    _, demo = onnx_greedy(demo_onnx, prompts)
    assert merged != demo


@pytest.mark.slow
def test_chat_switches_the_adapter_on_and_off(adapter_onnx, merged_onnx) -> None:
    """Adapter mode: chat with the adapter active answers as the merged model, without it as the
    base model; the reply says which adapter was active."""
    from dataclasses import replace

    from slm_wizard.core.model.adapter import check_prompts
    from slm_wizard.core.runtime.backends import open_backend
    from slm_wizard.core.runtime.chat import ChatError, GenerationSettings
    from slm_wizard.core.steps import chat as chat_step

    _o, separate = adapter_onnx
    _o, merged = merged_onnx
    folder = separate.output_dir
    defaults = chat_step.default_settings(folder)
    assert defaults.adapter == "adapter_weights"  # the fine-tune is on by default
    prompts = check_prompts(folder)
    with_ad = open_backend("ort", folder)
    plain = open_backend("ort", merged.output_dir)
    try:
        assert with_ad.adapters == ("adapter_weights",) and plain.adapters == ()
        on = GenerationSettings(max_tokens=16, adapter="adapter_weights")
        off = GenerationSettings(max_tokens=16)
        replies_on = [with_ad.generate(m, on) for m in prompts]
        replies_off = [with_ad.generate(m, off) for m in prompts]
        replies_merged = [plain.generate(m, off) for m in prompts]
        assert [r.text for r in replies_on] == [r.text for r in replies_merged]
        assert [r.text for r in replies_on] != [r.text for r in replies_off]
        assert replies_on[0].adapter_text() == " · adapter adapter_weights"
        assert replies_off[0].adapter_text() == " · adapter off (base model)"
        assert replies_merged[0].adapter is None and replies_merged[0].adapter_text() == ""
        with pytest.raises(ChatError, match="no adapter 'nope'"):
            with_ad.generate(prompts[0], GenerationSettings(adapter="nope"))
    finally:
        with_ad.close()
        plain.close()
    # The headless chat takes --adapter; Foundry Local refuses it.
    opts = chat_step.Options(str(folder), adapter="adapter_weights", prompt="Hi")
    assert opts.argv()[opts.argv().index("--adapter") + 1] == "adapter_weights"
    with pytest.raises(chat_step.ChatInputError, match="onnxruntime-genai"):
        chat_step.Options("lumo:1", backend="foundry", adapter="adapter_weights").validate()
    one_shot = chat_step.run(replace(opts, prompt=prompts[0][-1]["content"], max_tokens=16,
                                     in_process=True))
    assert one_shot.adapter == "adapter_weights" and one_shot.to_dict()["adapter"] == \
        "adapter_weights"
    assert "· adapter adapter_weights" in one_shot.summary()


async def test_a_crash_while_checking_the_base_is_shown(
        lora_adapter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Convert screen, adapter folder: an unexpected error in the base check is shown on the
    screen (the worker never ends the app), and Run stays disabled."""
    from textual.widgets import Button, Static

    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.tui.app import WizardApp
    from tests.helpers import wait_until

    def boom(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(convert_step, "check_base", boom)  # what the step's plan calls
    app = WizardApp(state=RunRecord(model_dir=lora_adapter), start="convert",
                    config_dir=tmp_path / "cfg")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: "boom" in str(
            screen.query_one("#convert-model", Static).content), 30, "the error")
        assert app.is_running and screen.query_one("#run", Button).disabled


# ---------------------------------------------------------------- screens

SIZE = (100, 32)


async def test_model_screen_recognises_an_adapter(lora_adapter: Path, demo_model: Path,
                                                  tmp_path: Path) -> None:
    from textual.widgets import Button, DataTable, Input, Static

    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.tui.app import WizardApp
    from tests.helpers import wait_until

    orphan = _copy_with_config(lora_adapter, tmp_path / "orphan",
                               base_model_name_or_path="/nowhere/base")
    app = WizardApp(state=RunRecord(model_dir=demo_model, is_demo=True), start="model",
                    config_dir=tmp_path / "cfg")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.get_screen("model")

        def status() -> str:
            return str(screen.query_one("#model-status", Static).content)

        await wait_until(pilot, lambda: "ready to convert" in status(), 60, "the demo")
        screen.query_one("#model-path", Input).value = str(lora_adapter)
        await pilot.click("#inspect")
        await wait_until(pilot, lambda: "LoRA adapter ready" in status(), 60, "the adapter")
        rows = screen.query_one("#model-info", DataTable)
        cells = " ".join(str(rows.get_row_at(i)[1]) for i in range(rows.row_count))
        assert "rank 8, alpha 16" in cells and "q_proj" in cells and str(demo_model) in cells
        assert app.state.model_dir == lora_adapter.resolve()
        assert app.state.steps["model"].figures["LoRA rank"] == "8"
        assert not screen.query_one("#continue", Button).disabled
        # An adapter whose base is not here: the screen says what it needs.
        screen.query_one("#model-path", Input).value = str(orphan)
        # Continue was focused (and scrolled into view) after the first inspection: press
        # Inspect itself rather than click where it was.
        screen.query_one("#inspect", Button).press()
        await wait_until(pilot, lambda: "needs a local folder" in status(), 60, "the orphan")
        assert "/nowhere/base" in status()
        assert app.state.steps["model"].status == Status.WARN


async def test_convert_screen_asks_for_and_checks_the_base(
        lora_adapter: Path, demo_model: Path, other_base: Path, tmp_path: Path) -> None:
    from textual.widgets import Button, Input, Select, Static, TextArea

    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.tui.app import WizardApp
    from tests.helpers import wait_until

    app = WizardApp(state=RunRecord(model_dir=lora_adapter), start="convert",
                    config_dir=tmp_path / "cfg")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen

        def head() -> str:
            return str(screen.query_one("#convert-model", Static).content)

        await wait_until(pilot, lambda: screen.info is not None, 60, "the adapter inspection")
        await wait_until(pilot, screen.plan_current, 30, "the plan")
        base = screen.query_one("#base", Input)
        assert base.display and base.value == str(demo_model.resolve())
        assert "LoRA adapter" in head() and "rank 8" in head()
        # The merge route's steps, from the plan: the PEFT merge, then Olive on the merged model.
        preview = screen.query_one("#preview", TextArea).text
        assert preview.startswith(f"1. merge {lora_adapter.resolve()} into")
        assert "2. olive auto-opt --model_name_or_path MERGED_MODEL" in preview
        assert not screen.query_one("#run", Button).disabled
        opts = screen.options()
        assert opts.base_dir == demo_model.resolve() and opts.adapter_mode == "merge"
        # The wrong base: refused with the difference named; Run disabled.
        base.value = str(other_base)
        await wait_until(pilot, lambda: "hidden size" in head(), 60, "the base check")
        assert screen.query_one("#run", Button).disabled
        # The right one again, then the adapter route, which cannot make int8.
        base.value = str(demo_model)
        await wait_until(pilot, lambda: screen.info is not None, 60, "the base check")
        screen.query_one("#adapter-mode", Select).value = "adapter"
        screen.query_one("#precision", Select).value = "int8"
        await wait_until(pilot, screen.plan_current, 30, "the plan")
        issues = str(screen.query_one("#convert-issues", Static).content)
        assert "auto-opt -a" in issues and screen.query_one("#run", Button).disabled
        screen.query_one("#precision", Select).value = "int4"
        screen.query_one("#method", Select).value = "auto-opt"
        await wait_until(pilot, screen.plan_current, 30, "the plan")
        assert "--adapter_path" in screen.query_one("#preview", TextArea).text
        assert "not in Foundry Local" in str(screen.query_one("#convert-issues", Static).content)
        assert screen.options().argv()[-2:] == ["--adapter-mode", "adapter"]


async def test_chat_settings_switch_the_adapter() -> None:
    from textual.app import App
    from textual.widgets import Select

    from slm_wizard.core.runtime.chat import GenerationSettings
    from slm_wizard.tui.widgets.chat_settings import ChatConfig, ChatSettingsScreen

    results: list = []

    class Host(App):
        def on_mount(self) -> None:
            config = ChatConfig(None, GenerationSettings(adapter="adapter_weights"),
                                ("adapter_weights",))
            self.push_screen(ChatSettingsScreen(config), results.append)

    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        select = app.screen.query_one("#cs-adapter", Select)
        assert select.value == "adapter_weights"
        select.value = ""
        await pilot.pause()
        app.screen.query_one("#cs-save").press()
        await pilot.pause()
    assert results and results[0].settings.adapter == ""
    assert results[0].adapters == ("adapter_weights",)


@pytest.mark.slow
async def test_chat_screen_says_which_adapter_answered(adapter_onnx) -> None:
    """Adapter mode in the Chat step: on by default, the stats line names it, the recorded
    command carries --adapter; switched off in the settings, the next reply says so."""
    from dataclasses import replace

    from textual.widgets import Input

    from slm_wizard.tui.app import WizardApp
    from slm_wizard.tui.widgets.message import ChatMessage
    from tests.helpers import wait_until

    _o, result = adapter_onnx
    state = converted_record(Path("/models/lumo-lora"), result.output_dir)
    app = WizardApp(state=state, start="chat")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.session is not None, 90, "the model to load")
        assert screen.config.settings.adapter == "adapter_weights"

        async def ask(text: str, n: int) -> str:
            screen.query_one("#prompt", Input).value = text
            await pilot.press("enter")
            await wait_until(pilot, lambda: not screen.generating and screen.replies >= n, 90,
                             "the reply")
            await pilot.pause()
            return list(screen.query(ChatMessage))[-1].stats_text

        assert "adapter adapter_weights" in await ask("Hello", 1)
        rec = app.state.get("chat")
        assert rec.command[rec.command.index("--adapter") + 1] == "adapter_weights"
        screen.config = replace(screen.config,
                                settings=replace(screen.config.settings, adapter=""))
        screen.session.settings = screen.config.settings
        assert "adapter off" in await ask("Hello", 2)


@pytest.mark.slow
async def test_convert_screen_shows_the_adapter_answer_checks(
        lora_adapter: Path, merged_onnx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Convert screen runs the step with the adapter's options (base folder, route); its
    verification table shows the adapter checks of the merge route's result, and the step
    record carries --base. (The conversion itself is the session's merged_onnx.)"""
    from textual.widgets import DataTable, Input, Select

    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.tui.app import WizardApp
    from tests.helpers import wait_until

    _opts, merged = merged_onnx
    ran: list = []

    def fake_run(options, **_kw):
        ran.append(options)
        return merged

    monkeypatch.setattr(convert_step, "run", fake_run)
    out = tmp_path / "merged-from-screen"
    app = WizardApp(state=RunRecord(model_dir=lora_adapter), start="convert",
                    config_dir=tmp_path / "cfg")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.info is not None, 60, "the adapter inspection")
        screen.query_one("#precision", Select).value = "fp32"
        await pilot.pause()
        screen.query_one("#output", Input).value = str(out)
        await pilot.pause()
        screen.query_one("#run").press()
        await wait_until(pilot, lambda: screen.result is not None, 60, "the conversion")
        await pilot.pause()
        assert screen.result.ok, screen.result.error
        assert ran[0].adapter_mode == "merge" and ran[0].base_dir is not None
        assert ran[0].precision == "fp32" and ran[0].model_dir.resolve() == lora_adapter.resolve()
        table = screen.query_one("#verification", DataTable)
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[2])
                for i in range(table.row_count)}
        assert "5 of 5 greedy answers equal transformers + PEFT merged" in rows["adapter"]
        assert "differ from the base model" in rows["adapter-effect"]
        rec = app.state.steps["convert"]
        assert "--base" in rec.command and "merged" in rec.outcome
