"""The serve step: Foundry Local's OpenAI-compatible endpoint, driven by the real `openai` client
on loopback (bounded: a few requests, short replies, timeouts), and its measuring relay."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from slm_wizard.core.runtime.serve_proxy import Counter, measure
from slm_wizard.core.steps import serve as step

# --- the relay's figures (no service needed) -----------------------------------------------------


class _Words(Counter):
    def reply_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, body: dict) -> int:
        return 7


def _sse(*texts: str) -> bytes:
    return b"".join(b"data: " + json.dumps({"choices": [{"delta": {"content": t}}]}).encode()
                    + b"\n\n" for t in texts)


def test_streamed_figures_from_arrival_times() -> None:
    request = json.dumps({"stream": True, "messages": [{"role": "user", "content": "hi"}]})
    pieces = [(10.0, _sse("", "one")), (10.5, _sse(" two")), (11.0, _sse(" three", " four")),
              (11.1, b"data: [DONE]\n\n")]
    f = measure("POST", "/catalogs/local/v1/chat/completions", 200, request.encode(), b"",
                pieces, 9.8, 11.2, 0.0, _Words())
    assert f.stream and f.reply_tokens == 4 and f.prompt_tokens == 7
    assert f.ttft_s == pytest.approx(0.2)
    assert f.decode_tps == pytest.approx(3 / 1.0)  # three tokens after the first, in 1 s


def test_no_decode_rate_when_the_tokens_arrived_batched() -> None:
    """A fast model's streamed reply can reach the relay in two reads a fraction of a
    millisecond apart: tokens over that span would be a rate of 100,000 tok/s, not the model's."""
    request = json.dumps({"stream": True}).encode()
    words = [f" w{i}" for i in range(20)]
    pieces = [(10.0, _sse("first")), (10.0002, _sse(*words)), (10.0003, b"data: [DONE]\n\n")]
    f = measure("POST", "/catalogs/local/v1/chat/completions", 200, request, b"", pieces, 9.9,
                10.001, 0.0, _Words())
    assert f.reply_tokens == 21 and f.ttft_s == pytest.approx(0.1)
    assert f.decode_tps is None
    # The same reply token by token, 25 ms apart: 20 tokens after the first in 0.5 s.
    pieces = [(10.0, _sse("first"))] + [(10.0 + 0.025 * (i + 1), _sse(w))
                                        for i, w in enumerate(words)]
    f = measure("POST", "/catalogs/local/v1/chat/completions", 200, request, b"", pieces, 9.9,
                10.6, 0.0, _Words())
    assert f.decode_tps == pytest.approx(20 / 0.5)


def test_usage_and_errors_are_taken_from_the_service() -> None:
    body = json.dumps({"usage": {"prompt_tokens": 12, "completion_tokens": 5}}).encode()
    f = measure("POST", "/catalogs/local/v1/chat/completions", 200, b"{}", body, None, 0, 1, 0,
                _Words())
    assert (f.prompt_tokens, f.reply_tokens, f.ttft_s) == (12, 5, None)
    err = json.dumps({"error": {"message": "Model not found: No model matching 'x:1'"}})
    f = measure("POST", "/v1/chat/completions", 404, b"{}", err.encode(), None, 0, 1, 0,
                _Words())
    assert f.status == 404 and "No model matching 'x:1'" in f.error
    streamed = [(1.0, b'data: {"error": {"message": "exceeds the context"}}\n\n')]
    f = measure("POST", "/catalogs/local/v1/chat/completions", 200, b'{"stream": true}', b"",
                streamed, 0, 1, 0, _Words())
    assert f.error == "exceeds the context" and f.reply_tokens == 0


def test_relay_passes_requests_on_unchanged_and_reports_each() -> None:
    """Two requests on one kept-alive connection (one asking for 100-continue, as curl does for
    bodies over 1 kB) reach a stand-in service unchanged but for Expect; the client gets the
    service's answers; the relay reports each with the usage the service sent."""
    import asyncio
    import http.client

    from slm_wizard.core.runtime.serve_proxy import Relay

    seen: list[tuple[str, bytes]] = []

    class Service(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((str(self.headers.get("Expect")), body))
            answer = json.dumps({"usage": {"prompt_tokens": 3, "completion_tokens": 2}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    service = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    reports: list = []
    loop = asyncio.new_event_loop()
    relay = Relay(service.server_port, reports.append)
    port = loop.run_until_complete(relay.start("127.0.0.1", 0))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        big = json.dumps({"messages": [{"role": "user", "content": "x" * 2000}]}).encode()
        for headers in ({"Expect": "100-continue"}, {}):
            conn.request("POST", "/catalogs/local/v1/chat/completions", big, headers)
            answer = conn.getresponse()
            assert answer.status == 200 and b"completion_tokens" in answer.read()
        conn.close()
        deadline = time.monotonic() + 10
        while len(reports) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        asyncio.run_coroutine_threadsafe(relay.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        service.shutdown()
        service.server_close()
    assert seen == [("None", big), ("None", big)]
    assert [(r.status, r.prompt_tokens, r.reply_tokens) for r in reports] == [(200, 3, 2)] * 2


# --- options and plan ------------------------------------------------------------------------


def test_argv_and_non_loopback_warning(tmp_path: Path) -> None:
    o = step.Options("lumo:1", host="0.0.0.0", port=0, cache_dir=str(tmp_path))
    assert o.argv() == ["slm-wizard", "serve", "lumo:1", "--host", "0.0.0.0", "--port", "0",
                        "--cache-dir", str(tmp_path)]
    p = step.plan(o)
    assert p.base_url is None and any("no authentication" in w for w in p.warnings)
    assert step.plan(step.Options("lumo:1", port=0, cache_dir=str(tmp_path))).warnings == ()


def test_port_in_use_names_the_port_and_a_free_one(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(step.PortInUse, match=rf"port {port} .*in use.*port \d+ is free"):
            step.plan(step.Options("lumo:1", port=port, cache_dir=str(tmp_path)))
        from slm_wizard.cli.main import main

        assert main(["serve", "lumo:1", "--port", str(port), "--cache-dir",
                     str(tmp_path)]) == 2


def test_missing_route_names_the_sdk_version() -> None:
    from slm_wizard.core.runtime.serveproc import ServeError, _probe

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ServeError, match=r"foundry-local-sdk 9\.9.*/catalogs/local/v1") as e:
            _probe(f"http://127.0.0.1:{server.server_port}", "lumo:1", "9.9")
        assert e.value.kind == "route"
    finally:
        server.shutdown()
        server.server_close()


# --- the real endpoint -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(demo_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from slm_wizard.core.deploy import foundry
    from slm_wizard.core.deploy.inference_model import ModelConfig
    from slm_wizard.core.deploy.templates import template_for

    root = tmp_path_factory.mktemp("serve")
    src = root / "onnx"
    shutil.copytree(demo_onnx, src)
    result = foundry.deploy(src, "lumo-serve-test", "1", template_for("qwen"), ModelConfig(),
                            root / "cache", max_tokens=16)
    assert result.ok, [s.__dict__ for s in result.stages]
    from slm_wizard.core.deploy.foundry_sdk import close_manager

    close_manager()  # the serving child owns the service; this process keeps nothing open
    return result.model_id, root / "cache"


def _registrations(cache: Path) -> str:
    return (cache / "foundry.local.modelinfo.json").read_text()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_real_client_lists_answers_streams_and_two_at_once(deployed) -> None:
    from openai import NotFoundError, OpenAI

    model_id, cache = deployed
    before = _registrations(cache)
    cancel = threading.Event()
    ready: list[step.Ready] = []
    seen: list = []
    out: dict = {}
    worker = threading.Thread(target=lambda: out.setdefault("r", step.run(
        step.Options(model_id, port=0, cache_dir=str(cache)), cancel=cancel,
        on_ready=ready.append, on_request=seen.append)))
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while not ready and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready, out
        r = ready[0]
        client = OpenAI(base_url=r.base_url, api_key="x", timeout=60, max_retries=0)
        assert model_id in [m.id for m in client.models.list()]
        msg = [{"role": "user", "content": "How do I descale the machine?"}]
        reply = client.chat.completions.create(model=model_id, messages=msg, max_tokens=12)
        assert reply.choices[0].message.content and reply.usage.completion_tokens > 0
        assert reply.usage.prompt_tokens > 0
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model=model_id, messages=msg, max_tokens=12, stream=True) if c.choices)
        assert text
        answers: list = []
        both = [threading.Thread(target=lambda: answers.append(step.send_test(
            step.TestOptions(r.base_url, model_id, max_tokens=8)))) for _ in range(2)]
        for t in both:
            t.start()
        for t in both:
            t.join(60)
        assert len(answers) == 2 and all(a.text and not a.error for a in answers)
        with pytest.raises(NotFoundError, match="no-such-model:3"):
            client.chat.completions.create(model="no-such-model:3", messages=msg, max_tokens=4)
        client.close()
        deadline = time.monotonic() + 10
        while len(seen) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        cancel.set()
        worker.join(60)
    result = out["r"]
    assert result.ok and result.ended == "stopped"
    chats = [f for f in seen if f.route.endswith("/chat/completions") and f.status == 200]
    assert len(chats) == 4 and all(f.reply_tokens and f.prompt_tokens for f in chats)
    assert any(f.stream and f.ttft_s is not None for f in chats)
    assert any(f.status == 404 and "no-such-model:3" in f.error for f in seen)
    assert _port_free(r.port) and _gone(r.pid)
    assert _registrations(cache) == before
    rec = step.to_record(step.Options(model_id, port=0, cache_dir=str(cache)), result)
    assert rec.command[:3] == ["slm-wizard", "serve", model_id]
    assert rec.figures["requests served"] == str(len(seen))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_cli_signal_unloads_frees_the_port_and_exits(deployed, sig) -> None:
    model_id, cache = deployed
    before = _registrations(cache)
    proc = subprocess.Popen(
        [sys.executable, "-m", "slm_wizard.cli", "serve", model_id, "--port", "0",
         "--cache-dir", str(cache), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        ready = json.loads(proc.stdout.readline())
        answer = step.send_test(step.TestOptions(ready["base_url"], model_id, max_tokens=6,
                                                 stream=False))
        assert answer.text and answer.reply_tokens
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"stopped by {signal.Signals(sig).name}: 1 request(s)")
    assert f"port {ready['port']} free" in lines[-1]
    assert _port_free(ready["port"]) and _gone(ready["pid"])
    assert _registrations(cache) == before


def test_cli_a_kill_of_the_printed_pid_stops_it_like_a_signal_to_serve(deployed) -> None:
    """--json's "pid" is the serving process: `kill -TERM <pid>` stops the endpoint as a SIGTERM
    to `slm-wizard serve` does (exit 143, model unloaded, port freed), and says where the
    signal went; it is not "the serving process ended by itself" (exit 1)."""
    model_id, cache = deployed
    proc = subprocess.Popen(
        [sys.executable, "-m", "slm_wizard.cli", "serve", model_id, "--port", "0",
         "--cache-dir", str(cache), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["pid"] != proc.pid
        os.kill(ready["pid"], signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"stopped by SIGTERM (sent to the serving process, pid "
                           f"{ready['pid']}): 0 request(s)")
    assert _port_free(ready["port"]) and _gone(ready["pid"])


def test_a_serving_process_killed_outright_is_named_not_ended_by_itself() -> None:
    from slm_wizard.core.runtime.serveproc import ServiceProcess

    service = object.__new__(ServiceProcess)
    for code, words in (("import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
                         "was ended by SIGKILL"),
                        ("raise SystemExit(3)", "ended by itself (exit code 3)")):
        service._proc = subprocess.Popen([sys.executable, "-c", code])
        service.pid = service._proc.pid
        assert service.end_reason(timeout=30) == f"(pid {service.pid}) {words}"


def test_record_and_summary_hold_the_serve_step() -> None:
    from slm_wizard.core.run.record import RunRecord, StepRecord
    from slm_wizard.core.run.summary import figures, reproduce_commands, step_rows
    from slm_wizard.core.runtime.serve_proxy import RequestFigures

    opts = step.Options("lumo:1", port=5299)
    result = step.Result(step.Status.OK, "lumo:1", "http://127.0.0.1:5299/catalogs/local/v1",
                         requests=[RequestFigures(0.0, "POST", "/x", 200, True, 9, 4, 0.05, 80.0)],
                         ended="stopped")
    record = RunRecord()
    record.record(step.to_record(opts, result))
    validate = ["slm-wizard", "validate", "x"]
    record.record(StepRecord("validate", step.Status.OK, command=validate))
    # serve runs until stopped: last, even when it ran before another step
    assert reproduce_commands(record)[-2:] == [
        validate, ["slm-wizard", "serve", "lumo:1", "--port", "5299"]]
    assert ("Serve", step.Status.OK,
            "served lumo:1 at http://127.0.0.1:5299/catalogs/local/v1: 1 request(s)") \
        in step_rows(record)
    assert ("serve", "requests served", "1") in figures(record)
    assert ("serve", "endpoint TTFT median (ms)", "50") in figures(record)


def test_a_converted_folder_is_deployed_first_then_refused_as_deployed(
        demo_onnx: Path, tmp_path: Path) -> None:
    folder = tmp_path / "lumo-folder"
    shutil.copytree(demo_onnx, folder)
    cache = tmp_path / "cache"
    cancel = threading.Event()
    ready: list[step.Ready] = []

    def stop_when_ready(r: step.Ready) -> None:
        ready.append(r)
        cancel.set()

    options = step.Options(str(folder), port=0, cache_dir=str(cache))
    assert step.plan(options).model_id == "lumo-folder:1"
    result = step.run(options, cancel=cancel, on_ready=stop_when_ready)
    assert result.deployed == "lumo-folder:1" and ready and ready[0].model_id == "lumo-folder:1"
    assert result.ok and _gone(ready[0].pid)
    with pytest.raises(step.ServeInputError, match="already deployed.*serve lumo-folder:1"):
        step.run(options, cancel=threading.Event())


def test_cli_warns_off_loopback_and_names_a_model_that_is_not_deployed(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "slm_wizard.cli", "serve", "not-deployed:1", "--host", "0.0.0.0",
         "--port", "0", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 1, proc.stderr
    assert "warning: the endpoint has no authentication" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: not-deployed:1 is not "
                                                           "registered")
