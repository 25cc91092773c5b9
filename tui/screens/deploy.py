"""Deploy: pick the prompt template for the model family, check it against the tokenizer, fill in
inference_model.json, and install the model into Foundry Local (write, copy, register, load,
answer).

The screen renders the deploy step's plan (core.steps.deploy.plan: the template derived or
chosen, its check, the cache folder, the defaults), made in a worker on every template edit,
and runs the step's runner (deploy and remove) with `run_step`; the runner decides how the
template is named and writes an edited one itself."""

from __future__ import annotations

import contextlib
from dataclasses import replace as with_changes
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Checkbox, DataTable, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from slm_wizard.core.base.status import ICON, Progress, Status
from slm_wizard.core.run.settings import foundry_cache_choice
from slm_wizard.core.steps import deploy as deploy_step
from slm_wizard.core.steps import resume as resume_step
from slm_wizard.core.steps import template as template_step
from slm_wizard.tui.screens.base import Outcome, StepScreen
from slm_wizard.tui.widgets.run_pane import RunPane
from slm_wizard.tui.widgets.status import status_text


def escape(value: str) -> str:
    """Show newlines and tabs as \\n and \\t in a one-line field."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


class TemplateField(Validator):
    """A PromptTemplate field, checked by core.templates' own rule."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def validate(self, value: str) -> ValidationResult:
        problem = template_step.field_problem(self.key, unescape(value))
        return self.failure(problem) if problem else self.success()


class ConfigField(Validator):
    """A ModelConfig field, checked by core.inference_model's own validator (one set of bounds);
    `ctx` gives the model's context length (max_length's upper bound)."""

    def __init__(self, key: str, ctx) -> None:
        super().__init__()
        self.key, self.ctx = key, ctx

    def validate(self, value: str) -> ValidationResult:
        try:
            deploy_step.validate_config_field(self.key, value.strip(), self.ctx())
        except deploy_step.InferenceModelError as e:
            return self.failure(str(e).rstrip("."))
        return self.success()


class CheckedBy(Validator):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def validate(self, value: str) -> ValidationResult:
        try:
            self.fn(value)
        except deploy_step.InferenceModelError as e:
            return self.failure(str(e))
        return self.success()


class Verdict(Static):
    """The template check in full, under the previews; its first line (the runtime's verdict
    word first) is also shown, on one row, in the docked bar above Deploy (`#deploy-verdict`),
    in view whatever is scrolled."""

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        super().update(content, layout=layout)
        text = content if isinstance(content, Text) else Text(str(content))
        lines = text.split("\n", allow_blank=True)
        line = lines[0] if lines else Text()  # one row: the bar never grows when it comes
        with contextlib.suppress(NoMatches):
            self.screen.query_one("#deploy-verdict", Static).update(line)


class DeployScreen(StepScreen):
    STEP_ID = "deploy"
    AUTO_FOCUS = "#deploy"  # Enter deploys; the outcome and the buttons stay docked in view
    DEFAULT_CSS = """
    DeployScreen #deploy-source { height: auto; }
    DeployScreen #cache-row { height: auto; margin-top: 1; }
    DeployScreen #cache-row Label { width: 20; padding-top: 1; color: $text-muted; }
    DeployScreen #cache-row Input { width: 1fr; }
    DeployScreen #tmpl-row { height: auto; margin-top: 1; }
    DeployScreen.-stacked #tmpl-row { layout: vertical; }
    DeployScreen.-stacked #families { width: 1fr; }
    DeployScreen.-stacked #tmpl-fields { padding-left: 0; margin-top: 1; }
    DeployScreen #deploy-verdict { height: 1; padding: 0 1; text-wrap: nowrap;
                                   text-overflow: ellipsis; }
    DeployScreen #families { width: 36; height: 11; border: round $primary; }
    DeployScreen #tmpl-fields { width: 1fr; height: auto; padding-left: 1; }
    DeployScreen .field-row { height: 3; }
    DeployScreen .field-row Label { width: 12; padding-top: 1; }
    DeployScreen .field-row Input { width: 1fr; }
    DeployScreen #detect-note { height: auto; color: $text-muted; }
    DeployScreen #preview-row { height: auto; margin-top: 1; }
    DeployScreen .preview { width: 1fr; height: auto; min-height: 5; border: round $secondary;
        padding: 0 1; }
    DeployScreen #mismatch { height: auto; margin-top: 1; }
    DeployScreen #cfg-row, DeployScreen #id-row { height: auto; margin-top: 1; }
    DeployScreen .cfg { width: 1fr; height: auto; }
    DeployScreen .cfg Label { color: $text-muted; }
    DeployScreen #field-errors { height: auto; }
    DeployScreen #deploy-bar { dock: bottom; height: auto; background: $surface; }
    DeployScreen #actions { height: auto; }
    DeployScreen #actions Button { margin-right: 1; }
    DeployScreen #stages { height: auto; max-height: 9; margin-top: 1; }
    DeployScreen #deploy-outcome { height: auto; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.onnx_dir: Path | None = None
        self.ctx_len: int | None = None
        self.detected: tuple[str, float, list[str]] | None = None
        self.plan: deploy_step.Plan | None = None  # the last plan shown
        self.template_check = None  # the plan's check of the fields as they are
        self._queued: tuple[bool, bool] | None = None  # Deploy pressed during a check
        self.deployed: tuple[str, str, Path] | None = None  # (name, version, cache)
        # The family whose preset the fields were last filled with; None: the template derived
        # from the model's own chat template.
        self.family_id: str | None = "qwen"
        self._planned: tuple | None = None  # the template and family of the last plan asked
        self.derived: dict[str, str] | None = None  # the template derived from the model's

    DERIVED = "derived"  # the choice list's id of the template derived from the model's own

    @classmethod
    def _choices(cls) -> list[tuple[str, str]]:
        """(id, title) of the template choice list: the derived template first."""
        return [(cls.DERIVED, "Derived from the model"),
                *((f.id, f.title) for f in template_step.FAMILIES.values())]

    # ------------------------------------------------------------------------- layout

    def compose_body(self) -> ComposeResult:
        yield Static("", id="deploy-source")
        with Horizontal(id="cache-row"):  # at the top: in view at 80x24, its whole width
            yield Label("Foundry Local cache")
            yield Input("", id="cache-dir", placeholder="~/.foundry/cache/models")
        with Horizontal(id="tmpl-row"):
            yield OptionList(*[Option(title, id=key) for key, title in self._choices()],
                             id="families")
            with Vertical(id="tmpl-fields"):
                yield Static("PromptTemplate (\\n is a newline; each field holds {Content} once)")
                for key in template_step.KEYS:
                    with Horizontal(classes="field-row"):
                        yield Label(key)
                        yield Input(id=f"tmpl-{key}", validators=[TemplateField(key)],
                                    valid_empty=False)
        yield Static("", id="detect-note")
        with Horizontal(id="preview-row"):
            yield Static("", id="preview-template", classes="preview")
            yield Static("", id="preview-tokenizer", classes="preview")
        yield Verdict("", id="mismatch")
        defaults = deploy_step.ModelConfig()
        with Horizontal(id="cfg-row"):
            for key in deploy_step.BOUNDS:
                with Vertical(classes="cfg"):
                    yield Label(key)
                    yield Input(str(getattr(defaults, key)), id=f"cfg-{key}",
                                validators=[ConfigField(key, lambda: self.ctx_len)])
        with Horizontal(id="id-row"):
            with Vertical(classes="cfg"):
                yield Label("Name")
                yield Input("", id="name", validators=[CheckedBy(deploy_step.validate_name)])
            with Vertical(classes="cfg"):
                yield Label("Version")
                yield Input(deploy_step.Options(Path("."), "").version, id="version",
                            validators=[CheckedBy(deploy_step.validate_version)])
            with Vertical(classes="cfg"):
                yield Label("Description")
                yield Input("", id="description")
        yield Checkbox("Also write these values into genai_config.json's search defaults",
                       id="search-defaults")
        yield Static("", id="field-errors", classes="error")
        yield RunPane(id="deploy-run")
        yield DataTable(id="stages", show_cursor=False)
        with Vertical(id="deploy-bar", classes="action-bar"):  # docked: the result stays in view
            yield Static("", id="deploy-verdict")  # the template check's first line
            yield Static("", id="deploy-outcome")
            with Horizontal(id="actions"):
                yield Button("Deploy", id="deploy", variant="primary")
                yield Button("Continue", id="continue", disabled=True)
                yield Button("Remove from Foundry Local", id="remove", variant="error",
                             disabled=True)

    def on_resize(self, event: events.Resize) -> None:
        # Below 120 columns the family list goes above the template fields, which then take
        # the whole width (beside it they were about 40 characters wide).
        self.set_class(event.size.width < 120, "-stacked")

    def on_mount(self) -> None:
        table = self.query_one("#stages", DataTable)
        table.add_column("", key="icon")
        table.add_column("stage", key="stage")
        table.add_column("result", key="result")
        self._load_state()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.app.state.onnx_dir != self.onnx_dir:
            self._load_state()

    def _load_state(self) -> None:
        state = self.app.state
        self.onnx_dir = Path(state.onnx_dir) if state.onnx_dir else None
        source = self.query_one("#deploy-source", Static)
        deploy_btn = self.query_one("#deploy", Button)
        if self.onnx_dir is None or not (self.onnx_dir / "genai_config.json").is_file():
            what = "No converted model yet" if self.onnx_dir is None else \
                f"{self.onnx_dir} holds no genai_config.json"
            source.update(Text(f"{what}: the Convert step provides the ONNX folder to deploy "
                               "(ctrl+b goes back).", style="bold red"))
            deploy_btn.disabled = True
            self._apply_family("qwen")
            return
        deploy_btn.disabled = False
        source.update(Text.assemble(("Converted model: ", "bold"), str(self.onnx_dir)))
        name = self.query_one("#name", Input)
        rec = state.get(self.STEP_ID)
        if not name.value and rec is not None and rec.options.get("name"):
            name.value = str(rec.options["name"])  # resumed: the name and version used
            self.query_one("#version", Input).value = str(rec.options.get("version") or "1")
        if not name.value:
            name.value = deploy_step.suggest_name(self.onnx_dir, state.model_dir, state.is_demo)
        cache = self.query_one("#cache-dir", Input)
        chosen = foundry_cache_choice(self.app.settings, state) or (
            rec.options.get("cache_dir") if rec else None)
        if chosen:  # the folder chosen before (this run's record, or the last deployment's)
            cache.value = str(chosen)
            self._show_end(cache)
        in_place = resume_step.deployment_in_place(state)
        if state.deployed_name and state.deployed_version and chosen and in_place:
            self.deployed = (state.deployed_name, state.deployed_version, Path(chosen))
            self.query_one("#remove", Button).disabled = False
            self.query_one("#continue", Button).disabled = False
            self.query_one("#deploy-outcome", Static).update(status_text(
                Status.OK, f"{state.deployed_id} is still deployed in {state.foundry_cache} "
                           "(from last time): Continue, or deploy again."))
        elif in_place is False:  # removed outside the wizard since
            self.query_one("#deploy-outcome", Static).update(status_text(
                Status.WARN, f"{state.deployed_id} is no longer in {state.foundry_cache} "
                             "(removed since last time): deploy it again."))
        self.template_check = None
        self._request_plan(first=True)

    # ------------------------------------------------------------------------- the plan

    def _show_end(self, field: Input) -> None:
        """A path longer than its field shows its end (the folder's own name), once laid out."""
        def end() -> None:
            field.cursor_position = len(field.value)
            field.scroll_to(x=field.max_scroll_x, animate=False, force=True, immediate=True)

        self.call_after_refresh(end)

    def _plan_options(self, template: dict[str, str] | None) -> deploy_step.Options:
        """The fields as they are, as the step's options (a number being typed counts as not
        given: the field shows its own problem)."""
        assert self.onnx_dir is not None

        def number(key: str, cast):
            try:
                return cast(self.query_one(f"#cfg-{key}", Input).value.strip())
            except ValueError:
                return None

        cache = self.query_one("#cache-dir", Input).value.strip()
        given = {k: number(k, float) for k in ("temperature", "top_p", "repetition_penalty")}
        return deploy_step.Options(
            self.onnx_dir, self.query_one("#name", Input).value,
            self.query_one("#version", Input).value.strip(),
            cache_dir=Path(cache).expanduser() if cache else None,
            family=None if template is None else self.family_id, template=template,
            description=self.query_one("#description", Input).value,
            max_length=None if template is None else number("max_length", int),
            search_defaults=self.query_one("#search-defaults", Checkbox).value,
            **{k: v for k, v in given.items() if v is not None})

    def _request_plan(self, first: bool = False) -> None:
        """Have the step plan the fields as they are, in a worker (the plan reads the model's
        tokenizer and may ask the foundry CLI for the cache). `first`: the plan that picks the
        template the fields start from."""
        if self.onnx_dir is None:
            return
        template = None if first else self.current_template()
        key = None if first else (tuple(template.items()), self.family_id)
        if not first and key == self._planned:
            return
        self._planned = key
        tok_box = self.query_one("#preview-tokenizer", Static)
        if not tok_box.content:
            tok_box.update(Text("Model's chat template\nrendering…", style="dim"))
        done = self._first_plan_done if first else self._plan_done

        def planned(outcome: Outcome) -> None:
            done(outcome)
            if self._queued is not None and not self.step_running("plan"):
                replace, allow = self._queued  # Deploy was pressed during the check
                self._queued = None
                self.start_deploy(replace, allow)

        self.run_step(deploy_step.plan, self._plan_options(template), group="plan",
                      done=planned)

    def _first_plan_done(self, outcome: Outcome) -> None:
        """The fields start from the template the step picked: the one derived from the
        model's own chat template (the detected family's preset when there is none)."""
        plan = outcome.result
        if not outcome.ok or plan is None or plan.template is None:
            self._plan_done(outcome)
            return
        t = plan.template
        self.ctx_len = plan.context_length
        if self.ctx_len and self.onnx_dir is not None:
            self.query_one("#deploy-source", Static).update(Text.assemble(
                ("Converted model: ", "bold"), str(self.onnx_dir),
                f", context length {self.ctx_len}"))
        self.detected = (t.detected, t.confidence, t.reasons)
        self.derived = t.template if t.source == template_step.DERIVED else None
        self.query_one("#detect-note", Static).update(Text(self._detected_text() + "."))
        self.query_one("#cfg-max_length", Input).value = str(plan.options.max_length)
        cache = self.query_one("#cache-dir", Input)
        if not cache.value and plan.options.cache_dir is not None:
            cache.value = str(plan.options.cache_dir)
            self._show_end(cache)
        if t.source != template_step.DERIVED:
            self._apply_family(t.family)
        else:
            self._apply_derived()
        if self.current_template() == t.template:  # the plan checked what the fields show
            self._planned = (tuple(self.current_template().items()), self.family_id)
            self._plan_done(outcome)
        else:
            self._request_plan()

    def _detected_text(self) -> str:
        if self.detected is None:
            return ""
        fam, conf, reasons = self.detected
        return (f"Detected {template_step.FAMILIES[fam].title} with "
                f"{template_step.confidence_label(conf)} confidence: " + "; ".join(reasons))

    def _plan_done(self, outcome: Outcome) -> None:
        """Render the plan's template check (the one `template` and `deploy` make)."""
        mismatch = self.query_one("#mismatch", Static)
        plan = outcome.result
        if not outcome.ok or plan is None:
            self.query_one("#preview-tokenizer", Static).update(Text(
                f"Model's chat template: could not render "
                f"({outcome.error or outcome.refused})", style="red"))
            mismatch.update("")
            return
        self.plan = plan
        if plan.template is None:  # the fields do not make a PromptTemplate
            self.query_one("#preview-template", Static).update(
                Text(f"PromptTemplate\n{plan.template_problem}", style="red"))
            mismatch.update("")
            return
        check = plan.template.check
        if check is None:  # cancelled before the check
            return
        self.template_check = check
        self.query_one("#preview-template", Static).update(
            Text.assemble(("PromptTemplate\n", "bold"), check.prompt_template_text))
        if check.tokenizer_text is not None:
            self.query_one("#preview-tokenizer", Static).update(Text.assemble(
                (f"Model's chat template ({check.engine})\n", "bold"), check.tokenizer_text))
        mismatch.update(self.verdict_text(plan.template))

    @staticmethod
    def verdict_text(t: template_step.Result) -> Text:
        """The two verdicts: the runtime's (the headline: what Foundry Local sends), then the
        PromptTemplate's, labelled as applying to older Foundry Local services."""
        r, check = t.runtime, t.check
        if r is not None:
            good = r.ok and not r.refused and not r.warnings
            out = status_text(Status.OK if good else Status.FAIL if r.verdict == "mismatch"
                              else Status.WARN,
                              f"What Foundry Local sends: {r.verdict} · {r.summary}.\n")
            if not good:
                out.stylize("bold")
            for line in [f"Repaired: {x}" for x in r.repairs] + r.warnings[:4]:
                out.append(line[:600] + "\n", style="yellow")
        else:
            out = Text()
        if check is not None:
            pt, target = t.prompt_template_verdict, template_step.PROMPT_TEMPLATE_TARGET
            out.append_text(status_text(
                Status.OK if pt in ("match", "limited") else Status.FAIL if check.mismatch
                else Status.WARN, f"PromptTemplate (read only by {target}): the "
                f"PromptTemplate {check.summary}.\n"))
            for w in check.warnings[:6]:
                out.append(w[:600] + "\n", style="yellow" if check.mismatch else "dim")
        return out

    # ------------------------------------------------------------------------- template

    def _mark(self, applied: str) -> None:
        """Highlight and mark the applied entry of the choice list (● applied)."""
        families = self.query_one("#families", OptionList)
        for i, (key, title) in enumerate(self._choices()):
            detected = self.detected is not None and key == self.detected[0]
            families.replace_option_prompt_at_index(
                i, ("● " if key == applied else "  ") + title
                + (" ← detected" if detected else ""))
        families.highlighted = [k for k, _ in self._choices()].index(applied)

    def _apply_derived(self) -> None:
        assert self.derived is not None
        self.family_id = None
        for key, value in self.derived.items():
            self.query_one(f"#tmpl-{key}", Input).value = escape(value)
        self._mark(self.DERIVED)
        self.query_one("#detect-note", Static).update(Text(
            self._detected_text() + ".\nPromptTemplate derived from the model's own chat "
            "template (a family preset replaces it when chosen)."))

    def _apply_family(self, family_id: str) -> None:
        self.family_id = family_id
        if family_id != "custom":
            for key, value in template_step.template_for(family_id).items():
                self.query_one(f"#tmpl-{key}", Input).value = escape(value)
        self._mark(family_id)
        note = template_step.FAMILIES[family_id].note
        if note and self.detected:
            self.query_one("#detect-note", Static).update(Text(
                self._detected_text() + f".\n{template_step.FAMILIES[family_id].title}: {note}"))

    def _choice_template(self, key: str) -> dict[str, str] | None:
        if key == self.DERIVED:
            return self.derived
        return self.current_template() if key == "custom" else template_step.template_for(key)

    @on(OptionList.OptionSelected, "#families")
    def family_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on an entry never switches silently: what it changes and its verdict are
        shown first (planned in a worker), and applied only when the user confirms."""
        key = event.option.id
        applied = self.DERIVED if self.family_id is None else self.family_id
        template = self._choice_template(key) if key else None
        if not key or self.onnx_dir is None:
            return
        if template is None:
            self.notify("The model has no chat template to derive one from.")
            return
        if key == applied and template == self.current_template():
            self.notify(f"{dict(self._choices())[key]} is already applied.")
            return
        self.run_step(deploy_step.plan, self._plan_options(template),
                      group="preview", done=lambda o: self._preview_done(key, template, o))

    def _preview_done(self, key: str, template: dict[str, str], outcome: Outcome) -> None:
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        plan = outcome.result
        if outcome.cancelled:  # another choice replaced this preview
            return
        if not outcome.ok or plan is None or plan.template is None:
            why = outcome.error or outcome.refused or (plan.template_problem if plan else "")
            self.notify(f"That choice could not be checked: {why or 'no template'}",
                        severity="error")
            return
        now = self.current_template()
        changes = [f"{k}: {escape(now[k])!r} → {escape(template[k])!r}"
                   for k in template_step.KEYS if now.get(k) != template[k]]
        title = dict(self._choices())[key]
        detail = Text("\n".join(changes) or "The fields stay as they are.")
        detail.append("\n\n")
        detail.append_text(self.verdict_text(plan.template))

        def answered(yes: bool | None) -> None:
            if not yes:
                self._mark(self.DERIVED if self.family_id is None else self.family_id)
                return
            if key == self.DERIVED:
                self._apply_derived()
            else:
                self._apply_family(key)
            self._request_plan()

        self.app.push_screen(ConfirmScreen(
            f"Use {title}?", Text(f"It changes {len(changes)} PromptTemplate field(s); the new "
                                  "verdict is below."), yes="Apply", detail=detail), answered)

    def current_template(self) -> dict[str, str]:
        return {k: unescape(self.query_one(f"#tmpl-{k}", Input).value)
                for k in template_step.KEYS}

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("tmpl-"):
            self._request_plan()

    # ------------------------------------------------------------------------- deploy

    def _collect(self, replace: bool) -> deploy_step.Options | None:
        """Validate every field; show the problems and return None if any. Else the step's
        options, with the template as the fields hold it (the runner names it)."""
        errors: list[str] = []
        for inp in self.query(Input):
            if inp.validators:
                res = inp.validate(inp.value)
                if res is not None and not res.is_valid:
                    errors.extend(f"{inp.id}: {d}" for d in res.failure_descriptions)
        cache = self.query_one("#cache-dir", Input).value.strip()
        if not cache:
            errors.append("cache-dir: choose the Foundry Local cache folder")
        box = self.query_one("#field-errors", Static)
        if errors or self.onnx_dir is None:
            box.update(Text("\n".join(errors)))
            return None
        box.update("")
        opts = self._plan_options(self.current_template())
        return with_changes(opts, max_length=int(self.query_one("#cfg-max_length", Input).value),
                            replace=replace)

    @on(Button.Pressed, "#deploy")
    def deploy_pressed(self) -> None:
        self.start_deploy(replace=False)

    def _confirm_mismatch(self, res: deploy_step.Result) -> None:
        """The template check found a mismatch: deploy only when the user confirms (recorded)."""
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        check = res.template.check if res.template else None
        detail = "\n".join(check.warnings[:8]) if check else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_deploy(replace=res.options.replace, allow_mismatch=True)
            else:
                self.query_one("#deploy-outcome", Static).update(Text(
                    "Not deployed: the PromptTemplate does not match the model's chat template.",
                    style="yellow"))

        self.app.push_screen(ConfirmScreen(
            "Deploy a mismatching PromptTemplate?",
            Text("The PromptTemplate renders differently from the model's own chat template: a "
                 "mismatched template silently ruins output. Deploy it anyway?"),
            yes="Deploy anyway", detail=Text(detail)), answered)

    def start_deploy(self, replace: bool, allow_mismatch: bool = False) -> None:
        """The deploy step's runner, as `slm-wizard deploy` runs it."""
        if self.step_running() or self.onnx_dir is None:
            return
        if self.step_running("plan"):  # the fields are still being checked: deploy after
            self._queued = (replace, allow_mismatch)
            self.query_one("#deploy-outcome", Static).update(
                Text("Deploying once the template check is done…", style="dim"))
            return
        opts = self._collect(replace)
        if opts is None:
            return
        self.query_one("#deploy", Button).disabled = True
        self.query_one("#stages", DataTable).clear()
        self.query_one("#deploy-outcome", Static).update("")
        if allow_mismatch:
            opts = with_changes(opts, allow_template_mismatch=True)
        self.run_step(deploy_step.run, opts, done=self._deploy_done, pane=self._pane(),
                      progress=self._stage, start_text="Planning the deployment…")

    def _pane(self) -> RunPane:
        return self.query_one("#deploy-run", RunPane)

    def _stage(self, p: Progress) -> None:
        """A stage of the run: its row in the table (and the run pane's stage line)."""
        if p.phase in (deploy_step.INFO, deploy_step.PLAN) or p.status is None:
            return
        self._pane().set_stage(f"{p.phase}: {p.text or 'running…'}")
        table = self.query_one("#stages", DataTable)
        row = Text(p.text or ("running…" if p.status == Status.RUNNING else ""))
        icon = status_text(p.status)
        if p.phase in table.rows:
            table.update_cell(p.phase, "icon", icon)
            # The column widens to the result (it was sized for "running…" and cut the path).
            table.update_cell(p.phase, "result", row, update_width=True)
        else:
            table.add_row(icon, p.phase, row, key=p.phase)

    def _deploy_done(self, outcome: Outcome) -> None:
        self.query_one("#deploy", Button).disabled = self.onnx_dir is None
        out = self.query_one("#deploy-outcome", Static)
        res: deploy_step.Result | None = outcome.result
        if outcome.error:  # a bug: its message names the log file holding the traceback
            self._pane().finish("Not deployed")
            out.update(Text(f"Deployment failed unexpectedly: {outcome.error}. Check the fields "
                            "and try again.", style="bold red"))
            return
        if outcome.refused or res is None:
            self._pane().finish("Not deployed")
            out.update(Text(outcome.refused or "Not deployed.", style="bold red"))
            return
        if res.exists is not None:
            self._pane().finish("Waiting: the model is already installed")
            self._confirm_replace(res.exists)
            return
        if res.template_refused:
            self._pane().finish("Waiting: the PromptTemplate does not match")
            self._confirm_mismatch(res)
            return
        if res.deploy is None:
            self._pane().finish("Not deployed")
            out.update(Text(res.error, style="bold red"))
            return
        r = res.deploy
        state = self.app.state
        self._pane().finish(f"{r.model_id}: exported" if r.exported else
                            f"{r.model_id}: deployed" if r.ok else "Not deployed", ok=res.ok)
        if r.exported:
            out.update(Text(r.instructions, style="yellow"))
        elif r.ok:
            lines = [f"{ICON[Status.OK]} {r.model_id} is installed in Foundry Local and answered:",
                     f"  {(r.answer or '').strip()}",
                     f"Run it from a terminal: {r.run_command}" if r.cli_listing is not None
                     else f"Where the foundry CLI is installed, run: {r.run_command}"]
            if r.cli_listing is not None:
                lines.append(f"foundry cache listing: {', '.join(r.cli_listing)}")
            warned = [f"{ICON[Status.WARN]} {st.id}: {st.found}" for st in r.stages
                      if st.status == Status.WARN]
            if warned:  # e.g. an empty answer: shown raw with its likely causes
                lines[:2] = [f"{ICON[Status.OK]} {r.model_id} is installed in Foundry Local, "
                             "with a warning:",
                             *warned]
            out.update(Text("\n".join(lines), style="yellow" if warned else "green"))
        else:
            out.update(Text.assemble(
                status_text(Status.FAIL, f"{res.error}\n"),
                f"Next: fix the stage marked {ICON[Status.FAIL]} in the table above and press "
                "Deploy again, or go on with ctrl+n (Chat and Validate run the ONNX folder "
                "with onnxruntime-genai)."))
        self.app.record_step(deploy_step.to_record(res.options, res))
        done = state.is_done(self.STEP_ID)
        self.query_one("#continue", Button).disabled = not done
        self.query_one("#continue" if done else "#deploy", Button).focus(scroll_visible=False)
        # Once the outcome's lines are laid out in the docked bar: the table above them.
        self.call_after_refresh(self.query_one("#stages", DataTable).scroll_visible,
                                animate=False)
        self.query_one("#remove", Button).disabled = not r.ok or r.exported
        self.deployed = (r.name, r.version, r.cache_dir) if r.ok and not r.exported else None

    # ------------------------------------------------------------------------- remove

    @on(Button.Pressed, "#remove")
    def remove_pressed(self) -> None:
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        if self.deployed is None or self.onnx_dir is None or self.step_running():
            return
        name, version, cache = self.deployed
        opts = deploy_step.Options(self.onnx_dir, name, version, cache_dir=cache, remove=True)

        def answered(yes: bool | None) -> None:
            if yes and not self.step_running():
                self.query_one("#remove", Button).disabled = True
                self.run_step(deploy_step.run, opts, done=self._remove_done, pane=self._pane(),
                              start_text=f"Removing {name}:{version}…")

        self.app.push_screen(ConfirmScreen(
            "Remove the model from Foundry Local?",
            Text(f"{name}:{version} will be unloaded and unregistered, and "
                 f"{cache / 'custom' / name} deleted. The converted folder is kept."),
            yes="Remove"), answered)

    def _remove_done(self, outcome: Outcome) -> None:
        out = self.query_one("#deploy-outcome", Static)
        res: deploy_step.Result | None = outcome.result
        error = (f"Removal failed unexpectedly: {outcome.error}. Check the fields and try again."
                 if outcome.error else outcome.refused or (res.error if res else ""))
        if error or res is None or not res.ok:
            self._pane().finish("Not removed")
            out.update(Text(error or "Not removed.", style="bold red"))
            self.query_one("#remove", Button).disabled = False
            return
        self._pane().finish("Removed", ok=True)
        self.deployed = None
        self.app.record_step(deploy_step.to_record(res.options, res))
        self.query_one("#continue", Button).disabled = True
        out.update(Text("Removed: " + "; ".join(res.removed) + ".", style="yellow"))

    def _confirm_replace(self, exists) -> None:
        from slm_wizard.tui.screens.confirm import ConfirmScreen

        detail = "\n".join(exists.diff[:30]) if exists.diff else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_deploy(replace=True)
            else:
                self.query_one("#deploy-outcome", Static).update(
                    Text("Not deployed: the existing model was kept.", style="yellow"))

        # Text, not str: a template's "[INST]" must not be read as markup.
        self.app.push_screen(ConfirmScreen("Replace the existing model?", Text(str(exists)),
                                           yes="Replace", detail=Text(detail)), answered)

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        self.app.action_next_step()

