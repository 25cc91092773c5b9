"""Quality checklist: the pure logic (fit, matching, schema), then checks on the demo model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core.validate import (
    DomainAnswer,
    DomainCase,
    ValidateError,
    check_domain,
    check_format,
    leak_growth,
    linear_fit,
    load_domain_cases,
    matches_expected,
    parse_domain_case,
    schema_problem,
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
    ({"name": "Lumo"}, "missing 'price'"),
    ({"name": "", "price": 1}, "shorter than 1"),
    ({"name": "x", "price": -1}, "below 0"),
    ({"name": "x", "price": True}, "expected number"),
    ({"name": "x", "price": 1, "tags": ["a", 2]}, "expected string"),
    ({"name": "x", "price": 1, "tags": ["a", "b", "c"]}, "more than 2 items"),
    ({"name": "x", "price": 1, "unit": "GBP"}, "not one of"),
    ({"name": "x", "price": 1, "color": "red"}, "unexpected color"),
    ([1, 2], "expected object"),
])
def test_schema_subset(value, problem):
    found = schema_problem(value, SCHEMA)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_domain_and_format_checks_score_against_thresholds():
    def answer(ok: bool | None, fmt: str | None = None, has_format: bool = False):
        return DomainAnswer("q", "r", "e", ok, fmt, has_format)

    answers = [answer(True)] * 4 + [answer(False)]
    assert check_domain(answers, 0.8).status == "pass"
    assert check_domain(answers, 0.81).status == "fail"
    assert check_domain(answers, 0.8).measured == "80% (4/5)"
    assert check_domain([answer(None, None, True)]).status == "skip"
    assert check_format(answers).status == "skip"
    shaped = [answer(None, None, True), answer(None, "not JSON", True)]
    result = check_format(shaped, 1.0)
    assert result.status == "fail" and result.measured == "50% (1/2)"
    assert any("not JSON" in line for line in result.evidence)
