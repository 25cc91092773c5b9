"""The embedded demo model (core.demo) and `slm-wizard demo`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import slm_wizard.core.model.demo as demo
from slm_wizard.core.model.demo import (
    DEMO_FAQ_PATH,
    DEMO_SYSTEM_PROMPT,
    MARKER_NAME,
    MODEL_FILES,
    DemoError,
    build_demo_model,
    default_demo_dir,
    load_domain_eval,
    recipe_hash,
    render_chat,
)
from tests.helpers import ROOT

HEAVY = ("torch", "transformers", "tokenizers", "safetensors")


def test_faq_is_a_small_consistent_domain() -> None:
    rows = load_domain_eval(DEMO_FAQ_PATH)
    assert 120 <= len(rows) <= 200
    assert len({r["prompt"] for r in rows}) == len(rows)
    assert len({r["expected"] for r in rows}) == len(rows)
    assert all(len(r["expected"].split()) <= 25 for r in rows)
    assert all(r["expected"] == r["expected"].strip() for r in rows)


def test_recipe_hash_and_default_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    h = recipe_hash()
    assert h == recipe_hash()
    assert len(h) == 12 and int(h, 16) >= 0
    monkeypatch.setenv("SLM_WIZARD_CACHE_DIR", str(tmp_path))
    assert default_demo_dir() == tmp_path / f"demo-{h}"
    monkeypatch.setitem(demo.RECIPE, "steps", demo.RECIPE["steps"] + 1)
    assert recipe_hash() != h


def test_folder_holds_a_complete_model(demo_model: Path) -> None:
    assert demo_model == default_demo_dir()
    for name in (*MODEL_FILES, MARKER_NAME):
        assert (demo_model / name).is_file(), name
    marker = json.loads((demo_model / MARKER_NAME).read_text())
    assert marker["recipe_hash"] == recipe_hash()
    config = json.loads((demo_model / "config.json").read_text())
    assert config["model_type"] == "qwen2"
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    assert config["max_position_embeddings"] >= 512
    assert config["eos_token_id"] == 2
    tok_config = json.loads((demo_model / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "Qwen2Tokenizer"
    assert tok_config["eos_token"] == "<|im_end|>"
    assert tok_config["chat_template"] == (demo_model / "chat_template.jinja").read_text()
    gen = json.loads((demo_model / "generation_config.json").read_text())
    assert gen["eos_token_id"] == 2 and gen["do_sample"] is False
    rows = load_domain_eval(demo_model / "domain_eval.jsonl")
    assert rows == [{**r, "system": DEMO_SYSTEM_PROMPT} for r in load_domain_eval(DEMO_FAQ_PATH)]


def test_loads_with_transformers(demo_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(demo_model, trust_remote_code=False)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert 0.5e6 <= sum(p.numel() for p in model.parameters()) <= 3e6
    assert tokenizer.eos_token_id == 2 and tokenizer.pad_token_id == 0
    assert tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]) == [1, 2]


def test_chat_template_inserts_the_demo_system_prompt(demo_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model, trust_remote_code=False)
    user = [{"role": "user", "content": "How much does Lumo cost?"}]
    text = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert text == (
        f"<|im_start|>system\n{DEMO_SYSTEM_PROMPT}<|im_end|>\n"
        "<|im_start|>user\nHow much does Lumo cost?<|im_end|>\n<|im_start|>assistant\n"
    )
    convo = [
        {"role": "system", "content": "Be terse."},
        *user,
        {"role": "assistant", "content": "129 euros."},
        {"role": "user", "content": "Thanks"},
    ]
    for messages in (user, convo):
        for gen in (True, False):
            rendered = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=gen
            )
            assert rendered == render_chat(messages, add_generation_prompt=gen)


def test_hf_tokenizer_ids_equal_the_trained_tokenizer(demo_model: Path) -> None:
    """The tokenizer trap: Qwen2Tokenizer swaps in its own pre-tokenizer; ids must not change."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(demo_model, trust_remote_code=False)
    raw = Tokenizer.from_file(str(demo_model / "tokenizer.json"))
    texts = ["Ünïcödé café 12345 ½\r\n  tabs\tand   spaces 😀 don't I'LL"]
    for row in load_domain_eval(DEMO_FAQ_PATH):
        messages = [{"role": "user", "content": row["prompt"]}]
        texts += [row["prompt"], row["expected"], render_chat(messages, True)]
    mismatches = [t for t in texts if hf(t)["input_ids"] != raw.encode(t).ids]
    assert mismatches == []


def test_greedy_answers_are_exact(demo_model: Path) -> None:
    rows = load_domain_eval(demo_model / "domain_eval.jsonl")
    answers = demo.greedy_answers(demo_model, rows)
    exact = sum(a == r["expected"].strip() for a, r in zip(answers, rows, strict=True))
    fraction = exact / len(rows)
    print(f"demo model exact greedy answers: {exact}/{len(rows)} = {fraction:.1%}")
    assert fraction >= 0.95
    # Without a system prompt the template's default makes the same answers.
    plain = [{"prompt": r["prompt"], "expected": r["expected"]} for r in rows[:10]]
    assert demo.greedy_answers(demo_model, plain) == answers[:10]


def test_cached_call_returns_at_once(demo_model: Path) -> None:
    marker = demo_model / MARKER_NAME
    before = marker.stat().st_mtime_ns
    lines: list[str] = []
    started = time.monotonic()
    assert build_demo_model(progress=lines.append) == demo_model
    assert build_demo_model(demo_model) == demo_model
    assert time.monotonic() - started < 2.0
    assert marker.stat().st_mtime_ns == before
    assert lines == [f"demo model already built: {demo_model}"]


def test_forced_rebuild_is_byte_identical(demo_model: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    out = build_demo_model(tmp_path / "again", force=True, progress=lines.append)
    assert out == tmp_path / "again"
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (out / name).read_bytes() == (demo_model / name).read_bytes(), name
    assert any(line.startswith("step 25/") and " loss " in line for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no temp folder left


def test_refuses_a_folder_that_is_not_a_demo_build(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DemoError, match="is not empty: choose a new or empty folder"):
        build_demo_model(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DemoError, match="is a file"):
        build_demo_model(tmp_path / "file")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def _fake_build(folder: Path, wanted_hash: str, say, cancel=None) -> None:
    for name in MODEL_FILES:
        (folder / name).write_text(name)
    marker = {"format": demo.MARKER_FORMAT, "recipe_hash": wanted_hash}
    (folder / MARKER_NAME).write_text(json.dumps(marker))


def test_replacing_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(demo, "_build_into", _fake_build)
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    # A folder the tool did not make is never replaced, not even with force.
    with pytest.raises(demo.DemoRefused, match="not made by slm-wizard"):
        build_demo_model(out, force=True)
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    assert build_demo_model(out) == out  # an empty folder is used
    assert (out / MARKER_NAME).is_file()
    # A demo build of another recipe in a folder the user named: replaced only with force.
    (out / MARKER_NAME).write_text(json.dumps({"format": demo.MARKER_FORMAT, "recipe_hash": "0"}))
    with pytest.raises(demo.DemoRefused, match="not empty"):
        build_demo_model(out)
    build_demo_model(out, force=True)
    assert json.loads((out / MARKER_NAME).read_text())["recipe_hash"] == recipe_hash()
    (tmp_path / "empty").mkdir()
    build_demo_model(tmp_path / "empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "m"]


def test_interrupted_build_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def interrupted(folder: Path, wanted_hash: str, say, cancel=None) -> None:
        (folder / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_build_into", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_demo_model(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_load_domain_eval_errors(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    path.write_text('{"prompt": "a", "expected": "b", "system": "s"}\n\n{"prompt": "c"}\n')
    with pytest.raises(DemoError, match="line 3"):
        load_domain_eval(path)
    path.write_text('{"prompt": "a", "expected": "b", "system": "s"}\nnot json\n')
    with pytest.raises(DemoError, match="line 2: not valid JSON"):
        load_domain_eval(path)
    path.write_text('{"prompt": "a", "expected": "b", "system": "s"}\n{"prompt": "c", '
                    '"expected": "d", "extra": 1}\n')
    assert load_domain_eval(path) == [
        {"prompt": "a", "expected": "b", "system": "s"},
        {"prompt": "c", "expected": "d"},
    ]
    path.write_text("\n")
    with pytest.raises(DemoError, match="no question/answer lines"):
        load_domain_eval(path)
    with pytest.raises(DemoError, match="missing.jsonl does not exist"):
        load_domain_eval(tmp_path / "missing.jsonl")


def test_cli_demo_command(demo_model: Path, tmp_path: Path, capsys) -> None:
    from slm_wizard.cli.commands import demo as command

    assert command.run(argparse.Namespace(out=demo_model, force=False)) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(demo_model)
    assert "already built" in err
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(demo.DemoRefused):  # refused: cli.main says why (exit 2, one place)
        command.run(argparse.Namespace(out=tmp_path, force=False))
    from slm_wizard.cli.main import main

    capsys.readouterr()
    assert main(["demo", "--out", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and str(tmp_path) in err


def test_cli_main_parses_demo(demo_model: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--out", str(demo_model)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(demo_model)
    help_text = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--help"], capture_output=True, text=True, env=env
    ).stdout
    assert "--force" in help_text and "--out" in help_text


def test_demo_command_and_record(tmp_path: Path) -> None:
    from slm_wizard.core.base.status import Status
    from slm_wizard.core.steps import demo as step

    assert step.Options().argv() == ["slm-wizard", "demo"]
    assert step.Options(tmp_path, force=True).argv() == ["slm-wizard", "demo", "--out",
                                                         str(tmp_path), "--force"]
    rec = step.demo_record(tmp_path / "m", seconds=12.34)
    assert (rec.step, rec.status, rec.command) == ("welcome", Status.OK, ["slm-wizard", "demo"])
    assert rec.figures == {"build time": "12.3 s"} and rec.files["model"] == str(tmp_path / "m")
    assert rec.to_dict()["options"] == {"model_dir": str(tmp_path / "m"), "demo": True}


def test_cancel_stops_the_build_mid_training_and_keeps_nothing(tmp_path: Path) -> None:
    """The wizard quitting during a demo build stops it at the next training step (it used to
    train to the end first); nothing of it is left, and a later build starts afresh."""
    import threading

    from slm_wizard.core.model.demo import DemoCancelled

    cancel = threading.Event()
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("training a Qwen2 model"):
            cancel.set()  # as the app's quit does, from another thread, while training runs

    with pytest.raises(DemoCancelled, match="cancelled"):
        build_demo_model(tmp_path / "demo", progress=progress, cancel=cancel)
    assert not any(line.startswith("step ") for line in lines), lines  # not one step logged
    assert "saving the model" not in lines
    assert list(tmp_path.iterdir()) == []  # no model, no temporary folder


def test_demo_step_runner_reports_lines_as_log_progress_and_failures_as_results(
        demo_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """core.steps.demo: the build's lines are log Progress events; a build that could not be
    done is a Result with its reason (no exception); a refused folder raises a Refused; the
    record is the Welcome step's."""
    from slm_wizard.core.base.status import Progress, Refused, Status
    from slm_wizard.core.steps import demo as step

    events: list[Progress] = []
    result = step.run(step.Options(demo_model), on_progress=events.append)
    assert result.folder == demo_model and result.status == Status.OK and not result.error
    assert events and all(e.log and e.phase == "demo" for e in events)
    assert any("already built" in e.text for e in events)
    rec = step.to_record(step.Options(demo_model), result)
    assert rec.step == "welcome" and rec.command == ["slm-wizard", "demo", "--out",
                                                     str(demo_model)]
    assert rec.files["model"] == str(demo_model) and rec.figures["build time"].endswith(" s")
    assert result.to_dict()["ok"] and result.to_dict()["folder"] == str(demo_model)

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(Refused, match="not empty"):
        step.run(step.Options(tmp_path))

    def cannot(*_a, **_k):
        raise demo.DemoError("cannot write the demo model to /x: disk full")

    monkeypatch.setattr(demo, "build_demo_model", cannot)
    failed = step.run(step.Options())
    assert failed.folder is None and failed.status == Status.FAIL
    assert failed.error == "cannot write the demo model to /x: disk full" and not failed.cancelled
    with pytest.raises(ValueError, match="nothing to record"):
        step.to_record(step.Options(), failed)

    def cancelled(*_a, **_k):
        raise demo.DemoCancelled("the demo build was cancelled; nothing of it was kept")

    monkeypatch.setattr(demo, "build_demo_model", cancelled)
    stopped = step.run(step.Options())
    assert stopped.folder is None and stopped.cancelled and "cancelled" in stopped.error
