"""`slm-wizard chat`: chat with a converted model (onnxruntime-genai) or a deployed one (Foundry
Local). With --prompt: one reply streamed to stdout, then its figures. Without: a REPL on stdin.

Arguments become the Chat step's Options (core.steps.chat, where every default lives); the
one-shot form calls the step's `run`, the line-based chat keeps one backend open for its replies.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from slm_wizard.core.base.status import Progress
from slm_wizard.core.steps import chat as step
from slm_wizard.core.steps.chat import BACKENDS, ChatError

REPL_HELP = """commands: /reset (new chat), /system TEXT (set the system prompt; empty clears it),
          /stats (figures of the last reply), /help, /quit (or end of input)"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = step.Options
    p = subparsers.add_parser(
        "chat",
        help="chat with a converted or deployed model, with tokens/s, TTFT and memory",
        description="Chat with a converted ONNX folder (--backend ort, the default) or a model "
        "deployed in Foundry Local (--backend foundry, MODEL is then its id name:version). "
        "With --prompt, one reply is streamed to stdout followed by its figures (--json: one JSON "
        "object instead). Without --prompt, a line-based chat reads stdin (" + REPL_HELP + ").",
    )
    p.add_argument("model", metavar="MODEL_DIR",
                   help="converted ONNX folder (ort) or Foundry Local model id (foundry)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="runtime: onnxruntime-genai on the folder, or Foundry Local "
                   f"(default: {d.backend})")
    p.add_argument("--prompt", metavar="TEXT", help="send one message, print the reply, exit")
    p.add_argument("--system", metavar="TEXT", help="system prompt (default: the template's)")
    p.add_argument("--max-tokens", type=int, metavar="N",
                   help=f"most tokens per reply (default {d.max_tokens})")
    p.add_argument("--temperature", type=float, metavar="T",
                   help=f"sampling temperature, 0 = greedy (default {d.temperature:g})")
    p.add_argument("--top-p", type=float, metavar="P",
                   help=f"nucleus sampling: keep tokens up to this probability mass "
                   f"(default {d.top_p:g})")
    p.add_argument("--top-k", type=int, metavar="K",
                   help=f"sample among the K likeliest tokens (default {d.top_k})")
    p.add_argument("--repetition-penalty", type=float, metavar="R",
                   help=f"1 = none (default {d.repetition_penalty:g}; onnxruntime-genai only)")
    p.add_argument("--min-tokens", type=int, metavar="N",
                   help=f"no end of sequence before N tokens (default {d.min_tokens}; "
                   "onnxruntime-genai only)")
    p.add_argument("--adapter", metavar="NAME",
                   help="activate the LoRA adapter NAME (an NAME.onnx_adapter file of the model "
                   "folder, e.g. adapter_weights; ort backend only)")
    p.add_argument("--json", action="store_true", help="print the reply and figures as JSON")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="Foundry Local model cache (foundry backend; default: Foundry's)")
    p.add_argument("--in-process", action="store_true", default=None,
                   help="run the model in this process (default: in a child process, whose "
                   "memory --json reports as rss_bytes/peak_rss_bytes, the CLI's own as "
                   "wizard_rss_bytes)")
    return p


def options_from(args: argparse.Namespace) -> step.Options:
    """The step's Options from the arguments; what was not given keeps the step's default."""
    given = {name: getattr(args, name) for name in (
        "backend", "cache_dir", "system", "prompt", "in_process", *step.SETTING_FLAGS)}
    return step.Options(model=args.model, **{k: v for k, v in given.items() if v is not None})


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _stream(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    options.validate(one_shot=args.prompt is not None)
    if args.prompt is None and sys.stdin is None:  # started with `<&-`: nothing to read
        raise step.ChatInputError("the standard input is closed: the line-based chat reads "
                                  "your messages from it; give one message with --prompt")
    if args.prompt is None:
        return _repl(options, args.json)
    # The folder may change between the check above and the load: refused there too.
    result = step.run(options, on_progress=_progress,
                      on_text=None if args.json else _stream)
    if result.error:
        _err(f"error: {result.error}")
        return 1
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print()
        print(f"[{result.summary()}]")
    return 0


def _progress(p: Progress) -> None:
    _err(p.text)


def _read_line() -> str | None:
    """One line of stdin (None at its end); bytes that are not UTF-8 stay as lone surrogates
    (schema.utf8_problem names them) instead of failing the read."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text stream (tests): already decoded
        return sys.stdin.readline() or None
    raw = buffer.readline()
    return raw.decode("utf-8", errors="surrogateescape") if raw else None


def _repl(options: step.Options, as_json: bool) -> int:
    _err(f"loading {options.model} ({options.backend})…")
    if step.template_note(options):
        _err(f"warning: {step.template_note(options)}")
    try:
        backend = step.open_backend(options)
    except ChatError as e:
        _err(f"error: {e}")
        return 1
    try:
        return _loop(step.new_session(options, backend), backend, as_json)
    finally:
        backend.close()


def _loop(session: step.ChatSession, backend: step.ChatBackend, as_json: bool) -> int:
    interactive = sys.stdin.isatty()
    pid = step.generator_pid(backend)
    if interactive:
        _err(f"chatting with {backend.name} (context {backend.max_length} tokens). {REPL_HELP}")
    last = None
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = _read_line()
        if line is None:
            return 0
        text = line.rstrip("\n")
        if step.utf8_problem(text, "that line"):
            _err(f"{step.utf8_problem(text, 'that line')}; type it again")
            continue
        command = text.strip()
        if command in ("/quit", "/exit"):
            return 0
        if command == "/help":
            _err(REPL_HELP)
            continue
        if command == "/reset":
            session.reset()
            _err("[new chat]")
            continue
        if command == "/stats":
            _err(f"[{step.result_of(backend.name, last, pid=pid).summary()}]" if last
                 else "[no reply yet]")
            continue
        if command.startswith("/system"):
            session.system_prompt = command[len("/system"):].strip() or None
            _err(f"[system prompt: {session.system_prompt or '(the template default)'}]")
            if session.system_prompt and getattr(backend, "system_ignored", ""):
                _err(f"warning: {backend.system_ignored}")
            continue
        if command.startswith("/") and " " not in command:
            _err(f"unknown command {command}; {REPL_HELP}")
            continue
        if not command:
            continue
        try:
            last = session.send(text, on_text=None if as_json else _stream)
        except ChatError as e:
            _err(f"error: {e}")
            continue
        except KeyboardInterrupt as e:  # Ctrl-C stops the reply; SIGTERM/SIGHUP end the chat
            if getattr(e, "signum", None) not in (None, signal.SIGINT):
                raise
            _err("\n[stopped]")
            continue
        result = step.result_of(backend.name, last, pid=pid)
        if as_json:
            print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(flush=True)
            _err(f"[{result.summary()}]")
