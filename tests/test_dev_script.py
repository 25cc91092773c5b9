"""dev.py, the set-up without make: its plan per platform (printed by --dry-run), the CPU build of
torch from the right index, the Makefile delegating to it, and the POSIX-only calls guarded so the
Windows path imports and runs."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_dev():
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["dev_script"] = module
    spec.loader.exec_module(module)
    return module


dev = _load_dev()


def _dry_run(*args: str, env: dict | None = None) -> list[list[str]]:
    """The argument lists `dev.py --dry-run ARGS` prints (comment lines left out)."""
    res = subprocess.run([sys.executable, str(ROOT / "dev.py"), "--dry-run", *args],
                         capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln and not ln.startswith("# ")]
    return [shlex.split(ln, posix=True) for ln in lines]


@pytest.mark.parametrize("platform, python, ruff", [
    ("linux", ".venv/bin/python", ".venv/bin/ruff"),
    ("macos", ".venv/bin/python", ".venv/bin/ruff"),
    ("windows", r".venv\Scripts\python.exe", r".venv\Scripts\ruff.exe"),
])
def test_the_plan_of_test_and_run_per_platform(platform: str, python: str, ruff: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != dev.TORCH_INDEX_ENV}
    # shlex reads backslashes as escapes: the Windows paths are printed unquoted, so compare
    # the lines as text for them.
    res = subprocess.run([sys.executable, str(ROOT / "dev.py"), "--dry-run", "--platform",
                          platform, "--fresh", "test", "-x"], capture_output=True, text=True,
                         timeout=120, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    cmds = [ln.split(" ") for ln in res.stdout.splitlines() if ln and not ln.startswith("# ")]
    assert cmds[0] == [sys.executable, "-m", "venv", ".venv"]
    pip = [python, "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    # torch first (its CPU build), then the project, then the dev tools, lint, tests.
    assert cmds[1][:7] == [*pip, "torch==2.13.0"]
    assert cmds[2] == [*pip, "-e", ".[all]"]
    assert cmds[3] == [python, "-m", "compileall", "-q", "core", "tui", "cli"]
    assert cmds[4] == [*pip, "-e", ".[all,dev]"]
    assert cmds[5][:2] == [ruff, "check"] and "dev.py" in cmds[5]
    assert cmds[6][0].endswith("lint-imports" + (".exe" if platform == "windows" else ""))
    assert cmds[7] == [python, "-m", "pytest", "-x"]
    assert len(cmds) == 8
    if platform != "linux":  # the public wheel is the CPU build there
        assert cmds[1] == [*pip, "torch==2.13.0"]
    run = [ln for ln in subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "--dry-run", "--platform", platform, "--fresh",
         "run"], capture_output=True, text=True, timeout=120, cwd=ROOT).stdout.splitlines()
        if ln and not ln.startswith("# ")]
    assert run[-1] == python.replace("python.exe", "slm-wizard.exe").replace(
        "bin/python", "bin/slm-wizard")
    assert not any("dev" in ln for ln in run)  # run installs no dev tools


def test_test_fast_passes_the_marker_as_one_argument() -> None:
    cmds = _dry_run("--platform", "linux", "--fresh", "test-fast")
    assert cmds[-1] == [".venv/bin/python", "-m", "pytest", "-m", "not slow", "-n", "4"]


def test_torch_index_per_platform() -> None:
    cpu = ["--index-url", dev.TORCH_CPU_INDEX]
    # Linux with pip unconfigured: PyTorch's CPU index (the public index pulls CUDA).
    assert dev.torch_index("linux", {}, [])[0] == cpu
    # pip configured with its own index or wheel folder (as on this machine): used as it is,
    # and the plan says how to override it.
    args, why = dev.torch_index("linux", {}, ["global.extra-index-url='file:///opt/pypi'"])
    assert args == [] and "file:///opt/pypi" in why and dev.TORCH_INDEX_ENV in why
    # The variable overrides both ways.
    assert dev.torch_index("linux", {dev.TORCH_INDEX_ENV: "http://mirror/cpu"}, ["x"])[0] == \
        ["--index-url", "http://mirror/cpu"]
    assert dev.torch_index("linux", {dev.TORCH_INDEX_ENV: ""}, [])[0] == []
    for platform in ("darwin", "win32"):
        assert dev.torch_index(platform, {}, [])[0] == []
    assert dev.torch_index("win32", {dev.TORCH_INDEX_ENV: "http://m"}, [])[0] == \
        ["--index-url", "http://m"]


def test_pip_sources_read_from_pip_config_and_environment() -> None:
    config = textwrap.dedent("""\
        :env:.default-timeout='180'
        :env:.find-links='/opt/wheels'
        global.cert='/etc/ssl/certs/ca-certificates.crt'
        global.extra-index-url='file:///opt/pypi/simple'
        """)
    found = dev.pip_sources(config, {"PIP_FIND_LINKS": "/opt/wheels"})
    assert found == [":env:.find-links='/opt/wheels'",
                     "global.extra-index-url='file:///opt/pypi/simple'"]
    assert dev.pip_sources("global.cert='x'\n", {"PIP_INDEX_URL": "http://i"}) == \
        ["PIP_INDEX_URL=http://i"]
    assert dev.pip_sources("", {}) == []


def test_this_machine_installs_torch_from_what_pip_is_configured_with() -> None:
    """Offline here: the configured local index serves the CPU build, so the default plan must
    not send pip to download.pytorch.org."""
    config = dev.read_pip_config()
    env = {k: v for k, v in os.environ.items() if k != dev.TORCH_INDEX_ENV}
    cmds = _dry_run("--platform", "linux", "--fresh", "setup", env=env)
    torch = next(c for c in cmds if "torch==2.13.0" in c)
    if dev.pip_sources(config, env):
        assert "--index-url" not in torch
    else:
        assert torch[-2:] == ["--index-url", dev.TORCH_CPU_INDEX]


def test_installs_are_skipped_while_their_stamps_are_newer(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    for name in ("torch", "all", "dev"):
        (tmp_path / ".venv" / f".stamp-{name}").write_text("")
    steps = dev.plan("test", "linux", {}, [], root=tmp_path)
    assert [s.why for s in steps] == ["ruff", "import-linter", "the tests"]
    # pyproject.toml changed since: the project and dev installs again, not torch.
    os.utime(tmp_path / "pyproject.toml", (2e9, 2e9))
    steps = dev.plan("test", "linux", {}, [], root=tmp_path)
    assert [s.stamp for s in steps if s.stamp] == [".venv/.stamp-all", ".venv/.stamp-dev"]


def test_execute_stops_at_the_first_failure_and_stamps_what_succeeded(tmp_path: Path) -> None:
    ok = dev.Step("ok", [sys.executable, "-c", "open('ran', 'w').write('1')"], stamp="ok.stamp")
    bad = dev.Step("bad", [sys.executable, "-c", "raise SystemExit(3)"], stamp="bad.stamp")
    never = dev.Step("never", [sys.executable, "-c", "open('never', 'w')"])
    assert dev.execute([ok, bad, never], tmp_path, dict(os.environ)) == 3
    assert (tmp_path / "ran").exists() and (tmp_path / "ok.stamp").exists()
    assert not (tmp_path / "bad.stamp").exists() and not (tmp_path / "never").exists()
    (tmp_path / "x.egg-info").mkdir()
    (tmp_path / ".venv").mkdir()
    steps = dev.plan("clean", "win32", {}, [], root=tmp_path)
    assert dev.execute(steps, tmp_path, {}) == 0
    assert not (tmp_path / ".venv").exists() and not (tmp_path / "x.egg-info").exists()


def test_platform_and_fresh_need_dry_run() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "dev.py"), "--platform", "windows", "run"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--dry-run" in res.stderr


def test_the_makefile_calls_dev_py_for_every_target() -> None:
    make = (ROOT / "Makefile").read_text()
    for target in ("run", "test", "test-fast", "lint", "bench", "screenshots", "clean"):
        body = re.search(rf"^{re.escape(target)}:.*\n\t(.+)$", make, re.M)
        assert body is not None and body.group(1) == f"$(DEV) {target}", target
    assert "DEV := $(PYTHON) dev.py" in make
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# -- the POSIX-only calls, guarded -------------------------------------------------------------

def test_the_packages_import_without_posix_only_calls(tmp_path: Path) -> None:
    """Every module of core, tui and cli imports where os.killpg, os.setsid, os.getpgid,
    signal.SIGKILL/SIGHUP and the resource/fcntl/termios modules do not exist (as on Windows)."""
    script = textwrap.dedent("""
        import os, pkgutil, signal, sys, importlib
        for name in ("killpg", "setsid", "getpgid", "setpgrp"):
            if hasattr(os, name):
                delattr(os, name)
        for name in ("SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1"):
            if hasattr(signal, name):
                delattr(signal, name)
        for name in ("resource", "fcntl", "termios", "pwd", "grp"):
            sys.modules[name] = None
        import slm_wizard
        failed = []
        for pkg in ("core", "tui", "cli"):
            base = importlib.import_module("slm_wizard." + pkg)
            for info in pkgutil.walk_packages(base.__path__, base.__name__ + "."):
                if info.name.endswith(("__main__", "screenshots")):
                    continue
                try:
                    importlib.import_module(info.name)
                except Exception as exc:
                    failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
        print("\\n".join(failed))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == ""


def test_pid_probe_on_windows_does_not_send_a_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.kill(pid, 0) on Windows terminates the process: the leftover check must not call it."""
    import psutil  # imported before the platform is faked (it picks its own by sys.platform)

    from slm_wizard.core.base import owned

    sent, asked = [], []
    monkeypatch.setattr(owned.sys, "platform", "win32")
    monkeypatch.setattr(owned.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    monkeypatch.setattr(psutil, "pid_exists", lambda pid: asked.append(pid) or pid == 4242)
    assert owned._pid_alive(4242) is True
    assert owned._pid_alive(4243) is False
    assert sent == [] and asked == [4242, 4243]


def test_process_group_calls_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.base import proc

    calls = []

    class Fake:
        pid = 12345

        def kill(self) -> None:
            calls.append("kill")

        def send_signal(self, sig: int) -> None:
            calls.append(("signal", sig))

    monkeypatch.setattr(proc, "_WINDOWS", True)
    monkeypatch.delattr(proc.os, "killpg", raising=False)
    monkeypatch.setattr(proc.signal, "CTRL_BREAK_EVENT", 1, raising=False)
    proc._kill_group(Fake())
    proc._terminate_group(Fake())
    proc._interrupt_group(Fake())
    assert calls == ["kill", "kill", ("signal", 1)]
