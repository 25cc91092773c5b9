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
    "serve": "Serve",
    "summary": "Summary",
}
STEP_IDS: tuple[str, ...] = tuple(STEP_TITLES)

# Records that are not a screen of their own: the sweep variant the user made the current model
# (on the Validate screen). Title, and the step whose row it follows in the Summary.
EXTRA_KINDS: dict[str, tuple[str, str]] = {"variant": ("Chosen variant", "validate")}
RECORD_KINDS: tuple[str, ...] = (*STEP_IDS, *EXTRA_KINDS)

# Re-running a step replaces what later steps worked on: their records no longer describe the
# current artefacts and are dropped (a validate record that only swept stays: it measured the
# Hugging Face folder's variants, not the model that was replaced).
INVALIDATES: dict[str, tuple[str, ...]] = {
    "convert": ("variant", "deploy", "chat", "validate", "serve"),
    "variant": ("deploy", "chat", "validate", "serve"),
}
# The steps that make the current model folder (the later one in run order is current).
MODEL_STEPS: tuple[str, ...] = ("convert", "variant")

# The keys of StepRecord.outputs: what a step made that later steps and the fronts use.
ONNX_DIR = "onnx_dir"  # convert, variant: the converted, verified ONNX folder
PRECISION = "precision"  # convert, variant
DEPLOYED_NAME = "name"  # deploy: the model's name in Foundry Local (only when it was installed)
DEPLOYED_VERSION = "version"  # deploy
FOUNDRY_CACHE = "foundry_cache"  # deploy (the folder used), prereqs (the folder found)
# A later run that failed or was cancelled, kept on an earlier success (see RunRecord.record).
LATER_RUN = "a later run"


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
    outputs: dict[str, str] = field(default_factory=dict)  # what later steps use (keys above)

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
            "notes": self.notes, "when": self.when, "outputs": self.outputs,
        })

    @classmethod
    def from_dict(cls, data: Any, where: str) -> StepRecord:
        d = _expect(data, dict, where)
        step = _expect(d.get("step"), str, f"{where}.step")
        if step not in RECORD_KINDS:
            raise RecordError(f"{where}.step: unknown step {step!r}")
        try:
            status = Status.parse(_expect(d.get("status"), str, f"{where}.status"))
        except ValueError as exc:
            raise RecordError(f"{where}.status: {exc}") from None
        files = _expect(d.get("files", {}), dict, f"{where}.files")
        figures = _expect(d.get("figures", {}), dict, f"{where}.figures")
        command = _expect(d.get("command", []), list, f"{where}.command")
        notes = _expect(d.get("notes", []), list, f"{where}.notes")
        outputs = _expect(d.get("outputs", {}), dict, f"{where}.outputs")
        for key, value in {**files, **figures, **outputs}.items():
            _expect(value, str, f"{where}.files/figures/outputs.{key}")
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
            when=_expect(d.get("when", ""), str, f"{where}.when"), outputs=dict(outputs),
        )


def _expect(value: Any, kind: type, where: str) -> Any:
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise RecordError(f"{where}: expected {kind.__name__}, found {type(value).__name__} "
                          f"({value!r})")
    return value


@dataclass
class RunRecord:
    """A wizard run over one model folder: each step's record, in the order the steps ran.

    The current artefacts (model folder, precision, deployment, cache) are read from the step
    records, never set beside them: `record()` is the only writer."""

    model_dir: Path | None = None  # the Hugging Face folder the user chose (the run's identity)
    is_demo: bool = False
    steps: dict[str, StepRecord] = field(default_factory=dict)  # in run order
    last_step: str = "welcome"
    # Runs started and not ended yet (status RUNNING, with their options): saved, so that a run
    # the wizard quit during is named on resume and its options come back (`interrupted`).
    unfinished: dict[str, StepRecord] = field(default_factory=dict)

    # -- recording ----------------------------------------------------------------------------

    def record(self, rec: StepRecord) -> StepRecord:
        """Store a step's record and drop the records it outdates; returns the record kept.

        A re-run moves the step to the end (the records stay in run order). A run that failed
        or was cancelled does not replace an earlier success whose model folder is still in
        place (a failed conversion never touches it): that record is kept, with a note of the
        later run. Other steps' later runs replace theirs (a failed check or deployment is
        what holds now)."""
        if rec.step not in RECORD_KINDS:
            raise RecordError(f"unknown step {rec.step!r}")
        self.unfinished.pop(rec.step, None)
        earlier = self.steps.get(rec.step)
        if earlier is not None and earlier.done and not rec.done \
                and earlier.outputs.get(ONNX_DIR) and _in_place(earlier):
            earlier.notes = [n for n in earlier.notes if not n.startswith(LATER_RUN)]
            earlier.notes.append(f"{LATER_RUN} ({rec.when}) {rec.status.value}: {rec.outcome}")
            return earlier
        # A run that failed or was cancelled made nothing: what later steps made from the
        # earlier model (a deployment still in Foundry Local) stays recorded.
        for later in INVALIDATES.get(rec.step, ()) if rec.done else ():
            old = self.steps.get(later)
            if old is not None and not _only_swept(old):
                del self.steps[later]
        self.steps.pop(rec.step, None)
        self.steps[rec.step] = rec
        return rec

    def get(self, step: str) -> StepRecord | None:
        return self.steps.get(step)

    def started(self, rec: StepRecord) -> None:
        """A step's run started with these options (kept until its record comes, or `ended`)."""
        if rec.step not in RECORD_KINDS:
            raise RecordError(f"unknown step {rec.step!r}")
        self.unfinished[rec.step] = rec

    def ended(self, step: str) -> None:
        """A step's run ended with nothing to record (the user cancelled it)."""
        self.unfinished.pop(step, None)

    def last_options(self, step: str) -> dict[str, Any]:
        """The options the step last ran with: an unfinished run's, else its record's."""
        rec = self.unfinished.get(step) or self.steps.get(step)
        return dict(rec.options) if rec is not None else {}

    def interrupted(self) -> dict[str, str]:
        """The runs a saved record holds as started and never ended, by step, one sentence
        each (read from a saved record, every such run was cut short: the wizard quit)."""
        return {r.step: f"{STEP_TITLES.get(r.step, r.step)}: {r.outcome or 'a run'} (started "
                        f"{r.when.replace('T', ' ')}) was interrupted: the wizard quit while it "
                        "ran" for r in self.unfinished.values()}

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

    # -- the current artefacts, read from the records --------------------------------------------

    def _model_record(self) -> StepRecord | None:
        """The last finished record (in run order) that made a model folder."""
        made = [r for r in self.steps.values()
                if r.step in MODEL_STEPS and r.done and r.outputs.get(ONNX_DIR)]
        return made[-1] if made else None

    @property
    def onnx_dir(self) -> Path | None:
        """The current converted, verified ONNX folder (Convert's, or the chosen variant's)."""
        rec = self._model_record()
        return Path(rec.outputs[ONNX_DIR]) if rec else None

    @property
    def precision(self) -> str | None:
        rec = self._model_record()
        return rec.outputs.get(PRECISION) or None if rec else None

    def _deployed(self) -> StepRecord | None:
        rec = self.steps.get("deploy")
        return rec if rec is not None and rec.done and rec.outputs.get(DEPLOYED_NAME) else None

    @property
    def deployed_name(self) -> str | None:
        """The model's name in Foundry Local (None: not installed there)."""
        rec = self._deployed()
        return rec.outputs[DEPLOYED_NAME] if rec else None

    @property
    def deployed_version(self) -> str | None:
        rec = self._deployed()
        return rec.outputs.get(DEPLOYED_VERSION) or None if rec else None

    @property
    def deployed_id(self) -> str | None:
        """The id Foundry Local knows the model by ("<name>:<version>"), made, never parsed."""
        name, version = self.deployed_name, self.deployed_version
        return f"{name}:{version}" if name and version else name

    @property
    def foundry_cache(self) -> Path | None:
        """The Foundry Local cache: the one Deploy used, else the one Prerequisites found."""
        for step in ("deploy", "prereqs"):
            rec = self.steps.get(step)
            if rec is not None and rec.outputs.get(FOUNDRY_CACHE):
                return Path(rec.outputs[FOUNDRY_CACHE])
        return None

    # -- saving -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out = tomlable({
            "model_dir": self.model_dir, "is_demo": self.is_demo, "last_step": self.last_step,
            "updated": _now(),
            "steps": {s: r.to_dict() for s, r in self.steps.items()},
        })
        if self.unfinished:
            out["unfinished"] = {s: r.to_dict() for s, r in self.unfinished.items()}
        return out

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
        unfinished = {}
        for key, value in _expect(d.get("unfinished", {}), dict, f"{where}.unfinished").items():
            rec = StepRecord.from_dict(value, f"{where}.unfinished.{key}")
            if rec.step != key:
                raise RecordError(f"{where}.unfinished.{key}: holds the record of {rec.step!r}")
            unfinished[key] = rec
        last = text("last_step") or "welcome"
        if last not in STEP_TITLES:
            raise RecordError(f"{where}.last_step: unknown step {last!r}")
        _upgrade(steps, text("onnx_dir"), text("precision"), text("deployed_name"),
                 text("foundry_cache"))
        return cls(
            model_dir=path("model_dir"),
            is_demo=_expect(d.get("is_demo", False), bool, f"{where}.is_demo"),
            steps=steps,
            last_step=last,
            unfinished=unfinished,
        )

    def drop_vanished(self) -> list[str]:
        """Forget outputs that no longer exist on disk; returns what was forgotten.

        A current model folder that vanished drops the record that made it and the records
        that depend on it; an earlier model folder (Convert's, under a chosen variant) that is
        still there becomes the current one again."""
        gone: list[str] = []
        while (rec := self._model_record()) is not None and not _in_place(rec):
            gone.append(f"the converted model {rec.outputs[ONNX_DIR]} no longer exists")
            for s in (rec.step, *INVALIDATES[rec.step]):
                old = self.steps.get(s)
                if old is not None and (s == rec.step or not _only_swept(old)):
                    del self.steps[s]
        return gone


def _in_place(rec: StepRecord) -> bool:
    """The model folder a record made is still there (True for a record that made none)."""
    folder = rec.outputs.get(ONNX_DIR)
    return not folder or (Path(folder) / "genai_config.json").is_file()


def _only_swept(rec: StepRecord) -> bool:
    """A validate record of a sweep alone: it measured the Hugging Face folder's variants."""
    return rec.step == "validate" and list(rec.options.get("phases") or ()) == ["sweep"]


def _upgrade(steps: dict[str, StepRecord], onnx_dir: str, precision: str, deployed: str,
             cache: str) -> None:
    """Records saved before the artefacts were read from the steps kept them at the top level
    (the deployment as one "name:version" string): move them into the records that made them.
    A value with no such record is dropped: the step records are the source."""
    convert, deploy, prereqs = (steps.get(s) for s in ("convert", "deploy", "prereqs"))
    if onnx_dir and convert is not None and convert.done and ONNX_DIR not in convert.outputs:
        convert.outputs.update({ONNX_DIR: onnx_dir, PRECISION: precision})
    if deployed and deploy is not None and deploy.done and DEPLOYED_NAME not in deploy.outputs:
        name, _, version = deployed.partition(":")
        deploy.outputs.update({DEPLOYED_NAME: name, DEPLOYED_VERSION: version})
    if cache:
        for rec in (deploy, prereqs):
            if rec is not None and FOUNDRY_CACHE not in rec.outputs:
                rec.outputs[FOUNDRY_CACHE] = cache
                break


def started_record(step: str, what: str, options: dict[str, Any],
                   command: list[str] | None = None) -> StepRecord:
    """The record of a run that has just started (`RunRecord.started`): what it makes, with
    which options."""
    return StepRecord(step=step, status=Status.RUNNING, outcome=what, options=dict(options),
                      command=list(command or []))


SERVES_UNTIL_STOPPED = ("serve",)


def reproduce_commands(record: RunRecord) -> list[list[str]]:
    """The headless commands that redo this run: each finished step's own command, in the order
    the steps ran (a deployment of a sweep's variant comes after the sweep that made it), the
    serve line last."""
    cmds: list[list[str]] = []
    # `serve` runs until it is stopped: its line comes last, whenever it ran, so it never holds
    # up the commands after it.
    for rec in sorted(record.steps.values(), key=lambda r: r.step in SERVES_UNTIL_STOPPED):
        if not rec.done:
            continue
        for cmd in (rec.command, *rec.more_commands):
            if cmd and cmd not in cmds:
                cmds.append(list(cmd))
    return cmds
