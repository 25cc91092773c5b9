"""Prerequisites: real detection here, fake cmake/foundry programs, pure parsers, `check --json`."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import struct
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from slm_wizard.cli.main import main
from slm_wizard.core.base.proc import run_command, stream_command
from slm_wizard.core.base.status import Status
from slm_wizard.core.deploy import foundry_cli
from slm_wizard.core.setup import prereqs
from tests.helpers import ROOT

SLEEP = "/usr/bin/sleep" if Path("/usr/bin/sleep").exists() else "/bin/sleep"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fake programs are sh scripts")
FIELDS = {"id": str, "title": str, "status": str, "found": str, "required": str, "fix": str,
          "essential": bool, "evidence": list, "data": dict, "seconds": float}
STATUSES = {s.value for s in Status if s != Status.RUNNING}


def fake_program(folder: Path, name: str, body: str) -> Path:
    """A tiny sh script named `name` in `folder`, executable."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder that is the whole PATH: only the fakes put there can be found."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def write_safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    """A safetensors header (data omitted: only the header is ever read)."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        n = 4
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def by_id(results, check_id):
    return next(r for r in results if r.id == check_id)


# ------------------------------------------------------------------------ real detection


def test_real_detection_on_this_machine() -> None:
    results = prereqs.run_checks()
    ids = [r.id for r in results]
    assert ids[:6] == ["python", "os", "ram", "disk", "cmake", "foundry"]
    assert ids[-2:] == ["compat", "providers"]
    assert {f"package:{n}" for n, _ in prereqs.PACKAGES} <= set(ids)
    assert all(r.status in STATUSES for r in results)
    assert by_id(results, "python").status == Status.OK
    assert sys.executable in by_id(results, "python").found
    for name, _ in prereqs.PACKAGES:
        r = by_id(results, f"package:{name}")
        assert r.essential
        assert r.found == metadata.version(name)
    assert "CPUExecutionProvider" in by_id(results, "providers").data["providers"]
    ram = by_id(results, "ram")
    import psutil

    assert ram.data["total_bytes"] == psutil.virtual_memory().total
    # Same order twice (concurrent, but stable).
    assert [r.id for r in prereqs.run_checks()] == ids


def test_this_venv_is_known_good() -> None:
    """olive-ai 0.13.0 + onnxruntime-genai 0.14.1 is the working pair pinned by the project."""
    compat = prereqs.check_compat()
    assert compat.status == Status.OK, compat.found
    assert "0.14.1" in compat.found


def test_installed_editable_so_install_targets_the_source_folder() -> None:
    assert prereqs.project_source_dir() == ROOT
    assert prereqs.install_command() == [sys.executable, "-m", "pip", "install", "-e",
                                         f"{ROOT}[all]"]


# --------------------------------------------------------------------------------- CMake


@posix_only
@pytest.mark.parametrize(
    ("name", "output", "status", "found"),
    [
        ("cmake", "cmake version 3.25.1\n\nCMake suite maintained by Kitware", "warn",
         "3.25.1, older than 3.31"),
        ("cmake", "cmake version 3.31.0-rc2\n", Status.OK, "3.31.0-rc2"),
        ("cmake", "cmake version 4.1.2\n", Status.OK, "4.1.2"),
        ("cmake3", "cmake3 version 3.31.6\n", Status.OK, "3.31.6 (cmake3)"),
        ("cmake3", "cmake3 version 3.17.5\n", "warn", "3.17.5 (cmake3), older than 3.31"),
    ],
)
def test_cmake_versions(fake_path: Path, name, output, status, found) -> None:
    fake_program(fake_path, name, "".join(f"echo '{ln}'\n" for ln in output.splitlines()))
    r = prereqs.check_cmake(timeout=5)
    assert (r.status, r.found) == (status, found)
    assert not r.essential
    if status == "warn":
        assert "only needed to build it from source" in r.fix
        assert "cmake>=3.31" in r.fix


@posix_only
def test_cmake_garbage_output(fake_path: Path) -> None:
    fake_program(fake_path, "cmake", "echo 'Segmentation fault (core dumped) ¯\\_(ツ)_/¯'\n")
    r = prereqs.check_cmake(timeout=5)
    assert r.status == "warn"
    assert r.found.startswith("unreadable version from cmake: 'Segmentation fault")


@posix_only
def test_cmake_failing(fake_path: Path) -> None:
    fake_program(fake_path, "cmake", "echo 'cmake: error while loading shared libraries' >&2\n"
                 "exit 1\n")
    r = prereqs.check_cmake(timeout=5)
    assert r.status == "warn"
    assert "exited with code 1" in r.found
    assert "error while loading shared libraries" in r.found


@posix_only
def test_cmake_hanging_times_out_quickly(fake_path: Path) -> None:
    fake_program(fake_path, "cmake", f"{SLEEP} 30\n")
    start = time.monotonic()
    r = prereqs.check_cmake(timeout=1)
    assert time.monotonic() - start < 5
    assert r.status == "warn"
    assert "did not answer within 1 s" in r.found


def test_cmake_missing(fake_path: Path) -> None:
    r = prereqs.check_cmake(timeout=5)
    assert (r.status, r.found) == ("warn", "not found on PATH")


# ------------------------------------------------------------------------- Foundry Local

RUNNING = "🟢 Model management service is running on http://localhost:5273/openai/status"


def old_foundry(status_line: str = RUNNING) -> str:
    return f"""
case "$*" in
  --version) echo "0.8.117+67073234e7" ;;
  "cache location") echo "💾 Cache directory path: /home/u/.foundry/cache/models" ;;
  "service status") echo "{status_line}" ;;
  *) echo "Unrecognized command or argument '$1'" >&2; exit 1 ;;
esac
"""


NEW_FOUNDRY = r"""
case "$*" in
  --version) echo "1.0.3" ;;
  "cache location") printf '%s\n' 'Cache directory path: C:\Users\Jo Smith\.foundry\cache' ;;
  "server status -o json")
    echo '{"status": "running", "endpoints": ["http://127.0.0.1:51234/v1"]}' ;;
  *) echo "unknown command" >&2; exit 2 ;;
esac
"""


@posix_only
def test_foundry_old_cli(fake_path: Path) -> None:
    fake_program(fake_path, "foundry", old_foundry())
    info = foundry_cli.foundry_cli_info(timeout=5)
    assert info.version == "0.8.117+67073234e7"
    assert info.cache_dir == Path("/home/u/.foundry/cache/models")
    assert (info.running, info.endpoint, info.problem) == (True, "http://localhost:5273", "")
    r = prereqs.check_foundry(timeout=5)
    assert r.status == Status.OK
    assert r.data["deploy_via"] == "cli"
    assert "CLI 0.8.117" in r.found and "running at http://localhost:5273" in r.found


@posix_only
def test_foundry_new_cli(fake_path: Path) -> None:
    fake_program(fake_path, "foundry", NEW_FOUNDRY)
    info = foundry_cli.foundry_cli_info(timeout=5)
    assert info.version == "1.0.3"
    assert str(info.cache_dir) == "C:\\Users\\Jo Smith\\.foundry\\cache"
    assert (info.running, info.endpoint) == (True, "http://127.0.0.1:51234")


@posix_only
def test_foundry_service_stopped(fake_path: Path) -> None:
    fake_program(fake_path, "foundry", old_foundry("🔴 Model management service is not running!"))
    info = foundry_cli.foundry_cli_info(timeout=5)
    assert info.running is False
    r = prereqs.check_foundry(timeout=5)
    assert r.status == Status.OK
    assert r.fix.startswith("foundry service start")


@posix_only
def test_foundry_hanging_gives_a_warning_fast(fake_path: Path) -> None:
    fake_program(fake_path, "foundry", f"{SLEEP} 30\n")
    start = time.monotonic()
    r = prereqs.check_foundry(timeout=1)
    assert time.monotonic() - start < 5
    assert r.status == "warn"
    assert "did not answer within 1 s" in r.found
    assert r.data["deploy_via"] == "sdk"  # the SDK is installed in this venv


def test_foundry_neither_cli_nor_sdk(fake_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = prereqs.installed_version
    monkeypatch.setattr(prereqs, "installed_version",
                        lambda n: None if n == "foundry-local-sdk" else real(n))
    r = prereqs.check_foundry(timeout=5)
    assert r.status == "warn" and not r.essential
    assert r.data["deploy_via"] == "export"
    assert "foundry-local-sdk==2.2.1" in r.fix
    assert "export" in r.fix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("💾 Cache directory path: /home/u/.foundry/cache/models", "/home/u/.foundry/cache/models"),
        ("Cache directory path: ~/.foundry/cache/models\n", "~/.foundry/cache/models"),
        ('{"cacheDirectory": "/srv/foundry cache/models"}', "/srv/foundry cache/models"),
        ("/opt/models", "/opt/models"),
        ("no cache configured", None),
        ("see http://localhost:5273/openai/status", None),
    ],
)
def test_parse_cache_location(text, expected) -> None:
    got = foundry_cli.parse_cache_location(text)
    if expected is None:
        assert got is None
    else:
        assert got == Path(expected).expanduser()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("🟢 Model management service is running on http://localhost:5273/openai/status",
         (True, "http://localhost:5273")),
        ("🔴 Model management service is not running!", (False, None)),
        ("something else", (None, None)),
    ],
)
def test_parse_service_status(text, expected) -> None:
    assert foundry_cli.parse_service_status(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"running": false}', (False, None)),
        ('{"Status": "Stopped"}', (False, None)),
        ('{"server": {"isRunning": true, "url": "http://127.0.0.1:5273/"}}',
         (True, "http://127.0.0.1:5273")),
        ('{"endpoints": ["http://localhost:1234/v1"]}', (True, "http://localhost:1234")),
        ("Server is running", None),
    ],
)
def test_parse_server_status_json(text, expected) -> None:
    assert foundry_cli.parse_server_status_json(text) == expected


# --------------------------------------------------------------- versions and specifiers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cmake version 3.25.1\n\nCMake suite maintained", "3.25.1"),
        ("cmake3 version 3.31.0-rc2", "3.31.0-rc2"),
        ("0.8.117+67073234e7", "0.8.117+67073234e7"),
        ("Foundry Local CLI v1.2", "1.2"),
        ("garbage", None),
        ("", None),
    ],
)
def test_find_version(text, expected) -> None:
    assert prereqs.find_version(text) == expected


@pytest.mark.parametrize(
    ("version", "spec", "expected"),
    [
        ("5.24.0", ">=5.0,<6", True),
        ("6.0.0", ">=5.0,<6", False),
        ("0.13.0", "==0.13.0", True),
        ("0.13", "==0.13.0", True),
        ("0.18.0", "==0.14.1", False),
        ("2.13.0+cpu", ">=2.4", True),
        ("1.2.3", "==1.2.*", True),
        ("1.3.0", "~=1.2", True),
        ("2.0", "~=1.2", False),
        ("abc", ">=1", None),
    ],
)
def test_satisfies(version, spec, expected) -> None:
    assert prereqs.satisfies(version, spec) is expected


# --------------------------------------------------------- packages, compatibility, install


def fake_versions(monkeypatch: pytest.MonkeyPatch, **versions: str | None) -> None:
    """Pretend these distributions have these versions (None: not installed)."""
    real = prereqs.installed_version
    table = {k.replace("_", "-"): v for k, v in versions.items()}
    monkeypatch.setattr(prereqs, "installed_version",
                        lambda n: table[n] if n in table else real(n))


def test_missing_package_fails_and_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, olive_ai=None)
    r = prereqs.check_package("olive-ai", "converts", prereqs.project_requirements())
    assert (r.status, r.essential, r.blocks) == ("fail", True, True)
    assert r.found.startswith("not installed")
    assert r.required == "==0.13.0"
    assert r.fix == prereqs.format_command([sys.executable, "-m", "pip", "install",
                                            "olive-ai==0.13.0"])
    assert prereqs.missing_packages([r]) == ["olive-ai"]
    assert prereqs.install_commands([r]) == [prereqs.install_command()]


def test_version_outside_the_range_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, transformers="4.46.0")
    r = prereqs.check_package("transformers", "tokenizer", prereqs.project_requirements())
    assert r.status == "warn"
    assert r.found == "4.46.0, outside >=5.0,<6"
    assert prereqs.missing_packages([r]) == ["transformers"]  # the extras install fixes it


def test_missing_torch_installs_the_cpu_build_first(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, torch=None)
    r = prereqs.check_package("torch", "weights", prereqs.project_requirements())
    commands = prereqs.install_commands([r])
    assert commands[0] == [sys.executable, "-m", "pip", "install", "torch==2.13.0"]
    assert commands[1] == prereqs.install_command()


def test_known_broken_pair_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, olive_ai="0.13.0", onnxruntime_genai="0.18.0")
    r = prereqs.check_compat()
    assert (r.status, r.blocks) == ("fail", True)
    assert "quantized_model" in r.found
    assert r.fix.endswith("-m pip install onnxruntime-genai==0.14.1")
    assert prereqs.missing_packages([r]) == ["onnxruntime-genai"]
    assert prereqs.install_commands([r]) == [prereqs.install_command()]


def test_olive_without_requests_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, olive_ai="0.13.0", onnxruntime_genai="0.14.1", requests=None)
    r = prereqs.check_compat()
    assert r.status == "fail"
    assert "requests" in r.fix


def test_compat_skipped_without_olive(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_versions(monkeypatch, olive_ai=None)
    r = prereqs.check_compat()
    assert (r.status, r.found, r.blocks) == (Status.SKIP, "olive-ai not installed", False)


def test_nothing_to_install_when_all_pass() -> None:
    assert prereqs.install_commands(prereqs.run_checks()) == []


@posix_only
def test_install_packages_streams_and_reports_pip_errors() -> None:
    script = ("import sys; print('Collecting nothing-here'); "
              "print('ERROR: Could not find a version that satisfies nothing-here'); "
              "print('ERROR: No matching distribution found for nothing-here'); sys.exit(1)")
    lines: list[str] = []
    ok = [sys.executable, "-c", "print('first command ok')"]
    res = prereqs.install_packages([ok, [sys.executable, "-c", script], ok], lines.append)
    assert not res.ok and res.returncode == 1
    assert "first command ok" in lines and "Collecting nothing-here" in lines
    assert lines.count("first command ok") == 1  # stopped at the failure
    assert prereqs.pip_error(res).splitlines() == [
        "ERROR: Could not find a version that satisfies nothing-here",
        "ERROR: No matching distribution found for nothing-here",
    ]


# --------------------------------------------------------------------------- RAM and disk


def test_safetensors_header_param_count(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"a": np.zeros((3, 5), np.float32), "b": np.zeros((7,), np.float16)},
              str(tmp_path / "model.safetensors"))
    assert prereqs.safetensors_param_count(tmp_path / "model.safetensors") == 22
    assert prereqs.model_fp32_bytes(tmp_path) == (88, "0.0 M parameters")


def test_ram_need_from_the_model(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"w": [1000, 1000]})
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"v": [500, 1000]})
    r = prereqs.check_ram(tmp_path, 8.0)
    assert r.data["model_need_bytes"] == 1_500_000 * 4 * 11
    assert "this model: ~62.9 MB" in r.required  # 1.5 M parameters x 4 bytes x 11
    assert r.status == Status.OK


def test_ram_fails_for_a_model_too_big_for_this_machine(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model.safetensors", {"w": [100_000, 1_000_000]})  # 100 G
    r = prereqs.check_ram(tmp_path, 8.0)
    assert r.status == "fail" and not r.essential
    assert "more RAM" in r.fix


def test_ram_floor_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    r = prereqs.check_ram(None, 10_000.0)
    assert r.status == "warn"
    assert r.required == ">= 10000 GB"


def test_corrupt_safetensors_does_not_crash(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 4)
    r = prereqs.check_ram(tmp_path, 8.0)
    assert r.status in (Status.OK, "warn")
    assert "truncated or empty" in r.data["model_error"]


def test_disk_walks_up_to_an_existing_folder(tmp_path: Path) -> None:
    r = prereqs.check_disk(tmp_path / "not" / "yet" / "there", None)
    assert r.status == Status.OK
    assert str(tmp_path / "not" / "yet" / "there") in r.found
    assert r.data["free_bytes"] > 0


def test_a_crashing_check_becomes_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(prereqs, "check_os", boom)
    r = by_id(prereqs.run_checks(), "os")
    assert (r.status, r.found) == ("warn", "could not check: RuntimeError: kaput")


# ------------------------------------------------------------------------------ core.proc


def test_run_command_missing_program() -> None:
    res = run_command(["surely-not-a-program-xyz", "--version"], timeout=2)
    assert not res.ok and res.returncode is None
    assert res.error == "surely-not-a-program-xyz was not found"


@posix_only
def test_run_command_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = fake_program(tmp_path, "hang", f"{SLEEP} 30 &\necho $! > {pidfile}\nwait\n")
    start = time.monotonic()
    res = run_command([str(script)], timeout=1)
    assert time.monotonic() - start < 4
    assert res.timed_out and not res.ok
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(child):  # the grandchild went with its group
        assert time.monotonic() < deadline, "the sleeping grandchild survived the timeout"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Running (a killed process waiting to be reaped by init counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@posix_only
def test_stream_command_cancel() -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        cancel.set()

    code = "import time; print('working', flush=True); time.sleep(30)"
    start = time.monotonic()
    res = stream_command([sys.executable, "-c", code], on_line, cancel=cancel)
    assert time.monotonic() - start < 8
    assert res.cancelled and seen[0] == "working"
    assert "KeyboardInterrupt" in res.stdout  # asked politely first (SIGINT), like Ctrl+C


# -------------------------------------------------------------------------------- the CLI


def test_check_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) == len(prereqs.run_checks())
    for obj in data:
        assert set(obj) == set(FIELDS)
        for key, kind in FIELDS.items():
            assert isinstance(obj[key], kind), (obj["id"], key)
        assert obj["status"] in STATUSES
    assert code == (1 if any(o["status"] == "fail" for o in data) else 0)


def test_check_exit_code_1_when_something_fails(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "huge"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen2"}')
    write_safetensors(model / "model.safetensors", {"w": [100_000, 1_000_000]})
    with (model / "model.safetensors").open("r+b") as fh:  # sparse: the data is all there
        fh.truncate(fh.seek(0, 2) + 100_000 * 1_000_000 * 4)
    code = main(["check", "--json", "--model", str(model), "--min-ram-gb", "4"])
    data = json.loads(capsys.readouterr().out)
    ram = next(o for o in data if o["id"] == "ram")
    assert ram["status"] == "fail" and ram["required"].startswith(">= 4 GB; this model:")
    assert code == 1


def test_check_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check"])
    captured = capsys.readouterr()
    assert "Checking prerequisites" in captured.err
    lines = captured.out.splitlines()
    assert lines[0].split() == ["check", "found", "required"]
    assert any(ln.startswith("✓ OK") and "Python" in ln for ln in lines)  # ICON, WORD
    assert "checks:" in lines[-1]
    assert code in (0, 1)


def test_check_bad_model_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--model", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_ram_need_without_safetensors_uses_the_config(tmp_path: Path) -> None:
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
              "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\0" * 16)
    size = prereqs.model_fp32_bytes(tmp_path)
    assert size is not None
    assert 400e6 * 4 < size[0] < 600e6 * 4  # Qwen2.5-0.5B's shape: about 494 M parameters
    assert size[1].endswith("estimated from config.json")


@posix_only
def test_stream_command_timeout_and_leftovers(tmp_path: Path) -> None:
    lines: list[str] = []
    res = stream_command([sys.executable, "-c", "import time; time.sleep(30)"], lines.append,
                         timeout=0.5)
    assert res.timed_out and "stopped after 0.5 s" in res.error
    # The program exits but leaves a child holding its output open: no hang, the child goes.
    script = fake_program(tmp_path, "leaves", f"{SLEEP} 30 &\necho started\n")
    start = time.monotonic()
    res = stream_command([str(script)], lines.append)
    assert time.monotonic() - start < 8
    assert res.ok and res.stdout == "started"


def test_old_python_fails_and_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    monkeypatch.setattr(sys, "version_info", SimpleNamespace(major=3, minor=9))
    monkeypatch.setattr(prereqs.platform, "python_version", lambda: "3.9.18")
    r = prereqs.check_python()
    assert (r.status, r.blocks) == ("fail", True)
    assert r.found.startswith("3.9.18 (")
    assert "3.11" in r.fix


# ------------------------------------------------------------------------ the step runner


def test_step_options_argv_and_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_wizard.core.steps import prereqs as step

    assert step.Options().argv() == ["slm-wizard", "check"]
    opts = step.Options(model_dir=tmp_path / "m", output_dir=tmp_path / "o", min_ram_gb=4,
                        timeout=2.5)
    assert opts.argv() == ["slm-wizard", "check", "--model", str(tmp_path / "m"),
                           "--output-dir", str(tmp_path / "o"), "--min-ram-gb", "4",
                           "--timeout", "2.5"]
    fixed = [prereqs.CheckResult("python", "Python", Status.OK, "3.11", ">= 3.10",
                                 essential=True),
             prereqs.CheckResult("cmake", "CMake", Status.WARN, "not found on PATH", ">= 3.31",
                                 "pip install cmake"),
             prereqs.CheckResult("foundry", "Foundry Local", Status.OK, "CLI 0.8", "",
                                 data={"cache_dir": str(tmp_path / "cache")})]
    seen: list[str] = []
    monkeypatch.setattr(prereqs, "run_checks", lambda **kw: seen.append(kw) or list(fixed))
    result = step.run(step.Options(), on_progress=seen.append)
    assert seen[0].text == "Checking prerequisites…"
    assert seen[1] == {"output_dir": None, "model_dir": None, "min_ram_gb": 8.0, "timeout": 5.0}
    assert result.status == Status.WARN and not result.failed and not result.blocking
    assert result.foundry_cache == tmp_path / "cache"
    rec = step.to_record(step.Options(), result)
    assert (rec.step, rec.status, rec.command) == ("prereqs", Status.WARN, ["slm-wizard", "check"])
    assert rec.outcome == "3 checks: 2 passed, 1 warning, 0 failed"
    assert rec.notes == ["CMake: not found on PATH"]
    assert rec.done  # warnings do not stop the wizard


def test_step_refuses_bad_options(tmp_path: Path) -> None:
    from slm_wizard.core.steps import prereqs as step

    for opts, message in ((step.Options(min_ram_gb=0), "--min-ram-gb: expected a positive"),
                          (step.Options(timeout=-1), "--timeout: expected a positive"),
                          (step.Options(model_dir=tmp_path / "nope"), "--model: ")):
        with pytest.raises(step.PrereqsInputError, match=message):
            step.run(opts)
