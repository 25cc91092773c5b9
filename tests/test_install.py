"""The project installs under one namespace (slm_wizard.core/tui/cli), so it neither shadows nor is
shadowed by other distributions' top-level `core` or `cli` packages."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--no-index", "-q", "-w", out, ROOT, cwd=out)
    assert res.returncode == 0, res.stderr
    return next(out.glob("slm_wizard-*.whl"))


@pytest.mark.slow  # builds the wheel with pip
def test_the_wheel_holds_only_the_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"slm_wizard"}
    assert "slm_wizard/tui/app.tcss" in names
    # Every module of the three folders is in the wheel (a subpackage missing from the
    # package list would only show up on a user's machine).
    for folder in ("core", "tui", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            assert f"slm_wizard/{path.relative_to(ROOT).as_posix()}" in names, path
    assert "slm_wizard/core/data/demo_faq.jsonl" in names


@pytest.mark.slow
def test_beside_unrelated_core_and_cli_packages(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=tmp_path).stdout.strip())
    # Unrelated distributions' top-level packages named like our folders.
    for name in ("core", "cli", "tui"):
        (purelib / name).mkdir()
        (purelib / name / "__init__.py").write_text(f"WHO = 'unrelated {name}'\n")
    # Our dependencies come from the test's environment (a plain path entry: the editable
    # checkout's finder there is not activated, so only the installed wheel provides slm_wizard).
    (purelib / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    res = _run(py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel, cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = env_dir / "bin" / "slm-wizard"
    res = _run(script, "--version", cwd=tmp_path, env=env)
    assert res.returncode == 0 and res.stdout.startswith("slm-wizard "), res.stderr
    res = _run(script, "check", "--json", cwd=tmp_path, env=env)
    assert res.returncode in (0, 1), res.stderr
    assert "Traceback" not in res.stderr and '"python"' in res.stdout
    res = _run(py, "-c", "import core, cli, slm_wizard.core as c; print(core.WHO, cli.WHO, "
               "c.__file__)", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    who_core, who_cli, ours = res.stdout.split()[1], res.stdout.split()[3], res.stdout.split()[4]
    assert (who_core, who_cli) == ("core", "cli")
    assert ours.startswith(str(purelib / "slm_wizard"))
    # Part of the test suite against the installed wheel, beside the unrelated packages.
    res = _run(py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/core/run/test_record.py",
               "tests/core/run/test_summary.py", cwd=ROOT, env=env)
    assert res.returncode == 0, res.stdout[-2000:]


def test_the_checkout_is_not_importable_as_core(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = _run(sys.executable, "-c", "import core", cwd=tmp_path, env=env)
    assert res.returncode != 0 and "No module named 'core'" in res.stderr
    res = _run(sys.executable, "-c", "import slm_wizard.core as c; print(c.__file__)",
               cwd=tmp_path, env=env)
    assert res.returncode == 0 and res.stdout.strip() == str(ROOT / "core" / "__init__.py")
