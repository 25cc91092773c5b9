"""`slm-wizard chat`: chat with a converted model (onnxruntime-genai) or a deployed one (Foundry
Local). With --prompt: one reply streamed to stdout, then its figures. Without: a REPL on stdin."""

from __future__ import annotations

import argparse
import json
import sys

REPL_HELP = """commands: /reset (new chat), /system TEXT (set the system prompt; empty clears it),
          /stats (figures of the last reply), /help, /quit (or end of input)"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
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
    p.add_argument("--backend", choices=("ort", "foundry"), default="ort",
                   help="runtime: onnxruntime-genai on the folder, or Foundry Local (default: ort)")
    p.add_argument("--prompt", metavar="TEXT", help="send one message, print the reply, exit")
    p.add_argument("--system", metavar="TEXT", help="system prompt (default: the template's)")
    p.add_argument("--max-tokens", type=int, default=256, metavar="N",
                   help="most tokens per reply (default 256)")
    p.add_argument("--temperature", type=float, default=0.0, metavar="T",
                   help="sampling temperature, 0 = greedy (default 0)")
    p.add_argument("--json", action="store_true", help="print the reply and figures as JSON")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="Foundry Local model cache (foundry backend; default: Foundry's)")
    return p


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _result(reply, backend, sample) -> dict:
    out = {"text": reply.text, "backend": backend.name, "stats": reply.stats.to_dict()}
    if sample is not None:
        out["rss_bytes"] = sample.rss
        out["peak_rss_bytes"] = sample.peak_rss
        out["available_bytes"] = sample.available
    return out


def _figures(reply, sample) -> str:
    line = reply.stats.summary()
    if sample is not None:
        line += f" · RSS {sample.rss / 2**20:.0f} MB (peak {sample.peak_rss / 2**20:.0f} MB)"
    return f"[{line}]"


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.chat import ChatError, ChatSession, GenerationSettings, open_backend
    from slm_wizard.core.metrics import ProcessSampler

    settings = GenerationSettings(max_tokens=args.max_tokens, temperature=args.temperature)
    try:
        settings.validate()
    except ValueError as e:
        _err(f"error: {e}")
        return 2
    if args.prompt is not None and not args.prompt.strip():
        _err("error: --prompt is empty: give the message to send.")
        return 2
    _err(f"loading {args.model} ({args.backend})…")
    try:
        kw = {"cache_dir": args.cache_dir} if args.cache_dir else {}
        backend = open_backend(args.backend, args.model, **kw)
    except ChatError as e:
        _err(f"error: {e}")
        return 1
    sampler = ProcessSampler(interval=0.25)
    session = ChatSession(backend, system_prompt=args.system, settings=settings)

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    try:
        if args.prompt is not None:
            try:
                reply = session.send(args.prompt, on_text=None if args.json else stream)
            except ChatError as e:
                _err(f"error: {e}")
                return 1
            sample = sampler.sample_now()
            if args.json:
                print(json.dumps(_result(reply, backend, sample), ensure_ascii=False, indent=2))
            else:
                print()
                print(_figures(reply, sample))
            return 0
        return _repl(session, backend, sampler, stream, args.json)
    finally:
        backend.close()


def _repl(session, backend, sampler, stream, as_json: bool) -> int:
    from slm_wizard.core.chat import ChatError

    interactive = sys.stdin.isatty()
    if interactive:
        _err(f"chatting with {backend.name} (context {backend.max_length} tokens). {REPL_HELP}")
    last = None
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0
        text = line.rstrip("\n")
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
            _err(_figures(last, sampler.sample_now()) if last else "[no reply yet]")
            continue
        if command.startswith("/system"):
            session.system_prompt = command[len("/system"):].strip() or None
            _err(f"[system prompt: {session.system_prompt or '(the template default)'}]")
            continue
        if command.startswith("/") and " " not in command:
            _err(f"unknown command {command}; {REPL_HELP}")
            continue
        if not command:
            continue
        try:
            last = session.send(text, on_text=None if as_json else stream)
        except ChatError as e:
            _err(f"error: {e}")
            continue
        except KeyboardInterrupt:
            _err("\n[stopped]")
            continue
        sample = sampler.sample_now()
        if as_json:
            print(json.dumps(_result(last, backend, sample), ensure_ascii=False), flush=True)
        else:
            print(flush=True)
            _err(_figures(last, sample))
