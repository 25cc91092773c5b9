"""Prerequisites: find every missing or incompatible piece before a later step fails on it.

`run_checks()` returns one `CheckResult` per check, always in the same order, with what was
found, what is required and the exact fix for this system. Checks run concurrently; external
programs run with a timeout and without a shell (core.proc), so a hung `foundry` or a broken
`cmake` gives a clear status, never a hang or a crash. Package versions are read from metadata:
nothing here imports the toolchain, except onnxruntime to list its execution providers.

`install_commands()` / `install_packages()` install the project's own extras into the running
interpreter. The Foundry Local CLI is found and read by core.foundry_cli. The step runner that
the wizard and `slm-wizard check` share is core.steps.prereqs.

Every check reports a core.status.CheckResult (status OK/WARN/FAIL/SKIP, details in `data`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata as metadata
import json
import logging
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlparse

from slm_wizard.core.base.proc import CommandResult, run_command, stream_command, which
from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.core.base.status import counts as status_counts
from slm_wizard.core.base.units import GB, human_bytes
from slm_wizard.core.base.versions import find_version, satisfies, version_tuple
from slm_wizard.core.deploy.foundry_cli import foundry_cli_info

log = logging.getLogger(__name__)

MIN_PYTHON = (3, 10)
MIN_CMAKE = (3, 31)
RAM_FACTOR = 11  # conversion peak RAM / FP32 weight size (measured, see TOOLCHAIN-NOTES)
DISK_FACTOR = 3  # FP32 ONNX copy + quantized output + Olive's cache, as a multiple of FP32 weights
MIN_DISK_GB = 2.0

# The Python packages the guide needs: (distribution name, what it is for). All are essential:
# without any of them conversion or the runtime cannot work.
PACKAGES: tuple[tuple[str, str], ...] = (
    ("transformers", "reads the model and its tokenizer"),
    ("olive-ai", "converts and quantizes (Olive)"),
    ("onnxruntime-genai", "builds and runs the ONNX model"),
    ("onnx", "ONNX model format"),
    ("onnxruntime", "ONNX Runtime"),
    ("numpy", "arrays for all of the above"),
    ("torch", "loads the weights during conversion"),
    ("peft", "merges and converts LoRA adapters"),
)
# Used when the project's own metadata cannot be read (running from a bare source folder).
_FALLBACK_SPECS = {
    "olive-ai": "==0.13.0",
    "onnxruntime-genai": "==0.14.1",
    "onnxruntime": "==1.31.0",
    "transformers": ">=5.0,<6",
    "onnx": ">=1.17",
    "torch": ">=2.4",
    "peft": "==0.21.2",
    "foundry-local-sdk": "==2.2.1",
}
# Install torch's CPU build first (as `make run` does): a bare torch requirement pulls CUDA.
TORCH_PIN = "torch==2.13.0"


# --------------------------------------------------------------------------------- helpers


def format_command(args: Sequence[str]) -> str:
    """An argument list as a command a user can paste into this system's shell."""
    if sys.platform == "win32":
        return subprocess.list2cmdline(list(args))
    return shlex.join(list(args))


def pip_install(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "install", *args]




def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(dist_name: str) -> str | None:
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None


def project_requirements() -> dict[str, str]:
    """Version specifiers of the project's own dependencies and extras, by package name."""
    specs = dict(_FALLBACK_SPECS)
    dist = _project_dist()
    for req in (dist.requires or []) if dist is not None else []:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)", req)
        if m and m.group(3).strip():
            clauses = sorted(m.group(3).replace(" ", "").split(","), key=lambda c: c[0] != ">")
            specs[_norm(m.group(1))] = ",".join(clauses)
    return specs


def _project_dist() -> metadata.Distribution | None:
    """slm-wizard's installed metadata. A source folder's stale `*.egg-info` can shadow it when
    Python runs from that folder, so the installed one (with direct_url.json) wins."""
    dists = list(metadata.distributions(name="slm-wizard"))
    installed = [d for d in dists if d.read_text("direct_url.json")]
    return (installed or dists or [None])[0]


def project_source_dir() -> Path | None:
    """The source folder when slm-wizard is installed editable (from direct_url.json), else None."""
    dist = _project_dist()
    text = dist.read_text("direct_url.json") if dist is not None else None
    try:
        info = json.loads(text) if text else {}
    except ValueError:
        return None
    url = info.get("url", "")
    if not (info.get("dir_info", {}).get("editable") and url.startswith("file:")):
        return None
    path = unquote(urlparse(url).path)
    if sys.platform == "win32" and re.match(r"/[A-Za-z]:", path):
        path = path[1:]
    return Path(path)


def install_command() -> list[str]:
    """pip installing the project's extras into the running interpreter (editable if it is)."""
    src = project_source_dir()
    if src is not None:
        return pip_install("-e", f"{src}[all]")
    return pip_install("slm-wizard[all]")


def missing_packages(results: Sequence[CheckResult]) -> list[str]:
    """Packages to install or change: missing ones, versions outside the project's range, and
    failed compatibility checks. The project's extras install bring all of them in line."""
    names = [r.data["package"] for r in results if r.id.startswith("package:")
             and r.status in (Status.FAIL, Status.WARN)]
    for r in results:
        if r.id == "compat" and r.status == Status.FAIL:
            names += [p for p in r.data.get("packages", []) if p not in names]
    return names


def install_commands(results: Sequence[CheckResult]) -> list[list[str]]:
    """The pip commands the "Install missing packages" button runs (empty: nothing to do)."""
    missing = missing_packages(results)
    if not missing:
        return []
    commands = []
    if "torch" in missing:
        commands.append(pip_install(TORCH_PIN))
    commands.append(install_command())
    return commands


def install_packages(
    commands: Sequence[Sequence[str]],
    on_line: Callable[[str], None],
    cancel: threading.Event | None = None,
) -> CommandResult:
    """Run the pip commands one after another, streaming their output; stop at the first failure."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = CommandResult((), 0)
    for args in commands:
        on_line(f"$ {format_command(args)}")
        result = stream_command(args, on_line, cancel=cancel, env=env)
        if not result.ok:
            break
    return result


def pip_error(result: CommandResult) -> str:
    """The lines of pip's output that say what went wrong (for a failed install)."""
    if result.error:
        return result.error
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ERROR")), None)
    picked = lines[start:] if start is not None else lines[-8:]
    return "\n".join(picked[:20]) or f"pip exited with code {result.returncode}"


# ------------------------------------------------------------------------------ model size


def safetensors_param_count(path: Path) -> int:
    """Number of parameters in one .safetensors file, from its header (no weights read); the
    header is checked against its declared schema (ModelFolderError, a ValueError, when bad)."""
    from slm_wizard.core.model.model_info import _safetensors_tensors

    return sum(count for _, _, count, _ in _safetensors_tensors(Path(path), check_size=False))


def model_fp32_bytes(model_dir: Path) -> tuple[int, str] | None:
    """FP32 size of the model's weights and how it was found; None when no weights are found."""
    files = sorted(model_dir.glob("*.safetensors"))
    if files:
        params = sum(safetensors_param_count(p) for p in files)
        return params * 4, f"{params / 1e6:,.1f} M parameters"
    # No safetensors (e.g. pytorch_model.bin): core.model_info estimates from config.json.
    from slm_wizard.core.model.model_info import ModelFolderError, fp32_size_bytes, inspect_model

    try:
        info = inspect_model(model_dir)
    except ModelFolderError:
        return None
    if not info.param_count:
        return None
    how = "" if info.param_count_exact else ", estimated from config.json"
    return fp32_size_bytes(info), f"{info.param_count / 1e6:,.1f} M parameters{how}"


# ------------------------------------------------------------------------------ the checks




def check_python() -> CheckResult:
    v = sys.version_info
    found = f"{platform.python_version()} ({sys.executable})"
    required = f">= {MIN_PYTHON[0]}.{MIN_PYTHON[1]}"
    if (v.major, v.minor) >= MIN_PYTHON:
        return CheckResult("python", "Python", Status.OK, found, required, essential=True)
    if sys.platform == "win32":
        fix = "winget install Python.Python.3.11, then recreate the environment with it"
    elif sys.platform == "darwin":
        fix = "brew install python@3.11, then recreate the environment with it"
    else:
        fix = "Install Python 3.11 (e.g. sudo apt install python3.11 python3.11-venv), then " \
              "recreate the environment: python3.11 -m venv .venv"
    return CheckResult("python", "Python", Status.FAIL, found, required, fix, essential=True)


def check_os() -> CheckResult:
    system, machine = platform.system(), platform.machine().lower()
    found = f"{system} {machine}".strip()
    required = "Windows, macOS (Apple silicon) or Linux x64"
    x64 = machine in ("x86_64", "amd64")
    arm = machine in ("arm64", "aarch64")
    details = {"system": system, "machine": machine, "release": platform.release()}
    if system == "Windows" and (x64 or arm) or system == "Darwin" and arm:
        status, fix = Status.OK, ""
    elif system == "Linux" and x64:
        status, fix = Status.OK, ""
        found += " (Foundry Local runs on Linux too)"
    else:
        status = Status.WARN
        fix = ("Foundry Local may not run on this system: convert here, then copy the exported "
               "folder to a supported machine to deploy it.")
    return CheckResult("os", "Operating system", status, found, required, fix, data=details)


def check_ram(model_dir: Path | None, min_ram_gb: float) -> CheckResult:
    import psutil

    mem = psutil.virtual_memory()
    found = f"{human_bytes(mem.total)} total, {human_bytes(mem.available)} available"
    required = f">= {min_ram_gb:g} GB"
    details: dict = {"total_bytes": mem.total, "available_bytes": mem.available,
                     "min_bytes": int(min_ram_gb * GB)}
    need = None
    if model_dir is not None:
        try:
            size = model_fp32_bytes(Path(model_dir))
        except (OSError, ValueError) as exc:
            details["model_error"] = str(exc)
            size = None
        if size is not None:
            need = size[0] * RAM_FACTOR
            details["model_need_bytes"] = need
            required += (f"; this model: ~{human_bytes(need)} ({RAM_FACTOR}x FP32 weights, "
                         f"{size[1]})")
    if need is not None and need > mem.total:
        fix = (f"Converting this model peaks near {human_bytes(need)}, more than this machine "
               "has: "
               "convert on a machine with more RAM, or choose a smaller model.")
        return CheckResult("ram", "Memory (RAM)", Status.FAIL, found, required, fix, data=details)
    if need is not None and need > mem.available:
        fix = (f"Converting this model peaks near {human_bytes(need)} but only "
               f"{human_bytes(mem.available)} is "
               "free: close other programs before converting.")
        return CheckResult("ram", "Memory (RAM)", Status.WARN, found, required, fix, data=details)
    if mem.total < min_ram_gb * GB or mem.available < min_ram_gb * GB:
        fix = (f"The guide asks for {min_ram_gb:g} GB available. Small models (like the demo) "
               "still work; close other programs before converting a larger one.")
        return CheckResult("ram", "Memory (RAM)", Status.WARN, found, required, fix, data=details)
    return CheckResult("ram", "Memory (RAM)", Status.OK, found, required, data=details)


def check_disk(output_dir: Path | None, model_dir: Path | None) -> CheckResult:
    from slm_wizard.core.base.paths import data_dir

    target = Path(output_dir) if output_dir is not None else data_dir()
    probe = target.expanduser().absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    need = MIN_DISK_GB * GB
    how = f">= {MIN_DISK_GB:g} GB"
    if model_dir is not None:
        with contextlib.suppress(OSError, ValueError):
            size = model_fp32_bytes(Path(model_dir))
            if size is not None and size[0] * DISK_FACTOR > need:
                need = size[0] * DISK_FACTOR
                how = f"~{human_bytes(need)} ({DISK_FACTOR}x FP32 weights)"
    found = f"{human_bytes(usage.free)} free at {target}"
    details = {"path": str(target), "free_bytes": usage.free, "need_bytes": int(need)}
    if usage.free < need:
        fix = (f"Free at least {human_bytes(need - usage.free)} on that disk, or choose another "
               "output folder (slm-wizard convert --output DIR).")
        return CheckResult("disk", "Disk space", Status.FAIL, found, how, fix, data=details)
    return CheckResult("disk", "Disk space", Status.OK, found, how, data=details)


def _cmake_fix() -> str:
    pip_fix = format_command(pip_install("cmake>=3.31"))
    if sys.platform == "win32":
        return f"winget install Kitware.CMake   (or: {pip_fix})"
    if sys.platform == "darwin":
        return f"brew install cmake   (or: {pip_fix})"
    return f"{pip_fix}   (distribution packages are often older than 3.31)"


def check_cmake(timeout: float) -> CheckResult:
    """CMake >= 3.31: only a source build of onnxruntime-genai needs it, so at worst a warning."""
    og = installed_version("onnxruntime-genai")
    required = f">= {MIN_CMAKE[0]}.{MIN_CMAKE[1]} (source builds only)"
    if og:
        why = (f"Not needed now: onnxruntime-genai {og} is installed as a prebuilt package, and "
               "CMake is only needed to build it from source.")
    else:
        why = ("CMake is only needed to build onnxruntime-genai from source; pip installs a "
               "prebuilt wheel on Windows, macOS and Linux x64.")
    fix = f"{why} To install or update it: {_cmake_fix()}"
    path = which("cmake", "cmake3")
    if path is None:
        return CheckResult("cmake", "CMake", Status.WARN, "not found on PATH", required, fix,
                           data={"path": None})
    name = Path(path).name
    details: dict = {"path": path}
    res = run_command([path, "--version"], timeout)
    if not res.ok:
        return CheckResult("cmake", "CMake", Status.WARN, res.describe(), required, fix,
                           data=details)
    version = find_version(res.output)
    if version is None:
        first = res.output.splitlines()[0][:60] if res.output else "(no output)"
        return CheckResult("cmake", "CMake", Status.WARN,
                           f"unreadable version from {name}: {first!r}", required, fix,
                           data=details)
    details["version"] = version
    shown = version if name.lower() in ("cmake", "cmake.exe") else f"{version} ({name})"
    if (version_tuple(version) or ())[:2] >= MIN_CMAKE:
        return CheckResult("cmake", "CMake", Status.OK, shown, required, data=details)
    return CheckResult("cmake", "CMake", Status.WARN, f"{shown}, older than 3.31", required, fix,
                       data=details)


def _foundry_cli_fix() -> str:
    if sys.platform == "win32":
        return "winget install Microsoft.FoundryLocal"
    if sys.platform == "darwin":
        return "brew tap microsoft/foundrylocal && brew install foundrylocal"
    return "download the Foundry Local CLI from https://github.com/microsoft/Foundry-Local/releases"


def check_foundry(timeout: float) -> CheckResult:
    cli = foundry_cli_info(timeout)
    sdk = installed_version("foundry-local-sdk")
    sdk_spec = project_requirements().get("foundry-local-sdk", "")
    required = "foundry CLI or foundry-local-sdk (either deploys)"
    parts = []
    if cli.path:
        bits = [f"CLI {cli.version or '?'}"]
        if cli.running is True:
            bits.append(f"service running{' at ' + cli.endpoint if cli.endpoint else ''}")
        elif cli.running is False:
            bits.append("service not running")
        if cli.cache_dir:
            bits.append(f"cache {cli.cache_dir}")
        if cli.problem:
            bits.append(cli.problem)
        parts.append(", ".join(bits))
    else:
        parts.append("no foundry CLI on PATH")
    parts.append(f"SDK {sdk}" if sdk else "no foundry-local-sdk")
    deploy_via = "cli" if cli.path and not cli.problem else "sdk" if sdk else "export"
    found = "; ".join(parts) + {"cli": " (deploys with the CLI)", "sdk": " (deploys with the SDK)",
                                "export": ""}[deploy_via]
    details = {
        "cli_path": cli.path, "cli_version": cli.version,
        "cache_dir": str(cli.cache_dir) if cli.cache_dir else None,
        "running": cli.running, "endpoint": cli.endpoint, "sdk_version": sdk,
        "deploy_via": deploy_via,
    }
    sdk_fix = format_command(pip_install(f"foundry-local-sdk{sdk_spec}"))
    if not cli.path and not sdk:
        fix = (f"{sdk_fix}   (or install the CLI: {_foundry_cli_fix()}). Without Foundry Local the "
               "demo path still works; deployment then exports a folder instead.")
        return CheckResult("foundry", "Foundry Local", Status.WARN, found, required, fix,
                           data=details)
    if cli.path and cli.problem:
        via = "deployment will use the SDK" if sdk else "deployment will export a folder instead"
        fix = (f"The foundry CLI did not answer properly ({cli.problem}); {via}. "
               "Check it with: foundry --version")
        return CheckResult("foundry", "Foundry Local", Status.WARN, found, required, fix,
                           data=details)
    if sdk and sdk_spec and satisfies(sdk, sdk_spec) is False and not cli.path:
        fix = f"{sdk_fix}   (this project was built against foundry-local-sdk{sdk_spec})"
        return CheckResult("foundry", "Foundry Local", Status.WARN, found, required, fix,
                           data=details)
    fix = ""
    if cli.running is False:
        fix = "foundry service start   (newer CLI: foundry server start)"
    return CheckResult("foundry", "Foundry Local", Status.OK, found, required, fix, data=details)


def check_package(name: str, purpose: str, specs: dict[str, str]) -> CheckResult:
    spec = specs.get(_norm(name), "")
    version = installed_version(name)
    cid, title = f"package:{name}", name
    required = spec or "any version"
    details = {"package": name, "version": version, "spec": spec, "purpose": purpose}
    install = pip_install(TORCH_PIN if name == "torch" else f"{name}{spec}")
    fix = format_command(install)
    if name == "torch":
        fix += "   (the CPU build first; a bare `torch` can pull a multi-GB CUDA build)"
    if version is None:
        return CheckResult(cid, title, Status.FAIL, f"not installed ({purpose})", required, fix,
                           essential=True, data=details)
    if spec and satisfies(version, spec) is False:
        return CheckResult(cid, title, Status.WARN, f"{version}, outside {spec}", required, fix,
                           essential=True, data=details)
    return CheckResult(cid, title, Status.OK, version, required, essential=True, data=details)


def check_compat() -> CheckResult:
    """Version combinations known to break (measured, see TOOLCHAIN-NOTES.md)."""
    olive = installed_version("olive-ai")
    og = installed_version("onnxruntime-genai")
    required = "olive-ai 0.13 with onnxruntime-genai < 0.16"
    if olive is None or og is None:
        missing = " and ".join(n for n, v in (("olive-ai", olive), ("onnxruntime-genai", og))
                               if v is None)
        return CheckResult("compat", "Toolchain compatibility", Status.SKIP,
                           f"{missing} not installed", required, essential=True)
    found = f"olive-ai {olive} + onnxruntime-genai {og}"
    olive_v, og_v = version_tuple(olive) or (), version_tuple(og) or ()
    if olive_v[:2] == (0, 13) and og_v[:2] >= (0, 16):
        fix = format_command(pip_install("onnxruntime-genai==0.14.1"))
        found += (": Olive's ModelBuilder pass fails at every precision (ModuleNotFoundError: "
                  "onnxruntime_genai.models.quantized_model) and ignores the int4 options")
        return CheckResult("compat", "Toolchain compatibility", Status.FAIL, found, required, fix,
                           essential=True, data={"packages": ["onnxruntime-genai"]})
    if olive_v[:2] == (0, 13) and installed_version("requests") is None:
        fix = format_command(pip_install("requests>=2.31"))
        found += ", requests missing: olive-ai 0.13 imports it without declaring it (olive crashes)"
        return CheckResult("compat", "Toolchain compatibility", Status.FAIL, found, required, fix,
                           essential=True, data={"packages": ["requests"]})
    return CheckResult("compat", "Toolchain compatibility", Status.OK, found, required,
                       essential=True)


def execution_providers() -> list[str]:
    """onnxruntime's available execution providers ("CPUExecutionProvider", ...)."""
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def check_providers() -> CheckResult:
    required = "CPU (CUDA, DirectML... optional)"
    if installed_version("onnxruntime") is None:
        return CheckResult("providers", "Execution providers", Status.SKIP,
                           "onnxruntime not installed", required)
    try:
        providers = execution_providers()
    except Exception as exc:  # a broken native library: say so, do not crash
        return CheckResult("providers", "Execution providers", Status.FAIL,
                           f"onnxruntime does not load: {type(exc).__name__}: {exc}", required,
                           format_command(pip_install("--force-reinstall", "onnxruntime")),
                           data={"providers": []})
    short = ", ".join(p.removesuffix("ExecutionProvider") for p in providers) or "none"
    details = {"providers": providers}
    if "CPUExecutionProvider" not in providers:
        return CheckResult("providers", "Execution providers", Status.WARN, short, required,
                           "onnxruntime without its CPU provider is unusual: reinstall it",
                           data=details)
    return CheckResult("providers", "Execution providers", Status.OK, short, required,
                       data=details)


# ------------------------------------------------------------------------------- run them


def run_checks(
    *,
    output_dir: Path | None = None,
    model_dir: Path | None = None,
    min_ram_gb: float = 8.0,
    timeout: float = 5.0,
) -> list[CheckResult]:
    """Run every check concurrently; results come back in a fixed order."""
    specs = project_requirements()
    jobs: list[tuple[str, str, Callable[[], CheckResult]]] = [
        ("python", "Python", check_python),
        ("os", "Operating system", check_os),
        ("ram", "Memory (RAM)", lambda: check_ram(model_dir, min_ram_gb)),
        ("disk", "Disk space", lambda: check_disk(output_dir, model_dir)),
        ("cmake", "CMake", lambda: check_cmake(timeout)),
        ("foundry", "Foundry Local", lambda: check_foundry(timeout)),
    ]
    for name, purpose in PACKAGES:
        jobs.append((f"package:{name}", name,
                     lambda n=name, p=purpose: check_package(n, p, specs)))
    jobs.append(("compat", "Toolchain compatibility", check_compat))
    jobs.append(("providers", "Execution providers", check_providers))

    def guarded(cid: str, title: str, fn: Callable[[], CheckResult]) -> CheckResult:
        try:
            return fn()
        except Exception as exc:  # a bug in a check must not hide the others
            log.exception("check %s crashed", cid)
            return CheckResult(cid, title, Status.WARN,
                               f"could not check: {type(exc).__name__}: {exc}", "",
                               "This is a bug in slm-wizard; the log file has the details.")

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="prereq") as pool:
        futures = [pool.submit(guarded, cid, title, fn) for cid, title, fn in jobs]
        return [f.result() for f in futures]


def counts(results: Sequence[CheckResult]) -> dict[str, int]:
    """How many checks ended in each status, keyed by the status value ("ok", "warn", ...)."""
    return status_counts(list(results))


def blocking(results: Sequence[CheckResult]) -> list[CheckResult]:
    """Failed essential checks: the wizard cannot go on until they are fixed."""
    return [r for r in results if r.blocks]


def summary_line(results: Sequence[CheckResult]) -> str:
    c = counts(results)
    ok, warn, fail, skip = (c[s.value] for s in (Status.OK, Status.WARN, Status.FAIL, Status.SKIP))
    warnings = f"{warn} warning" + ("" if warn == 1 else "s")
    text = f"{len(results)} checks: {ok} passed, {warnings}, {fail} failed"
    return text + (f", {skip} skipped" if skip else "")
