"""inference_model.json rules, the Foundry Local cache and CLI outputs, and real deployments of the
converted demo model with foundry-local-sdk into temporary caches."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from slm_wizard.core.base.status import CheckResult, Status
from slm_wizard.core.deploy import foundry, foundry_cli, foundry_sdk
from slm_wizard.core.deploy import inference_model as im
from slm_wizard.core.deploy.templates import template_for

CFG = im.ModelConfig(max_length=256, temperature=0.7, top_p=0.9, repetition_penalty=1.0)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def onnx_copy(demo_onnx: Path, tmp_path: Path) -> Path:
    """A private copy of the converted demo model (deploy writes inference_model.json into it)."""
    dst = tmp_path / "onnx"
    shutil.copytree(demo_onnx, dst)
    return dst


@pytest.fixture
def faq_row(demo_model: Path) -> dict:
    from slm_wizard.core.model.demo import load_domain_eval

    return load_domain_eval(demo_model / "domain_eval.jsonl")[0]


@pytest.fixture
def no_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No `foundry` on PATH (the machines here have none; make it explicit)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


FAKE_CLI = r'''#!{python}
"""A `foundry` CLI double printing the documented output formats (old CLI: `cache ls`)."""
import json, os, sys
from pathlib import Path
cache = Path(os.environ["FAKE_FOUNDRY_CACHE"])
args = sys.argv[1:]
if args == ["--version"]:
    print("0.8.117+67073234e7")
elif args == ["cache", "location"]:
    print(f"💾 Cache directory path: {{cache}}")
elif args == ["cache", "ls"]:
    rows = []
    for f in sorted((cache / "custom").glob("*/inference_model.json")):
        d = json.loads(f.read_text())
        rows.append((d["Name"], f"{{d['Name']}}:{{d.get('Version', '0')}}"))
    if not rows:
        print("No models cached on device")
    else:
        print("Models cached on device:")
        print("   Alias                                             Model ID")
        for alias, mid in rows:
            print(f"💾 {{alias:<48}}  {{mid}}")
else:
    print(f"Unknown command: {{' '.join(args)}}", file=sys.stderr)
    sys.exit(1)
'''


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "foundry"
    exe.write_text(FAKE_CLI.format(python=sys.executable))
    exe.chmod(0o755)
    cache = tmp_path / "cli-cache"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_FOUNDRY_CACHE", str(cache))
    return cache


# --------------------------------------------------------------------------- names and rules


@pytest.mark.parametrize("name", ["../evil", "a/b", "a\\b", "/abs/path", "..", "x..y", "",
                                  "   ", "x" * 65, "-dash-first", "spa ce", "name:1"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(im.InferenceModelError) as err:
        im.validate_name(name)
    assert str(err.value)
    with pytest.raises(im.InferenceModelError):
        im.build_inference_model(name, "1", template_for("qwen"), CFG)


@pytest.mark.parametrize("name", ["my-model", "Qwen2.5_ft.v1", "a", "x" * 64])
def test_good_names_pass(name: str) -> None:
    assert im.validate_name(name) == name


def test_name_messages_say_what_is_wrong() -> None:
    with pytest.raises(im.InferenceModelError, match="looks like a path"):
        im.validate_name("../x")
    with pytest.raises(im.InferenceModelError, match="at most 64"):
        im.validate_name("x" * 65)
    with pytest.raises(im.InferenceModelError, match="empty"):
        im.validate_name("")


@pytest.mark.parametrize("version", ["1.0", "-1", "01", "v1", ""])
def test_bad_versions_are_refused(version: str) -> None:
    with pytest.raises(im.InferenceModelError, match="whole number"):
        im.validate_version(version)


@pytest.mark.parametrize("field, value, message", [
    ("max_length", 4096, "exceeds the model's context length 2048"),
    ("max_length", 0, "at least 1"),
    ("temperature", 0.0, "temperature"),
    ("temperature", 2.01, "temperature"),
    ("top_p", 0.0, "top_p"),
    ("top_p", 1.5, "top_p"),
    ("repetition_penalty", 0.99, "repetition_penalty"),
    ("repetition_penalty", 2.5, "repetition_penalty"),
])
def test_model_config_ranges(field: str, value: float, message: str) -> None:
    cfg = {"max_length": 256, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.0,
           field: value}
    with pytest.raises(im.InferenceModelError, match=message):
        im.validate_model_config(cfg, ctx_len=2048)


def test_model_config_bounds_are_inclusive_where_the_rules_say() -> None:
    cfg = im.validate_model_config({"max_length": 2048, "temperature": 2.0, "top_p": 1.0,
                                    "repetition_penalty": 2.0}, ctx_len=2048)
    assert cfg == im.ModelConfig(2048, 2.0, 1.0, 2.0)


def test_context_length_comes_from_genai_config(demo_onnx: Path) -> None:
    data = json.loads((demo_onnx / "genai_config.json").read_text())
    assert im.context_length(demo_onnx) == data["model"]["context_length"] > 0


# --------------------------------------------------------------------------- writing the file


def _data(name: str = "m", max_length: int = 256) -> dict:
    return im.build_inference_model(name, "1", template_for("qwen"),
                                    im.ModelConfig(max_length=max_length), "demo")


def test_write_new_same_and_different(tmp_path: Path) -> None:
    res = im.write_inference_model(tmp_path, _data())
    assert res.written and res.diff == []
    saved = json.loads(res.path.read_text())
    assert saved["Name"] == "m" and saved["Version"] == "1"
    assert set(saved["PromptTemplate"]) == {"system", "user", "assistant", "prompt"}
    assert saved["ModelConfig"]["max_length"] == 256
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    assert im.write_inference_model(tmp_path, _data()).written is False  # identical: no-op

    before = res.path.read_text()
    with pytest.raises(im.InferenceModelExists) as err:
        im.write_inference_model(tmp_path, _data(max_length=128))
    assert '-    "max_length": 256,' in err.value.diff
    assert '+    "max_length": 128,' in err.value.diff
    assert res.path.read_text() == before  # not replaced without confirmation

    res2 = im.write_inference_model(tmp_path, _data(max_length=128), replace=True)
    assert res2.written and res2.diff
    assert json.loads(res2.path.read_text())["ModelConfig"]["max_length"] == 128


@pytest.mark.parametrize("content", ['{"Name": "x", ', "[1, 2]", "\x00\xff garbage"])
def test_corrupt_existing_file_is_reported_not_overwritten(tmp_path: Path, content: str) -> None:
    path = tmp_path / im.FILENAME
    path.write_text(content, encoding="latin-1")
    before = path.read_bytes()
    with pytest.raises(im.CorruptInferenceModel, match="corrupt") as err:
        im.write_inference_model(tmp_path, _data())
    assert "left untouched" in str(err.value)
    assert path.read_bytes() == before
    assert im.inference_model_status(tmp_path, _data()).state == "corrupt"
    # With explicit confirmation it is replaced and the old bytes are kept aside.
    im.write_inference_model(tmp_path, _data(), replace=True)
    assert json.loads(path.read_text())["Name"] == "m"
    assert (tmp_path / (im.FILENAME + ".corrupt")).read_bytes() == before


def test_search_defaults_need_consent(onnx_copy: Path) -> None:
    cfg = im.ModelConfig(max_length=200, temperature=0.5, top_p=0.8, repetition_penalty=1.1)
    before = (onnx_copy / "genai_config.json").read_text()
    with pytest.raises(im.InferenceModelError, match="consent"):
        im.write_search_defaults(onnx_copy, cfg, consent=False)
    assert (onnx_copy / "genai_config.json").read_text() == before
    diff = im.write_search_defaults(onnx_copy, cfg, consent=True)
    assert any('"temperature": 0.5' in ln for ln in diff if ln.startswith("+"))
    search = json.loads((onnx_copy / "genai_config.json").read_text())["search"]
    assert (search["max_length"], search["temperature"], search["top_p"],
            search["repetition_penalty"]) == (200, 0.5, 0.8, 1.1)
    # The model still loads and runs with these defaults.
    import onnxruntime_genai as og

    og.GeneratorParams(og.Model(str(onnx_copy)))


# --------------------------------------------------------------------------- CLI outputs

OLD_CACHE_LS = """\
Models cached on device:
   Alias                                             Model ID
💾 phi-4-mini                                        Phi-4-mini-instruct-generic-cpu:4
💾 qwen2.5-0.5b                                      qwen2.5-0.5b-instruct-generic-cpu:3
💾 lumo-demo                                         lumo-demo:1
"""

NEW_CACHE_LIST = """\
Cache directory: /home/u/.foundry/cache/models

┌──────────────┬───────────────────────────────────┬─────────┬────────┐
│ Alias        │ Model ID                          │ Device  │ Size   │
├──────────────┼───────────────────────────────────┼─────────┼────────┤
│ phi-4-mini   │ Phi-4-mini-instruct-generic-cpu:4 │ CPU     │ 4.80 GB│
│ lumo-demo    │ lumo-demo:1                       │ CPU     │ 1.3 MB │
└──────────────┴───────────────────────────────────┴─────────┴────────┘
2 models cached
"""

NEW_CACHE_LIST_PLAIN = """\
Alias          Model ID                             Device   Size
phi-4-mini     Phi-4-mini-instruct-generic-cpu:4    CPU      4.80 GB
lumo-demo      lumo-demo:1                          CPU      1.3 MB
"""

CACHE_LIST_JSON = json.dumps({"models": [
    {"alias": "phi-4-mini", "modelId": "Phi-4-mini-instruct-generic-cpu:4"},
    {"alias": "lumo-demo", "modelId": "lumo-demo:1"},
]})


@pytest.mark.parametrize("text", [NEW_CACHE_LIST, NEW_CACHE_LIST_PLAIN, CACHE_LIST_JSON])
def test_parse_new_cache_list(text: str) -> None:
    assert foundry_cli.parse_cache_list(text) == [
        foundry_cli.CachedModel("phi-4-mini", "Phi-4-mini-instruct-generic-cpu:4"),
        foundry_cli.CachedModel("lumo-demo", "lumo-demo:1"),
    ]


def test_parse_old_cache_ls() -> None:
    assert [(m.alias, m.model_id) for m in foundry_cli.parse_cache_list(OLD_CACHE_LS)] == [
        ("phi-4-mini", "Phi-4-mini-instruct-generic-cpu:4"),
        ("qwen2.5-0.5b", "qwen2.5-0.5b-instruct-generic-cpu:3"),
        ("lumo-demo", "lumo-demo:1"),
    ]


@pytest.mark.parametrize("text", ["No models cached on device", "", "Models cached on device:\n"])
def test_parse_empty_listings(text: str) -> None:
    assert foundry_cli.parse_cache_list(text) == []


# --------------------------------------------------------------------------- cache discovery


def test_cache_override_and_documented_default(no_cli: None, tmp_path: Path) -> None:
    assert foundry.find_cache_dir(tmp_path / "mine") == foundry.CacheLocation(
        tmp_path / "mine", "your choice")
    loc = foundry.find_cache_dir()
    assert loc.source == "documented default"
    assert loc.path == Path.home() / ".foundry" / "cache" / "models"


def test_cache_location_from_the_cli(fake_cli: Path) -> None:
    loc = foundry.find_cache_dir()
    assert loc == foundry.CacheLocation(fake_cli, "foundry cache location")


# --------------------------------------------------------------------------- real deployments


def test_deploy_register_load_answer_and_undeploy(
    onnx_copy: Path, tmp_path: Path, faq_row: dict, no_cli: None
) -> None:
    cache = tmp_path / "cache"
    seen: list[tuple[str, str]] = []
    result = foundry.deploy(
        onnx_copy, "lumo-demo", "1", template_for("qwen"), CFG, cache,
        on_stage=lambda stage, status, detail: seen.append((stage, status)),
        description="the demo", prompt=faq_row["prompt"], system=faq_row["system"],
        max_tokens=64,
    )
    assert result.ok, result.stages
    assert [(s.id, s.status) for s in result.stages] == [(s, Status.OK) for s in foundry.STAGES]
    assert all(isinstance(s, CheckResult) for s in result.stages)
    assert seen == [x for s in foundry.STAGES for x in ((s, Status.RUNNING), (s, Status.OK))]
    assert result.model_id == "lumo-demo:1"
    assert result.run_command == "foundry model run lumo-demo"
    target = cache / "custom" / "lumo-demo"
    assert result.target == target.absolute()
    assert (target / "genai_config.json").is_file()
    saved = json.loads((target / "inference_model.json").read_text())
    assert saved["Name"] == "lumo-demo" and saved["Description"] == "the demo"
    assert not [p for p in (cache / "custom").iterdir() if p.name.startswith(".")]
    # The greedy answer of the fine-tuned demo is its FAQ answer, through Foundry Local.
    assert result.answer.strip() == faq_row["expected"]

    # Listed in the local catalog, persisted in the cache's registry file.
    catalog = foundry_sdk.local_catalog(cache)
    assert "lumo-demo:1" in [m.id for m in catalog.list_models()]
    registry = json.loads((cache / "foundry.local.modelinfo.json").read_text())
    assert "lumo-demo:1" in json.dumps(registry)

    # Deploying again without confirmation changes nothing.
    mtime = (target / "inference_model.json").stat().st_mtime_ns
    with pytest.raises(foundry.TargetExists, match="Confirm to replace") as err:
        foundry.deploy(onnx_copy, "lumo-demo", "1", template_for("qwen"), CFG, cache)
    assert "lumo-demo:1" in str(err.value)
    assert (target / "inference_model.json").stat().st_mtime_ns == mtime
    # ... with confirmation it replaces the model and still answers.
    again = foundry.deploy(onnx_copy, "lumo-demo", "1", template_for("qwen"),
                           im.ModelConfig(max_length=128), cache, replace=True,
                           prompt=faq_row["prompt"], system=faq_row["system"], max_tokens=64)
    assert again.ok and again.answer.strip() == faq_row["expected"]
    assert json.loads((target / "inference_model.json").read_text())["ModelConfig"][
        "max_length"] == 128

    done = foundry.undeploy("lumo-demo", "1", cache)
    assert "unregistered lumo-demo:1" in done
    assert not target.exists()
    assert "lumo-demo:1" not in [m.id for m in foundry_sdk.local_catalog(cache).list_models()]
    with pytest.raises(foundry_sdk.FoundryError, match="not deployed"):
        foundry.undeploy("lumo-demo", "1", cache)


def test_manager_follows_the_cache(onnx_copy: Path, tmp_path: Path, no_cli: None) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert foundry.deploy(onnx_copy, "in-a", "1", template_for("qwen"), CFG, a).ok
    manager_a = foundry_sdk.foundry_manager(a)
    assert foundry_sdk.foundry_manager(a) is manager_a  # same cache: same manager
    assert [m.id for m in foundry_sdk.local_catalog(b).list_models()] == []
    assert [m.id for m in foundry_sdk.local_catalog(a).list_models()] == ["in-a:1"]
    model = foundry_sdk.load_foundry_model(a, "in-a:1")
    assert model.is_loaded
    with pytest.raises(foundry_sdk.FoundryError, match="not registered"):
        foundry_sdk.load_foundry_model(b, "in-a:1")


def test_corrupt_inference_model_blocks_deploy(onnx_copy: Path, tmp_path: Path,
                                               no_cli: None) -> None:
    (onnx_copy / "inference_model.json").write_text("{not json")
    with pytest.raises(foundry.TargetExists, match="corrupt"):
        foundry.deploy(onnx_copy, "m", "1", template_for("qwen"), CFG, tmp_path / "cache")
    assert (onnx_copy / "inference_model.json").read_text() == "{not json"
    assert not (tmp_path / "cache" / "custom" / "m").exists()


def test_read_only_cache_gives_a_clear_error(onnx_copy: Path, tmp_path: Path,
                                             no_cli: None) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(foundry_sdk.FoundryError, match="is not writable"):
        foundry.deploy(onnx_copy, "m", "1", template_for("qwen"), CFG, blocker / "cache")
    assert not (onnx_copy / "inference_model.json").exists()  # nothing was written


def test_read_only_cache_by_permissions(onnx_copy: Path, tmp_path: Path, no_cli: None) -> None:
    cache = tmp_path / "ro"
    (cache / "custom").mkdir(parents=True)
    (cache / "custom").chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(cache / "custom", os.W_OK):
            pytest.skip("running as root: permissions do not stop writes (see the test above)")
        with pytest.raises(foundry_sdk.FoundryError, match="is not writable"):
            foundry.deploy(onnx_copy, "m", "1", template_for("qwen"), CFG, cache)
    finally:
        (cache / "custom").chmod(0o755)


def test_without_foundry_local_the_folder_is_exported(
    onnx_copy: Path, tmp_path: Path, no_cli: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(foundry, "sdk_available", lambda: False)
    result = foundry.deploy(onnx_copy, "lumo-demo", "2", template_for("qwen"), CFG,
                            tmp_path / "cache")
    assert result.exported
    assert [(s.id, s.status) for s in result.stages] == [
        ("write", Status.OK), ("copy", Status.OK), ("register", Status.SKIP),
        ("load", Status.SKIP), ("answer", Status.SKIP)]
    assert (result.target / "inference_model.json").is_file()
    assert "Install Foundry Local" in result.instructions
    assert "foundry model run lumo-demo" in result.instructions
    assert str(result.target) in result.instructions


def test_with_the_cli_the_cache_listing_shows_the_model(
    onnx_copy: Path, fake_cli: Path, faq_row: dict
) -> None:
    loc = foundry.find_cache_dir()
    assert loc.path == fake_cli
    result = foundry.deploy(onnx_copy, "lumo-demo", "1", template_for("qwen"), CFG, loc.path,
                            prompt=faq_row["prompt"], system=faq_row["system"])
    assert result.ok, result.stages
    assert result.stages[-1].id == "list" and result.stages[-1].status == Status.OK
    assert result.cli_listing == ["lumo-demo:1"]


# --------------------------------------------------------------------------- headless commands


def test_cli_deploy_json_and_remove(onnx_copy: Path, tmp_path: Path, no_cli: None,
                                    capsys: pytest.CaptureFixture) -> None:
    from slm_wizard.cli.main import main

    cache = tmp_path / "cache"
    rc = main(["deploy", str(onnx_copy), "--name", "cli-model", "--cache-dir", str(cache),
               "--max-length", "256", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    data = json.loads(out.out)
    assert data["ok"] and data["model_id"] == "cli-model:1" and data["family"] == "qwen"
    assert data["answer"].strip()
    assert "✓ OK   answer" in out.err  # ICON, WORD

    rc = main(["deploy", str(onnx_copy), "--name", "cli-model", "--cache-dir", str(cache),
               "--max-length", "256"])
    out = capsys.readouterr()
    assert rc == 1 and "--replace" in out.err

    assert main(["deploy", str(onnx_copy), "--name", "cli-model", "--cache-dir", str(cache),
                 "--remove"]) == 0
    assert not (cache / "custom" / "cli-model").exists()


@pytest.mark.parametrize("argv, message", [
    (["--name", "../x"], "looks like a path"),
    (["--name", "ok", "--version", "1.5"], "whole number"),
    (["--name", "ok", "--temperature", "3"], "temperature"),
])
def test_cli_deploy_refuses_bad_input(onnx_copy: Path, tmp_path: Path, argv: list[str],
                                      message: str, capsys: pytest.CaptureFixture) -> None:
    from slm_wizard.cli.main import main

    rc = main(["deploy", str(onnx_copy), "--cache-dir", str(tmp_path / "c"), *argv])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_cli_template(demo_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    from slm_wizard.cli.main import main

    assert main(["template", str(demo_onnx), "--show"]) == 0
    out = capsys.readouterr().out
    assert "Detected family: qwen" in out and "matches the model's chat template" in out
    assert main(["template", str(demo_onnx), "--family", "llama3", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["detected"] == "qwen" and data["family"] == "llama3" and not data["matches"]
    # The runtime renders the model's own template exactly; the PromptTemplate is the mismatch.
    assert data["verdict"] == "match" and data["prompt_template_check"]["verdict"] == "mismatch"
    assert any(ln.startswith("+") and "<|start_header_id|>" in ln for ln in data["diff"])
