"""The Chat step's runner (core.steps.chat): options and their one-shot command, the one-shot run
on the real demo model, and a record that tells which backend gave which reply."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from slm_wizard.cli.commands.chat import options_from
from slm_wizard.cli.main import build_parser, main
from slm_wizard.core.base.status import Status
from slm_wizard.core.model.demo import load_domain_eval
from slm_wizard.core.run.record import RunRecord
from slm_wizard.core.runtime.chat import GenerationSettings
from slm_wizard.core.runtime.metrics import ProcessSample, ReplyStats
from slm_wizard.core.steps import chat as step
from tests.helpers import converted_record, record_deployment


def stats(tps: float, ttft: float, tokens: int = 10, reason: str = "eos") -> ReplyStats:
    return ReplyStats(prompt_tokens=30, generated_tokens=tokens, ttft_s=ttft, prefill_tps=300.0,
                      decode_tps=tps, total_s=1.0, stopped=reason == "cancelled",
                      finish_reason=reason)


def reply(backend: str, tps: float, ttft: float, rss_mb: int = 100,
          reason: str = "eos") -> step.Result:
    sample = ProcessSample(t=0.0, rss=rss_mb * 2**20, peak_rss=(rss_mb + 50) * 2**20,
                           cpu_percent=50.0, available=2**33)
    status = Status.WARN if reason == "cancelled" else Status.OK
    return step.Result(status, backend, "answer", stats(tps, ttft, reason=reason), sample)


def parsed(argv: list[str]) -> step.Options:
    assert argv[:2] == ["slm-wizard", "chat"]
    return options_from(build_parser().parse_args(argv[1:]))


# -- options and the one-shot command -------------------------------------------------------------

def test_argv_is_one_shot_and_parses_back_to_the_same_options() -> None:
    settings = GenerationSettings(max_tokens=40, temperature=0.7, top_p=0.9, top_k=20,
                                  repetition_penalty=1.1, min_tokens=3)
    for options in (
        step.Options("/m/onnx", prompt="What is Lumo?"),
        step.Options.of("ort", Path("/m/onnx"), settings, system="Be brief.", prompt="Hi"),
        step.Options.of("foundry", "lumo:1", settings, cache_dir=Path("/c/models"),
                        prompt="Hi --json"),
        step.Options.of("foundry", "lumo:1", GenerationSettings(), prompt="Hi"),
    ):
        argv = options.argv()
        assert "--prompt" in argv and argv[argv.index("--prompt") + 1] == options.prompt
        assert parsed(argv) == options
    plain = step.Options("/m/onnx", prompt="Hi").argv()
    assert plain == ["slm-wizard", "chat", "/m/onnx", "--prompt", "Hi"]  # defaults: no flags
    with pytest.raises(step.ChatInputError, match="prompt"):
        step.Options("/m/onnx").argv()  # never the interactive form


def test_the_cache_folder_goes_with_foundry_only() -> None:
    ort = step.Options.of("ort", "/m/onnx", GenerationSettings(), cache_dir="/c", prompt="x")
    assert ort.cache_dir is None and "--cache-dir" not in ort.argv()
    fdy = step.Options.of("foundry", "lumo:1", GenerationSettings(), cache_dir="/c", prompt="x")
    assert fdy.argv()[3:7] == ["--backend", "foundry", "--cache-dir", "/c"]


@pytest.mark.parametrize(("kw", "words"), [
    ({"max_tokens": 0}, "max tokens"), ({"temperature": 9.0}, "temperature"),
    ({"backend": "llama.cpp"}, "unknown backend"), ({"prompt": " \x00\n"}, "empty"),
    ({"model": "  "}, "ONNX folder"),
])
def test_options_refuse_bad_input(kw, words, tmp_path) -> None:
    options = step.Options(**{"model": str(tmp_path), **kw})  # a folder that exists
    with pytest.raises(step.ChatInputError, match=words):
        options.validate()
    assert issubclass(step.ChatInputError, ValueError)


def test_options_for_the_run_record(tmp_path) -> None:
    record = converted_record(None, tmp_path / "onnx")
    ort = step.options_for(record, "ort")
    assert (ort.backend, ort.model, ort.cache_dir) == ("ort", str(tmp_path / "onnx"), None)
    assert step.options_for(record, "foundry") is None  # not deployed yet
    record_deployment(record, "lumo", "1", tmp_path / "cache")
    fdy = step.options_for(record, "foundry", GenerationSettings(max_tokens=9))
    assert (fdy.model, fdy.cache_dir, fdy.max_tokens) == ("lumo:1", str(tmp_path / "cache"), 9)
    assert step.options_for(RunRecord(), "ort") is None


# -- the record -----------------------------------------------------------------------------------

def test_record_counts_replies_per_backend_and_labels_figures() -> None:
    """The known bug: Summary said "2 replies with foundry" when one came from ort."""
    ort = step.Options("/m/onnx", max_tokens=64)
    fdy = step.Options("lumo:1", backend="foundry", cache_dir="/c", max_tokens=64)
    log = step.ChatLog()
    log.add(replace(ort, prompt="What is Lumo?"), reply("ort", 250.0, 0.012, rss_mb=120))
    log.add(replace(fdy, prompt="Second"), reply("foundry", 900.0, 0.030, rss_mb=300))
    rec = log.to_record()
    assert rec.step == "chat" and rec.status == Status.OK
    assert rec.outcome.startswith("2 replies: 1 with onnxruntime-genai, 1 with Foundry Local")
    assert "foundry" not in rec.outcome.split(";")[0].replace("Foundry Local", "")
    assert rec.figures["replies (onnxruntime-genai)"] == "1"
    assert rec.figures["replies (Foundry Local)"] == "1"
    assert rec.figures["decode (onnxruntime-genai)"] == "250.0 tok/s"
    assert rec.figures["decode (Foundry Local)"] == "900.0 tok/s"
    assert rec.figures["TTFT (onnxruntime-genai)"] == "12 ms"
    assert rec.figures["TTFT (Foundry Local)"] == "30 ms"
    assert rec.figures["peak RSS (onnxruntime-genai)"] == "170 MB"
    assert rec.figures["peak RSS (Foundry Local)"] == "350 MB"
    # The command: the one-shot chat of the first prompt, with the backend that answered it.
    assert rec.command == ["slm-wizard", "chat", "/m/onnx", "--prompt", "What is Lumo?",
                           "--max-tokens", "64"]
    assert rec.options["backends"] == ["ort", "foundry"]
    assert rec.files == {"Chat model (onnxruntime-genai)": "/m/onnx",
                         "Foundry Local cache (Foundry Local)": "/c"}
    # More replies with one backend: counted, and the last reply's figures shown.
    log.add(replace(fdy, prompt="Third"), reply("foundry", 800.0, 0.020))
    rec = log.to_record()
    assert rec.outcome.startswith("3 replies: 1 with onnxruntime-genai, 2 with Foundry Local")
    assert rec.figures["replies (Foundry Local)"] == "2"
    assert rec.figures["decode (Foundry Local)"] == "800.0 tok/s"
    assert rec.command[2] == "/m/onnx"  # still the first prompt's
    # ...and every other prompt answered follows, each with its backend (issue 25).
    sent = [c[c.index("--prompt") + 1] for c in (rec.command, *rec.more_commands)]
    assert sent == ["What is Lumo?", "Second", "Third"]
    assert rec.more_commands[0][:5] == ["slm-wizard", "chat", "lumo:1", "--backend", "foundry"]


def test_record_with_one_backend_failures_and_stops() -> None:
    fdy = step.Options("lumo:1", backend="foundry")
    log = step.ChatLog()
    assert log.to_record().status == Status.SKIP
    log.add(replace(fdy, prompt="First"), step.failure_of("foundry", "Foundry Local failed: x"))
    rec = log.to_record()
    assert rec.status == Status.FAIL and "Foundry Local failed" in rec.outcome
    assert rec.command == []  # nothing ran well: nothing to reproduce
    log.add(replace(fdy, prompt="Second"), reply("foundry", 500.0, 0.01, reason="cancelled"))
    rec = log.to_record()
    assert rec.status == Status.OK
    assert rec.outcome.startswith("1 reply with Foundry Local")
    assert rec.command[rec.command.index("--prompt") + 1] == "Second"  # the first answered
    assert set(rec.notes) == {"1 reply stopped by the user", "1 reply failed"}


def test_record_goes_on_counting_after_a_resume() -> None:
    """A resumed run's chat record counts the earlier session's replies too (it used to start at
    zero, so the first new reply replaced "5 replies" with "1 reply"); saved through TOML."""
    ort = step.Options("/m/onnx", max_tokens=64)
    fdy = step.Options("lumo:1", backend="foundry", cache_dir="/c")
    first = step.ChatLog()
    for i in range(4):
        first.add(replace(ort, prompt=f"q{i}"), reply("ort", 250.0, 0.012))
    first.add(replace(fdy, prompt="f"), reply("foundry", 900.0, 0.03))
    run = RunRecord(model_dir=Path("/m"))
    run.record(first.to_record())
    saved = RunRecord.from_dict(run.to_dict()).get("chat")  # as the next session reads it

    log = step.ChatLog.continuing(saved)
    assert log.earlier == {"ort": 4, "foundry": 1}
    log.add(replace(ort, prompt="again"), reply("ort", 300.0, 0.010))
    rec = log.to_record()
    assert rec.outcome.startswith(
        "6 replies: 5 with onnxruntime-genai, 1 with Foundry Local (5 of them in an earlier "
        "session)")
    assert rec.figures["replies (onnxruntime-genai)"] == "5"
    assert rec.figures["replies (Foundry Local)"] == "1"
    assert rec.figures["decode (onnxruntime-genai)"] == "300.0 tok/s"  # this session's last
    assert "decode (Foundry Local)" not in rec.figures  # no figures survive, only the count
    assert rec.command[rec.command.index("--prompt") + 1] == "again"

    # Nothing to continue from: a skipped or failed record, or none.
    assert step.ChatLog.continuing(None).earlier == {}
    assert step.ChatLog.continuing(step.ChatLog().to_record()).earlier == {}
    failed = step.ChatLog().add(replace(fdy, prompt="x"), step.failure_of("foundry", "boom"))
    assert step.ChatLog.continuing(failed.to_record()).earlier == {}


# -- one-shot run on the real model ---------------------------------------------------------------

@pytest.fixture(scope="module")
def domain(demo_model: Path) -> list[dict]:
    return load_domain_eval(demo_model / "domain_eval.jsonl")


def test_run_answers_and_its_record_command_reproduces_it(demo_onnx, domain, capsys) -> None:
    row = domain[1]
    options = step.Options(str(demo_onnx), system=row["system"], prompt=row["prompt"],
                           max_tokens=64)
    streamed: list[str] = []
    progress: list = []
    result = step.run(options, on_text=streamed.append, on_progress=progress.append)
    assert result.status == Status.OK and result.backend == "ort" and not result.error
    assert result.text.strip() == row["expected"] and "".join(streamed) == result.text
    # The child streams the reply in batches (the first token at once): never more pieces than
    # tokens, and the figures are the generating child's, the wizard's apart.
    assert 1 <= len(streamed) <= result.stats.generated_tokens
    assert result.pid and result.pid != os.getpid()
    assert result.sample is not None and result.sample.rss > 0
    assert result.wizard is not None and result.wizard.rss > 0
    assert result.sample.peak_rss >= result.sample.rss
    assert progress and progress[0].phase == "load" and "loading" in progress[0].text
    rec = step.to_record(options, result)
    assert rec.status == Status.OK and rec.outcome.startswith("1 reply with onnxruntime-genai")
    assert "decode (onnxruntime-genai)" in rec.figures
    # The record's command, run headless, gives the same reply.
    assert main([*rec.command[1:], "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["text"] == result.text and data["backend"] == "ort"
    assert data["generator_pid"] not in (0, os.getpid())
    for key in ("rss_bytes", "peak_rss_bytes", "wizard_rss_bytes", "wizard_peak_rss_bytes"):
        assert data[key] > 0, key
    assert data["stats"]["e2e_tps"] > 0


def test_run_in_process_generates_here(demo_onnx, domain) -> None:
    row = domain[1]
    options = step.Options(str(demo_onnx), system=row["system"], prompt=row["prompt"],
                           max_tokens=64, in_process=True)
    assert "--in-process" in options.argv() and parsed(options.argv()) == options
    streamed: list[str] = []
    result = step.run(options, on_text=streamed.append)
    assert result.text.strip() == row["expected"]
    assert result.stats.generated_tokens == len(streamed)  # one piece per token
    assert result.pid == os.getpid()
    assert result.to_dict()["generator_pid"] == os.getpid()


def test_run_failure_is_a_result_not_an_exception(tmp_path) -> None:
    # A missing folder, one without genai_config.json and a Hugging Face folder are refused
    # input; a converted folder that does not load is a FAIL result (the child process reports
    # the load failure).
    from tests.helpers.folders import make_model, make_onnx

    with pytest.raises(step.ChatInputError, match="does not exist"):
        step.run(step.Options(str(tmp_path / "nope"), prompt="Hi"))
    with pytest.raises(step.ChatInputError, match="no genai_config.json"):
        step.run(step.Options(str(tmp_path), prompt="Hi"))
    with pytest.raises(step.ChatInputError, match="Hugging Face model folder"):
        step.run(step.Options(str(make_model(tmp_path / "hf")), prompt="Hi"))
    broken = str(make_onnx(tmp_path / "onnx"))
    with pytest.raises(step.ChatInputError, match="has no nope.onnx_adapter"):
        step.run(step.Options(broken, prompt="Hi", adapter="nope"))
    result = step.run(step.Options(broken, prompt="Hi"))
    assert result.status == Status.FAIL and result.error
    assert step.to_record(step.Options(broken, prompt="Hi"), result).status == Status.FAIL
    with pytest.raises(step.ChatInputError):
        step.run(step.Options(broken))  # a one-shot run needs its prompt


def test_settings_in_use_say_what_each_backend_applies() -> None:
    greedy = GenerationSettings(max_tokens=64)
    assert step.settings_in_use("ort", greedy) == "greedy, at most 64 tokens per reply"
    assert step.settings_in_use("foundry", greedy) == "greedy, at most 64 tokens per reply"
    sampled = GenerationSettings(max_tokens=64, temperature=0.7, top_p=0.9, top_k=50,
                                 repetition_penalty=1.2, min_tokens=8)
    ort = step.settings_in_use("ort", sampled)
    assert "temperature 0.7, top_p 0.9, top_k 50" in ort and "repetition penalty 1.2" in ort
    fl = step.settings_in_use("foundry", sampled)
    assert "temperature 0.7" in fl
    assert "repetition penalty and min tokens not applied" in fl


def test_load_closes_the_previous_backend_and_reports_a_model_that_does_not_load(
        tmp_path, monkeypatch) -> None:
    import threading

    from slm_wizard.core.runtime.chat import ChatError
    from tests.helpers import FakeChatBackend

    old, new = FakeChatBackend(), FakeChatBackend()
    monkeypatch.setattr(step, "open_backend", lambda options: new)
    options = step.Options(str(tmp_path))
    seen: list = []
    loaded = step.load(options, on_progress=seen.append, previous=old)
    assert loaded.backend is new and not loaded.error and old.closed
    assert seen[0].phase == "load" and str(tmp_path) in seen[0].text
    cancel = threading.Event()
    cancel.set()  # replaced while it loaded: what it opened is closed, nobody keeps it
    assert step.load(options, cancel=cancel).backend is None and new.closed

    def fails(options):
        raise ChatError("the model folder has no genai_config.json")

    monkeypatch.setattr(step, "open_backend", fails)
    assert step.load(options) == step.Loaded(None, "the model folder has no genai_config.json")


def test_send_answers_in_a_kept_session_and_a_generation_failure_is_an_answer() -> None:
    from tests.helpers import FakeChatBackend

    backend = FakeChatBackend()
    session = step.new_session(step.Options("/m"), backend)
    pieces: list[str] = []
    answer = step.send(step.Options("/m", prompt="What is Lumo?"), session=session,
                       on_text=pieces.append)
    assert answer.reply.text == "Lumo is a lock." == "".join(pieces) and not answer.error
    assert len(session.history) == 2
    failed = step.send(step.Options("/m", prompt="   "), session=session)
    assert failed.reply is None and "empty" in failed.error


def test_a_system_prompt_the_template_refuses_is_refused_input_exit_2(
    tmp_path, monkeypatch, capsys,
) -> None:
    """`chat --system` on a model whose chat template refuses a system message (Gemma) is the
    user's input refused (exit 2, the advice on stderr), not a failed run (exit 1); nothing is
    generated and the model is closed. Without --system it answers."""
    from tests.helpers.folders import make_onnx

    refusal = "This model has no system role: (System role not supported). Clear the system prompt"

    class Refusing:
        name, max_length, system_refusal = "ort", 128, refusal
        sent: list[list[dict[str, str]]] = []
        closed = 0

        def generate(self, messages, settings, on_text=None, cancel=None):
            from slm_wizard.core.runtime.chat import Reply
            self.sent.append(messages)
            return Reply("Hello", ReplyStats(5, 1, 0.01, 500.0, 100.0, 0.02, False, "eos"))

        def close(self) -> None:
            Refusing.closed += 1

    monkeypatch.setattr(step, "open_backend", lambda options: Refusing())
    folder = str(make_onnx(tmp_path / "gemma"))
    code = main(["chat", folder, "--prompt", "Hi", "--system", "Be brief."])
    err = capsys.readouterr().err
    assert code == 2 and "no system role" in err and "Traceback" not in err
    assert Refusing.sent == [] and Refusing.closed == 1
    assert main(["chat", folder, "--prompt", "Hi"]) == 0
    assert Refusing.sent and all(m["role"] != "system" for m in Refusing.sent[0])


def test_a_system_prompt_the_template_drops_is_warned_about(tmp_path, monkeypatch,
                                                            capsys) -> None:
    """Phi-3-mini's published template drops a system message: `chat --system` still answers
    (exit 0) but says the system prompt does not reach the model; a template that keeps it
    (Llama 3) has no such note."""
    from slm_wizard.core.runtime.chat import system_ignored
    from tests.helpers.folders import make_onnx
    from tests.helpers.templates import DATA, tiny_tokenizer_json

    def folder(name: str, bos: str, eos: str) -> Path:
        template = (DATA / f"{name}.jinja").read_text(encoding="utf-8")
        out = make_onnx(tmp_path / name)
        (out / "tokenizer.json").write_text(tiny_tokenizer_json(template, bos, eos))
        (out / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template,
            "bos_token": bos, "eos_token": eos}))
        return out

    phi3 = folder("microsoft-phi-3-mini", "<s>", "<|endoftext|>")
    llama = folder("meta-llama-3-instruct", "<|begin_of_text|>", "<|eot_id|>")
    note = system_ignored(phi3)
    assert "drops a system message" in note and system_ignored(llama) == ""

    class Dropping:
        name, max_length, system_refusal, system_ignored = "ort", 128, "", note

        def generate(self, messages, settings, on_text=None, cancel=None):
            from slm_wizard.core.runtime.chat import Reply
            return Reply("Hello", ReplyStats(5, 1, 0.01, 500.0, 100.0, 0.02, False, "eos"))

        def close(self) -> None:
            pass

    monkeypatch.setattr(step, "open_backend", lambda options: Dropping())
    assert main(["chat", str(phi3), "--prompt", "Hi", "--system", "Be brief."]) == 0
    assert f"warning: {note}" in capsys.readouterr().err
    assert main(["chat", str(phi3), "--prompt", "Hi"]) == 0
    assert "drops a system message" not in capsys.readouterr().err
