"""The quality checklist as automated checks: each with pass/fail, its threshold and evidence.

Checks (ids): `domain` (answers of the fine-tuned domain), `format` (replies in the expected
shape), `leak` (memory growth over a soak of N generations), `consistency` (decode speed
across input lengths), `edge_cases` (bad or unusual input neither crashes nor hangs).

Domain file (JSONL, one object per line; the demo model ships `domain_eval.jsonl`):
- `prompt` (text, required): the user message;
- `expected` (text): must appear in the reply (case and runs of spaces ignored);
- `expected_regex` (text): a Python regular expression searched in the reply;
- `system` (text): a system message sent before the prompt;
- `format` (text): a regular expression the whole reply (trimmed) must match;
- `schema` (object): a JSON schema; the reply must be JSON valid against it (checked with the
  `jsonschema` package, the whole of JSON Schema).
A line without `expected`/`expected_regex` counts only for the format check.

The checks of the runtime's behaviour (leak, consistency, edge cases) are in
core/evaluate/validate_runtime.py; the checklist run and its result in validate_checklist.py.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from slm_wizard.core.base.status import CheckResult, Refused, Status, mark
from slm_wizard.core.evaluate.bench import (
    Progress,
    ProgressFn,
)
from slm_wizard.core.model.model_info import DOMAIN_FILE

CHECK_IDS = ("domain", "format", "leak", "consistency", "edge_cases")
CHECK_TITLES = {
    "domain": "Answers its fine-tuned domain",
    "format": "Replies have the expected format",
    "leak": "No memory leak in prolonged use",
    "consistency": "Consistent speed across input lengths",
    "edge_cases": "Handles edge cases and invalid input",
}
# The checklist's words for the shared statuses (reports and tables say PASS/FAIL/SKIP).
LABEL = {Status.OK: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "SKIP",
         Status.RUNNING: "RUNNING"}
PASS, FAIL, SKIP = Status.OK, Status.FAIL, Status.SKIP


class ValidateError(Refused):
    """Bad checklist input (a domain file, a threshold); the message is for the user."""


@dataclass(frozen=True)
class Thresholds:
    domain_score: float = 0.8  # share of domain prompts answered as expected
    format_score: float = 1.0  # share of prompts with a format that match it
    leak_mb_per_100: float = 25.0  # RSS growth per 100 generations, linear fit
    speed_ratio: float = 2.0  # fastest / slowest median decode tok/s across input lengths
    speed_floor_tps: float = 50.0  # ... or the slowest length still decodes at least this fast
    edge_timeout_s: float = 60.0  # per edge case; the case is cancelled after it


def _check(check_id: str, status: Status, required: str, found: str,
           evidence: Sequence[str] = (), data: dict[str, Any] | None = None,
           seconds: float = 0.0, fix: str = "") -> CheckResult:
    """A checklist item as the shared check-result type (required = the threshold)."""
    return CheckResult(check_id, CHECK_TITLES[check_id], status, found=found, required=required,
                       fix=fix, evidence=tuple(evidence), data=data or {}, seconds=seconds)


# ----------------------------------------------------------------------------- domain + format


@dataclass
class DomainCase:
    prompt: str
    expected: str | None = None
    expected_regex: str | None = None
    system: str | None = None
    format: str | None = None
    schema: dict[str, Any] | None = None

    @property
    def scored(self) -> bool:
        return self.expected is not None or self.expected_regex is not None

    def messages(self) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.system}] if self.system else []
        return out + [{"role": "user", "content": self.prompt}]


def _text_field(obj: dict, name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidateError(f'{where}: "{name}" must be text')
    if name != "system" and not value.strip():  # an empty "expected" would match every reply
        raise ValidateError(f'{where}: "{name}" is empty: give the text (or pattern) a right '
                            "answer holds, or leave the key out")
    return value


def parse_domain_case(obj: Any, where: str) -> DomainCase:
    if not isinstance(obj, dict):
        raise ValidateError(f"{where}: each line must be a JSON object")
    prompt = _text_field(obj, "prompt", where)
    if not prompt or not prompt.strip():
        raise ValidateError(f'{where}: "prompt" (text) is missing or empty')
    case = DomainCase(prompt, _text_field(obj, "expected", where),
                      _text_field(obj, "expected_regex", where), _text_field(obj, "system", where),
                      _text_field(obj, "format", where), obj.get("schema"))
    for name in ("expected_regex", "format"):
        pattern = getattr(case, name)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValidateError(f'{where}: "{name}" is not a valid regular expression '
                                    f"({exc})") from exc
    if case.schema is not None and not isinstance(case.schema, dict):
        raise ValidateError(f'{where}: "schema" must be a JSON object (a JSON schema)')
    if case.schema is not None:
        import jsonschema

        try:
            jsonschema.validators.validator_for(case.schema).check_schema(case.schema)
        except jsonschema.SchemaError as exc:
            raise ValidateError(f'{where}: "schema" is not a valid JSON schema ({exc.message})') \
                from None
    if not case.scored and case.format is None and case.schema is None:
        raise ValidateError(f'{where}: give "expected", "expected_regex", "format" or "schema"')
    return case


def load_domain_cases(path: str | Path) -> list[DomainCase]:
    from slm_wizard.core.base.fileio import read_jsonl

    path = Path(path)
    cases = []
    for number, obj in read_jsonl(path, ValidateError, "domain file"):
        cases.append(parse_domain_case(obj, f"{path}, line {number}"))
    if not cases:
        raise ValidateError(f"the domain file {path} holds no prompts")
    return cases


def find_domain_file(*folders: Path | None) -> Path | None:
    """The first `domain_eval.jsonl` in the given folders (the demo model ships one)."""
    for folder in folders:
        if folder is not None and (Path(folder) / DOMAIN_FILE).is_file():
            return Path(folder) / DOMAIN_FILE
    return None


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def matches_expected(case: DomainCase, reply: str) -> bool:
    ok = True
    if case.expected is not None:
        ok = _norm(case.expected) in _norm(reply)
    if ok and case.expected_regex is not None:
        ok = re.search(case.expected_regex, reply) is not None
    return ok


def format_problem(case: DomainCase, reply: str) -> str | None:
    """None when the reply has the case's format (or it has none), else what is wrong."""
    text = reply.strip()
    if case.format is not None and re.fullmatch(case.format, text, flags=re.DOTALL) is None:
        return f"does not match /{case.format}/"
    if case.schema is not None:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"not JSON ({exc.msg})"
        problem = schema_problem(value, case.schema)
        if problem:
            return problem
    return None


def schema_problem(value: Any, schema: dict[str, Any], where: str = "$") -> str | None:
    """The first way `value` breaks `schema` (the `jsonschema` package, a dependency)."""
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        path = exc.json_path.replace("$", where, 1)
        return f"{path}: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"the schema itself is invalid: {exc.message}"
    return None


@dataclass
class DomainAnswer:
    prompt: str
    reply: str
    expected: str | None
    correct: bool | None  # None: not scored (format-only line)
    format_problem: str | None
    has_format: bool
    error: str = ""
    tokens: list[str] = field(default_factory=list)  # the reply, one piece per token


def domain_settings(settings: Any | None = None, max_tokens: int = 128) -> Any:
    """Greedy settings for scoring answers (temperature 0)."""
    from slm_wizard.core.runtime.chat import GenerationSettings

    base = settings if settings is not None else GenerationSettings(max_tokens=max_tokens)
    return replace(base, temperature=0.0)


def answer_domain(backend: Any, cases: Sequence[DomainCase], *, settings: Any | None = None,
                  on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> list[DomainAnswer]:
    """Ask every domain prompt (greedy) and judge the replies."""
    from slm_wizard.core.runtime.chat import ChatError

    settings = domain_settings(settings)
    answers = []
    for i, case in enumerate(cases, start=1):
        if cancel is not None and cancel.is_set():
            break
        has_format = case.format is not None or case.schema is not None
        pieces: list[str] = []
        refusal = getattr(backend, "system_refusal", "") if case.system else ""
        try:
            if refusal:  # the line's "system" is what the model's template refuses: say so
                raise ChatError(f'the line\'s "system": {refusal}')
            text = backend.generate(case.messages(), settings, on_text=pieces.append,
                                    cancel=cancel).text
        except ChatError as exc:
            answers.append(DomainAnswer(case.prompt, "", case.expected,
                                        False if case.scored else None,
                                        "no reply" if has_format else None, has_format, str(exc)))
        else:
            answers.append(DomainAnswer(
                case.prompt, text, case.expected or case.expected_regex,
                matches_expected(case, text) if case.scored else None,
                format_problem(case, text), has_format, tokens=pieces,
            ))
        if on_progress:
            on_progress(Progress("domain", i, len(cases), _short(case.prompt)))
    return answers


def check_domain(answers: Sequence[DomainAnswer], threshold: float = 0.8) -> CheckResult:
    scored = [a for a in answers if a.correct is not None]
    limit = f"score ≥ {threshold:.0%}"
    if not scored:
        if answers:  # a domain file was given, but none of its lines can be scored
            return _check("domain", SKIP, limit, "no scored domain prompts",
                          ['no line of the domain file has "expected" or "expected_regex"'],
                          fix='add "expected" (or "expected_regex") to lines of the domain file')
        return _check("domain", SKIP, limit, "no domain prompts",
                      ["give a domain file (JSONL with prompt and expected)"],
                      fix="give a domain file: --domain FILE (JSONL with prompt and expected)")
    right = sum(1 for a in scored if a.correct)
    score = right / len(scored)
    evidence = [f"{mark(a.correct)} {_short(a.prompt)} → {_short(a.reply or a.error)}"
                for a in scored]
    return _check("domain", PASS if score >= threshold else FAIL, limit,
                  f"{score:.0%} ({right}/{len(scored)})", evidence,
                  {"score": score, "right": right, "total": len(scored)})


def check_format(answers: Sequence[DomainAnswer], threshold: float = 1.0) -> CheckResult:
    shaped = [a for a in answers if a.has_format]
    limit = f"≥ {threshold:.0%} of replies match"
    if not shaped:
        return _check("format", SKIP, limit, "no prompt declares a format",
                      ['add "format" (regex) or "schema" (JSON schema) to domain lines'])
    good = sum(1 for a in shaped if a.format_problem is None)
    share = good / len(shaped)
    evidence = [f"{mark(a.format_problem is None)} {_short(a.prompt)}"
                + (f": {a.format_problem}" if a.format_problem else "") for a in shaped]
    return _check("format", PASS if share >= threshold else FAIL, limit,
                  f"{share:.0%} ({good}/{len(shaped)})", evidence,
                  {"share": share, "good": good, "total": len(shaped)})


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
