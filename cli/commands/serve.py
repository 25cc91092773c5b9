"""`slm-wizard serve`: Foundry Local's OpenAI-compatible endpoint for your own app, with a line of
figures per request, until Ctrl-C, SIGTERM or SIGHUP (core.steps.serve runs it)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from slm_wizard.core.base import signals


def add_parser(subparsers) -> None:
    from slm_wizard.core.steps.serve import DEFAULT_HOST, DEFAULT_PORT

    p = subparsers.add_parser(
        "serve",
        help="serve a deployed model on Foundry Local's OpenAI-compatible endpoint",
        description="Start Foundry Local's web service with the model loaded, check that its "
        "route answers, print the OpenAI base URL, the model id and ready-to-paste snippets "
        "(Python, curl, JavaScript), then serve, printing the figures of each request (prompts "
        "and replies are never printed or logged), until Ctrl-C or SIGTERM: the model is "
        "unloaded, the service stopped and the port freed (exit 130 / 143). Exit 2 on bad input "
        "or a port in use, 1 when the endpoint could not be served.",
    )
    p.add_argument("model", metavar="MODEL",
                   help="a deployed model id name:version, or a converted ONNX folder (deployed "
                   "first, with the deploy step's defaults)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"the address to listen on (default {DEFAULT_HOST}: this machine only; "
                   "any other address is reachable by others and the endpoint has no "
                   "authentication)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"the port (default {DEFAULT_PORT}, fixed so your app's base URL stays "
                   "the same between runs; 0: any free port)")
    p.add_argument("--cache-dir", type=Path, metavar="DIR",
                   help="the Foundry Local model cache (default: `foundry cache location`, "
                   "else ~/.foundry/cache/models)")
    p.add_argument("--json", action="store_true",
                   help="print the address and id as one JSON line once ready (for scripts)")


def request_line(r) -> str:
    """One line per request: time, route, status, tokens, TTFT, decode tok/s."""
    from slm_wizard.core.steps.serve import short_route

    route = short_route(r.route)
    text = f"{time.strftime('%H:%M:%S', time.localtime(r.when))} {r.method} {route} {r.status}"
    if r.prompt_tokens is not None or r.reply_tokens is not None:
        text += f" · {r.prompt_tokens if r.prompt_tokens is not None else '?'} → " \
                f"{r.reply_tokens if r.reply_tokens is not None else '?'} tokens"
    if r.ttft_s is not None:
        text += f" · TTFT {r.ttft_s * 1000:.0f} ms"
    if r.decode_tps is not None:
        text += f" · {r.decode_tps:.1f} tok/s"
    text += f" · {r.total_s:.2f} s" + (" · stream" if r.stream else "")
    if r.error:
        text += f" · {r.error}"
    return text


def run(args: argparse.Namespace) -> int:
    from slm_wizard.core.steps import serve as step

    options = step.Options(args.model, args.host, args.port,
                           str(args.cache_dir) if args.cache_dir else None)
    step.plan(options)  # bad input and a taken port: exit 2 before anything starts
    cancel = threading.Event()
    got: list[int] = []
    pid: list[int] = []

    def stop(signum: int) -> None:
        got.append(signum)
        cancel.set()

    def ready(r: step.Ready) -> None:
        pid.append(r.pid)
        if args.json:
            print(json.dumps({"base_url": r.base_url, "model_id": r.model_id, "pid": r.pid,
                              "port": r.port, "sdk": r.sdk}), flush=True)
            return
        snippets = step.snippets(r.base_url, r.model_id)
        print(f"Serving {r.model_id} (Foundry Local, foundry-local-sdk {r.sdk})\n"
              f"  OpenAI base URL: {r.base_url}\n  model id:        {r.model_id}\n")
        for title, key in (("Python (pip install openai)", "python"), ("curl", "curl"),
                           ("JavaScript (npm install openai)", "javascript")):
            print(f"# {title}\n{snippets[key]}")
        print("Serving until Ctrl-C; one line per request:", flush=True)

    def request(r) -> None:
        if not args.json:
            print(request_line(r), flush=True)

    def progress(event) -> None:
        if event.phase == "warning" or not args.json:
            print(event.text, file=sys.stderr, flush=True)

    # Ctrl-C, SIGTERM and SIGHUP (a closed terminal) stop the service the same way.
    with signals.on_stop_signal(stop):
        result = step.run(options, on_progress=progress, cancel=cancel, on_ready=ready,
                          on_request=request)
    # A signal to this process, or one sent to the serving process's pid (--json's "pid").
    signum = got[0] if got else result.signum
    if signum:
        name = signals.signal_name(signum)
        if not got:
            name += f" (sent to the serving process, pid {pid[0]})" if pid else ""
        freed = f", port {result.base_url.rsplit(':', 1)[1].split('/')[0]} free" \
            if result.base_url else ""
        print(f"stopped by {name}: {len(result.requests)} request(s) served, model unloaded"
              f"{freed} (exit {128 + signum})", file=sys.stderr)
        return 128 + signum
    print(f"error: {result.error}", file=sys.stderr)
    return 1
