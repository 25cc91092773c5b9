#!/usr/bin/env python3
"""Set-up and the developer commands, on Linux, macOS and Windows (Python standard library only).

    python dev.py run          set everything up (first time only) and open the wizard
    python dev.py test         set up with the dev tools; then ruff, import-linter and the tests
    python dev.py test-fast    the same with the tests not marked slow
    python dev.py lint | bench | screenshots | clean
    python dev.py --dry-run [--platform linux|macos|windows] [--fresh] TARGET
                               print the argument lists TARGET would run, run nothing

`make TARGET` on Linux calls this script. Extra arguments after `test`/`test-fast` go to pytest.

PyTorch is installed first, as its CPU build: a plain `torch` requirement pulls a multi-GB CUDA
build from the public index on Linux. On Linux the CPU build comes from PyTorch's CPU index
(https://download.pytorch.org/whl/cpu) unless pip is configured with its own index or wheel
folder (`pip config list`: index-url, extra-index-url, find-links), which is then used as it is.
SLM_WIZARD_TORCH_INDEX overrides both: a URL to install torch from, or "" for pip's configured
index. macOS and Windows get the public wheel, which is a CPU build there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

ROOT = Path(__file__).resolve().parent
VENV = ".venv"
TORCH = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_INDEX_ENV = "SLM_WIZARD_TORCH_INDEX"
# Offline-friendly defaults for every tool run from here (telemetry of Olive/onnxruntime, no hub).
OFFLINE_ENV = {"ORT_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
LINT_PATHS = ["core", "tui", "cli", "tests", "bench", "dev.py"]
PLATFORMS = {"linux": "linux", "macos": "darwin", "darwin": "darwin", "windows": "win32",
             "win32": "win32"}
TARGETS = ("run", "test", "test-fast", "lint", "bench", "screenshots", "clean", "setup", "dev")
PIP_SOURCE_KEYS = ("index-url", "extra-index-url", "find-links")


@dataclass
class Step:
    """One thing to do: an argument list to run (in the project folder), or folders to remove;
    `stamp` is touched after it succeeded (the install is not repeated while it is newer than
    pyproject.toml)."""

    why: str
    argv: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    stamp: str = ""

    def show(self) -> str:
        if self.remove:
            return "remove " + " ".join(self.remove)
        return " ".join(_quote(a) for a in self.argv)


def _quote(arg: str) -> str:
    """As typed in a shell (double quotes read the same in sh, cmd and PowerShell)."""
    if arg and all(c.isalnum() or c in "-_./\\=:[]+,<>" for c in arg):
        return arg
    return f'"{arg}"' if '"' not in arg else repr(arg)


class Layout:
    """Where the virtual environment's programs are on a platform (relative to the project)."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.windows = platform == "win32"
        self.path = PureWindowsPath if self.windows else PurePosixPath

    def bin(self, name: str) -> str:
        if self.windows:
            return str(self.path(VENV, "Scripts", f"{name}.exe"))
        return str(self.path(VENV, "bin", name))

    @property
    def python(self) -> str:
        return self.bin("python")

    def stamp(self, name: str) -> str:
        return str(self.path(VENV, f".stamp-{name}"))


def pip_sources(config_text: str, env: dict[str, str]) -> list[str]:
    """The package sources pip is configured with (`pip config list` lines, PIP_* variables)."""
    found = []
    for line in config_text.splitlines():
        key = line.partition("=")[0].strip()
        if key.rpartition(".")[2] in PIP_SOURCE_KEYS:
            found.append(line.strip())
    for key in PIP_SOURCE_KEYS:
        name = "PIP_" + key.upper().replace("-", "_")
        if env.get(name) and not any(f.startswith(f":env:.{key}=") for f in found):
            found.append(f"{name}={env[name]}")
    return found


def torch_index(platform: str, env: dict[str, str], sources: list[str]) -> tuple[list[str], str]:
    """pip's extra arguments for the CPU build of torch on `platform`, and why."""
    if TORCH_INDEX_ENV in env:
        url = env[TORCH_INDEX_ENV].strip()
        if url:
            return ["--index-url", url], f"{TORCH_INDEX_ENV} names the index"
        return [], f"{TORCH_INDEX_ENV} is empty: pip's configured index"
    if platform != "linux":
        return [], "the public wheel is a CPU build on this platform"
    if sources:
        return [], ("pip's configured sources (" + "; ".join(sources) + f"); set {TORCH_INDEX_ENV}="
                    f"{TORCH_CPU_INDEX} if they would serve a CUDA build")
    return ["--index-url", TORCH_CPU_INDEX], "PyTorch's CPU index (the public one pulls CUDA)"


def _stale(root: Path, stamp: str) -> bool:
    """The install behind `stamp` is to be done: never done, or pyproject.toml changed since."""
    path = root / stamp
    if not path.exists():
        return True
    return path.stat().st_mtime < (root / "pyproject.toml").stat().st_mtime


def plan(target: str, platform: str, env: dict[str, str], sources: list[str],
         root: Path = ROOT, fresh: bool = False, extra: list[str] | None = None) -> list[Step]:
    """The steps `target` takes on `platform`, from the state of `root` (all of them: `fresh`)."""
    lay = Layout(platform)
    py = lay.python
    pip = [py, "-m", "pip", "--disable-pip-version-check", "install", "-q"]

    def todo(stamp: str) -> bool:
        return fresh or _stale(root, stamp)

    if target == "clean":
        return [Step("remove the environment and caches",
                     remove=[VENV, ".pytest_cache", ".ruff_cache",
                             *sorted(p.name for p in root.glob("*.egg-info"))])]
    steps: list[Step] = []
    if fresh or not (root / py).exists():
        steps.append(Step("create the virtual environment", [sys.executable, "-m", "venv", VENV]))
    if fresh or not (root / lay.stamp("torch")).exists():
        args, why = torch_index(platform, env, sources)
        steps.append(Step(f"the CPU build of PyTorch first ({why})", [*pip, TORCH, *args],
                          stamp=lay.stamp("torch")))
    if todo(lay.stamp("all")):
        steps.append(Step("the project with all its extras", [*pip, "-e", ".[all]"]))
        # Bytecode compiled once, as pip does for an installed wheel (an editable install
        # leaves it to the first import, which PYTHONDONTWRITEBYTECODE turns off).
        steps.append(Step("compile the bytecode", [py, "-m", "compileall", "-q", "core", "tui",
                                                   "cli"], stamp=lay.stamp("all")))
    if target == "run":
        return [*steps, Step("open the wizard", [lay.bin("slm-wizard")])]
    if target == "setup":
        return steps
    if todo(lay.stamp("dev")):
        steps.append(Step("the dev tools", [*pip, "-e", ".[all,dev]"], stamp=lay.stamp("dev")))
    if target in ("lint", "test", "test-fast"):
        steps.append(Step("ruff", [lay.bin("ruff"), "check", *LINT_PATHS]))
        steps.append(Step("import-linter", [lay.bin("lint-imports")]))
    if target == "test":
        steps.append(Step("the tests", [py, "-m", "pytest", *(extra or [])]))
    elif target == "test-fast":
        # The fast subset: every test not marked slow (see tests/conftest.py), in four worker
        # processes (pytest-xdist): most of its time is waiting on screens and child processes.
        steps.append(Step("the fast tests", [py, "-m", "pytest", "-m", "not slow", "-n", "4",
                                             *(extra or [])]))
    elif target == "bench":
        steps.append(Step("the benchmarks", [py, "-m", "bench"]))
    elif target == "screenshots":
        steps.append(Step("the screenshots",
                          [py, "-m", "slm_wizard.tui.screenshots", "screenshots"]))
    return steps


def read_pip_config() -> str:
    """`pip config list` of the interpreter running this script ("" where it cannot say)."""
    try:
        res = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                             capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return res.stdout if res.returncode == 0 else ""


def execute(steps: list[Step], root: Path, env: dict[str, str]) -> int:
    for step in steps:
        print(f"dev.py: {step.why}: {step.show()}", flush=True)
        if step.remove:
            for name in step.remove:
                path = root / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            continue
        argv = list(step.argv)
        if not Path(argv[0]).is_absolute() and (root / argv[0]).exists():
            argv[0] = str(root / argv[0])  # the venv's program, found from any current folder
        try:
            code = subprocess.run(argv, cwd=root, env=env, check=False).returncode
        except FileNotFoundError:
            print(f"dev.py: {argv[0]} was not found", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        if code != 0:
            print(f"dev.py: failed (exit code {code}): {step.show()}", file=sys.stderr)
            return code if code > 0 else 1
        if step.stamp:
            (root / step.stamp).touch()
    return 0


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 - the one check an old Python must reach
        print(f"Python >= 3.10 is needed, found {sys.version.split()[0]}", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(prog="dev.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="arguments for pytest (test, test-fast)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    parser.add_argument("--platform", choices=sorted(PLATFORMS),
                        help="plan for this platform (with --dry-run)")
    parser.add_argument("--fresh", action="store_true",
                        help="plan as on a fresh clone (with --dry-run)")
    args = parser.parse_args(argv)
    if (args.platform or args.fresh) and not args.dry_run:
        parser.error("--platform and --fresh only go with --dry-run")
    platform = PLATFORMS[args.platform] if args.platform else (
        "linux" if sys.platform.startswith("linux") else sys.platform)
    env = {**os.environ, **OFFLINE_ENV}
    sources = pip_sources(read_pip_config(), env) if platform == "linux" else []
    steps = plan(args.target, platform, env, sources, fresh=args.fresh, extra=args.extra)
    if args.dry_run:
        for step in steps:
            print(f"# {step.why}")
            print(step.show())
        return 0
    return execute(steps, ROOT, env)


if __name__ == "__main__":
    sys.exit(main())
