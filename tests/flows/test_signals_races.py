"""Signals, children, one writer at a time and the marker rule (docs/reliability.md).

- SIGTERM and SIGHUP end every long command and the wizard as Ctrl-C does: the work stops,
  nothing half-written stays, one line, exit 128 + the signal's number;
- no child process outlives the tool, even after `kill -9` of it;
- two writers of one output folder, report folder, deployed name or settings file: the second
  is refused naming the first's process (exit 2), a dead one's lock is taken over and said so;
- a folder the tool did not make is never replaced or removed, and `/`, the home folder and a
  folder holding the input are never an output.

The in-process tests send real signals to this process; the `slow` ones run the real CLI in a
child process with a stand-in for Olive (as tests/flows/test_faults.py does).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from slm_wizard.cli.main import main
from slm_wizard.core.base.owned import MARKER_NAME, write_marker
from tests.helpers import ROOT
from tests.helpers.folders import make_model, make_onnx, tree
from tests.helpers.foundry import FakeCatalog, fake_foundry

STOPS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGHUP, id="SIGHUP")]


class NotHandled(Exception):
    """Raised by the test's own safety handler: the tool did not handle the signal."""


@pytest.fixture
def safety_handlers():
    """Without the tool's handlers a SIGTERM would end pytest itself: this handler makes the
    missing handling a test failure instead; the previous handlers come back after."""
    def not_handled(signum, _frame):
        raise NotHandled(signal.Signals(signum).name)

    previous = {s: signal.signal(s, not_handled) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)


# --------------------------------------------------------------------------- every long command

LONG = {
    "convert": ("slm_wizard.core.steps.convert", "run", ["convert", "{model}", "-o", "{t}/o"]),
    "sweep": ("slm_wizard.core.steps.sweep", "run", ["sweep", "{model}"]),
    "demo": ("slm_wizard.core.model.demo", "build_demo_model", ["demo", "--out", "{t}/demo"]),
    "bench": ("slm_wizard.core.steps.bench", "run", ["bench", "{onnx}"]),
    "validate": ("slm_wizard.core.steps.checklist", "run", ["validate", "{onnx}"]),
    "chat": ("slm_wizard.core.steps.chat", "run", ["chat", "{onnx}", "--prompt", "hi"]),
    "deploy": ("slm_wizard.core.steps.deploy", "run",
               ["deploy", "{onnx}", "--name", "lumo", "--cache-dir", "{t}/cache"]),
}


@pytest.mark.parametrize("signum", STOPS)
@pytest.mark.parametrize("command", sorted(LONG))
def test_stop_signal_in_every_long_command(command: str, signum: int, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, safety_handlers,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The signal arrives while the runner works: exit 128 + signal, one line, no file changed."""
    import importlib

    module, name, argv = LONG[command]
    places = {"onnx": str(make_onnx(tmp_path / "onnx")),
              "model": str(make_model(tmp_path / "model")), "t": str(tmp_path)}

    def signalled(*args, **kwargs):
        os.kill(os.getpid(), signum)
        if threading.current_thread() is not threading.main_thread():  # convert's worker
            assert kwargs["cancel"].wait(30), "the signal did not cancel the run"
            return SimpleNamespace(cancelled=True)
        time.sleep(30)  # the handler raises here
        raise AssertionError("the signal was not delivered")

    monkeypatch.setattr(importlib.import_module(module), name, signalled)
    before = tree(tmp_path)
    code = main([a.format(**places) for a in argv])
    err = capsys.readouterr().err
    assert code == 128 + signum, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("cancelling")]
    assert lines[-1].startswith("interrupted"), err
    assert sum(ln.startswith("interrupted") for ln in lines) == 1
    assert signal.Signals(signum).name in lines[-1] and f"exit {128 + signum}" in lines[-1]
    assert "Traceback" not in err and "bug" not in err
    assert tree(tmp_path) == before
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the test's handler is back


def test_sigterm_ends_the_chat_repl_where_ctrl_c_only_stops_a_reply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, safety_handlers,
        capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from slm_wizard.core.steps import chat as chat_step

    closed: list[bool] = []
    backend = SimpleNamespace(name="fake", max_length=64, close=lambda: closed.append(True))

    class Session:
        system_prompt = None

        def send(self, text, on_text=None):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)

    monkeypatch.setattr(chat_step, "open_backend", lambda options: backend)
    monkeypatch.setattr(chat_step, "new_session", lambda options, b: Session())
    monkeypatch.setattr(chat_step, "generator_pid", lambda b: None)
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\nhello again\n"))
    code = main(["chat", str(make_onnx(tmp_path / "onnx"))])
    err = capsys.readouterr().err
    assert code == 143, err
    assert err.strip().splitlines()[-1].startswith("interrupted: chat stopped by SIGTERM")
    assert closed == [True]  # the model (its generation process) was closed


async def test_sigterm_ends_the_wizard_after_its_work_cleaned_up(wizard, tmp_path: Path,
                                                                safety_handlers) -> None:
    from textual.worker import get_current_worker

    partial = tmp_path / "partial-output"

    def work() -> None:  # a screen's run: it removes what it wrote when cancelled
        me = get_current_worker()
        partial.write_text("half")
        while not me.is_cancelled:
            time.sleep(0.02)
        partial.unlink()

    async with wizard.run() as pilot:
        app = pilot.app
        app.run_worker(work, thread=True, name="convert")
        for _ in range(200):
            if partial.exists():
                break
            await pilot.pause(0.02)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(300):
            if app.return_code is not None:
                break
            await pilot.pause(0.05)
    assert app.return_code == 143
    assert not partial.exists()


def test_wizard_exit_line_and_code(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from slm_wizard.tui import app as tui_app

    monkeypatch.setattr(tui_app, "run_app", lambda **kw: 129)
    assert main([]) == 129
    assert capsys.readouterr().err.strip() == (
        "interrupted: the wizard stopped by SIGHUP (exit 129); nothing was half-written")


# --------------------------------------------------------------------------- the marker rule


@pytest.fixture
def no_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.base import proc
    from slm_wizard.core.deploy import foundry

    monkeypatch.setattr(foundry, "sdk_available", lambda: False)
    monkeypatch.setattr(foundry, "check_onnx_folder", lambda d: [])  # a stand-in ONNX folder
    monkeypatch.setattr(proc, "which", lambda *n: None)


def _remove(t: Path, cache: Path) -> list[str]:
    return ["deploy", str(t), "--remove", "--name", "lumo", "--cache-dir", str(cache)]


def _user_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "inference_model.json").write_text(json.dumps({"Name": "lumo", "Version": "1"}))
    (folder / "my-notes.txt").write_text("precious\n")
    return folder


def _deployable(folder: Path) -> Path:
    """A folder that looks converted (a Qwen2 genai_config.json, a ChatML template)."""
    from tests.helpers.templates import CHATML

    folder.mkdir()
    (folder / "genai_config.json").write_text(json.dumps(
        {"model": {"type": "qwen2", "context_length": 512}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHATML}))
    (folder / "model.onnx").write_bytes(b"stand-in")
    return folder


def test_deploy_replace_never_replaces_an_unmarked_cache_folder(
        tmp_path: Path, no_sdk, capsys: pytest.CaptureFixture[str]) -> None:
    onnx = _deployable(tmp_path / "onnx")
    cache = tmp_path / "cache"
    _user_folder(cache / "custom" / "lumo")
    before = tree(tmp_path)
    code = main(["deploy", str(onnx), "--name", "lumo", "--cache-dir", str(cache), "--replace"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{cache / 'custom' / 'lumo'} was not made by slm-wizard" in err
    assert "never replaced" in err and "Traceback" not in err
    assert tree(tmp_path) == before


def test_deploy_remove_never_removes_an_unmarked_folder(
        tmp_path: Path, no_sdk, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    target = _user_folder(cache / "custom" / "lumo")
    before = tree(tmp_path)
    code = main(_remove(tmp_path, cache))
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{target} was not made by slm-wizard" in err and "never removed" in err
    assert tree(tmp_path) == before
    write_marker(target, "deploy")  # one deploy made: removed
    assert main(_remove(tmp_path, cache)) == 0
    assert not target.exists()


def test_deploy_remove_with_a_missing_cache_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "nocache"
    code = main(_remove(tmp_path, cache))
    err = capsys.readouterr().err
    assert code == 1, err
    assert "is not deployed" in err and "nothing was removed" in err
    assert not cache.exists()


def test_loading_from_a_missing_cache_creates_nothing(tmp_path: Path) -> None:
    from slm_wizard.core.deploy.foundry_sdk import FoundryError, load_foundry_model

    cache = tmp_path / "nocache"
    with pytest.raises(FoundryError, match="no Foundry Local cache at"):
        load_foundry_model(cache, "lumo:1")
    assert not cache.exists()


@pytest.mark.parametrize("command", ["bench", "validate"])
def test_report_dir_never_overwrites_the_users_files(command: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    onnx = make_onnx(tmp_path / "onnx")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / f"{command}.md").write_text("my own notes\n")
    before = tree(tmp_path)
    code = main([command, str(onnx), "--report-dir", str(mine)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{mine / (command + '.md')} is already in {mine}" in err
    assert "never overwritten" in err and "Traceback" not in err
    assert tree(tmp_path) == before


@pytest.mark.parametrize("where", ["root", "home", "input"])
@pytest.mark.parametrize("command", ["bench", "validate"])
def test_report_dir_refuses_root_home_and_the_input(command: str, where: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    onnx = make_onnx(tmp_path / "onnx")
    folder = {"root": "/", "home": str(Path.home()), "input": str(onnx)}[where]
    why = {"root": "the root of the file system", "home": "your home folder",
           "input": "the folder that holds the input"}[where]
    before = tree(tmp_path)
    code = main([command, str(onnx), "--report-dir", folder])
    err = capsys.readouterr().err
    assert code == 2, err
    assert why in err and "never used for output" in err
    assert tree(tmp_path) == before


@pytest.mark.parametrize("argv", [
    ["convert", "{model}", "-o", "/", "--replace"],
    ["convert", "{model}", "-o", "{home}", "--replace"],
    ["demo", "--out", "/", "--force"],
    ["demo", "--out", "{home}", "--force"],
    ["sweep", "{model}", "--output", "{t}"],
], ids=["convert-root", "convert-home", "demo-root", "demo-home", "sweep-input-parent"])
def test_outputs_refuse_root_home_and_the_inputs_folder(argv: list[str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    places = {"model": str(make_model(tmp_path / "model")), "home": str(Path.home()),
              "t": str(tmp_path)}
    before = tree(tmp_path)
    code = main([a.format(**places) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    why = "the root of the file system" if "/" in argv else "your home folder" \
        if "{home}" in argv else "the folder that holds the input"
    assert why in err and "it is never used for output" in err, err
    assert "Traceback" not in err
    assert tree(tmp_path) == before


def test_a_report_folder_made_by_the_tool_carries_the_marker(tmp_path: Path) -> None:
    from slm_wizard.core.base.reports import Report, Table, export_report

    report = Report("bench", "Bench", tables=[Table("t", "T", ["a"], [[1]])])
    folder = tmp_path / "reports"
    export_report(report, folder)
    assert (folder / MARKER_NAME).is_file()
    export_report(report, folder)  # ours: the next report replaces its files
    assert sorted(p.name for p in folder.iterdir()) == [MARKER_NAME, "bench-t.csv", "bench.json",
                                                        "bench.md"]


# --------------------------------------------------------------------------- one writer

HOLD = '''
import sys, time
from pathlib import Path
from slm_wizard.core.base.lock import Lock
with Lock(Path(sys.argv[1]), sys.argv[2]):
    print("locked", flush=True)
    time.sleep(60)
'''


def _holder(target: Path, what: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target), what], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"  # type: ignore[union-attr]
    return proc


def test_deploy_remove_while_a_deploy_of_that_name_runs(
        tmp_path: Path, no_sdk, capsys: pytest.CaptureFixture[str]) -> None:
    from slm_wizard.core.deploy import foundry

    cache = tmp_path / "cache"
    target = foundry.target_dir(cache, "lumo")
    target.mkdir(parents=True)
    (target / "inference_model.json").write_text(json.dumps({"Name": "lumo", "Version": "1"}))
    write_marker(target, "deploy")
    holder = _holder(target, "deploying lumo")
    try:
        before = tree(tmp_path)
        code = main(_remove(tmp_path, cache))
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"{target} is in use by process {holder.pid} (deploying lumo" in err
        assert tree(tmp_path) == before
        onnx = _deployable(tmp_path / "onnx")
        code = main(["deploy", str(onnx), "--name", "lumo", "--cache-dir", str(cache),
                     "--replace"])
        err = capsys.readouterr().err
        assert code == 2 and f"in use by process {holder.pid}" in err, err
    finally:
        holder.kill()
        holder.wait()
    # The holder died (kill -9): its lock is stale and taken over.
    assert main(_remove(tmp_path, cache)) == 0
    assert not target.exists()


def test_a_stale_lock_is_taken_over_and_said(tmp_path: Path) -> None:
    from slm_wizard.core.base.lock import Busy, Lock, lock_path

    target = tmp_path / "out"
    holder = _holder(target, "converting")
    with pytest.raises(Busy, match=rf"in use by process {holder.pid} \(converting"):
        Lock(target, "me").acquire()
    holder.kill()
    holder.wait()
    with Lock(target, "me") as lock:
        assert lock.took_over == holder.pid
        assert f"of process {holder.pid}, which is no longer running" in lock.notice
        assert json.loads(lock_path(target).read_text())["pid"] == os.getpid()
    assert not lock_path(target).exists()


def test_a_reused_pid_does_not_keep_a_lock(tmp_path: Path) -> None:
    """The lock names a live pid whose process started at another time: it is stale."""
    from slm_wizard.core.base.lock import Lock, lock_path

    target = tmp_path / "out"
    lock_path(target).write_text(json.dumps({"pid": os.getppid(), "started": 1.0}))
    with Lock(target, "me") as lock:
        assert lock.took_over == os.getppid()


def test_two_wizards_sharing_one_settings_folder_keep_both(tmp_path: Path) -> None:
    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.core.run.settings import load_settings, remember, save_settings

    cfg = tmp_path / "cfg"
    first, _ = load_settings(cfg)  # both wizards start from the same (empty) settings
    second, _ = load_settings(cfg)
    remember(first, RunRecord(model_dir=tmp_path / "alpha"), "convert")
    save_settings(first, cfg)
    remember(second, RunRecord(model_dir=tmp_path / "beta"), "deploy")
    save_settings(second, cfg)
    saved, notice = load_settings(cfg)
    assert notice is None
    assert saved.recent == [str(tmp_path / "beta"), str(tmp_path / "alpha")]
    assert saved.projects[str(tmp_path / "alpha")].last_step == "convert"
    assert saved.projects[str(tmp_path / "beta")].last_step == "deploy"
    assert second.recent == saved.recent  # the second wizard now knows the first's model


def test_a_settings_save_waits_for_the_other_writer(tmp_path: Path) -> None:
    from slm_wizard.core.base.lock import Lock
    from slm_wizard.core.run.record import RunRecord
    from slm_wizard.core.run.settings import (
        Settings,
        load_settings,
        remember,
        save_settings,
        settings_path,
    )

    cfg = tmp_path / "cfg"
    mine = Settings()
    remember(mine, RunRecord(model_dir=tmp_path / "alpha"), "convert")
    held = Lock(settings_path(cfg), "another wizard").acquire()
    saver = threading.Thread(target=save_settings, args=(mine, cfg))
    saver.start()
    saver.join(0.3)
    assert saver.is_alive() and not settings_path(cfg).exists()  # waiting for the lock
    other = Settings()
    remember(other, RunRecord(model_dir=tmp_path / "beta"), "chat")
    from slm_wizard.core.run.settings import _write

    _write(other, settings_path(cfg))  # the other wizard writes while it holds the lock
    held.release()
    saver.join(15)
    assert not saver.is_alive()
    saved, _ = load_settings(cfg)
    assert set(saved.recent) == {str(tmp_path / "alpha"), str(tmp_path / "beta")}


# --------------------------------------------------------------------------- real processes

def _cli(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "slm_wizard.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(predicate, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _olive_of(pid: int) -> list[psutil.Process]:
    """The running stand-in Olive started by process `pid` (its children, recursively)."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [k for k in kids if "olive" in " ".join(k.cmdline())]


def _gone(procs: list[psutil.Process], timeout: float = 15.0) -> bool:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return not alive


@pytest.mark.slow
@pytest.mark.parametrize("signum", STOPS)
def test_stop_signal_during_a_real_convert(signum: int, tmp_path: Path,
                                           fake_olive: dict[str, str]) -> None:
    out = tmp_path / "out"
    proc = _cli(["convert", str(make_model(tmp_path / "model")), "-o", str(out)], fake_olive)
    try:
        olive = _wait_for(lambda: _olive_of(proc.pid))
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    last = err.strip().splitlines()[-1]
    assert last == (f"interrupted: convert cancelled by {signal.Signals(signum).name}, no output "
                    f"was kept (exit {128 + signum})"), err
    assert "Traceback" not in err
    assert _gone(olive, timeout=1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fakeolive", "model"]


@pytest.mark.slow
def test_kill_9_of_convert_leaves_no_olive(tmp_path: Path, fake_olive: dict[str, str]) -> None:
    proc = _cli(["convert", str(make_model(tmp_path / "model")), "-o", str(tmp_path / "out")],
                fake_olive)
    try:
        olive = _wait_for(lambda: _olive_of(proc.pid))
        time.sleep(1.5)  # past its first line: a closed pipe can no longer end it
        proc.kill()  # kill -9: the tool gets no chance to clean up
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        assert _gone(olive), "Olive outlived the tool"
    finally:
        for p in olive:
            if p.is_running():
                p.kill()


@pytest.mark.slow
def test_two_converts_into_one_folder(tmp_path: Path, fake_olive: dict[str, str]) -> None:
    model = make_model(tmp_path / "model")
    out = tmp_path / "out"
    first = _cli(["convert", str(model), "-o", str(out)], fake_olive)
    try:
        _wait_for(lambda: _olive_of(first.pid))
        second = _cli(["convert", str(model), "-o", str(out)], fake_olive)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        assert f"error: {out} is in use by process {first.pid} (converting into {out}" in err
        assert len(list(tmp_path.glob(".out.slm-wizard-*"))) == 1  # the first's work only
        first.kill()  # kill -9: its lock stays behind, stale
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    third = _cli(["convert", str(model), "-o", str(out)], {**fake_olive, "FAKE_OLIVE": "fail"})
    _, err = third.communicate(timeout=120)
    assert third.returncode == 1, err  # it ran (the stand-in fails on purpose)
    assert f"of process {first.pid}, which is no longer running" in err
    assert not (tmp_path / ".out.lock").exists()
    assert not out.exists()


WATCHED_CHILD = '''
import sys, time
from slm_wizard.core.runtime.genproc import _end_with_parent
_end_with_parent(int(sys.argv[1]), every=0.1)
time.sleep(60)
'''

PARENT = '''
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])
print(child.pid, flush=True)
time.sleep(60)
'''


def test_kill_9_of_the_tool_ends_its_generation_process(tmp_path: Path) -> None:
    """The generation process (core/runtime/genproc.py) watches its parent and ends with it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, WATCHED_CHILD], env=env,
                              stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))  # type: ignore[union-attr]
    try:
        parent.kill()
        parent.wait()
        assert _gone([child]), "the generation process outlived the tool"
    finally:
        if child.is_running():
            child.kill()


@pytest.mark.slow
def test_sigterm_during_a_real_sweep(tmp_path: Path, fake_olive: dict[str, str]) -> None:
    """The sweep converts in the main thread: the signal ends Olive's process group and the
    conversion's work folder goes; the sweep's own output keeps only its marker and samples."""
    out = tmp_path / "sweep-out"
    proc = _cli(["sweep", str(make_model(tmp_path / "model")), "--output", str(out)],
                fake_olive)
    try:
        olive = _wait_for(lambda: _olive_of(proc.pid))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("interrupted")]
    assert lines == ["interrupted: sweep stopped by SIGTERM (exit 143); nothing was "
                     "half-written"], err
    assert "Traceback" not in err
    assert _gone(olive, timeout=1.0)
    assert list(out.rglob(".*.slm-wizard-*")) == []  # no conversion work folder
    assert [p for p in out.rglob("*") if p.is_file() and p.suffix in (".onnx", ".data")] == []


@pytest.mark.slow
def test_sighup_during_a_demo_build_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = _cli(["demo", "--out", str(out)], {**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        _wait_for(lambda: list(tmp_path.glob(".demo.tmp-*")), timeout=180)
        time.sleep(3.0)  # past the lazy imports: the model is training
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 129, err
    assert err.strip().splitlines()[-1] == ("interrupted: demo stopped by SIGHUP (exit 129); "
                                            "nothing was half-written")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no model, no temp, no lock


@pytest.mark.parametrize("stage", ["load", "answer"])
def test_an_interrupted_deploy_is_rolled_back(stage: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.base import signals
    from slm_wizard.core.deploy import foundry
    from slm_wizard.core.deploy import inference_model as im
    from slm_wizard.core.deploy.templates import template_for

    catalog = FakeCatalog([])
    fake_foundry(monkeypatch, catalog)
    monkeypatch.setattr(foundry, "check_onnx_folder", lambda d: [])

    def interrupted(*args, **kwargs):  # SIGTERM while Foundry Local loads or answers
        raise signals.Interrupted(signal.SIGTERM)

    if stage == "load":
        monkeypatch.setattr(foundry, "load_foundry_model", interrupted)
    else:
        monkeypatch.setattr(foundry, "load_foundry_model", lambda cache, model_id: object())
        monkeypatch.setattr(foundry, "ask_model", interrupted)
    onnx = make_onnx(tmp_path / "onnx")
    cache = tmp_path / "cache"
    cfg = im.ModelConfig(max_length=64, temperature=0.7, top_p=0.9, repetition_penalty=1.0)
    with pytest.raises(signals.Interrupted):
        foundry.deploy(onnx, "lumo", "1", template_for("qwen"), cfg, cache)
    assert catalog.models == {}  # not registered any more
    assert sorted(p.name for p in foundry.custom_dir(cache).iterdir()) == []  # nor copied


WIZARD_UP = b"\x1b[?1049h"  # the alternate screen: Textual has taken the terminal
PAINTED = b"demo model"  # the Welcome screen's button is on the screen


@pytest.mark.slow
@pytest.mark.parametrize("signum", STOPS)
def test_stop_signal_ends_the_real_wizard(signum: int, tmp_path: Path) -> None:
    """The wizard in a real terminal (a pty): the signal ends it with 128 + signal and one line,
    and the terminal is given back (the alternate screen is left)."""
    import pty
    import select

    primary, secondary = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "100",
           "LINES": "32"}
    proc = subprocess.Popen([sys.executable, "-m", "slm_wizard.cli", "--config-dir",
                             str(tmp_path / "cfg")], env=env, stdin=secondary,
                            stdout=secondary, stderr=secondary, start_new_session=True)
    os.close(secondary)
    seen = b""

    def read_some(timeout: float) -> bytes:
        ready, _, _ = select.select([primary], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(primary, 65536)
        except OSError:  # the pty closed: the process is gone
            return b""

    try:
        end = time.monotonic() + 60
        while PAINTED not in seen and time.monotonic() < end:
            seen += read_some(0.5)
        assert WIZARD_UP in seen and PAINTED in seen, seen[-500:]
        time.sleep(0.5)  # the first screen is painted: the app is mounted, its handlers set
        os.kill(proc.pid, signum)
        end = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < end:
            seen += read_some(0.2)
        seen += read_some(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(primary)
    assert proc.returncode == 128 + signum, seen[-800:]
    assert b"\x1b[?1049l" in seen  # the terminal was given back (the alternate screen left)
    text = seen.decode("utf-8", "replace")
    name = signal.Signals(signum).name
    assert f"interrupted: the wizard stopped by {name} (exit {128 + signum})" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("where", ["root", "home"])
def test_deploy_refuses_root_and_home_as_the_cache(where: str, tmp_path: Path, no_sdk,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    onnx = _deployable(tmp_path / "onnx")
    cache = "/" if where == "root" else str(Path.home())
    before = tree(tmp_path)
    code = main(["deploy", str(onnx), "--name", "lumo", "--cache-dir", cache])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"the Foundry Local cache {cache} is" in err and "never used for output" in err
    assert not (Path(cache) / "custom" / "lumo").exists()
    assert tree(tmp_path) == before


def test_a_settings_save_takes_over_a_dead_wizards_lock_and_says_so(tmp_path: Path) -> None:
    from slm_wizard.core.base.lock import lock_path
    from slm_wizard.core.run.settings import Settings, load_settings, save_settings, settings_path

    cfg = tmp_path / "cfg"
    cfg.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(settings_path(cfg)).write_text(json.dumps({"pid": dead.pid}))
    said: list[str] = []
    save_settings(Settings(theme="nord"), cfg, on_notice=said.append)
    assert said == [f"Took over the lock {lock_path(settings_path(cfg))} of process {dead.pid}, "
                    "which is no longer running (it was interrupted)."]
    assert load_settings(cfg)[0].theme == "nord"
    assert not lock_path(settings_path(cfg)).exists()
