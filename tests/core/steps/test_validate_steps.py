"""The bench, checklist and sweep step runners: options <-> headless command, bounds, the
Validate step's plan and its record (no model needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from slm_wizard.cli.commands import bench as bench_cmd
from slm_wizard.cli.commands import sweep as sweep_cmd
from slm_wizard.cli.commands import validate as validate_cmd
from slm_wizard.cli.main import build_parser
from slm_wizard.core.base.status import Status
from slm_wizard.core.evaluate.bench import BenchError
from slm_wizard.core.evaluate.sweep_variants import SweepError
from slm_wizard.core.evaluate.validate import ValidateError
from slm_wizard.core.run.record import RunRecord, StepRecord
from slm_wizard.core.steps import bench, checklist, sweep
from tests.helpers import converted_record


def parsed(argv: list[str]) -> argparse.Namespace:
    assert argv[0] == "slm-wizard"
    return build_parser().parse_args(argv[1:])


@pytest.mark.parametrize("options", [
    bench.Options("/m/onnx"),
    bench.Options("/m/onnx", repeats=5, warmup=0, lengths=(), prompts_file="/p.jsonl",
                  max_tokens=17, report_dir="/r"),
    bench.Options("lumo:1", "foundry", "/cache", lengths=(16, 2048)),
])
def test_bench_argv_parses_back_to_the_same_options(options):
    assert bench_cmd.options_from_args(parsed(options.argv())) == options


@pytest.mark.parametrize("options", [
    checklist.Options("/m/onnx"),
    checklist.Options("/m/onnx", domain_file="/d.jsonl", max_prompts=20, soak=20,
                      checks=("domain", "leak"), lengths=(16, 64, 256), repeats=1,
                      min_score=0.85, max_leak=12.5, max_speed_ratio=3.0,
                      edge_timeout=0.123456789, report_dir="/r"),
    checklist.Options("lumo:1", "foundry", "/cache"),
])
def test_checklist_argv_parses_back_to_the_same_options(options):
    argv = options.argv()
    assert argv[1] == "validate"
    assert validate_cmd.options_from_args(parsed(argv)) == options


@pytest.mark.parametrize("options", [
    sweep.Options("/m/hf"),
    sweep.Options("/m/hf", ("fp32", "int4-b128-asym"), domain_file="/d.jsonl", max_prompts=3,
                  output="/o", report_dir="/r", max_kld=0.01, min_top1=0.95,
                  fidelity_tokens=256),
    sweep.Options("/m/hf", preset="full", min_top1=0.8),
])
def test_sweep_argv_parses_back_to_the_same_options(options):
    assert sweep_cmd.options_from_args(parsed(options.argv())) == options


def test_cli_defaults_are_the_runners_defaults():
    assert validate_cmd.options_from_args(parsed(["slm-wizard", "validate", "/m"])) == \
        checklist.Options("/m")
    assert bench_cmd.options_from_args(parsed(["slm-wizard", "bench", "/m"])) == bench.Options("/m")
    assert sweep_cmd.options_from_args(parsed(["slm-wizard", "sweep", "/m"])) == sweep.Options("/m")


@pytest.mark.parametrize("options, error, words", [
    (checklist.Options("/m", min_score=1.5), ValidateError, "--min-score"),
    (checklist.Options("/m", soak=5), ValidateError, "at least 8"),
    (checklist.Options("/m", checks=("nope",)), ValidateError, "unknown check(s) nope"),
    (bench.Options("/m", repeats=0), BenchError, "from 1 to 100"),
    (bench.Options("/m", repeats=100_000_000), BenchError, "--repeats"),  # ran for hours
    (bench.Options("/m", lengths=(10**9,)), BenchError, "--lengths"),
    (checklist.Options("/m", max_prompts=10**6), ValidateError, "--max-prompts"),
    (checklist.Options("/m", report_dir=__file__), ValidateError, "is a file"),
    (bench.Options("/m", report_dir=__file__ + "/sub"), BenchError, "which is a file"),
    (sweep.Options("/m", ()), SweepError, "--variants is empty"),
    (sweep.Options("/m", fidelity_tokens=0), SweepError, "--fidelity-tokens"),
    (sweep.Options("/m", report_dir=__file__), SweepError, "--report-dir"),
    (bench.Options("/m", max_tokens=0), BenchError, "--max-tokens"),
    (sweep.Options("/m", ("fp99",)), SweepError, "fp99"),
    (sweep.Options("/m", max_prompts=0), SweepError, "--max-prompts"),
    (sweep.Options("/m", max_kld=0), SweepError, "--max-kld"),
    (sweep.Options("/m", min_top1=1.5), SweepError, "--min-top1"),
    (sweep.Options("/m", preset="huge"), SweepError, "unknown preset"),
])
def test_out_of_bounds_options_are_refused_before_anything_runs(options, error, words):
    with pytest.raises(error) as exc:
        options.validate()
    assert words in str(exc.value)
    module = {checklist.Options: checklist, bench.Options: bench, sweep.Options: sweep}
    with pytest.raises(error):  # run() refuses them too, before opening any model
        module[type(options)].run(options)


def test_the_soak_bound_applies_only_when_the_leak_check_runs():
    checklist.Options("/m", soak=5, checks=("domain",)).validate()


def record_with(tmp_path: Path, **kw) -> RunRecord:
    hf = tmp_path / "hf"
    onnx = tmp_path / "onnx"
    for folder in (hf, onnx):
        folder.mkdir()
    (hf / "domain_eval.jsonl").write_text('{"prompt": "hi", "expected": "hello"}\n')
    return converted_record(hf, onnx, **kw)


def test_the_plan_holds_each_phase_as_its_runners_options(tmp_path: Path):
    rec = record_with(tmp_path)
    plan = checklist.make_plan(rec, ("sweep", "bench", "checklist"), "quick",
                               report_dir=tmp_path / "r")
    quick = checklist.SIZES["quick"]
    assert plan.phases == ("bench", "checklist", "sweep")
    assert plan.bench == bench.Options(str(rec.onnx_dir), repeats=quick.repeats,
                                       lengths=quick.lengths, max_tokens=64,
                                       report_dir=str(tmp_path / "r"))
    c = plan.checklist
    assert (c.model, c.soak, c.max_prompts, c.lengths, c.repeats) == (
        str(rec.onnx_dir), quick.soak, quick.max_prompts, quick.lengths, quick.repeats)
    assert c.domain_file == str(rec.model_dir / "domain_eval.jsonl")
    assert plan.sweep.precisions == quick.precisions and plan.sweep.max_prompts == 20
    cmds = plan.commands()
    assert [c[1] for c in cmds] == ["bench", "validate", "sweep"]
    assert validate_cmd.options_from_args(parsed(cmds[1])) == plan.checklist
    assert bench_cmd.options_from_args(parsed(cmds[0])) == plan.bench
    assert sweep_cmd.options_from_args(parsed(cmds[2])) == plan.sweep


def test_a_deployed_model_is_measured_with_its_cache(tmp_path: Path):
    rec = record_with(tmp_path, deployed="lumo", foundry_cache=tmp_path / "cache")
    plan = checklist.make_plan(rec, ("checklist",), "standard", backend="foundry",
                               report_dir=tmp_path / "r")
    assert plan.bench is None and plan.sweep is None
    assert (plan.checklist.model, plan.checklist.backend, plan.checklist.cache_dir) == (
        "lumo:1", "foundry", str(tmp_path / "cache"))
    argv = plan.checklist.argv()
    assert argv[:7] == ["slm-wizard", "validate", "lumo:1", "--backend", "foundry",
                        "--cache-dir", str(tmp_path / "cache")]
    assert plan.checklist.max_prompts is None and plan.checklist.soak == 100


def test_a_plan_needs_what_its_phases_measure(tmp_path: Path):
    with pytest.raises(checklist.PlanError, match="Convert step"):
        checklist.make_plan(RunRecord(model_dir=tmp_path), ("bench",))
    with pytest.raises(checklist.PlanError, match="Model step"):
        checklist.make_plan(converted_record(None, tmp_path), ("sweep",))
    with pytest.raises(checklist.PlanError, match="unknown size"):
        checklist.make_plan(converted_record(None, tmp_path), ("bench",), "huge")
    with pytest.raises(checklist.PlanError, match="at least one"):
        checklist.make_plan(converted_record(None, tmp_path), ())


def test_phase_fraction_splits_each_bar():
    from slm_wizard.core.evaluate.bench import Progress

    assert checklist.phase_fraction("bench", Progress("prompts", 1, 2)) == 0.25
    assert checklist.phase_fraction("bench", Progress("lengths", 2, 2)) == 1.0
    assert checklist.phase_fraction("checklist", Progress("leak", 0, 10)) == 0.25
    assert checklist.phase_fraction("sweep", Progress("sweep", 3, 6)) == 0.5
    assert checklist.phase_fraction("bench", Progress("load", 0, 0, "loading")) is None


def test_a_failed_plan_is_recorded_as_failed_with_what_to_do(tmp_path: Path):
    rec = record_with(tmp_path)
    plan = checklist.make_plan(rec, ("bench", "checklist"), "quick", report_dir=tmp_path / "r")
    # the converted folder is empty: the model cannot load; the run ends with the reason
    result = checklist.run_plan(plan)
    assert result.failed == "bench" and result.error and result.results == {}
    record = checklist.plan_record(result)
    assert isinstance(record, StepRecord) and record.step == "validate"
    assert record.status == Status.FAIL and not record.done
    assert any(n.startswith("Benchmark failed: ") for n in record.notes)
    assert record.command == []  # nothing ran: nothing to reproduce
    rec.record(record)
    assert RunRecord.from_dict(rec.to_dict()).steps["validate"].notes == record.notes


def test_the_recorded_command_reruns_the_same_checklist_headless(demo_model: Path,
                                                                  demo_onnx: Path,
                                                                  tmp_path: Path, capsys):
    """What the Validate step ran and what its reproduce command runs: the same checks, the
    same domain prompts and sizes, the same outcome."""
    import json

    from slm_wizard.cli.main import main

    rec = converted_record(demo_model, demo_onnx, is_demo=True)
    plan = checklist.make_plan(rec, ("checklist",), "quick", report_dir=tmp_path / "wizard")
    done = checklist.run_plan(plan)
    assert done.failed is None, done.error
    record = checklist.plan_record(done)
    assert record.status == Status.OK and record.options["commands"] == [record.command]
    ran = done.results["checklist"]
    assert "--report-dir" not in record.command  # a rerun never overwrites the wizard's report
    command = [*record.command[1:], "--report-dir", str(tmp_path / "again")]
    code = main([*command, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["passed"] is True
    again = {c["id"]: (c["status"], c["data"].get("total")) for c in out["checks"]}
    assert again == {c.id: (c.status.value, c.data.get("total")) for c in ran.checks}
    assert again["domain"][1] == ran.prompts == 20  # the quick size's 20 domain prompts
    assert (tmp_path / "again" / "validate.md").is_file()


def test_preview_leaves_out_what_the_record_cannot_measure_and_says_what_runs(tmp_path: Path):
    no_source = converted_record(None, tmp_path / "onnx")
    assert checklist.unavailable_phases(no_source) == {
        "sweep": "the sweep converts the Hugging Face model: choose one in the Model step"}
    assert set(checklist.unavailable_phases(RunRecord(model_dir=tmp_path))) == {
        "bench", "checklist"}
    plan, line = checklist.preview(no_source, ("bench", "sweep"), "no-such-size")
    assert plan.phases == ("bench",) and plan.size == checklist.DEFAULT_SIZE
    assert line == f"Quick: {checklist.describe_plan(plan)}" and "sweep" not in line
    plan, line = checklist.preview(no_source, ("sweep",))
    assert plan is None and line.startswith("Nothing to run: choose at least one")
    with pytest.raises(checklist.PlanError, match="Model step"):  # make_plan says the same
        checklist.make_plan(no_source, ("sweep",))


def test_backends_for_a_record_and_the_plans_share_of_a_phase(tmp_path: Path):
    from slm_wizard.core.base.status import Progress

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rec = record_with(tmp_path / "a")
    assert checklist.backends_for(rec) == [("onnxruntime-genai", "ort")]
    deployed = record_with(tmp_path / "b", deployed="lumo", foundry_cache=tmp_path / "cache")
    assert checklist.backends_for(deployed)[1] == ("Foundry Local (lumo:1)", "foundry")
    plan = checklist.make_plan(rec, ("bench", "checklist"), report_dir=tmp_path / "r")
    assert plan.fraction(Progress("bench", fraction=0.5)) == 0.25
    assert plan.fraction(Progress("checklist", fraction=1.0)) == 1.0
    assert plan.fraction(Progress("sweep", fraction=0.5)) is None  # not in this plan
    assert plan.fraction(Progress("bench", text="loading")) is None


def _domain(path: Path, rows: int) -> Path:
    import json

    path.write_text("".join(json.dumps({"prompt": f"q{i}", "expected": "lock"}) + "\n"
                            for i in range(rows)))
    return path


def test_a_huge_domain_file_is_capped_by_default_and_says_so(tmp_path: Path) -> None:
    from slm_wizard.core.base.schema import DOMAIN_CAP
    from tests.helpers import FakeChatBackend

    domain = _domain(tmp_path / "d.jsonl", DOMAIN_CAP + 5)
    backend = FakeChatBackend()
    options = checklist.Options(str(tmp_path), domain_file=str(domain), checks=("domain",),
                                report_dir=str(tmp_path / "r"))
    result = checklist.run(options, backend=backend)
    assert backend.calls == DOMAIN_CAP
    assert any(f"holds {DOMAIN_CAP + 5:,} prompts: the first {DOMAIN_CAP:,}" in n
               for n in result.notes)
    backend = FakeChatBackend()
    checklist.run(checklist.Options(str(tmp_path), domain_file=str(domain), checks=("domain",),
                                    max_prompts=DOMAIN_CAP + 2,
                                    report_dir=str(tmp_path / "r2")), backend=backend)
    assert backend.calls == DOMAIN_CAP + 2  # asked for: no cap


def test_a_report_that_cannot_be_written_fails_the_run(tmp_path: Path, monkeypatch,
                                                       capsys) -> None:
    """A full disk under --report-dir: exit 1 and an error, not exit 0 with a warning."""
    import errno

    from slm_wizard.cli.main import main
    from slm_wizard.core.base import reports
    from tests.helpers import FakeChatBackend

    def full(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(reports, "export_report", full)
    monkeypatch.setattr(checklist, "open_measured_backend", lambda *a, **k: FakeChatBackend())
    domain = _domain(tmp_path / "d.jsonl", 2)
    code = main(["validate", str(tmp_path), "--checks", "domain", "--domain", str(domain),
                 "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: the report could not be written" in err and "No space left" in err


def test_a_huge_prompt_file_is_capped_and_says_so(tmp_path: Path) -> None:
    from slm_wizard.core.base.schema import BENCH_PROMPTS_CAP
    from tests.helpers import FakeChatBackend

    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(f'"prompt {i}"\n' for i in range(BENCH_PROMPTS_CAP + 50)))
    backend = FakeChatBackend()
    result = bench.run(bench.Options(str(tmp_path), repeats=1, warmup=0, lengths=(),
                                     prompts_file=str(prompts), report_dir=str(tmp_path / "r")),
                       backend=backend)
    assert backend.calls == BENCH_PROMPTS_CAP
    assert f"holds {BENCH_PROMPTS_CAP + 50} prompts: the first {BENCH_PROMPTS_CAP}" in \
        result.notes[0]
