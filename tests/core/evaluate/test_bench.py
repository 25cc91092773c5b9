"""Benchmark: statistics, length planning, report exports, and a real run on the demo model."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from slm_wizard.core.base.reports import Report, Table, default_report_dir, export_report, slug
from slm_wizard.core.base.status import Status
from slm_wizard.core.evaluate.bench import (
    BenchError,
    filler_text,
    load_prompts,
    plan_length_sweep,
    summarize,
)


def test_summarize_matches_textbook_values():
    s = summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert s.n == 8 and s.mean == 5 and s.median == 4.5 and s.min == 2 and s.max == 9
    assert math.isclose(s.stdev, 2.138, rel_tol=1e-3)  # sample standard deviation
    assert math.isclose(s.cv, s.stdev / 5)
    one = summarize([3.0])
    assert one.stdev == 0 and one.median == 3 and one.p90 == 3
    ten = summarize([float(i) for i in range(1, 11)])
    assert math.isclose(ten.p90, 9.1) and ten.median == 5.5  # linear between ranks 9 and 10
    assert summarize([]) is None


def test_plan_length_sweep_caps_by_max_length():
    # 512 context, 64 new tokens: at most 447 prompt tokens; 1024 is left out, the cap is run.
    keep, skipped, _ = plan_length_sweep((16, 64, 256, 1024), 512, 64)
    assert keep == [16, 64, 256, 447] and skipped == [1024]
    keep, skipped, _ = plan_length_sweep((1024, 16, 16), None, 64)
    assert keep == [16, 1024] and skipped == []
    keep, skipped, _ = plan_length_sweep((16, 64), 4096, 256)
    assert keep == [16, 64] and skipped == []
    with pytest.raises(BenchError, match="positive"):
        plan_length_sweep((0, 16), 512, 64)


def test_lengths_below_the_template_are_left_out_with_a_note():
    from slm_wizard.core.evaluate.bench import plan_length_sweep

    # The template's own tokens and one word make 39: 16 and 32 cannot be built.
    keep, skipped, notes = plan_length_sweep((16, 32, 64, 256, 4096), 512, 64, floor=39)
    assert keep == [64, 256, 447] and skipped == [16, 32, 4096]
    assert len(notes) == 2
    assert "16, 32 left out" in notes[0] and "39 tokens" in notes[0]
    assert "4096 left out" in notes[1] and "447 tokens" in notes[1] and "instead" in notes[1]
    # Nothing fits at all: no replacement below the floor.
    keep, skipped, notes = plan_length_sweep((16, 1024), 100, 64, floor=39)
    assert keep == [] and skipped == [16, 1024] and "instead" not in notes[-1]


def test_built_prompts_off_target_or_equal_are_not_run():
    from slm_wizard.core.evaluate.bench import check_built, within_tolerance

    assert within_tolerance(20, 16) and not within_tolerance(21, 16)  # 4 tokens
    assert within_tolerance(973, 1024) and not within_tolerance(972, 1024)  # 5 %
    built = [(40, "a", 39), (41, "b", 39), (64, "c", 63), (256, "d", 200)]
    keep, notes = check_built(built)
    assert keep == [(40, "a", 39), (64, "c", 63)]
    assert any("41 left out" in n and "same 39-token prompt as 40" in n for n in notes)
    assert any("256 left out" in n and "200 tokens" in n for n in notes)


def test_demo_sweep_lengths_are_the_lengths_asked(backend):
    """On the demo: every length run is within 5 % or 4 tokens of the one asked, no two are
    equal, and the lengths below the template's own tokens are left out with a note."""
    from slm_wizard.core.evaluate.bench import length_floor, run_benchmark
    from slm_wizard.core.runtime.chat import GenerationSettings

    floor = length_floor(backend)
    asked = (16, 32, floor, floor + 1, 64, 256)
    result = run_benchmark(backend, [], warmup=0, repeats=1, lengths=asked,
                           settings=GenerationSettings(max_tokens=4))
    measured = [p.prompt_tokens for p in result.lengths]
    assert len(set(measured)) == len(measured)
    for p in result.lengths:
        assert abs(p.prompt_tokens - p.target_tokens) <= max(4, 0.05 * p.target_tokens), p
    assert [p.target_tokens for p in result.lengths] == [floor, floor + 1, 64, 256]
    low = [n for n in (16, 32) if n < floor]
    assert result.skipped_lengths == low
    if low:
        assert any("left out" in n and f"{floor} tokens" in n
                   for n in result.to_report().notes)


def test_filler_text_is_deterministic_and_sized():
    assert filler_text(10) == filler_text(10)
    assert len(filler_text(300).split()) == 300
    assert len(filler_text(0).split()) == 1


def test_load_prompts_accepts_objects_and_strings_and_explains_errors(tmp_path: Path):
    good = tmp_path / "p.jsonl"
    good.write_text('{"prompt": "Hi", "system": "Be brief."}\n\n"Hello there"\n', encoding="utf-8")
    assert load_prompts(good) == [{"prompt": "Hi", "system": "Be brief."},
                                  {"prompt": "Hello there"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n', encoding="utf-8")
    with pytest.raises(BenchError, match=r"line 2: .*\"prompt\""):
        load_prompts(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{nope\n", encoding="utf-8")
    with pytest.raises(BenchError, match="line 1: not valid JSON"):
        load_prompts(broken)
    with pytest.raises(BenchError, match="missing.jsonl does not exist"):
        load_prompts(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(BenchError, match="no prompts"):
        load_prompts(empty)


def parse_markdown_tables(text: str) -> list[list[list[str]]]:
    """Markdown tables as rows of cells (the separator row dropped)."""
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not all(set(c) <= {"-"} for c in line.strip("|").split("|")):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def test_report_exports_parse_back(tmp_path: Path):
    table = Table("runs", "Runs", ["name", "value", "ok"],
                  [["a|b", 1.5, True], ["ünï 😀", None, False]])
    report = Report("bench", "Benchmark", {"model": "demo"}, [table], ["a note"],
                    data={"nan": float("nan"), "path": tmp_path})
    paths = export_report(report, tmp_path / "out")
    assert [p.name for p in paths.all()] == ["bench.md", "bench.json", "bench-runs.csv"]
    obj = json.loads(paths.json.read_text(encoding="utf-8"))
    assert obj["tables"]["runs"]["rows"][0] == {"name": "a|b", "value": 1.5, "ok": True}
    assert obj["data"]["nan"] is None and obj["data"]["path"] == str(tmp_path)
    with paths.csv[0].open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["name", "value", "ok"], ["a|b", "1.5", "True"], ["ünï 😀", "", "False"]]
    md = parse_markdown_tables(paths.markdown.read_text(encoding="utf-8"))
    assert md[0][0] == ["name", "value", "ok"]
    assert md[0][1] == ["a\\|b", "1.5", "yes"] and len(md[0]) == 3
    assert not list((tmp_path / "out").glob("*.tmp"))  # atomic writes leave no temp files


def test_default_report_dir_is_under_data_dir():
    folder = default_report_dir("my model/v1", when=0)
    assert folder.parent.name == "reports"
    assert folder.name.endswith("-my-model-v1")
    assert slug("") == "model"


# --------------------------------------------------------------------- on the demo model (real)


@pytest.fixture(scope="module")
def backend(demo_onnx: Path):
    from slm_wizard.core.runtime.backends import open_backend

    b = open_backend("ort", demo_onnx)
    yield b
    b.close()


def test_benchmark_numbers_are_present_and_plausible(backend):
    from slm_wizard.core.evaluate.bench import run_benchmark
    from slm_wizard.core.runtime.chat import GenerationSettings

    seen = []
    result = run_benchmark(backend, warmup=1, repeats=2, lengths=(16, 64, 256),
                           settings=GenerationSettings(max_tokens=16), on_progress=seen.append)
    prompt_runs = result.prompt_runs()
    assert len(prompt_runs) == 2 * 4  # repeats x built-in prompts; the warm-up is not kept
    for run in result.runs:
        assert run.prompt_tokens > 0 and run.generated_tokens > 0
        assert 0 < run.ttft_s < run.total_s
        assert run.prefill_tps > 0 and run.peak_rss_mb > 10 and run.cpu_percent >= 0
        if run.generated_tokens > 1:
            assert run.decode_tps > 0
    # The sweep: prompts of the asked lengths; the demo's template alone is above 16 tokens,
    # so 16 is left out with a note rather than silently run at the template's length.
    assert [p.target_tokens for p in result.lengths] == [64, 256]
    assert result.skipped_lengths == [16] and "16 left out" in result.length_notes[0]
    for p in result.lengths:
        assert p.target_tokens - 4 <= p.prompt_tokens <= p.target_tokens
        assert p.decode_tps is not None and p.decode_tps.n == 2 and p.decode_tps.mean > 0
    length_runs = [r for r in result.runs if r.phase == "lengths"]
    assert all(r.generated_tokens == 16 for r in length_runs)  # same reply length everywhere
    summary = result.summary()
    assert summary["ttft_s"].median < summary["total_s"].median
    assert summary["decode_tps"].stdev >= 0
    assert seen[-1].phase == "lengths" and seen[-1].done == seen[-1].total
    assert {p.phase for p in seen} == {"prompts", "lengths"}


def test_lengths_are_capped_by_max_length(demo_onnx: Path):
    from slm_wizard.core.evaluate.bench import run_benchmark
    from slm_wizard.core.runtime.backends import open_backend
    from slm_wizard.core.runtime.chat import GenerationSettings

    small = open_backend("ort", demo_onnx, max_length=200)
    try:
        result = run_benchmark(small, [], repeats=1, lengths=(16, 64, 1024),
                               settings=GenerationSettings(max_tokens=8))
    finally:
        small.close()
    floor = 39  # the demo's chat template with one word: 16 cannot be built
    assert result.skipped_lengths == [16, 1024]
    cap = 200 - 8 - 1
    assert [p.target_tokens for p in result.lengths] == [64, cap]
    assert cap - 4 <= result.lengths[-1].prompt_tokens <= cap
    assert any(f"16 left out: below the {floor} tokens" in n for n in result.length_notes)
    assert not result.prompt_runs()
    assert any("1024" in note for note in result.to_report().notes)


def test_real_result_exports_parse_back(backend, tmp_path: Path):
    from slm_wizard.core.evaluate.bench import run_benchmark
    from slm_wizard.core.runtime.chat import GenerationSettings

    result = run_benchmark(backend, [{"prompt": "What is Lumo?"}], repeats=2, lengths=(48,),
                           settings=GenerationSettings(max_tokens=8))
    paths = export_report(result.to_report(), tmp_path / "r", model_name="demo")
    obj = json.loads(paths.json.read_text(encoding="utf-8"))
    assert len(obj["data"]["runs"]) == len(result.runs) == 4
    assert obj["tables"]["summary"]["rows"][0]["metric"] == "TTFT (s)"
    runs_csv = next(p for p in paths.csv if p.name == "bench-runs.csv")
    with runs_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(float(r["decode tok/s"]) > 0 for r in rows)
    tables = parse_markdown_tables(paths.markdown.read_text(encoding="utf-8"))
    assert len(tables) == 3 and len(tables[2]) == 1 + 4  # header + one row per run


def test_cli_bench_json_and_reports(demo_onnx: Path, tmp_path: Path, capsys):
    from slm_wizard.cli.main import main

    code = main(["bench", str(demo_onnx), "--repeats", "1", "--warmup", "0", "--lengths", "16",
                 "64", "--max-tokens", "8", "--json", "--report-dir", str(tmp_path / "rep")])
    out = capsys.readouterr()
    assert code == 0, out.err
    obj = json.loads(out.out)
    # 16 is below the demo template's own tokens: left out, and the JSON says so.
    assert len(obj["runs"]) == 4 + 1 and obj["report"]["folder"] == str(tmp_path / "rep")
    assert obj["skipped_lengths"] == [16] and "16 left out" in obj["length_notes"][0]
    assert Path(obj["report"]["markdown"]).is_file()
    assert "[prompts 1/4]" in out.err  # progress goes to stderr


def test_cli_bench_explains_bad_input(demo_onnx: Path, tmp_path: Path, capsys):
    from slm_wizard.cli.main import main

    bad = tmp_path / "p.jsonl"
    bad.write_text('{"question": "hi"}\n', encoding="utf-8")
    assert main(["bench", str(demo_onnx), "--prompts", str(bad)]) == 2
    assert 'line 1: each line needs a text field "prompt"' in capsys.readouterr().err
    assert main(["bench", str(tmp_path), "--no-lengths"]) == 2  # refused input
    assert "no genai_config.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", str(demo_onnx), "--lengths", "-5"])


class CountingBackend:
    """No tokenizer to ask: the prompt length only shows in a reply's statistics
    (a 20-token template plus 1.5 tokens per word)."""

    name, max_length = "counting", 4096

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, messages, settings, *, on_text=None, cancel=None):
        from slm_wizard.core.runtime.chat import Reply
        from slm_wizard.core.runtime.metrics import ReplyStats

        self.calls += 1
        words = len(messages[-1]["content"].split())
        prompt = 20 + int(words * 1.5)
        n = settings.max_tokens
        return Reply("x " * n, ReplyStats(prompt, n, 0.01, prompt / 0.01, 100.0,
                                          0.01 + n / 100, False, "length"))


def test_length_prompts_are_calibrated_without_a_tokenizer():
    from slm_wizard.core.evaluate.bench import build_length_prompts

    backend = CountingBackend()
    built = build_length_prompts(backend, [16, 64, 256, 1000])
    assert [t for t, _, _ in built] == [16, 64, 256, 1000]
    small = built[0]
    assert small[2] == 21 and len(small[1].split()) == 1  # below the template's own size
    for target, _, n in built[1:]:
        assert target - 3 <= n <= target
    assert backend.calls <= 2 + 3 * 4


def test_cancel_stops_the_benchmark_between_runs():
    import threading

    from slm_wizard.core.evaluate.bench import run_benchmark

    cancel = threading.Event()

    def progress(p) -> None:
        if p.done == 3:
            cancel.set()

    result = run_benchmark(CountingBackend(), warmup=0, repeats=3, lengths=(64,),
                           on_progress=progress, cancel=cancel)
    assert result.cancelled and len(result.runs) == 3 and not result.lengths
    assert any("cancelled" in note for note in result.to_report().notes)


def test_consistency_never_compares_two_equal_lengths(backend):
    """`validate --checks consistency --lengths 16 32` on the demo once compared two 39-token
    prompts and passed. Both lengths are below the template's own tokens: nothing to compare,
    and the check says why."""
    from slm_wizard.core.evaluate.bench import run_benchmark
    from slm_wizard.core.evaluate.validate_runtime import check_consistency
    from slm_wizard.core.runtime.chat import GenerationSettings

    result = run_benchmark(backend, [], warmup=0, repeats=1, lengths=(16, 32),
                           settings=GenerationSettings(max_tokens=4))
    check = check_consistency(result)
    assert check.status == Status.SKIP and result.lengths == []
    assert any("16, 32 left out" in e for e in check.evidence)
    result = run_benchmark(backend, [], warmup=0, repeats=1, lengths=(16, 48, 96),
                           settings=GenerationSettings(max_tokens=4))
    check = check_consistency(result)
    tokens = [n for n, _ in check.data["points"]]
    assert len(tokens) == len(set(tokens)) == 2 and check.status != Status.SKIP
    assert any("16 left out" in e for e in check.evidence)


def test_sweep_without_domain_data_says_so_and_how_to_add_it(tmp_path: Path):
    from slm_wizard.core.evaluate.sweep import fidelity_samples

    samples, source = fidelity_samples(None)
    assert samples and "no domain data was given" in source
    assert "--domain FILE" in source and "domain_eval.jsonl" in source
    domain = tmp_path / "d.jsonl"
    domain.write_text('{"prompt": "Who makes Lumo?", "expected": "Lumo Labs"}\n',
                      encoding="utf-8")
    samples, source = fidelity_samples(domain)
    assert len(samples) == 1 and source.startswith("domain set ") and "--domain" not in source


def test_bench_step_record_says_which_lengths_were_left_out(tmp_path: Path):
    from slm_wizard.core.steps import bench as bench_step

    options = bench_step.Options(str(tmp_path), repeats=1, warmup=0, lengths=(10, 64),
                                 max_tokens=4, report_dir=str(tmp_path / "rep"))
    result = bench_step.run(options, backend=CountingBackend())
    assert result.bench.skipped_lengths == [10]  # below the fake template's 21 tokens
    record = bench_step.to_record(options, result)
    assert any("10 left out" in n and "21 tokens" in n for n in record.notes), record.notes
