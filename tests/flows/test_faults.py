"""Faults: Ctrl-C (SIGINT) and kill -9 during convert and deploy, a full disk, two deploys of one
name at once, the model folder vanishing during chat. Each ends with a clear message, the right
exit code, and nothing half-written; what an interrupted run leaves is removed by the next run.

Olive is replaced by a stand-in module (on PYTHONPATH) that prints a line and sleeps or fails,
so these tests do not depend on a real conversion's timing.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slm_wizard.core.base.owned import write_marker
from tests.helpers import ROOT
from tests.helpers.folders import make_model, make_onnx
from tests.helpers.foundry import FakeCatalog, fake_foundry

pytestmark = pytest.mark.slow  # real processes interrupted, killed, trained

def _cli(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "slm_wizard.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def _work_folders(parent: Path, name: str) -> list[Path]:
    return sorted(parent.glob(f".{name}.slm-wizard-*"))


# --------------------------------------------------------------------------- convert


def test_sigint_during_convert_exits_130_and_leaves_nothing(tmp_path: Path,
                                                           fake_olive: dict[str, str]) -> None:
    model = make_model(tmp_path / "model")
    out = tmp_path / "out"
    proc = _cli(["convert", str(model), "-o", str(out)], fake_olive)
    try:
        _wait_for(lambda: bool(_work_folders(tmp_path, "out")))
        time.sleep(2.0)  # Olive (the stand-in) is running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: convert"), err
    assert not out.exists()
    assert _work_folders(tmp_path, "out") == []


def test_kill_during_convert_is_cleaned_by_the_next_run(tmp_path: Path,
                                                        fake_olive: dict[str, str]) -> None:
    model = make_model(tmp_path / "model")
    out = tmp_path / "out"
    proc = _cli(["convert", str(model), "-o", str(out)], fake_olive, start_new_session=True)
    try:
        _wait_for(lambda: bool(_work_folders(tmp_path, "out")))
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)  # kill -9: no clean-up at all
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = _work_folders(tmp_path, "out")
    assert len(left) == 1  # what an interrupted run leaves
    env = {**fake_olive, "FAKE_OLIVE": "fail"}
    again = _cli(["convert", str(model), "-o", str(out)], env)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 1
    assert "Traceback" not in err
    assert f"Removed {left[0]}, the work folder of an interrupted conversion" in err
    assert _work_folders(tmp_path, "out") == []
    assert not out.exists()


def test_disk_full_during_convert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.convert import run as convert
    from slm_wizard.core.convert.options import ConvertOptions

    model = make_model(tmp_path / "model")
    out = tmp_path / "out"

    def fake_olive(argv, work, log, parser, emit, cancel, timeout_s):
        make_onnx(Path(work) / "output" / "model")
        return 0, "finished"

    def no_space(model_dir: Path, target: Path, work: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(convert, "_run_olive", fake_olive)
    monkeypatch.setattr(convert, "_move_into_place", no_space)
    result = convert.run_conversion(ConvertOptions(model, out, precision="int4",
                                                           method="auto-opt"), verify=False)
    assert not result.ok
    assert f"The disk holding {tmp_path} is full" in (result.error or "")
    assert not out.exists()
    assert _work_folders(tmp_path, "out") == []


# --------------------------------------------------------------------------- deploy

HOLD_LOCK = '''
import sys, time
from pathlib import Path
from slm_wizard.core.base.lock import Lock
with Lock(Path(sys.argv[1]) / sys.argv[2], "deploying"):
    print("locked", flush=True)
    time.sleep(60)
'''

PARTIAL = '''
import sys, time
from pathlib import Path
from slm_wizard.core.base.owned import temp_sibling
p = temp_sibling(Path(sys.argv[1]), "partial")
p.mkdir()
(p / "model.onnx.data").write_bytes(b"x" * 1000)
print(p, flush=True)
time.sleep(60)
'''


def _script(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            text=True)


def test_kill_during_deploy_is_cleaned_by_the_next_run(tmp_path: Path) -> None:
    from slm_wizard.core.base.status import Status
    from slm_wizard.core.deploy import foundry, foundry_sdk

    cache = tmp_path / "cache"
    custom = foundry.custom_dir(cache)
    custom.mkdir(parents=True)
    copier = _script(PARTIAL, str(custom / "lumo"))
    partial = Path(copier.stdout.readline().strip())  # type: ignore[union-attr]
    assert partial.is_dir()
    onnx = make_onnx(tmp_path / "onnx", onnx=None)  # refused after the clean-up
    said: list[str] = []

    def on_stage(stage: str, status: Status, detail: str) -> None:
        said.append(detail)

    # While the copying process lives, its partial folder is left alone.
    with pytest.raises(foundry_sdk.FoundryError, match="model.onnx is missing"):
        foundry.deploy(onnx, "lumo", "1", {}, None, cache, on_stage=on_stage)
    assert partial.is_dir() and said == []
    copier.kill()  # kill -9 in the middle of the copy
    copier.wait()
    with pytest.raises(foundry_sdk.FoundryError, match="model.onnx is missing"):
        foundry.deploy(onnx, "lumo", "1", {}, None, cache, on_stage=on_stage)
    assert not partial.exists()
    assert said == [f"Removed {partial}, left by an interrupted deployment."]
    assert sorted(p.name for p in custom.iterdir()) == []


def test_two_deploys_of_one_name_at_once(tmp_path: Path) -> None:
    from slm_wizard.core.base.lock import Busy
    from slm_wizard.core.deploy import foundry, foundry_sdk

    cache = tmp_path / "cache"
    custom = foundry.custom_dir(cache)
    custom.mkdir(parents=True)
    holder = _script(HOLD_LOCK, str(custom), "lumo")
    try:
        assert holder.stdout.readline().strip() == "locked"  # type: ignore[union-attr]
        onnx = make_onnx(tmp_path / "onnx", onnx=None)
        with pytest.raises(Busy, match=rf"lumo is in use by process {holder.pid} \(deploying"):
            foundry.deploy(onnx, "lumo", "1", {}, None, cache)
        # Another name is not blocked (it fails later, on its own bad folder).
        with pytest.raises(foundry_sdk.FoundryError, match="model.onnx is missing"):
            foundry.deploy(onnx, "other", "1", {}, None, cache)
    finally:
        holder.kill()
        holder.wait()
    # The lock of a dead process is taken over.
    with pytest.raises(foundry_sdk.FoundryError, match="model.onnx is missing"):
        foundry.deploy(onnx, "lumo", "1", {}, None, cache)
    assert not (custom / ".lumo.lock").exists()


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    shutil.Error([("/a/model.onnx.data", "/b/model.onnx.data",
                   "[Errno 28] No space left on device")]),
])
def test_disk_full_during_deploy_copy(error: Exception, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.deploy import foundry, foundry_sdk

    src = make_onnx(tmp_path / "onnx")
    custom = tmp_path / "cache" / "custom"
    custom.mkdir(parents=True)

    def copytree(s, d, **kw):
        Path(d).mkdir()
        (Path(d) / "model.onnx").write_bytes(b"half")
        raise error

    monkeypatch.setattr(foundry.shutil, "copytree", copytree)
    with pytest.raises(foundry_sdk.FoundryError) as err:
        foundry._copy_atomically(src, custom, custom / "lumo", replace=False)
    msg = str(err.value)
    assert msg.startswith(f"The disk holding {custom} is full: the model needs ")
    assert "nothing was installed" in msg and "[(" not in msg
    assert list(custom.iterdir()) == []


def test_deploy_remove_is_exact_without_registration(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the SDK's registrations, the folder's inference_model.json decides: `--version 2`
    of a model installed as version 1 removes nothing."""
    import json

    from slm_wizard.core.deploy import foundry, foundry_sdk

    monkeypatch.setattr(foundry, "sdk_available", lambda: False)
    target = foundry.target_dir(tmp_path, "twin")
    target.mkdir(parents=True)
    (target / "inference_model.json").write_text(json.dumps({"Name": "twin", "Version": "1"}))
    write_marker(target, "deploy")  # deploy made it
    with pytest.raises(foundry_sdk.FoundryError, match=r"twin:2 is not deployed .* holds twin:1"):
        foundry.undeploy("twin", "2", tmp_path)
    assert target.is_dir()
    with pytest.raises(foundry.InferenceModelError, match="whole number"):
        foundry.undeploy("twin", "abc", tmp_path)
    assert target.is_dir()
    assert foundry.undeploy("twin", "1", tmp_path) == [f"removed {target}"]
    assert not target.exists()


# --------------------------------------------------------------------------- chat


def test_model_folder_vanishing_during_chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The folder disappears after the command checked it, as the model loads: a one-line
    error naming the folder, no traceback."""
    from slm_wizard.cli.main import main
    from slm_wizard.core.steps import chat as chat_step

    folder = make_onnx(tmp_path / "onnx")
    real = chat_step.open_backend

    def vanish_then_open(options):  # the folder goes after every check, as the model loads
        shutil.rmtree(folder)
        return real(options)

    monkeypatch.setattr(chat_step, "open_backend", vanish_then_open)
    code = main(["chat", str(folder), "--prompt", "hi"])
    err = capsys.readouterr().err
    assert code == 2, err  # the load checks the folder again and refuses it
    assert "Traceback" not in err and "is a bug" not in err
    assert f"error: {folder} does not exist" in err


# --------------------------------------------------------------------------- registrations


def test_remove_keeps_the_folder_another_version_uses(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from slm_wizard.core.deploy import foundry, foundry_sdk

    catalog = FakeCatalog(["lumo:1", "lumo:2"])
    fake_foundry(monkeypatch, catalog)
    target = foundry.target_dir(tmp_path, "lumo")
    target.mkdir(parents=True)
    (target / "inference_model.json").write_text(json.dumps({"Name": "lumo", "Version": "2"}))
    write_marker(target, "deploy")  # deploy made it
    with pytest.raises(foundry_sdk.FoundryError, match="lumo:3 is not deployed"):
        foundry.undeploy("lumo", "3", tmp_path)
    assert sorted(catalog.models) == ["lumo:1", "lumo:2"] and target.is_dir()
    done = foundry.undeploy("lumo", "1", tmp_path)
    assert done == ["unregistered lumo:1", f"kept {target}: lumo:2 still use(s) it"]
    assert sorted(catalog.models) == ["lumo:2"] and target.is_dir()
    assert foundry.undeploy("lumo", "2", tmp_path) == ["unregistered lumo:2",
                                                       f"removed {target}"]
    assert catalog.models == {} and not target.exists()


def test_a_failed_load_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.base.status import Status
    from slm_wizard.core.deploy import foundry, foundry_sdk
    from slm_wizard.core.deploy import inference_model as im
    from slm_wizard.core.deploy.templates import template_for

    catalog = FakeCatalog([])
    fake_foundry(monkeypatch, catalog)
    monkeypatch.setattr(foundry, "check_onnx_folder", lambda d: [])

    def no_load(cache, model_id):
        raise foundry_sdk.FoundryError(f"Foundry Local could not load {model_id}: bad model")

    monkeypatch.setattr(foundry, "load_foundry_model", no_load)
    onnx = make_onnx(tmp_path / "onnx")
    cache = tmp_path / "cache"
    cfg = im.ModelConfig(max_length=64, temperature=0.7, top_p=0.9, repetition_penalty=1.0)
    result = foundry.deploy(onnx, "lumo", "1", template_for("qwen"), cfg, cache)
    stages = {s.id: s for s in result.stages}
    assert stages["register"].status == Status.OK
    assert stages["load"].status == Status.FAIL
    target = foundry.target_dir(cache, "lumo")
    assert f"rolled back: unregistered lumo:1, removed {target}" in stages["load"].found
    assert catalog.models == {}
    assert not target.exists()
    assert sorted(p.name for p in foundry.custom_dir(cache).iterdir()) == []


# --------------------------------------------------------------------------- Ctrl-C everywhere

INTERRUPTED = {
    "deploy": ("slm_wizard.core.steps.deploy", "run",
               ["deploy", "{onnx}", "--name", "lumo", "--cache-dir", "{t}/cache"]),
    "bench": ("slm_wizard.core.steps.bench", "run", ["bench", "{onnx}"]),
    "validate": ("slm_wizard.core.steps.checklist", "run", ["validate", "{onnx}"]),
    "sweep": ("slm_wizard.core.steps.sweep", "run", ["sweep", "{model}"]),
    "demo": ("slm_wizard.core.model.demo", "build_demo_model", ["demo", "--out", "{t}/demo"]),
    "convert": ("slm_wizard.core.steps.convert", "run", ["convert", "{model}", "-o", "{t}/o"]),
}


@pytest.mark.parametrize("command", sorted(INTERRUPTED))
def test_ctrl_c_in_every_long_command(command: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C while the runner works: exit 130, one line on stderr, no file changed."""
    import importlib

    from slm_wizard.cli.main import main
    from tests.helpers.folders import tree

    module, name, argv = INTERRUPTED[command]
    places = {"onnx": str(make_onnx(tmp_path / "onnx")),
              "model": str(make_model(tmp_path / "model")), "t": str(tmp_path)}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(module), name, interrupted)
    before = tree(tmp_path)
    code = main([a.format(**places) for a in argv])
    err = capsys.readouterr().err
    assert code == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1].startswith("interrupted"), err
    assert sum(ln.startswith("interrupted") for ln in lines) == 1
    assert "Traceback" not in err
    assert tree(tmp_path) == before


def test_sigint_during_demo_build_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = os.environ.copy()
    env["PYTHONPATH"] = str(ROOT)
    proc = _cli(["demo", "--out", str(out)], env)
    try:
        _wait_for(lambda: bool(list(tmp_path.glob(".demo.tmp-*"))), timeout=180)
        time.sleep(3.0)  # past the lazy imports: the model is training
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted: demo")
    assert not out.exists()
    assert list(tmp_path.glob(".demo.*")) == []


# --------------------------------------------------------------------------- a real full disk


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 256 KB tmpfs (skipped where mounting is not allowed)."""
    where = tmp_path / "tiny"
    where.mkdir()
    if shutil.which("mount") is None or (hasattr(os, "geteuid") and os.geteuid() != 0):
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)


def test_deploy_copy_onto_a_full_tmpfs(tiny_disk: Path, tmp_path: Path) -> None:
    from slm_wizard.core.deploy import foundry, foundry_sdk

    src = make_onnx(tmp_path / "onnx")
    (src / "model.onnx.data").write_bytes(b"\1" * 1024 * 1024)  # 1 MB onto 256 KB
    custom = foundry.custom_dir(tiny_disk)
    custom.mkdir(parents=True)
    with pytest.raises(foundry_sdk.FoundryError) as err:
        foundry._copy_atomically(src, custom, custom / "lumo", replace=False)
    assert str(err.value).startswith(f"The disk holding {custom} is full: the model needs 1.0 MB")
    assert list(custom.iterdir()) == []


def test_convert_onto_a_full_tmpfs(tiny_disk: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.convert import run as convert
    from slm_wizard.core.convert import validation
    from slm_wizard.core.convert.options import ConvertOptions

    model = make_model(tmp_path / "model")
    out = tiny_disk / "out"

    def olive_writes_too_much(argv, work, log, parser, emit, cancel, timeout_s):
        folder = make_onnx(Path(work) / "output" / "model")
        (folder / "model.onnx.data").write_bytes(b"\1" * 1024 * 1024)  # ENOSPC here
        return 0, "finished"

    monkeypatch.setattr(convert, "_run_olive", olive_writes_too_much)
    opts = ConvertOptions(model, out, precision="int4", method="auto-opt")
    # Up front: the free space is known to be too small, so nothing starts.
    result = convert.run_conversion(opts, verify=False)
    assert not result.ok and "Not enough disk space" in (result.error or "")
    assert sorted(p.name for p in tiny_disk.iterdir()) == []
    # The disk fills while converting (the up-front check passed): one sentence, nothing kept.
    monkeypatch.setattr(validation, "_resource_issues", lambda o, i: [])
    result = convert.run_conversion(opts, verify=False)
    assert not result.ok
    assert f"The disk holding {tiny_disk} is full" in (result.error or "")
    assert sorted(p.name for p in tiny_disk.iterdir()) == []
