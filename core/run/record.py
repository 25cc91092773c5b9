"""The run record: what each step ran, with which options, and what came out.

It is the one source of the step bar, the Summary, resume and the reproduce commands. A step is
recorded by its runner's result (`StepRecord`), never by which button the user pressed, so a step
passed with ctrl+n is shown as what it is: done when its work ran, not run otherwise.

The record is saved with the settings (TOML; see core.settings) and read back strictly: a value
of the wrong type raises `RecordError` naming the key, and the caller moves the file aside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.status import Status

# The wizard's steps in order, with their titles (the TUI adds where each screen lives).
STEP_TITLES: dict[str, str] = {
    "welcome": "Welcome",
    "prereqs": "Prerequisites",
    "model": "Model",
    "convert": "Convert",
    "deploy": "Deploy",
    "chat": "Chat",
    "validate": "Validate",
    "summary": "Summary",
}
STEP_IDS: tuple[str, ...] = tuple(STEP_TITLES)

# Re-running a step replaces what later steps worked on: their records no longer describe the
# current artefacts and are dropped.
INVALIDATES: dict[str, tuple[str, ...]] = {
    "convert": ("deploy", "chat", "validate"),
}


class RecordError(ValueError):
    """A saved run record holds a value of the wrong type or an unknown step (named)."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def tomlable(value: Any) -> Any:
    """TOML has no null and no paths: drop None, write paths and enums as text."""
    if isinstance(value, dict):
        return {str(k): tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple, set)):
        return [tomlable(v) for v in value if v is not None]
    if isinstance(value, Status):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class StepRecord:
    """One step's run: options in, outcome out, files written, figures measured."""

    step: str
    status: Status
    outcome: str = ""  # one line: what came out
    options: dict[str, Any] = field(default_factory=dict)  # what it ran with
    files: dict[str, str] = field(default_factory=dict)  # label -> path written or used
    figures: dict[str, str] = field(default_factory=dict)  # label -> value with its unit
    command: list[str] = field(default_factory=list)  # the headless command that redoes it
    more_commands: list[list[str]] = field(default_factory=list)  # when one is not enough
    notes: list[str] = field(default_factory=list)  # overrides and warnings the user accepted
    when: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        self.status = Status.parse(self.status)

    @property
    def done(self) -> bool:
        return self.status.finished_well

    def to_dict(self) -> dict[str, Any]:
        return tomlable({
            "step": self.step, "status": self.status.value, "outcome": self.outcome,
            "options": self.options, "files": self.files, "figures": self.figures,
            "command": self.command, "more_commands": self.more_commands,
            "notes": self.notes, "when": self.when,
        })

    @classmethod
    def from_dict(cls, data: Any, where: str) -> StepRecord:
        d = _expect(data, dict, where)
        step = _expect(d.get("step"), str, f"{where}.step")
        if step not in STEP_TITLES:
            raise RecordError(f"{where}.step: unknown step {step!r}")
        try:
            status = Status.parse(_expect(d.get("status"), str, f"{where}.status"))
        except ValueError as exc:
            raise RecordError(f"{where}.status: {exc}") from None
        files = _expect(d.get("files", {}), dict, f"{where}.files")
        figures = _expect(d.get("figures", {}), dict, f"{where}.figures")
        command = _expect(d.get("command", []), list, f"{where}.command")
        notes = _expect(d.get("notes", []), list, f"{where}.notes")
        for key, value in {**files, **figures}.items():
            _expect(value, str, f"{where}.files/figures.{key}")
        more = _expect(d.get("more_commands", []), list, f"{where}.more_commands")
        for i, part in enumerate(command):
            _expect(part, str, f"{where}.command[{i}]")
        for i, cmd in enumerate(more):
            for j, part in enumerate(_expect(cmd, list, f"{where}.more_commands[{i}]")):
                _expect(part, str, f"{where}.more_commands[{i}][{j}]")
        for i, note in enumerate(notes):
            _expect(note, str, f"{where}.notes[{i}]")
        return cls(
            step=step, status=status,
            outcome=_expect(d.get("outcome", ""), str, f"{where}.outcome"),
            options=dict(_expect(d.get("options", {}), dict, f"{where}.options")),
            files=dict(files), figures=dict(figures), command=list(command),
            more_commands=[list(c) for c in more], notes=list(notes),
            when=_expect(d.get("when", ""), str, f"{where}.when"),
        )


def _expect(value: Any, kind: type, where: str) -> Any:
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise RecordError(f"{where}: expected {kind.__name__}, found {type(value).__name__} "
                          f"({value!r})")
    return value


@dataclass
class RunRecord:
    """A wizard run over one model folder: the current artefacts and each step's record."""

    model_dir: Path | None = None  # the Hugging Face folder the user chose
    is_demo: bool = False
    onnx_dir: Path | None = None  # the converted, verified ONNX folder
    precision: str | None = None
    deployed_name: str | None = None  # "<name>:<version>" in Foundry Local
    foundry_cache: Path | None = None  # the cache folder the user chose (or found)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    last_step: str = "welcome"

    # -- recording ----------------------------------------------------------------------------

    def record(self, rec: StepRecord) -> StepRecord:
        """Store a step's record (replacing an earlier one) and drop the records it outdates."""
        if rec.step not in STEP_TITLES:
            raise RecordError(f"unknown step {rec.step!r}")
        for later in INVALIDATES.get(rec.step, ()):
            self.steps.pop(later, None)
        self.steps[rec.step] = rec
        return rec

    def get(self, step: str) -> StepRecord | None:
        return self.steps.get(step)

    def is_done(self, step: str) -> bool:
        rec = self.steps.get(step)
        return rec is not None and rec.done

    @property
    def done(self) -> set[str]:
        """Ids of the steps whose work ran and finished (with or without warnings)."""
        return {s for s, r in self.steps.items() if r.done}

    def status_of(self, step: str) -> Status | None:
        rec = self.steps.get(step)
        return rec.status if rec else None

    # -- saving -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return tomlable({
            "model_dir": self.model_dir, "is_demo": self.is_demo, "onnx_dir": self.onnx_dir,
            "precision": self.precision, "deployed_name": self.deployed_name,
            "foundry_cache": self.foundry_cache, "last_step": self.last_step,
            "updated": _now(),
            "steps": {s: r.to_dict() for s, r in self.steps.items()},
        })

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> RunRecord:
        d = _expect(data, dict, where)

        def text(key: str) -> str:
            return _expect(d.get(key, ""), str, f"{where}.{key}")

        def path(key: str) -> Path | None:
            value = text(key)
            return Path(value) if value else None

        steps_in = _expect(d.get("steps", {}), dict, f"{where}.steps")
        steps = {}
        for key, value in steps_in.items():
            rec = StepRecord.from_dict(value, f"{where}.steps.{key}")
            if rec.step != key:
                raise RecordError(f"{where}.steps.{key}: holds the record of {rec.step!r}")
            steps[key] = rec
        last = text("last_step") or "welcome"
        if last not in STEP_TITLES:
            raise RecordError(f"{where}.last_step: unknown step {last!r}")
        return cls(
            model_dir=path("model_dir"),
            is_demo=_expect(d.get("is_demo", False), bool, f"{where}.is_demo"),
            onnx_dir=path("onnx_dir"),
            precision=text("precision") or None,
            deployed_name=text("deployed_name") or None,
            foundry_cache=path("foundry_cache"),
            steps=steps,
            last_step=last,
        )

    def drop_vanished(self) -> list[str]:
        """Forget outputs that no longer exist on disk; returns what was forgotten."""
        gone: list[str] = []
        if self.onnx_dir is not None and not (self.onnx_dir / "genai_config.json").is_file():
            gone.append(f"the converted model {self.onnx_dir} no longer exists")
            self.onnx_dir = None
            for s in ("convert", *INVALIDATES["convert"]):
                self.steps.pop(s, None)
        return gone


def reproduce_commands(record: RunRecord) -> list[list[str]]:
    """The headless commands that redo this run: each finished step's own command, in order."""
    cmds: list[list[str]] = []
    for step in STEP_IDS:
        rec = record.steps.get(step)
        if rec is None or not rec.done:
            continue
        for cmd in (rec.command, *rec.more_commands):
            if cmd and cmd not in cmds:
                cmds.append(list(cmd))
    return cmds
