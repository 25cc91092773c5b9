"""The Prerequisites step: run every check (core.setup.prereqs) with one set of options, and
install the missing packages.

Shared by the wizard's Prerequisites screen and `slm-wizard check`. The defaults (RAM floor,
command timeout) live in `Options`; `Options.argv()` is the `slm-wizard check ...` command that
runs the same checks headless. The Result says what the fronts show: the summary, what blocks
and why (`block_reason`), and the pip commands that would fix it (`install`). `install(...)` is
the runner of those commands: pip's lines come as log Progress events. core.setup.prereqs is
imported when the checks run (the CLI reads the defaults here at start-up).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_wizard.core.base.status import CheckResult, Refused, Status
from slm_wizard.core.run.record import FOUNDRY_CACHE, StepRecord
from slm_wizard.core.steps import Progress, ProgressFn

STEP = "prereqs"
DEFAULT_MIN_RAM_GB = 8.0
DEFAULT_TIMEOUT = 5.0


class PrereqsInputError(Refused):
    """Options the checks cannot run with (the message names the option)."""


@dataclass(frozen=True)
class Options:
    """What the checks look at: the model folder and output folder they size, and the bounds."""

    model_dir: Path | None = None  # also check the RAM and disk its conversion needs
    output_dir: Path | None = None  # where outputs go (disk space); None: the data folder
    min_ram_gb: float = DEFAULT_MIN_RAM_GB
    timeout: float = DEFAULT_TIMEOUT  # seconds each external command (cmake, foundry) may take

    def argv(self) -> list[str]:
        """The headless command that runs these checks."""
        args = ["slm-wizard", "check"]
        if self.model_dir is not None:
            args += ["--model", str(self.model_dir)]
        if self.output_dir is not None:
            args += ["--output-dir", str(self.output_dir)]
        if self.min_ram_gb != DEFAULT_MIN_RAM_GB:
            args += ["--min-ram-gb", f"{self.min_ram_gb:g}"]
        if self.timeout != DEFAULT_TIMEOUT:
            args += ["--timeout", f"{self.timeout:g}"]
        return args

    def checked(self) -> Options:
        """These options with the model folder resolved; raises PrereqsInputError when unusable."""
        from slm_wizard.core.base import schema as sc

        try:
            sc.check_options({"min_ram_gb": self.min_ram_gb, "timeout": self.timeout},
                             {"min_ram_gb": sc.positive_number("GB of RAM", sc.MAX_RAM_GB),
                              "timeout": sc.positive_number("seconds", sc.MAX_SECONDS)},
                             {"min_ram_gb": "--min-ram-gb", "timeout": "--timeout"})
        except sc.SchemaError as exc:
            raise PrereqsInputError(str(exc)) from None
        if self.output_dir is not None:
            out = Path(self.output_dir).expanduser()
            if not str(self.output_dir).strip():
                raise PrereqsInputError("--output-dir: the path is empty: give a folder")
            from slm_wizard.core.base.paths import file_in_the_way, reserved_name_problem

            if reserved_name_problem(out, "--output-dir"):
                raise PrereqsInputError(reserved_name_problem(out, "--output-dir"))
            if out.exists() and not out.is_dir():
                raise PrereqsInputError(f"--output-dir: {out} is a file: give the folder where "
                                        "outputs will go")
            if file_in_the_way(out, "--output-dir"):  # a file where a parent folder should be
                raise PrereqsInputError(file_in_the_way(out, "--output-dir"))
        if self.model_dir is None:
            return self
        from slm_wizard.core.model.model_info import ModelFolderError, inspect_model

        try:  # the whole folder is read (config.json and weight headers against their schemas)
            folder = inspect_model(self.model_dir).path
        except ModelFolderError as exc:
            raise PrereqsInputError(f"--model: {exc}") from None
        return Options(folder, self.output_dir, self.min_ram_gb, self.timeout)


@dataclass
class Result:
    """Every check, in a fixed order."""

    checks: list[CheckResult] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """FAIL when an essential check failed (the step blocks), WARN when anything else did
        not pass, else OK."""
        if self.blocking:
            return Status.FAIL
        if any(c.status in (Status.FAIL, Status.WARN) for c in self.checks):
            return Status.WARN
        return Status.OK

    @property
    def failed(self) -> bool:
        """A check failed (essential or not): `slm-wizard check` then exits 1."""
        return any(c.status == Status.FAIL for c in self.checks)

    @property
    def blocking(self) -> list[CheckResult]:
        from slm_wizard.core.setup.prereqs import blocking

        return blocking(self.checks)

    @property
    def summary(self) -> str:
        from slm_wizard.core.setup.prereqs import summary_line

        return summary_line(self.checks)

    @property
    def install(self) -> InstallOptions | None:
        """The pip commands that install what is missing; None when pip cannot fix anything."""
        from slm_wizard.core.setup.prereqs import install_commands

        commands = install_commands(self.checks)
        return InstallOptions(tuple(tuple(c) for c in commands)) if commands else None

    @property
    def block_reason(self) -> str:
        """Why the wizard cannot go on yet ("" when nothing blocks)."""
        blocking = self.blocking
        if not blocking:
            return ""
        text = f"Continue needs this fixed first: " \
               f"{'; '.join(f'{r.title}: {r.found}' for r in blocking)}."
        if self.install is not None:
            text += " \"Install missing packages\" can do it."
        return text

    def check(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def foundry_cache(self) -> Path | None:
        """The Foundry Local cache folder the foundry check found, if any."""
        foundry = self.check("foundry")
        cache = foundry.data.get("cache_dir") if foundry is not None else None
        return Path(cache) if cache else None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "summary": self.summary,
                "checks": [c.to_dict() for c in self.checks]}


def run(options: Options, *, on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None) -> Result:
    """Run every check (concurrently). Raises PrereqsInputError for unusable options."""
    from slm_wizard.core.setup.prereqs import run_checks

    opts = options.checked()
    if on_progress is not None:
        on_progress(Progress("check", text="Checking prerequisites…"))
    checks = run_checks(output_dir=opts.output_dir, model_dir=opts.model_dir,
                        min_ram_gb=opts.min_ram_gb, timeout=opts.timeout)
    return Result(checks)


@dataclass(frozen=True)
class InstallOptions:
    """pip commands run one after another in the wizard's own Python (the project's extras)."""

    commands: tuple[tuple[str, ...], ...]

    @property
    def text(self) -> str:
        """The commands as a shell would show them, one a line (the confirmation shows them)."""
        from slm_wizard.core.setup.prereqs import format_command

        return "\n".join(format_command(c) for c in self.commands)

    @property
    def start_text(self) -> str:
        n = len(self.commands)
        return f"Installing ({n} pip command{'s' if n > 1 else ''})…"


@dataclass
class InstallResult:
    ok: bool
    cancelled: bool = False
    error: str = ""  # what pip said went wrong ("" when it went well)

    @property
    def message(self) -> str:
        """One line (or pip's error lines) saying how the install ended."""
        if self.ok:
            return "Installed. Checking again…"
        if self.cancelled:
            return "Installation cancelled. Checking again…"
        return f"pip failed:\n{self.error}"


def install(options: InstallOptions, *, on_progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> InstallResult:
    """Run the pip commands, stopping at the first failure; each output line is a log event."""
    from slm_wizard.core.setup.prereqs import install_packages, pip_error

    def line(text: str) -> None:
        if on_progress is not None:
            on_progress(Progress("install", text=text, log=True))

    result = install_packages([list(c) for c in options.commands], line, cancel)
    if result.ok:
        return InstallResult(True)
    return InstallResult(False, cancelled=result.cancelled,
                         error="" if result.cancelled else pip_error(result))


def to_record(options: Options, result: Result) -> StepRecord:
    notes = [f"{c.title}: {c.found}" for c in result.checks
             if c.status in (Status.FAIL, Status.WARN)]
    return StepRecord(
        STEP, result.status, result.summary,
        options={"model_dir": options.model_dir, "output_dir": options.output_dir,
                 "min_ram_gb": options.min_ram_gb, "timeout": options.timeout},
        command=options.argv(), notes=notes,
        outputs={FOUNDRY_CACHE: str(result.foundry_cache)} if result.foundry_cache else {})
