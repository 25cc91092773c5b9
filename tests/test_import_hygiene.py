"""What a fresh interpreter loads when it imports a module, and which tests import which modules.

import-linter (pyproject.toml, tests/test_architecture.py) checks the import graph that it reads
from the source: which package may name which. These checks complement it with what it cannot see:
- lazy imports: a function-level import is in the graph, but whether it runs at import time (and
  so on every start) only shows in a real interpreter's sys.modules;
- optional heavy libraries (torch, transformers, Olive, onnxruntime, Foundry Local, Textual) are
  outside the graph, and importing one by accident costs seconds or fails on a lean install;
- start-up time: `slm-wizard --version`, `--help` and the first screen must stay fast, so they must
  not import the step runners or the subcommands they do not use.
Each check runs its imports in a fresh interpreter (this one has already imported everything).
The last check keeps the tests themselves cheap to extend: no test module imports another one;
what two modules share lives in tests/helpers.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.helpers import ROOT

HEAVY = ("torch", "transformers", "olive", "onnxruntime", "onnxruntime_genai", "foundry_local_sdk",
         "textual")


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`code` run by this Python in a fresh interpreter (what it imports is its own)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _loaded(code: str, prefixes: tuple[str, ...], timeout: float = 60) -> list[str]:
    """The modules starting with one of `prefixes` that a fresh interpreter has loaded after
    running `code`."""
    proc = _python(f"{code}\nimport sys\nprint(sorted(m for m in sys.modules "
                   f"if m.startswith({prefixes!r})))", timeout)
    assert proc.returncode == 0, proc.stderr
    return eval(proc.stdout.strip().splitlines()[-1])  # a printed list of module names


# ------------------------------------------------------------------ the CLI and start-up

def test_help_and_version_do_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from slm_wizard.cli.main import main\n"
        "for argv in (['--version'], ['--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('LOADED=' + ','.join(loaded), file=sys.stderr)\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED=\n" in proc.stderr or proc.stderr.rstrip().endswith("LOADED="), proc.stderr


def test_plain_command_opens_the_wizard_without_loading_subcommands(tmp_path) -> None:
    """`slm-wizard [--config-dir DIR]` goes straight to the app: no subcommand module is imported
    first (building the full parser cost 0.2 s before the first screen), and the folder given is
    the one the app uses."""
    code = (
        "import os, sys\n"
        "import slm_wizard.tui.app as app\n"
        "app.run_app = lambda config_dir=None, **kw: "
        "print('APP', os.environ['SLM_WIZARD_CONFIG_DIR']) or 0\n"
        "from slm_wizard.cli.main import main\n"
        f"code = main(['--config-dir', {str(tmp_path)!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('slm_wizard.cli.commands'))\n"
        "print('CODE', code, 'LOADED', loaded)\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert f"APP {tmp_path}" in proc.stdout
    assert "CODE 0 LOADED []" in proc.stdout


def test_the_first_screen_loads_no_step_runner_and_no_run_pane() -> None:
    """Plain `slm-wizard` starts fast: the Welcome screen imports the demo step, the folder
    check and the run pane only when they are used."""
    assert _loaded("import slm_wizard.tui.app, slm_wizard.tui.screens.welcome",
                   ("slm_wizard.core.steps", "slm_wizard.core.model",
                    "slm_wizard.tui.widgets.run_pane")) == []


# ------------------------------------------------------------------ core

def test_core_does_not_load_textual() -> None:
    """Every module of core/, each package walked (not only the top level), loads no Textual."""
    code = (
        "import sys, pkgutil, importlib, slm_wizard.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'slm_wizard.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('textual' in sys.modules)\n"
    )
    proc = _python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_importing_demo_and_its_command_loads_no_heavy_library() -> None:
    code = ("import slm_wizard.core.model.demo, slm_wizard.core.steps.demo, "
            "slm_wizard.cli.commands.demo")
    assert _loaded(code, ("torch", "transformers", "tokenizers", "safetensors")) == []


def test_core_chat_and_metrics_import_light() -> None:
    code = ("import slm_wizard.core.runtime.chat, slm_wizard.core.runtime.metrics\n"
            "import slm_wizard.core.steps.chat, slm_wizard.core.runtime.genproc")
    bad = ("textual", "onnxruntime_genai", "foundry_local_sdk", "psutil", "slm_wizard.tui",
           "slm_wizard.cli")
    assert _loaded(code, bad) == []


def test_core_convert_and_verify_do_not_import_each_other() -> None:
    code = ("import sys; import slm_wizard.core.convert.verify; "
            "assert 'slm_wizard.core.convert.run' not in sys.modules, 'verify imports convert'; "
            "import slm_wizard.core.steps.convert; "
            "assert 'textual' not in sys.modules")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    source = ROOT / "core" / "convert" / "verify.py"
    assert "core.convert.run" not in source.read_text()


def test_core_setup_does_not_load_textual_or_the_toolchain() -> None:
    loaded = _loaded("import slm_wizard.core.setup.prereqs, slm_wizard.core.base.proc",
                     ("textual", "onnxruntime", "torch", "olive", "transformers"))
    assert {m.split(".")[0] for m in loaded} & {"textual", "onnxruntime", "torch", "olive",
                                                "transformers"} == set()


# ------------------------------------------------------------------ the tests themselves

def _imported_modules(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add("." * node.level + node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_no_test_module_imports_another_test_module() -> None:
    """Helpers two test modules share live in tests/helpers; a test module imported by another
    runs its module-level code twice and ties the two files together."""
    tests = ROOT / "tests"
    offenders = []
    for path in sorted(tests.rglob("*.py")):
        imported = _imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        for name in imported:
            last = name.lstrip(".").split(".")
            if any(part.startswith("test_") for part in last) or name.startswith(".test_"):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_benchmarks_do_not_import_the_tests() -> None:
    bench = ROOT / "bench"
    offenders = [f"{p.relative_to(ROOT)} imports {n}" for p in sorted(bench.rglob("*.py"))
                 for n in _imported_modules(ast.parse(p.read_text(encoding="utf-8")))
                 if n == "tests" or n.startswith("tests.")]
    assert offenders == []


def test_the_import_check_sees_a_test_importing_a_test() -> None:
    """The scan above is not blind: it finds both spellings of importing a test module."""
    for src in ("from tests.core.test_x import helper", "import test_x",
                "from .test_x import helper"):
        names = _imported_modules(ast.parse(src))
        assert any(p.startswith("test_") for n in names for p in n.lstrip(".").split("."))
