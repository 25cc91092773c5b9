"""The prompt Foundry Local really sends, proven: the model's chat template rendered by the
runtime's own engine, compared token for token with transformers' rendering of the same
template (the reference the model was trained with), and repaired where the engines differ.

Foundry Local's runtime ignores PromptTemplate: it renders the model folder's chat template with
onnxruntime-genai's engine (core/deploy/runtime_engine.py asks it) and encodes the result. That
engine is not jinja2: it applies no `trim_blocks`/`lstrip_blocks`, keeps a trailing newline,
keeps a backslash-newline inside a string literal, and defines no `tools`/`documents`. A
deployment writes one template into both places of the deployed copy (the one transformers
uses, `TemplateSources.reference`), so the runtime renders the template checked here.

Verdicts: MATCH (every probe the same token ids, a refused probe refused by both), REPAIRED (an
equivalent template written for the runtime renders every probe like the original in
transformers), MISMATCH (the first differing tokens are shown), UNCHECKED (no template, or the
runtime's engine is not installed here). `refused` lists the probes the template itself refuses
in both (a model without a system role).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from slm_wizard.core.deploy.chat_template import (
    TemplateRefused,
    reference_render,
    special_tokens,
)
from slm_wizard.core.deploy.runtime_engine import EngineUnavailable, render_in_runtime
from slm_wizard.core.deploy.templates import TemplateError, TemplateSources, template_sources

MATCH, REPAIRED, MISMATCH, UNCHECKED = "match", "repaired", "mismatch", "unchecked"
# Which of a folder's two templates is the model's (and goes into both places of a deployed
# copy): transformers' choice by default, or the one the runtime reads as the folder stands.
JINJA, CONFIG = "chat_template.jinja", "tokenizer_config.json"
ORIGINAL_FILE = "chat_template.original.jinja"  # beside a repaired template in the deployed copy

_SYS = {"role": "system", "content": "You are a helpful assistant."}
_U1 = {"role": "user", "content": "What does the lock do?"}
_A1 = {"role": "assistant", "content": "It locks the bike."}
_U2 = {"role": "user", "content": "How long does the battery last?"}
PROBES: dict[str, tuple[dict[str, str], ...]] = {
    "user only": (_U1,),
    "system + user": (_SYS, _U1),
    "user, assistant, user": (_U1, _A1, _U2),
    "system, user, assistant, user": (_SYS, _U1, _A1, _U2),
}
COUNT_PROBE = "user only"  # the probe whose prompt token count deploy confirms in Foundry Local


@dataclass
class Probe:
    name: str
    messages: list[dict[str, str]]
    reference: str | None = None  # transformers' rendering (None: refused or failed)
    runtime: str | None = None  # the runtime's rendering (None: refused or failed)
    reference_ids: list[int] = field(default_factory=list)
    runtime_ids: list[int] = field(default_factory=list)
    reference_error: str = ""
    runtime_error: str = ""

    @property
    def refused(self) -> bool:
        """Both engines refuse this conversation (the template's own exception)."""
        return self.reference is None and self.runtime is None

    @property
    def equal(self) -> bool:
        if self.reference is None or self.runtime is None:
            return self.refused
        return self.reference_ids == self.runtime_ids

    def difference(self) -> str:
        """Where the two renderings part: the first differing tokens, with the text around."""
        if self.equal:
            return ""
        if self.reference is None or self.runtime is None:
            who = "transformers" if self.reference is None else "the runtime"
            why = self.reference_error if self.reference is None else self.runtime_error
            return f"{self.name}: only {who} refuses it ({why})"
        a, b = self.reference_ids, self.runtime_ids
        i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                 min(len(a), len(b)))
        j = next((k for k, (x, y) in enumerate(zip(self.reference, self.runtime, strict=False))
                  if x != y), min(len(self.reference), len(self.runtime)))
        return (f"{self.name}: token ids differ from position {i} (reference {a[i:i + 4]}…, "
                f"runtime {b[i:i + 4]}…; {len(a)} vs {len(b)} tokens); text from character {j}: "
                f"reference {self.reference[j:j + 40]!r}, runtime {self.runtime[j:j + 40]!r}")


@dataclass
class RuntimeCheck:
    """What Foundry Local's runtime sends for this model, against the reference."""

    verdict: str
    engine: str = ""
    probes: list[Probe] = field(default_factory=list)
    template: str = ""  # the template a deployment writes (the repaired one when REPAIRED)
    original: str = ""  # the model's template (transformers' choice)
    repairs: list[str] = field(default_factory=list)  # what was repaired
    warnings: list[str] = field(default_factory=list)
    sources_differ: list[str] = field(default_factory=list)  # diff of the two places (if any)
    snippet: str = ""  # the first difference (MISMATCH)

    @property
    def refused(self) -> list[Probe]:
        return [p for p in self.probes if p.refused]

    @property
    def ok(self) -> bool:
        return self.verdict in (MATCH, REPAIRED)

    def count_probe(self) -> Probe | None:
        """The probe whose prompt token count a deployment confirms in Foundry Local."""
        return next((p for p in self.probes if p.name == COUNT_PROBE and not p.refused), None)

    @property
    def summary(self) -> str:
        refused = self.refused
        tail = (f"; the template refuses {', '.join(p.name for p in refused)} in both "
                f"({refused[0].reference_error})" if refused else "")
        return {
            MATCH: "Foundry Local's runtime renders the model's chat template exactly like "
                   "transformers (same token ids on every probe conversation)" + tail,
            REPAIRED: "Foundry Local's runtime renders the model's chat template differently; "
                      "the repaired template it gets renders exactly like transformers on every "
                      "probe conversation" + tail,
            MISMATCH: "Foundry Local's runtime renders the model's chat template differently "
                      "from transformers, and it could not be repaired: "
                      + (self.snippet or "see the warnings"),
            UNCHECKED: "the prompt Foundry Local's runtime sends could not be checked",
        }[self.verdict]

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "engine": self.engine, "summary": self.summary,
                "repairs": self.repairs, "warnings": self.warnings, "snippet": self.snippet,
                "sources_differ": self.sources_differ,
                "refused": [{"probe": p.name, "message": p.reference_error}
                            for p in self.refused],
                "probes": [{"name": p.name, "equal": p.equal, "refused": p.refused,
                            "reference_ids": p.reference_ids, "runtime_ids": p.runtime_ids}
                           for p in self.probes]}


def sources_diff(sources: TemplateSources) -> list[str]:
    """The difference of the two template places (empty when they agree)."""
    if not sources.differ:
        return []
    return list(difflib.unified_diff(
        (sources.jinja or "").splitlines(), (sources.config or "").splitlines(),
        "chat_template.jinja (transformers uses it)",
        "tokenizer_config.json chat_template (Foundry Local's runtime uses it)", lineterm="", n=1))


def check_runtime(folder: Path, source: str = JINJA) -> RuntimeCheck:
    """Render the probe conversations with the runtime's engine and with transformers, compare
    their token ids (the runtime's tokenizer), and repair the template when they differ.
    `source`: which template is the model's when the two places differ (JINJA, transformers'
    choice, or CONFIG, tokenizer_config.json's)."""
    folder = Path(folder)
    sources = template_sources(folder)
    warnings: list[str] = []
    if sources.config_problem:
        warnings.append(sources.config_problem + (
            "; deploy writes the template as a plain string into the deployed copy."
            if sources.reference else "."))
    from slm_wizard.core.base.fileio import json_object_or_empty

    cfg = json_object_or_empty(folder / "tokenizer_config.json")
    if cfg and "tokenizer_class" not in cfg:
        warnings.append("tokenizer_config.json has no 'tokenizer_class': Foundry Local's runtime "
                        "then reads no chat template at all ('Empty chat template.').")
    diff = sources_diff(sources)
    if diff:
        warnings.append("The model folder holds two different chat templates: Foundry Local's "
                        "runtime renders tokenizer_config.json's, transformers renders "
                        f"chat_template.jinja. Deploy writes {source}'s into both places of the "
                        "deployed copy (the source folder is left as it is; --chat-template "
                        "chooses).")
    original = sources.config if source == CONFIG and sources.config is not None \
        and not sources.config_problem else sources.reference
    if not original:
        warnings.append(f"{folder} has no chat template (chat_template.jinja or "
                        "tokenizer_config.json 'chat_template'): Foundry Local's runtime answers "
                        "'Empty chat template.'")
        return RuntimeCheck(UNCHECKED, warnings=warnings, sources_differ=diff)
    specials = special_tokens(folder)
    probes = [Probe(name, [dict(m) for m in msgs]) for name, msgs in PROBES.items()]
    for p in probes:
        try:
            p.reference = reference_render(original, specials, p.messages)
        except TemplateRefused as e:
            p.reference_error = str(e)
        except TemplateError as e:
            p.reference_error = str(e)
    try:
        engine = _runtime(folder, original, probes)
    except EngineUnavailable as e:
        warnings.append(str(e))
        return RuntimeCheck(UNCHECKED, probes=probes, original=original, warnings=warnings,
                            sources_differ=diff)
    if all(p.equal for p in probes):
        return RuntimeCheck(MATCH, engine, probes, original, original, warnings=warnings,
                            sources_differ=diff)
    snippet = next(p.difference() for p in probes if not p.equal)
    repaired, repairs = repair_template(original)
    if repaired != original:
        fixed = [Probe(p.name, p.messages, p.reference, reference_ids=p.reference_ids,
                       reference_error=p.reference_error) for p in probes]
        try:
            _runtime(folder, repaired, fixed)
        except EngineUnavailable as e:
            warnings.append(str(e))
        else:
            if all(p.equal for p in fixed):
                return RuntimeCheck(REPAIRED, engine, fixed, repaired, original, repairs,
                                    warnings, diff, snippet)
    warnings.append(f"The runtime renders a different prompt than transformers: {snippet}")
    return RuntimeCheck(MISMATCH, engine, probes, original, original, [], warnings, diff,
                        snippet)


def _runtime(folder: Path, template: str, probes: list[Probe]) -> str:
    """Fill in the runtime's renderings and the token ids of both renderings; the engine. The
    runtime reads a scratch copy of the folder's tokenizer files holding `template` in both
    places, as the deployed copy will."""
    import shutil
    import tempfile

    refs = [p.reference for p in probes if p.reference is not None]
    with tempfile.TemporaryDirectory(prefix="slm-wizard-template-") as tmp:
        scratch = Path(tmp)
        for f in Path(folder).iterdir():
            if f.is_file() and f.suffix not in _WEIGHTS and f.stat().st_size < 64 << 20:
                shutil.copyfile(f, scratch / f.name)
        for name, text in _template_files(scratch, template, "").items():
            (scratch / name).write_text(text, encoding="utf-8")
        if not (scratch / "genai_config.json").is_file():  # a Hugging Face folder
            (scratch / "genai_config.json").write_text(_minimal_genai_config(folder))
        try:
            answer = render_in_runtime(scratch, [p.messages for p in probes], encode=refs)
        except EngineUnavailable as e:  # name the model's folder, not the scratch copy
            raise EngineUnavailable(str(e).replace(str(scratch), str(folder))) from None
    ids = iter(answer.ids)
    for p, r in zip(probes, answer.renders, strict=True):
        p.runtime, p.runtime_ids = r.text, r.ids
        p.runtime_error = r.error.split(" at row ")[0].strip() if r.error else ""
        if p.reference is not None:
            p.reference_ids = next(ids)
    return answer.engine


def _minimal_genai_config(folder: Path) -> str:
    """What the runtime's tokenizer needs of a genai_config.json, for a folder not converted
    yet (its config.json's model type and token ids)."""
    import json

    from slm_wizard.core.base.fileio import json_object_or_empty

    cfg = json_object_or_empty(folder / "config.json")

    def token_id(key: str) -> int:
        value = cfg.get(key)
        value = value[0] if isinstance(value, list) and value else value
        return value if isinstance(value, int) else 0

    return json.dumps({"model": {
        "type": str(cfg.get("model_type") or "llama"), "bos_token_id": token_id("bos_token_id"),
        "eos_token_id": token_id("eos_token_id"), "pad_token_id": token_id("eos_token_id"),
        "context_length": 2048, "vocab_size": int(cfg.get("vocab_size") or 32000)}})


# --- repair ---------------------------------------------------------------------------------------

# Variables transformers always defines (None) and onnxruntime-genai leaves undefined.
_ABSENT = ("tools", "documents")


def repair_template(source: str) -> tuple[str, list[str]]:
    """An equivalent template that onnxruntime-genai's engine renders like jinja2 with
    transformers' settings: whitespace control made explicit (trim_blocks, lstrip_blocks and
    the dropped trailing newline), string escapes resolved, and the variables transformers
    defines as None defined. Returns (template, what was changed); unchanged when jinja2 cannot
    read the template."""
    try:
        from jinja2 import Environment
        from jinja2.exceptions import TemplateSyntaxError
    except ImportError:  # pragma: no cover - depends on the install
        return source, []
    env = Environment(trim_blocks=True, lstrip_blocks=True)
    try:
        tokens = list(env.lexer.tokeniter(source, None))
    except TemplateSyntaxError:
        return source, []
    out: list[str] = []
    trimmed = escaped = 0
    for _, kind, value in tokens:
        if kind in ("block_end", "comment_end") and not value.startswith("-") \
                and value.endswith("\n"):
            value, trimmed = value[:-1], trimmed + 1  # trim_blocks ate this newline
        elif kind == "string" and "\\" in value:
            value, escaped = _plain_string(value), escaped + 1
        out.append(value)
    text = "".join(out)
    lstripped = sum(len(v) for _, _, v in tokens) < len(source)
    if tokens and tokens[-1][1] == "data" and text.endswith("\n"):
        text = text[:-1]  # jinja2 drops one trailing newline (keep_trailing_newline=False)
        trimmed += 1
    repairs = []
    if trimmed or lstripped:
        repairs.append("whitespace control made explicit (jinja2's trim_blocks/lstrip_blocks, "
                       "which the runtime's engine does not apply)")
    if escaped:
        repairs.append(f"{escaped} string literal(s) with backslash escapes rewritten plainly")
    absent = [v for v in _ABSENT if v in text]
    if absent:
        text = "".join(f"{{% if {v} is not defined %}}{{% set {v} = none %}}{{% endif %}}"
                       for v in absent) + text
        repairs.append(f"{', '.join(absent)} defined as none, as transformers defines them")
    return text, repairs


def _plain_string(literal: str) -> str:
    """A jinja2 string literal re-written with only the escapes every engine reads alike."""
    value = literal[1:-1].replace("\r\n", "\n").encode("ascii", "backslashreplace").decode(
        "unicode-escape")
    return "'" + (value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
                  .replace("\t", "\\t").replace("\r", "\\r")) + "'"


# --- the deployed copy --------------------------------------------------------------------------

_WEIGHTS = {".onnx", ".data", ".bin", ".safetensors", ".pt", ".gguf"}


def deployed_template_files(folder: Path, check: RuntimeCheck) -> dict[str, str]:
    """The files a deployment writes into its copy of `folder` so that the runtime renders the
    checked template: chat_template.jinja and tokenizer_config.json's `chat_template` both hold
    it (and the model's own template is kept beside a repaired one). Empty when nothing needs
    writing."""
    if not check.template:
        return {}
    return _template_files(Path(folder), check.template,
                           check.original if check.verdict == REPAIRED else "")


def _template_files(folder: Path, template: str, original: str) -> dict[str, str]:
    import json

    from slm_wizard.core.base.fileio import read_json_object

    files: dict[str, str] = {}
    jinja = folder / "chat_template.jinja"
    if not jinja.is_file() or jinja.read_text(encoding="utf-8", errors="replace") != template:
        files["chat_template.jinja"] = template
    cfg_path = folder / "tokenizer_config.json"
    try:  # an unreadable tokenizer_config.json is left as it is, never replaced by a stub
        cfg = read_json_object(cfg_path) if cfg_path.is_file() else None
    except ValueError:
        cfg = None
    if cfg is not None and cfg.get("chat_template") != template:
        cfg["chat_template"] = template
        files["tokenizer_config.json"] = json.dumps(cfg, indent=2, ensure_ascii=False) + "\n"
    if original:
        files[ORIGINAL_FILE] = original
    return files


def chosen_template_view(folder: Path, source: str):
    """When `source` is CONFIG and the folder's two templates differ: a scratch copy of its small
    files (configs, tokenizer, no weights) holding tokenizer_config.json's template in both
    places, as the deployed copy will, so the PromptTemplate is derived from and checked against
    the chosen template (a tempfile.TemporaryDirectory: call its cleanup()). None otherwise."""
    import shutil
    import tempfile

    sources = template_sources(Path(folder))
    if source != CONFIG or not sources.differ or sources.config is None:
        return None
    tmp = tempfile.TemporaryDirectory(prefix="slm-wizard-chosen-template-")
    scratch = Path(tmp.name)
    for f in Path(folder).iterdir():
        if f.is_file() and f.suffix not in _WEIGHTS and f.stat().st_size < 64 << 20:
            shutil.copyfile(f, scratch / f.name)
    for name, text in _template_files(scratch, sources.config, "").items():
        (scratch / name).write_text(text, encoding="utf-8")
    return tmp
