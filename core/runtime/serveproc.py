"""Foundry Local's OpenAI-compatible endpoint, served by a child process: the web service of
foundry-local-sdk with the model loaded, behind a measuring relay (core.runtime.serve_proxy).

Why a child: the service, the relay and the token counting share no interpreter with the caller
(the wizard's UI, the CLI), so a busy UI does not slow the requests it measures, and ending the
child ends everything it holds (the model, the service, the port).

The child is `python -m slm_wizard.core.runtime.serveproc`. It reads its task from the first
line of stdin (JSON: model id, cache folder, host, port), then:
1. initializes Foundry Local with its web service on a free loopback port (the "upstream", never
   exposed), loads the model, and checks that `GET /catalogs/local/v1/models` lists it (the
   route where foundry-local-sdk 2.2.1 serves locally registered models; another SDK version
   may not have it: then it fails, naming the version, and serves nothing);
2. binds the relay on the asked host and port (the address the user's app calls);
3. writes JSON events, one a line, to stdout: `ready` (base_url, model_id, pid, upstream,
   sdk), then `request` (the figures of each request), and `error` (kind: port, route,
   model, start) or `stopped` at the end;
4. stops on "stop" on stdin, at the end of stdin (the parent went away, however it ended), or on
   SIGTERM: the relay closes, the model is unloaded, the service stops, the port is free.
Ctrl-C in a terminal reaches the whole process group: the child ignores SIGINT and lets the
parent decide. Anything the native runtime prints goes to the log file, never into the events.

`ServiceProcess` is the parent's handle: it starts the child, waits for `ready` (or raises
`ServeError` with the child's reason), hands on the events, and stops it (politely, then by force).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from slm_wizard.core.runtime.serve_proxy import Counter, Relay, RequestFigures

__all__ = ["LOCAL_ROUTE", "ServeError", "ServiceProcess", "url_host"]

LOCAL_ROUTE = "/catalogs/local/v1"  # where foundry-local-sdk 2.2.1 serves local models
START_TIMEOUT_S = 300.0  # loading a large model can take minutes
STOP_TIMEOUT_S = 30.0


class ServeError(Exception):
    """The endpoint could not be served; `kind` says why: "port" (the address is taken),
    "route" (the SDK does not serve local models where expected), "model" (not registered or
    not loadable), "start" (the child could not start or died)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def url_host(host: str) -> str:
    """The host as written in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# --- the child -----------------------------------------------------------------------------------

class _Events:
    def __init__(self, out: Any) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, event: str, **fields: Any) -> None:
        with self._lock:
            self._out.write(json.dumps({"event": event, **fields}) + "\n")
            self._out.flush()


class _ModelCounter(Counter):
    """Token counts with the model's own tokenizer and the runtime's prompt preflight."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def reply_tokens(self, text: str) -> int | None:
        encode = getattr(self._backend, "_encode", None)
        return len(encode(text)) if encode is not None else None

    def prompt_tokens(self, body: dict) -> int | None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            return None
        try:
            return self._backend.count_tokens(messages)
        except Exception:  # noqa: BLE001 - a figure left out, never a failed request
            return None


def _probe(upstream: str, model_id: str, version: str) -> None:
    url = upstream.rstrip("/") + LOCAL_ROUTE + "/models"
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - loopback only
            listed = [m.get("id") for m in json.loads(answer.read()).get("data", [])]
    except Exception as e:  # noqa: BLE001 - said to the user with the SDK version
        raise ServeError("route", f"Foundry Local's web service (foundry-local-sdk {version}) "
                         f"does not answer GET {LOCAL_ROUTE}/models ({e}). slm-wizard serves "
                         "locally registered models on that route, measured with "
                         "foundry-local-sdk 2.2.1: install that version.") from None
    if model_id not in listed:
        raise ServeError("route", f"Foundry Local's web service (foundry-local-sdk {version}) "
                         f"does not list {model_id} at {LOCAL_ROUTE}/models (it lists "
                         f"{', '.join(map(str, listed)) or 'nothing'}). slm-wizard serves "
                         "locally registered models on that route, measured with "
                         "foundry-local-sdk 2.2.1: install that version.")


def _serve(task: dict, events: _Events) -> None:
    from slm_wizard.core.deploy import foundry_sdk
    from slm_wizard.core.runtime.chat import ChatError
    from slm_wizard.core.runtime.foundry_backend import FoundryBackend

    model_id, cache = task["model_id"], Path(task["cache_dir"])
    version = foundry_sdk.sdk_version()
    try:
        manager = foundry_sdk.foundry_manager(cache, web_url="http://127.0.0.1:0")
        backend = FoundryBackend(model_id, cache_dir=cache)  # loads the model
    except (foundry_sdk.FoundryError, ChatError) as e:
        raise ServeError("model", str(e)) from None
    model_id = backend.model_id
    try:
        try:
            manager.start_web_service()
            upstream = manager.urls[0]
        except Exception as e:  # noqa: BLE001 - the SDK's own words
            raise ServeError("start", f"Foundry Local's web service (foundry-local-sdk "
                             f"{version}) did not start: {e}") from None
        try:
            _probe(upstream, model_id, version)
            asyncio.run(_relay(task, events, upstream, model_id, version, backend))
        finally:
            with contextlib.suppress(Exception):
                manager.stop_web_service()
    finally:
        backend.close()  # unloads the model
        foundry_sdk.close_manager()


async def _relay(task: dict, events: _Events, upstream: str, model_id: str, version: str,
                 backend: Any) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_request(figures: RequestFigures) -> None:
        events.send("request", **figures.to_dict())

    up_port = int(upstream.rstrip("/").rsplit(":", 1)[1])
    relay = Relay(up_port, on_request, _ModelCounter(backend))
    host, port = task["host"], int(task["port"])
    try:
        port = await relay.start(host, port)
    except OSError as e:
        raise ServeError("port", f"{host}:{port} cannot be used: {e.strerror or e}") from None
    def on_sigterm() -> None:  # someone's `kill PID` of this process: stop as "stop" does
        task["signal"] = int(signal.SIGTERM)  # and tell the parent (main's "stopped" event)
        stop.set()

    with contextlib.suppress(ValueError):
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    threading.Thread(target=_watch_stdin, args=(loop, stop), daemon=True).start()
    events.send("ready", base_url=f"http://{url_host(host)}:{port}{LOCAL_ROUTE}",
                model_id=model_id, pid=os.getpid(), upstream=upstream.rstrip("/") + LOCAL_ROUTE,
                sdk=version, port=port)
    await stop.wait()
    await relay.close()


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for line in sys.stdin:  # "stop", or the end of stdin: the parent went away
        if line.strip() == "stop":
            break
    with contextlib.suppress(RuntimeError):  # the loop has ended already
        loop.call_soon_threadsafe(stop.set)


def main() -> int:
    """`python -m slm_wizard.core.runtime.serveproc`: read the task, serve, report events."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c is the parent's to handle
    events = _Events(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)  # what the native runtime prints goes to the log, not into the events
    task = json.loads(sys.stdin.readline() or "{}")
    try:
        _serve(task, events)
    except ServeError as e:
        events.send("error", kind=e.kind, message=str(e))
        return 1
    except Exception as e:  # noqa: BLE001 - reported to the parent, which shows it
        events.send("error", kind="start", message=f"{type(e).__name__}: {e}")
        return 1
    events.send("stopped", **({"signal": task["signal"]} if task.get("signal") else {}))
    return 0


# --- the parent's handle -----------------------------------------------------------------------



class ServiceProcess:
    """The endpoint served by a child process (see the module docstring)."""

    def __init__(self, model_id: str, cache_dir: Path | str, host: str, port: int, *,
                 start_timeout: float = START_TIMEOUT_S,
                 cancel: threading.Event | None = None) -> None:
        from slm_wizard.core.base.paths import child_log

        self.log_path = child_log("serve-process.log")
        self._events: queue.Queue[dict | None] = queue.Queue()
        task = {"model_id": model_id, "cache_dir": str(cache_dir), "host": host, "port": port}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "slm_wizard.core.runtime.serveproc"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self.pid: int = self._proc.pid
        threading.Thread(target=self._read, daemon=True, name="slm-wizard-serve-events").start()
        self._proc.stdin.write((json.dumps(task) + "\n").encode())
        self._proc.stdin.flush()
        deadline = time.monotonic() + start_timeout
        while True:
            if cancel is not None and cancel.is_set():
                self.stop()
                raise ServeError("start", "stopped before the endpoint was ready")
            try:
                event = self._events.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServeError("start", f"the endpoint was not ready in "
                                     f"{start_timeout:.0f} s") from None
                continue
            if event is None:
                self.stop()
                raise ServeError("start", f"the serving process ended before it was ready"
                                 f"{self._where()}")
            if event["event"] == "error":
                self.stop()
                raise ServeError(event["kind"], event["message"])
            if event["event"] == "ready":
                break
        self.base_url: str = event["base_url"]
        self.model_id: str = event["model_id"]
        self.upstream: str = event["upstream"]
        self.sdk: str = event["sdk"]
        self.port: int = int(event["port"])

    def _where(self) -> str:
        return f" (its output: {self.log_path})" if self.log_path else ""

    def _read(self) -> None:
        for line in self._proc.stdout:
            with contextlib.suppress(ValueError):
                self._events.put(json.loads(line))
        self._events.put(None)  # the child's output ended

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def next_event(self, timeout: float) -> dict | None:
        """The child's next event (a dict), or None when none came in `timeout` seconds.
        {"event": "ended"} when the child's output ended (it stopped or died)."""
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        return {"event": "ended"} if event is None else event

    def end_reason(self, timeout: float = 2.0) -> str:
        """How the child ended once its output closed: "ended by itself (exit code N)", or
        "was ended by SIGTERM" when a signal (someone's `kill` of its pid) ended it."""
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"(pid {self.pid}) closed its output"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"(pid {self.pid}) was ended by {name}"
        return f"(pid {self.pid}) ended by itself (exit code {code})"

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Ask the child to stop (unload, stop the service, free the port) and wait; ends it by
        force after `timeout`. True when it stopped by itself."""
        with contextlib.suppress(OSError, ValueError):
            self._proc.stdin.write(b"stop\n")
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=timeout)
            return self._proc.returncode in (0, 1)
        except subprocess.TimeoutExpired:
            pass
        for end in (self._proc.terminate, self._proc.kill):
            with contextlib.suppress(OSError):
                end()
            try:
                self._proc.wait(timeout=3.0)
                break
            except subprocess.TimeoutExpired:
                continue
        return False


if __name__ == "__main__":
    sys.exit(main())
