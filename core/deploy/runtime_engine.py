"""Foundry Local's own chat-template engine, asked in a child process.

Foundry Local's runtime hands a chat request to onnxruntime-genai's `ApplyChatTemplate` with no
template string: the model folder's chat template is rendered by onnxruntime-genai's engine (not
jinja2) and encoded by its tokenizer. foundry-local-sdk carries that library as the
`onnxruntime-genai-core` package (no Python binding); this module loads it with ctypes, creates
the tokenizer from the folder alone (no model weights are loaded) and renders and encodes what it
is asked. It runs as `python -m slm_wizard.core.deploy.runtime_engine REQUEST.json` so that a
native abort can never take the wizard down; `render_in_runtime` is the parent's side.

Request: {"folder", "template" (None: the folder's own), "conversations": [[message, ...], ...],
"add_generation_prompt", "encode": [text, ...]}. Answer (stdout, JSON): {"engine", "error" (the
folder's tokenizer could not be created), "renders": [{"text", "ids"} or {"error"}], "ids":
[[id, ...] per text of "encode"]}.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENGINE_PACKAGE = "onnxruntime-genai-core"


class EngineUnavailable(Exception):
    """The runtime's template engine cannot be asked here (message written for the user)."""


@dataclass
class EngineRender:
    text: str | None  # None: the template refused or failed (error says why)
    ids: list[int] = field(default_factory=list)
    error: str = ""


@dataclass
class EngineAnswer:
    engine: str
    renders: list[EngineRender]
    ids: list[list[int]]


def render_in_runtime(folder: Path, conversations: list[list[dict[str, str]]], *,
                      template: str | None = None, encode: list[str] | tuple[str, ...] = (),
                      add_generation_prompt: bool = True, timeout: float = 60.0) -> EngineAnswer:
    """Render `conversations` as Foundry Local's runtime renders them for `folder` (its own chat
    template, or `template` instead) and encode them and the texts of `encode` with the runtime's
    tokenizer. Raises EngineUnavailable when the engine is not installed or the folder's
    tokenizer cannot be created (a malformed tokenizer_config.json)."""
    import tempfile

    from slm_wizard.core.base.proc import run_command

    request = {"folder": str(folder), "template": template, "conversations": conversations,
               "add_generation_prompt": add_generation_prompt, "encode": list(encode)}
    with tempfile.TemporaryDirectory(prefix="slm-wizard-engine-") as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
        res = run_command([sys.executable, "-m", "slm_wizard.core.deploy.runtime_engine",
                           str(path)], timeout=timeout)
    try:
        data = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else None
    except (ValueError, IndexError):
        data = None
    if not isinstance(data, dict):
        why = res.error or (res.stderr.strip().splitlines() or ["no answer"])[-1]
        raise EngineUnavailable(f"Foundry Local's template engine did not answer: {why}")
    if data.get("error"):
        raise EngineUnavailable(str(data["error"]))
    renders = [EngineRender(r.get("text"), list(r.get("ids") or []), str(r.get("error") or ""))
               for r in data.get("renders", [])]
    return EngineAnswer(str(data.get("engine", ENGINE_PACKAGE)), renders,
                        [list(x) for x in data.get("ids", [])])


# --- the child process --------------------------------------------------------------------------

def _load() -> tuple[Any, str]:
    """The runtime's onnxruntime-genai library (onnxruntime loaded first, as the SDK does)."""
    import ctypes
    import importlib.metadata
    import importlib.util

    def find(package: str, prefix: str) -> Path | None:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.origin:
            return None
        return next(iter(sorted(Path(spec.origin).parent.rglob(prefix + "*"))), None)

    ort = find("onnxruntime", "libonnxruntime.so") or find("onnxruntime", "onnxruntime.dll") \
        or find("onnxruntime", "libonnxruntime.") or None
    genai = find("onnxruntime_genai_core", "libonnxruntime-genai.") \
        or find("onnxruntime_genai_core", "onnxruntime-genai.dll")
    if genai is None or ort is None:
        raise EngineUnavailable(
            f"Foundry Local's runtime library ({ENGINE_PACKAGE}, installed with "
            "foundry-local-sdk) is not installed here: pip install 'slm-wizard[foundry]'.")
    ctypes.CDLL(str(ort), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
    lib = ctypes.CDLL(str(genai))
    p, vp = ctypes.c_char_p, ctypes.c_void_p
    lib.OgaResultGetError.restype, lib.OgaResultGetError.argtypes = p, [vp]
    lib.OgaDestroyResult.argtypes = [vp]
    lib.OgaCreateTokenizerFromPath.restype = vp
    lib.OgaCreateTokenizerFromPath.argtypes = [p, ctypes.POINTER(vp)]
    lib.OgaDestroyTokenizer.argtypes = [vp]
    lib.OgaTokenizerApplyChatTemplate.restype = vp
    lib.OgaTokenizerApplyChatTemplate.argtypes = [vp, p, p, p, ctypes.c_bool, ctypes.POINTER(vp)]
    lib.OgaDestroyString.argtypes = [vp]
    lib.OgaCreateSequences.restype, lib.OgaCreateSequences.argtypes = vp, [ctypes.POINTER(vp)]
    lib.OgaDestroySequences.argtypes = [vp]
    lib.OgaTokenizerEncode.restype, lib.OgaTokenizerEncode.argtypes = vp, [vp, p, vp]
    lib.OgaSequencesGetSequenceCount.restype = ctypes.c_size_t
    lib.OgaSequencesGetSequenceCount.argtypes = [vp, ctypes.c_size_t]
    lib.OgaSequencesGetSequenceData.restype = ctypes.POINTER(ctypes.c_int32)
    lib.OgaSequencesGetSequenceData.argtypes = [vp, ctypes.c_size_t]
    try:
        version = importlib.metadata.version(ENGINE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return lib, f"onnxruntime-genai {version} (Foundry Local's runtime)"


def _call(lib: Any, result: Any) -> None:
    if result:
        message = lib.OgaResultGetError(result).decode("utf-8", "replace")
        lib.OgaDestroyResult(result)
        raise RuntimeError(message)


def _encode(lib: Any, tok: Any, text: str) -> list[int]:
    import ctypes

    seqs = ctypes.c_void_p()
    _call(lib, lib.OgaCreateSequences(ctypes.byref(seqs)))
    try:
        _call(lib, lib.OgaTokenizerEncode(tok, text.encode("utf-8"), seqs))
        n = lib.OgaSequencesGetSequenceCount(seqs, 0)
        data = lib.OgaSequencesGetSequenceData(seqs, 0)
        return [int(data[i]) for i in range(n)]
    finally:
        lib.OgaDestroySequences(seqs)


def _serve(request: dict[str, Any]) -> dict[str, Any]:
    import ctypes

    lib, engine = _load()
    tok = ctypes.c_void_p()
    try:
        _call(lib, lib.OgaCreateTokenizerFromPath(str(request["folder"]).encode("utf-8"),
                                                  ctypes.byref(tok)))
    except RuntimeError as e:
        return {"engine": engine, "error": f"Foundry Local's runtime cannot read the tokenizer "
                f"of {request['folder']}: {e}"}
    template = request.get("template")
    renders = []
    try:
        for messages in request.get("conversations", []):
            out = ctypes.c_void_p()
            try:
                _call(lib, lib.OgaTokenizerApplyChatTemplate(
                    tok, template.encode("utf-8") if template else None,
                    json.dumps(messages, ensure_ascii=False).encode("utf-8"), None,
                    bool(request.get("add_generation_prompt", True)), ctypes.byref(out)))
            except RuntimeError as e:
                renders.append({"text": None, "error": str(e)})
                continue
            text = ctypes.cast(out, ctypes.c_char_p).value.decode("utf-8")
            lib.OgaDestroyString(out)
            renders.append({"text": text, "ids": _encode(lib, tok, text)})
        ids = [_encode(lib, tok, t) for t in request.get("encode", [])]
    finally:
        lib.OgaDestroyTokenizer(tok)
    return {"engine": engine, "renders": renders, "ids": ids}


def main(argv: list[str]) -> int:
    try:
        request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        answer = _serve(request)
    except EngineUnavailable as e:
        answer = {"error": str(e)}
    except Exception as e:  # reported to the parent, which words it for the user
        answer = {"error": f"Foundry Local's template engine failed: {type(e).__name__}: {e}"}
    print(json.dumps(answer, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
