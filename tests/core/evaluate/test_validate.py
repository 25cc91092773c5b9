"""Quality checklist: the pure logic (fit, matching, schema), then checks on the demo model."""

from __future__ import annotations

import math
import mmap
import threading
from pathlib import Path

import pytest

from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.core.evaluate.validate import (
    DomainAnswer,
    DomainCase,
    ValidateError,
    answer_domain,
    check_domain,
    check_format,
    load_domain_cases,
    matches_expected,
    parse_domain_case,
    schema_problem,
)
from slm_wizard.core.evaluate.validate_runtime import (
    check_edge_cases,
    check_leak,
    leak_growth,
    linear_fit,
    steady_part,
)


def test_linear_fit_recovers_a_line_and_its_noise():
    fit = linear_fit([0, 1, 2, 3, 4], [1, 3, 5, 7, 9])
    assert math.isclose(fit.slope, 2) and math.isclose(fit.intercept, 1)
    assert math.isclose(fit.r2, 1)
    flat = linear_fit([0, 1, 2, 3], [5, 5, 5, 5])
    assert flat.slope == 0
    with pytest.raises(ValueError):
        linear_fit([1], [1])
    with pytest.raises(ValueError):
        linear_fit([1, 1], [1, 2])


def test_leak_growth_drops_the_warm_up():
    # A big jump during warm-up (arenas, caches), then flat: no leak.
    samples = [100, 140, 160, 170] + [170.0 + (0.2 if i % 2 else -0.2) for i in range(16)]
    growth, start, _ = leak_growth(samples, warmup_fraction=0.25)
    assert start == 5 and abs(growth) < 5
    # 2 MB kept per generation: 200 MB per 100 generations.
    leaking = [300 + 2 * i for i in range(20)]
    growth, _, fit = leak_growth(leaking)
    assert math.isclose(growth, 200) and math.isclose(fit.r2, 1)
    assert steady_part([1.0] * 6, 0.5) == 1  # keeps at least five points


def test_domain_matching_ignores_case_and_spacing():
    case = DomainCase("q", expected="Lumo costs  129 euros")
    assert matches_expected(case, "Well, lumo costs 129\neuros, including cards.")
    assert not matches_expected(case, "Lumo costs 130 euros")
    rx = DomainCase("q", expected_regex=r"\b1[0-9]{2} euros")
    assert matches_expected(rx, "It is 129 euros.") and not matches_expected(rx, "free")


def test_domain_lines_are_checked_with_clear_messages(tmp_path: Path):
    where = "f, line 3"
    with pytest.raises(ValidateError, match='line 3: "prompt"'):
        parse_domain_case({"expected": "x"}, where)
    with pytest.raises(ValidateError, match='"format" is not a valid regular expression'):
        parse_domain_case({"prompt": "p", "format": "(unclosed"}, where)
    with pytest.raises(ValidateError, match='give "expected"'):
        parse_domain_case({"prompt": "p"}, where)
    with pytest.raises(ValidateError, match='"expected" must be text'):
        parse_domain_case({"prompt": "p", "expected": 3}, where)
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "a", "expected": "b", "system": "s"}\n'
                    '{"prompt": "c", "schema": {"type": "object"}}\n', encoding="utf-8")
    cases = load_domain_cases(path)
    assert cases[0].messages() == [{"role": "system", "content": "s"},
                                   {"role": "user", "content": "a"}]
    assert not cases[1].scored and cases[1].schema == {"type": "object"}


SCHEMA = {
    "type": "object",
    "required": ["name", "price"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "price": {"type": "number", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "unit": {"enum": ["EUR", "USD"]},
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize(("value", "problem"), [
    ({"name": "Lumo", "price": 129, "tags": ["lock"], "unit": "EUR"}, None),
    ({"name": "Lumo"}, "'price' is a required property"),
    ({"name": "", "price": 1}, "$.name: '' should be non-empty"),
    ({"name": "x", "price": -1}, "less than the minimum of 0"),
    ({"name": "x", "price": True}, "$.price: True is not of type 'number'"),
    ({"name": "x", "price": 1, "tags": ["a", 2]}, "$.tags[1]: 2 is not of type 'string'"),
    ({"name": "x", "price": 1, "tags": ["a", "b", "c"]}, "is too long"),
    ({"name": "x", "price": 1, "unit": "GBP"}, "is not one of ['EUR', 'USD']"),
    ({"name": "x", "price": 1, "color": "red"}, "'color' was unexpected"),
    ([1, 2], "is not of type 'object'"),
])
def test_schema_problem_uses_jsonschema(value, problem):
    found = schema_problem(value, SCHEMA)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_domain_and_format_checks_score_against_thresholds():
    def answer(ok: bool | None, fmt: str | None = None, has_format: bool = False):
        return DomainAnswer("q", "r", "e", ok, fmt, has_format)

    answers = [answer(True)] * 4 + [answer(False)]
    assert check_domain(answers, 0.8).status == Status.OK
    assert check_domain(answers, 0.81).status == Status.FAIL
    assert check_domain(answers, 0.8).found == "80% (4/5)"
    skipped = check_domain([answer(None, None, True)])
    assert skipped.status == Status.SKIP and isinstance(skipped, CheckResult)
    # A domain file of format lines only: the fix names "expected", not "give a domain file"
    assert skipped.passed is None and '"expected"' in skipped.fix
    assert "--domain" not in skipped.fix and "--domain" in check_domain([]).fix
    assert check_format(answers).status == Status.SKIP
    shaped = [answer(None, None, True), answer(None, "not JSON", True)]
    result = check_format(shaped, 1.0)
    assert result.status == Status.FAIL and result.found == "50% (1/2)"
    assert any("not JSON" in line for line in result.evidence)


# --------------------------------------------------------------------- on the demo model (real)


@pytest.fixture(scope="module")
def backend(demo_onnx: Path):
    from slm_wizard.core.runtime.backends import open_backend

    b = open_backend("ort", demo_onnx)
    yield b
    b.close()


@pytest.fixture(scope="module")
def domain_cases(demo_model: Path) -> list[DomainCase]:
    return load_domain_cases(demo_model / "domain_eval.jsonl")[:20]


@pytest.fixture(scope="module")
def untrained_onnx(demo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's exact shape and tokenizer with random weights, converted to int4."""
    import shutil
    import subprocess
    import sys

    import torch
    from transformers import AutoConfig, Qwen2ForCausalLM

    root = tmp_path_factory.mktemp("untrained")
    hf = root / "hf"
    shutil.copytree(demo_model, hf, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(AutoConfig.from_pretrained(hf, trust_remote_code=False))
    model.save_pretrained(hf, safe_serialization=True)
    out = root / "onnx"
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o",
           str(out), "-p", "int4", "-e", "cpu", "-c", str(root / "cache")]
    subprocess.run(cmd, check=True, cwd=root, capture_output=True, timeout=300)
    assert (out / "genai_config.json").is_file()
    return out


class LeakyBackend:
    """A real backend that keeps 2 MB more memory on every call (a deliberate leak)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = "leaky"
        self.max_length = inner.max_length
        self.kept: list[mmap.mmap] = []

    def generate(self, messages, settings, *, on_text=None, cancel=None):
        # Fresh pages from the OS, written so they are resident: malloc could instead reuse
        # free heap memory left by earlier tests, which would not show in RSS.
        block = mmap.mmap(-1, 2 * 2**20)
        block.write(b"x" * (2 * 2**20))
        self.kept.append(block)
        return self.inner.generate(messages, settings, on_text=on_text, cancel=cancel)

    def count_tokens(self, messages) -> int:
        return self.inner.count_tokens(messages)

    def close(self) -> None:
        for block in self.kept:
            block.close()
        self.kept.clear()


class HangingBackend:
    """Ignores cancel for a while (a hang), or raises a bare error (a crash)."""

    name, max_length = "broken", 512

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.release = threading.Event()

    def generate(self, messages, settings, *, on_text=None, cancel=None):
        if self.mode == "crash":
            raise RuntimeError("segfault-ish")
        self.release.wait(20)
        raise RuntimeError("released")

    def count_tokens(self, messages) -> int:
        return 10

    def close(self) -> None:
        self.release.set()


def test_domain_check_passes_for_the_fine_tuned_demo(backend, domain_cases):
    answers = answer_domain(backend, domain_cases)
    result = check_domain(answers, 0.8)
    assert result.status == Status.OK, result.evidence
    assert result.data["score"] >= 0.9 and result.data["total"] == 20
    assert all(a.tokens and "".join(a.tokens) == a.reply for a in answers)


def test_domain_check_fails_for_an_untrained_model_of_the_same_shape(untrained_onnx,
                                                                     domain_cases):
    from slm_wizard.core.runtime.backends import open_backend

    untrained = open_backend("ort", untrained_onnx)
    try:
        result = check_domain(answer_domain(untrained, domain_cases), 0.8)
    finally:
        untrained.close()
    assert result.status == Status.FAIL
    assert result.data["score"] < 0.2
    assert any(line.startswith("✗") for line in result.evidence)  # ICON[FAIL]


def test_format_check_with_regex_and_schema(backend):
    cases = [
        parse_domain_case({"prompt": "How much does Lumo cost?", "expected": "129 euros",
                           "format": r"[A-Z].*\b\d+ euros.*\."}, "t"),
        parse_domain_case({"prompt": "What is Lumo?",
                           "schema": {"type": "object", "required": ["answer"]}}, "t"),
    ]
    answers = answer_domain(backend, cases)
    assert answers[0].correct and answers[0].format_problem is None
    assert answers[1].correct is None and answers[1].format_problem.startswith("not JSON")
    result = check_format(answers)
    assert result.status == Status.FAIL and result.found == "50% (1/2)"


def test_leak_check_passes_on_the_real_backend(backend):
    samples = []
    result = check_leak(backend, 24, threshold_mb_per_100=25, on_sample=samples.append)
    assert result.status == Status.OK, result.evidence
    assert len(samples) == 24 == len(result.data["rss_mb"])
    assert abs(result.data["mb_per_100"]) < 25


def test_leak_check_fails_on_a_backend_that_keeps_memory(backend):
    leaky = LeakyBackend(backend)
    try:
        result = check_leak(leaky, 24, threshold_mb_per_100=25)
    finally:
        leaky.close()
    assert result.status == Status.FAIL
    assert 150 < result.data["mb_per_100"] < 260  # 2 MB per generation is 200 MB per 100
    assert result.data["r2"] > 0.9


def test_every_edge_case_runs_without_a_crash(backend):
    from slm_wizard.core.evaluate.validate_runtime import edge_cases

    result = check_edge_cases(backend, timeout_s=30)
    outcomes = {o["id"]: o for o in result.data["outcomes"]}
    assert set(outcomes) == {c.id for c in edge_cases(backend.max_length)}
    assert result.status == Status.OK, result.evidence
    for o in outcomes.values():
        assert o["outcome"] in ("reply", "message") and o["text"]
    assert outcomes["empty"]["outcome"] == "message" and "empty" in outcomes["empty"]["text"]
    assert outcomes["too_long"]["outcome"] == "message"
    assert "too long" in outcomes["too_long"]["text"]
    assert outcomes["bad_settings"]["outcome"] == "message"
    assert outcomes["unicode"]["outcome"] == "reply"


def test_edge_case_check_catches_crashes_and_hangs():
    from slm_wizard.core.evaluate.validate_runtime import EdgeCase, run_edge_case
    from slm_wizard.core.runtime.chat import GenerationSettings

    case = EdgeCase("raw", "raw", messages=(("user", "hi"),))
    crash = run_edge_case(HangingBackend("crash"), case, GenerationSettings(), timeout_s=5)
    assert crash.outcome == "crash" and "RuntimeError: segfault-ish" in crash.text
    hanging = HangingBackend("hang")
    try:
        hung = run_edge_case(hanging, case, GenerationSettings(), timeout_s=0.3, grace_s=0.3)
    finally:
        hanging.close()
    assert hung.outcome == "hang" and not hung.ok
    result = check_edge_cases(HangingBackend("crash"), cases=[case], timeout_s=5)
    assert result.status == Status.FAIL and result.found == "0/1 handled"


def test_checklist_on_the_demo_passes_and_exports(backend, domain_cases, tmp_path: Path):
    import csv
    import json

    from slm_wizard.core.base.reports import export_report
    from slm_wizard.core.evaluate.validate_checklist import run_checklist

    # Lengths the demo can take (its template alone is 39 tokens: 16 would be left out).
    result = run_checklist(backend, domain_cases=domain_cases, soak=16, lengths=(48, 128),
                           repeats=1, model="demo")
    assert [c.id for c in result.checks] == ["domain", "format", "leak", "consistency",
                                             "edge_cases"]
    statuses = {c.id: c.status for c in result.checks}
    assert statuses == {"domain": Status.OK, "format": Status.SKIP, "leak": Status.OK,
                        "consistency": Status.OK, "edge_cases": Status.OK}, result.checks
    assert result.passed and result.summary_line() == "4 passed, 0 failed, 1 skipped"
    paths = export_report(result.to_report(), tmp_path)
    obj = json.loads(paths.json.read_text(encoding="utf-8"))
    assert obj["data"]["passed"] is True
    assert [r["result"] for r in obj["tables"]["checks"]["rows"]] == [
        "PASS", "SKIP", "PASS", "PASS", "PASS"]
    with next(p for p in paths.csv if p.name == "validate-checks.csv").open(
            encoding="utf-8", newline="") as f:
        assert len(list(csv.reader(f))) == 1 + 5


def test_cli_validate_exit_codes(demo_onnx, demo_model, untrained_onnx, tmp_path, capsys):
    import json

    from slm_wizard.cli.main import main

    domain = str(demo_model / "domain_eval.jsonl")
    code = main(["validate", str(demo_onnx), "--domain", domain, "--max-prompts", "10",
                 "--soak", "10", "--lengths", "48", "64", "--repeats", "1", "--json",
                 "--report-dir", str(tmp_path / "ok")])
    out = capsys.readouterr()
    assert code == 0, out.out
    obj = json.loads(out.out)
    assert obj["passed"] is True and (tmp_path / "ok" / "validate.md").is_file()
    code = main(["validate", str(untrained_onnx), "--domain", domain, "--max-prompts", "10",
                 "--checks", "domain", "--report-dir", str(tmp_path / "bad")])
    out = capsys.readouterr()
    assert code == 1
    assert "Answers its fine-tuned domain" in out.out and "FAIL" in out.out
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(demo_onnx), "--checks", "domain,nope"])
    assert exc.value.code == 2
    assert "unknown check(s) nope" in capsys.readouterr().err


def test_cancel_stops_the_checklist(backend, domain_cases):
    from slm_wizard.core.evaluate.validate_checklist import run_checklist

    cancel = threading.Event()

    def progress(p) -> None:
        if p.phase == "domain" and p.done == 3:
            cancel.set()

    result = run_checklist(backend, domain_cases=domain_cases, soak=16, lengths=(16,),
                           on_progress=progress, cancel=cancel)
    assert result.cancelled and not result.passed
    assert [c.id for c in result.checks] == ["domain", "format"]
    assert result.checks[0].data["total"] == 3
    assert result.summary_line().endswith("(cancelled)")


def test_a_domain_line_with_a_system_the_model_refuses_names_the_line_and_the_fix():
    """A domain line's "system" on a model whose chat template refuses a system message (Gemma):
    the answer's error says it is the line's "system" and how to fix it, not the engine's raw
    "System role not supported at row 1, column 74: ..."; other lines are asked as usual."""
    from slm_wizard.core.evaluate.validate import DomainCase, answer_domain
    from slm_wizard.core.runtime.chat import Reply
    from slm_wizard.core.runtime.metrics import ReplyStats

    class Gemma:
        system_refusal = ("This model has no system role: its chat template refuses a system "
                          "message (System role not supported). Clear the system prompt")
        asked: list = []

        def generate(self, messages, settings, on_text=None, cancel=None):
            self.asked.append(messages)
            return Reply("Bye", ReplyStats(5, 1, 0.01, 500.0, 100.0, 0.02, False, "eos"))

    answers = answer_domain(Gemma(), [DomainCase("Hi", "Hello", system="Be brief"),
                                      DomainCase("Bye", "Bye")])
    assert answers[0].correct is False
    assert answers[0].error.startswith('the line\'s "system": This model has no system role')
    assert answers[1].correct is True and not answers[1].error
    assert Gemma.asked == [[{"role": "user", "content": "Bye"}]]
