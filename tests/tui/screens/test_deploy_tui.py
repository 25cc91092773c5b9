"""The deploy step under Pilot: family detection, template preview and warnings, field validation,
a real deployment into a temporary Foundry Local cache, the replace confirmation, and a snapshot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input, OptionList, Static

from tests.helpers import converted_record, wait_until

SIZE = (100, 32)
# A fixed path for the snapshot, so no temporary folder name shows on screen.
SNAP_DIR = Path("/tmp/slm-wizard-snapshots/lumo-int4")


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def _choose(pilot, screen, key: str, apply: bool = True) -> str:
    """Enter on an entry of the template choice list: the preview dialog (what it changes and
    the new verdict) opens, nothing switches yet; Apply (or Cancel) answers it. Returns the
    dialog's text."""
    app = screen.app
    families = screen.query_one("#families", OptionList)
    families.highlighted = [k for k, _ in screen._choices()].index(key)
    families.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", 30,
                     "the choice's preview")
    dialog = " ".join(str(w.render()) for w in app.screen.query(Static))
    app.screen.query_one("#yes" if apply else "#no", Button).press()
    await wait_until(pilot, lambda: app.screen is screen, 10, "the deploy screen")
    return dialog


async def _click(pilot, screen, selector: str) -> None:
    screen.query_one(selector).scroll_visible(animate=False)
    await pilot.pause()
    await pilot.click(selector)


@pytest.fixture
def onnx_copy(demo_onnx: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "onnx"
    shutil.copytree(demo_onnx, dst)
    return dst


async def test_deploy_step_end_to_end(wizard, onnx_copy: Path, demo_model: Path,
        tmp_path: Path) -> None:
    from slm_wizard.core.model.demo import load_domain_eval

    first = load_domain_eval(demo_model / "domain_eval.jsonl")[0]
    expected = first["expected"]
    cache = tmp_path / "cache"
    state = converted_record(demo_model, onnx_copy, is_demo=True, foundry_cache=cache)
    app = wizard("deploy", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the preview")
        await pilot.pause()
        families = screen.query_one("#families", OptionList)
        # The derived template is the first entry, selected and marked as applied at start.
        assert families.highlighted == 0
        assert str(families.get_option_at_index(0).prompt).startswith("● Derived from")
        assert "Qwen / ChatML ← detected" in str(families.get_option_at_index(1).prompt)
        assert "with high confidence" in _text(screen, "#detect-note")
        # The headline is what Foundry Local sends: the model's own template, exactly.
        assert "What Foundry Local sends: match · Foundry Local's runtime renders the " \
            "model's chat template exactly" in _text(screen, "#mismatch")
        # The PromptTemplate (older services): as close as one can be (the demo's template adds
        # a default system text that no PromptTemplate field can), with the limit stated.
        closest = "as closely as a PromptTemplate can"
        assert closest in _text(screen, "#mismatch")
        assert "read only by older Foundry Local services" in _text(screen, "#mismatch")
        assert "default system text" in _text(screen, "#mismatch")
        assert screen.family_id is None
        assert screen.query_one("#name", Input).value == "lumo-demo"
        # The sample conversation is the model's own FAQ (domain_eval.jsonl), not a fixed one.
        assert first["prompt"] in _text(screen, "#preview-template")

        # Enter on another entry shows what it changes and its verdict; Cancel keeps all.
        before = screen.current_template()
        dialog = await _choose(pilot, screen, "phi3", apply=False)
        assert "Use Phi-3 / Phi-3.5?" in dialog and "does NOT match" in dialog
        assert "user: " in dialog and "<|user|>" in dialog
        assert screen.current_template() == before and screen.family_id is None
        # Applied: a visible mismatch warning with the differing lines, the entry marked.
        await _choose(pilot, screen, "phi3")
        await wait_until(pilot, lambda: "does NOT match" in _text(screen, "#mismatch"), 30,
                         "the mismatch")
        warning = _text(screen, "#mismatch")
        assert "-<|im_start|>user⏎" in warning and "<|user|>" in warning
        assert str(families.get_option_at_index(3).prompt).startswith("● Phi-3")
        await _choose(pilot, screen, screen.DERIVED)
        await wait_until(pilot, lambda: closest in _text(screen, "#mismatch"), 30, "the check")
        assert screen.family_id is None and screen.current_template() == before

        # Invalid fields block the deployment with a message per field.
        prompt_field = screen.query_one("#tmpl-prompt", Input)
        good_prompt = prompt_field.value
        prompt_field.value = "<|im_start|>user\\n"
        screen.query_one("#cfg-temperature", Input).value = "0"
        screen.query_one("#name", Input).value = "../evil"
        await _click(pilot, screen, "#deploy")
        errors = _text(screen, "#field-errors")
        assert "tmpl-prompt" in errors and "{Content}" in errors
        assert "temperature must be > 0" in errors
        assert "looks like a path" in errors
        assert not cache.exists()

        prompt_field.value = good_prompt
        screen.query_one("#cfg-temperature", Input).value = "0.7"
        screen.query_one("#name", Input).value = "lumo-demo"
        await _click(pilot, screen, "#deploy")
        await wait_until(pilot, lambda: "deploy" in app.state.done, 60, "the deployment")
        await pilot.pause()
        table = screen.query_one("#stages", DataTable)
        assert [str(table.get_cell(k, "stage")) for k in
                ("write", "copy", "register", "load", "answer")] == \
            ["write", "copy", "register", "load", "answer"]
        assert all(str(table.get_cell(k, "icon")) == "✓" for k in
                   ("write", "copy", "register", "load", "answer"))
        # The result column is as wide as its longest result (it stayed "running…" wide).
        longest = max(len(str(table.get_cell(k, "result")))
                      for k in ("write", "copy", "register", "load", "answer"))
        assert longest > len("running…")
        assert table.columns["result"].content_width >= longest
        outcome = _text(screen, "#deploy-outcome")
        assert expected in outcome and "foundry model run lumo-demo" in outcome
        assert (app.state.deployed_name, app.state.deployed_version) == ("lumo-demo", "1")
        assert app.state.foundry_cache == cache.absolute()
        # The run record keeps the cache folder, the model id and the exact headless command.
        rec = app.state.get("deploy")
        assert rec is not None and rec.done
        assert rec.options["cache_dir"] == cache and rec.options["model_id"] == "lumo-demo:1"
        assert rec.command[:3] == ["slm-wizard", "deploy", str(onnx_copy)]
        # The template derived from the model's own (the default): no --family.
        assert "--cache-dir" in rec.command
        assert not any(a.startswith(("--family", "--prompt-template")) for a in rec.command)
        assert f"--prompt={first['prompt']}" in rec.command
        assert (cache / "custom" / "lumo-demo" / "inference_model.json").is_file()
        assert not screen.query_one("#continue", Button).disabled

        # Deploying again asks first; cancelling keeps the installed model.
        before = (cache / "custom" / "lumo-demo" / "inference_model.json").stat().st_mtime_ns
        await _click(pilot, screen, "#deploy")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen"
                         and bool(app.screen.query("#no")), 30, "the confirmation")
        dialog = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "Replace the existing model?" in dialog
        assert "the registration lumo-demo:1" in dialog
        await pilot.click("#no")
        await wait_until(pilot, lambda: app.screen is screen, 10, "the deploy screen")
        assert "existing model was kept" in _text(screen, "#deploy-outcome")
        assert (cache / "custom" / "lumo-demo" / "inference_model.json").stat().st_mtime_ns \
            == before

        # Remove on request (after a confirmation).
        await _click(pilot, screen, "#remove")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", 10,
                         "the removal confirmation")
        await pilot.click("#yes")
        await wait_until(pilot, lambda: "Removed" in _text(screen, "#deploy-outcome"), 30,
                         "the removal")
        assert not (cache / "custom" / "lumo-demo").exists()
        assert app.state.deployed_name is None and "deploy" not in app.state.done
        assert screen.query_one("#continue", Button).disabled

        # Deploy again and move on to the chat step.
        await _click(pilot, screen, "#deploy")
        await wait_until(pilot, lambda: "deploy" in app.state.done, 60, "the redeployment")
        await _click(pilot, screen, "#continue")
        await wait_until(pilot, lambda: app.current_step == "chat", 10, "the chat step")
        command = app.state.get("deploy").command

    # The recorded command, run headless, deploys the same model id into the same cache.
    from slm_wizard.cli.main import main
    from slm_wizard.core.deploy import foundry_sdk

    assert main(command[1:]) == 0
    assert "lumo-demo:1" in [m.id for m in foundry_sdk.local_catalog(cache).list_models()]
    saved = (cache / "custom" / "lumo-demo" / "inference_model.json").read_text()
    assert '"Name": "lumo-demo"' in saved and "<|im_start|>" in saved


async def test_a_mismatching_template_is_deployed_only_when_confirmed(wizard,
    onnx_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from slm_wizard.core.base.status import Status
    from slm_wizard.core.deploy import foundry

    deployed: list[str] = []

    def fake_deploy(onnx, name, version, template, cfg, cache_dir, **kw):
        deployed.append(template["user"])
        dep = foundry.DeployResult(name, version, f"{name}:{version}", cache_dir,
                                   cache_dir / "custom" / name)
        dep.stages = [foundry.stage_result(s, Status.OK, "done") for s in foundry.STAGES]
        dep.answer = "hi"
        return dep

    monkeypatch.setattr(foundry, "deploy", fake_deploy)
    state = converted_record(onnx_copy, onnx_copy, foundry_cache=tmp_path / "c")
    app = wizard("deploy", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the preview")
        await _choose(pilot, screen, "phi3")  # Phi-3 on a ChatML model
        await wait_until(pilot, lambda: screen.family_id == "phi3" and screen.template_check
                         is not None and screen.template_check.mismatch, 30, "the mismatch")
        screen.query_one("#deploy", Button).press()
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen"
                         and bool(app.screen.query("#no")), 30, "the confirmation")
        dialog = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "Deploy a mismatching PromptTemplate?" in dialog
        app.screen.query_one("#no", Button).press()
        await wait_until(pilot, lambda: app.screen is screen, 10, "the deploy screen")
        assert "Not deployed" in _text(screen, "#deploy-outcome")
        assert deployed == [] and "deploy" not in app.state.done
        # Confirmed: deployed, and the run record notes the override.
        screen.query_one("#deploy", Button).press()
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen"
                         and bool(app.screen.query("#yes")), 30, "the confirmation")
        app.screen.query_one("#yes", Button).press()
        await wait_until(pilot, lambda: "deploy" in app.state.done, 30, "the deployment")
        assert deployed == ["<|user|>\n{Content}<|end|>\n"]
        rec = app.state.get("deploy")
        assert "--allow-template-mismatch" in rec.command
        assert any("the user confirmed" in n for n in rec.notes)


async def test_without_a_converted_model_the_step_says_where_it_comes_from(wizard,
    tmp_path: Path,
) -> None:
    app = wizard("deploy")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert "the Convert step provides" in _text(screen, "#deploy-source")
        assert screen.query_one("#deploy", Button).disabled
        assert "deploy" not in app.state.done


async def test_an_unexpected_failure_is_shown_and_the_app_keeps_running(wizard,
    onnx_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from slm_wizard.core.steps import deploy as deploy_step

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(deploy_step, "run", boom)
    state = converted_record(onnx_copy, onnx_copy, foundry_cache=tmp_path / "c")
    app = wizard("deploy", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the preview")
        await _click(pilot, screen, "#deploy")
        await wait_until(pilot, lambda: "boom" in _text(screen, "#deploy-outcome"), 30,
                         "the error on screen")
        assert app.is_running and app.screen is screen
        outcome = _text(screen, "#deploy-outcome")
        assert "RuntimeError" in outcome and "try again" in outcome
        from slm_wizard.core.base.logfile import WIZARD_LOG, log_path

        assert str(log_path(WIZARD_LOG)) in outcome  # the traceback's file, named
        assert not screen.query_one("#deploy", Button).disabled  # it can be tried again
        assert "deploy" not in app.state.done


async def test_an_edited_template_is_deployed_as_a_custom_template_file(wizard,
    onnx_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The screen hands the edited fields to the runner, which names them with a custom file
    it writes next to the model (the screen writes nothing)."""
    from slm_wizard.core.base.status import Status
    from slm_wizard.core.deploy import foundry
    from slm_wizard.core.steps import template as template_step

    deployed: list[dict] = []

    def fake_deploy(onnx, name, version, template, cfg, cache_dir, **kw):
        deployed.append({"template": template, "temperature": cfg.temperature,
                         "cache": cache_dir})
        dep = foundry.DeployResult(name, version, f"{name}:{version}", cache_dir,
                                   cache_dir / "custom" / name)
        dep.stages = [foundry.stage_result(s, Status.OK, "done") for s in foundry.STAGES]
        dep.answer = "hi"
        return dep

    monkeypatch.setattr(foundry, "deploy", fake_deploy)
    custom = template_step.custom_template_path(onnx_copy)
    cache = tmp_path / "chosen"
    state = converted_record(onnx_copy, onnx_copy)
    app = wizard("deploy", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the preview")
        screen.query_one("#cache-dir", Input).value = str(cache)
        screen.query_one("#tmpl-system", Input).value = "<|im_start|>system\\n{Content}\\n"
        screen.query_one("#cfg-temperature", Input).value = "0.3"
        await wait_until(pilot, lambda: screen.plan is not None and screen.plan.template
                         is not None and screen.plan.template.source == template_step.CUSTOM,
                         30, "the plan of the edited template")
        assert not custom.exists()  # planned, not written
        screen.query_one("#deploy", Button).press()
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen"
                         and bool(app.screen.query("#yes")), 30, "the mismatch confirmation")
        app.screen.query_one("#yes", Button).press()
        await wait_until(pilot, lambda: "deploy" in app.state.done, 30, "the recorded step")
        (ran,) = deployed
        assert ran["template"]["system"] == "<|im_start|>system\n{Content}\n"
        assert ran["temperature"] == 0.3 and ran["cache"] == cache
        saved = template_step.load_template_file(custom)
        assert saved["system"] == "<|im_start|>system\n{Content}\n"
        rec = app.state.get("deploy")
        assert f"--prompt-template={custom}" in rec.command
        assert not any(a.startswith("--family") for a in rec.command)
        assert rec.options["cache_dir"] == cache
        assert app.state.foundry_cache == cache and app.state.deployed_version == "1"


async def test_the_plan_is_made_off_the_ui_thread_on_every_template_edit(wizard,
    onnx_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from slm_wizard.core.steps import deploy as deploy_step

    real_plan = deploy_step.plan
    threads: list[str] = []

    def recording_plan(options, **kwargs):
        threads.append(threading.current_thread().name)
        return real_plan(options, **kwargs)

    monkeypatch.setattr(deploy_step, "plan", recording_plan)
    state = converted_record(onnx_copy, onnx_copy, foundry_cache=tmp_path / "c")
    app = wizard("deploy", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the preview")
        await pilot.pause()
        assert len(threads) == 1  # the fields filled from the plan need no second plan
        assert screen.plan.options.cache_dir == tmp_path / "c"
        assert screen.plan.cache_source == deploy_step.YOUR_CHOICE
        screen.query_one("#tmpl-prompt", Input).value = "no placeholder"  # not a template
        await wait_until(pilot, lambda: screen.plan.template is None, 30, "the plan of the edit")
        await pilot.pause()
        assert "{Content}" in screen.plan.template_problem
        assert screen.plan.template_problem in _text(screen, "#preview-template")
        assert _text(screen, "#mismatch") == ""
        assert len(threads) == 2
        assert all(name != threading.main_thread().name for name in threads), threads


async def test_a_planning_bug_is_shown_naming_the_log_and_the_app_keeps_running(wizard,
    onnx_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from slm_wizard.core.base.logfile import WIZARD_LOG, log_path
    from slm_wizard.core.steps import deploy as deploy_step

    def broken_plan(options, **kwargs):
        raise KeyError("no-such-template-field")

    monkeypatch.setattr(deploy_step, "plan", broken_plan)
    state = converted_record(onnx_copy, onnx_copy, foundry_cache=tmp_path / "c")
    app = wizard("deploy", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: "could not render" in _text(screen,
                                                                    "#preview-tokenizer"),
                         30, "the failure on screen")
        shown = _text(screen, "#preview-tokenizer")
        assert "KeyError" in shown and str(log_path(WIZARD_LOG)) in shown
        assert app.is_running and app.screen is screen
        assert "no-such-template-field" in log_path(WIZARD_LOG).read_text(encoding="utf-8")


async def test_a_deploy_cancelled_while_planning_writes_nothing(wizard,
    onnx_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from slm_wizard.core.deploy import foundry
    from slm_wizard.core.steps import deploy as deploy_step
    from slm_wizard.tui.widgets.run_pane import RunPane

    real_plan = deploy_step.plan
    entered, release = threading.Event(), threading.Event()
    hold = {"on": False}

    def held_plan(options, **kwargs):
        if hold["on"]:
            entered.set()
            release.wait(30)
        return real_plan(options, **kwargs)

    monkeypatch.setattr(deploy_step, "plan", held_plan)
    monkeypatch.setattr(foundry, "deploy", lambda *a, **kw: pytest.fail("deployed"))
    cache = tmp_path / "c"
    state = converted_record(onnx_copy, onnx_copy, foundry_cache=cache)
    app = wizard("deploy", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the preview")
        hold["on"] = True
        screen.query_one("#deploy", Button).press()
        await wait_until(pilot, entered.is_set, 30, "the run's plan")
        pane = screen.query_one("#deploy-run", RunPane)
        assert screen.step_running() and pane.running and not pane.has_class("-idle")
        assert screen.query_one("#deploy", Button).disabled  # one deployment at a time
        screen.cancel_step()
        release.set()
        await wait_until(pilot, lambda: "cancelled" in _text(screen, "#deploy-outcome"), 30,
                         "the cancelled run")
        assert not screen.step_running() and not pane.running
        assert not screen.query_one("#deploy", Button).disabled  # it can be tried again
        assert "deploy" not in app.state.done and not cache.exists()
        assert not (onnx_copy / "inference_model.json").exists()
        assert app.is_running


async def test_resume_shows_the_cache_folder_the_run_record_kept(wizard,
    onnx_copy: Path, tmp_path: Path,
) -> None:
    chosen = tmp_path / "my-foundry-cache"
    state = converted_record(onnx_copy, onnx_copy, deployed="m", foundry_cache=chosen)
    (chosen / "custom" / "m").mkdir(parents=True)  # the deployment, still in the cache
    (chosen / "custom" / "m" / "inference_model.json").write_text("{}")
    app = wizard("deploy", state)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.template_check is not None, 30, "the preview")
        assert screen.query_one("#cache-dir", Input).value == str(chosen)
        # The recorded deployment can be continued from or removed.
        assert not screen.query_one("#continue", Button).disabled
        assert not screen.query_one("#remove", Button).disabled
        assert screen.deployed == ("m", "1", chosen)


def _deploy_snapshot(wizard, snap_compare, demo_onnx: Path, size: tuple[int, int]) -> bool:
    """The Deploy screen over a copy of the demo at a fixed path, once its preview is in."""
    if SNAP_DIR.exists():
        shutil.rmtree(SNAP_DIR)
    shutil.copytree(demo_onnx, SNAP_DIR)
    state = converted_record(Path("/models/lumo-hf"), SNAP_DIR,
                             foundry_cache=Path("/home/me/.foundry/cache/models"))
    app = wizard("deploy", state)

    async def ready(pilot) -> None:
        await wait_until(pilot, lambda: getattr(app.screen, "template_check", None)
                         is not None, 30, "the preview")
        await pilot.pause()

    return snap_compare(app, terminal_size=size, run_before=ready)


def test_deploy_snapshot(wizard, snap_compare, demo_onnx: Path) -> None:
    assert _deploy_snapshot(wizard, snap_compare, demo_onnx, SIZE)


def test_deploy_snapshot_80x24(wizard, snap_compare, demo_onnx: Path) -> None:
    """Issue 14: at 80x24 the buttons and the outcome are docked in view, Deploy focused."""
    assert _deploy_snapshot(wizard, snap_compare, demo_onnx, (80, 24))


async def test_deploy_pressed_during_the_template_check_runs_after_it(wizard, tmp_path,
                                                                     monkeypatch) -> None:
    """The check is a child process that can take seconds on a busy machine: Deploy pressed
    meanwhile is not lost (nor refused for fields not filled yet): it runs once the check ends."""
    import threading

    from slm_wizard.core.steps import deploy as deploy_step
    from tests.helpers.templates import make_template_onnx

    release, real_plan, ran = threading.Event(), deploy_step.plan, []

    def slow_plan(options, **kw):
        release.wait(30)
        return real_plan(options, **kw)

    def fake_run(options, **kw):
        ran.append(options)
        raise deploy_step.Refused("stopped here: the test only needs to see it start")

    monkeypatch.setattr(deploy_step, "plan", slow_plan)
    monkeypatch.setattr(deploy_step, "run", fake_run)
    onnx = make_template_onnx(tmp_path / "onnx")
    state = converted_record(tmp_path / "hf", onnx, foundry_cache=tmp_path / "cache")
    async with wizard.run("deploy", state, size=SIZE) as pilot:
        screen = pilot.app.screen
        await pilot.pause()
        assert screen.step_running("plan") and screen.template_check is None
        await _click(pilot, screen, "#deploy")
        assert "once the template check is done" in _text(screen, "#deploy-outcome")
        assert not ran
        release.set()
        await wait_until(pilot, lambda: bool(ran), 30, "the deployment to start")
        assert ran[0].template and "{Content}" in ran[0].template["prompt"]
