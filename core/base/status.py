"""The types every step shares: one status vocabulary, one check result, one progress event and
one refusal.

Prerequisites, conversion verification, deployment stages and the quality checklist all report a
list of `CheckResult`s with a `Status`; the screens and the CLI show them the same way. Every step
runner reports what it is doing as `Progress` events, and refuses bad input by raising a
`Refused` subclass (the CLI maps it to exit 2 in one place, the screens show its message).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """What came of a check or a step. The values are what JSON, TOML and reports hold."""

    OK = "ok"  # done and as required (a checklist item: passed)
    WARN = "warn"  # done, but with something the user should know
    FAIL = "fail"  # not as required, or it failed
    SKIP = "skip"  # not run (the reason is in the result)
    RUNNING = "running"  # under way (progress reports only)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object) -> Status:
        """A Status from its value; older words ("pass", "failed", "skipped") are accepted."""
        if isinstance(value, Status):
            return value
        word = str(value).strip().lower()
        word = {"pass": "ok", "passed": "ok", "failed": "fail", "skipped": "skip",
                "warning": "warn", "error": "fail"}.get(word, word)
        try:
            return cls(word)
        except ValueError:
            raise ValueError(f"unknown status {value!r}; expected one of "
                             f"{', '.join(s.value for s in cls)}") from None

    @property
    def finished_well(self) -> bool:
        """Done, with or without a warning."""
        return self in (Status.OK, Status.WARN)


ICON = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "–",
        Status.RUNNING: "…"}


def mark(ok: bool) -> str:
    """ICON's glyph for passed (OK) or not (FAIL): the evidence lines' marks."""
    return ICON[Status.OK if ok else Status.FAIL]


WORD = {Status.OK: "OK", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "SKIP",
        Status.RUNNING: "RUNNING"}


@dataclass(frozen=True)
class CheckResult:
    """One check: what it found against what is required, and the exact fix when it fails."""

    id: str
    title: str
    status: Status
    found: str = ""  # what was found or measured
    required: str = ""  # what is needed, or the threshold
    fix: str = ""  # the exact fix for this system ("" when there is nothing to do)
    essential: bool = False  # a failed essential check blocks the step
    evidence: tuple[str, ...] = ()  # lines that show how `found` was measured
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status.parse(self.status))
        object.__setattr__(self, "evidence", tuple(self.evidence))

    @property
    def ok(self) -> bool:
        return self.status.finished_well

    @property
    def blocks(self) -> bool:
        return self.essential and self.status == Status.FAIL

    @property
    def passed(self) -> bool | None:
        """None when skipped, else whether it passed (warnings pass)."""
        return None if self.status == Status.SKIP else self.ok

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["evidence"] = list(self.evidence)
        return d


def counts(results: list[CheckResult] | tuple[CheckResult, ...]) -> dict[str, int]:
    out = {s.value: 0 for s in Status if s != Status.RUNNING}
    for r in results:
        out[r.status.value] = out.get(r.status.value, 0) + 1
    return out


@dataclass(frozen=True)
class Progress:
    """What a step is doing now, as every runner reports it (from its worker thread).

    `phase` names the stage ("load", "convert", "copy", "bench", ...); `done` of `total` counts
    the stage's items when it has some; `text` is one line for the user; `fraction` is how far the
    whole step is (0..1) when known; `status` is a staged step's outcome for that stage (the
    Deploy stages); `log` marks a raw log line (a log pane shows it, a stage line does not)."""

    phase: str
    done: int = 0
    total: int = 0
    text: str = ""
    fraction: float | None = None
    status: Status | None = None
    log: bool = False


ProgressFn = Callable[[Progress], Any]


class Refused(ValueError):
    """A step refused its input before doing anything: the message says what and why, for the
    user. The CLI exits 2 on it (cli.main, one place); a screen shows the message."""

    def to_dict(self) -> dict[str, Any]:
        """What `--json` prints for the refusal."""
        return {"ok": False, "error": str(self)}
