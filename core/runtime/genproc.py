"""Generation in a child process: the model is loaded and run by another Python interpreter, and
its reply streams back over a pipe.

Why: onnxruntime-genai 0.14 holds the GIL during each token step, so any Python work of a UI in
the same interpreter (layout, painting, timers) adds to the generation time it reports. In a
child process the UI costs the generator nothing but a share of the CPU.

`ChildBackend(kind, model, **kw)` looks like any `core.chat` backend (`name`, `max_length`,
`generate`, `count_tokens`, `close`) and adds:
- `pid`: the child's process id, so memory and CPU are measured on the process that generates;
- `live`: the figures of the reply in progress (tokens so far, decode tokens/s, time to first
  token), measured in the child and updated before each `on_text` call.

The child opens the backend with `core.chat.open_backend(kind, model, **kw)` and serves requests
one at a time. Timing is done in the child (`ReplyClock`), so a reply's figures are those of the
generating loop itself. Text comes back in batches: the first token at once, then at most every
`BATCH_S` seconds. `cancel` stops a reply between two tokens (a shared event the child checks).
If the child dies (crash, killed), the reply in progress fails with a `ChatError` that says so and
the backend is closed: open it again. Its stderr goes to a log file named in that message.

The child is `python -m slm_wizard.core.runtime.genproc` (not multiprocessing's spawn, which
re-imports the caller's main module). It reads its task from stdin (a JSON line with a one-time
key) and connects back to a localhost socket the parent listens on; both ends prove the key
(multiprocessing's challenge) before any request. It ends when the parent says so or goes away.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from pathlib import Path
from typing import Any

from slm_wizard.core.runtime.chat import ChatError, GenerationSettings, Reply
from slm_wizard.core.runtime.metrics import StreamBatch

__all__ = ["BATCH_S", "ChildBackend", "LiveFigures"]

BATCH_S = 0.1  # the child sends text at most this often (the first token at once)
POLL_S = 0.05  # how often the parent checks `cancel` and the child's health while waiting
START_TIMEOUT_S = 300.0  # loading a large model can take minutes


@dataclass(frozen=True)
class LiveFigures:
    """The reply in progress, measured in the child."""

    tokens: int = 0
    decode_tps: float | None = None  # tokens after the first / time after the first
    ttft_s: float | None = None


# --- the child -----------------------------------------------------------------------------------

class _CancelFlag:
    """`cancel` for the backend in the child: set when the parent sends "cancel" mid-reply."""

    EVERY_S = 0.02  # look at the pipe at most this often (a system call per token costs)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._set = False
        self._next = 0.0

    def clear(self) -> None:
        self._set = False
        self._next = 0.0

    def is_set(self) -> bool:
        if self._set:
            return True
        now = time.perf_counter()
        if now >= self._next:
            self._next = now + self.EVERY_S
            if self._conn.poll(0):
                request = self._conn.recv()
                if request[0] in ("cancel", "close"):
                    self._set = True
        return self._set


def _serve(conn: Connection, kind: str, model: str, kw: dict[str, Any]) -> None:
    """Open the backend, then answer requests until "close" or the parent goes away."""
    from slm_wizard.core.runtime.backends import open_backend

    try:
        backend = open_backend(kind, model, **kw)
    except ChatError as e:
        conn.send(("error", str(e)))
        return
    except Exception as e:  # noqa: BLE001 - reported to the parent, which shows it
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", backend.name, int(backend.max_length), os.getpid(),
               getattr(backend, "system_refusal", ""), getattr(backend, "system_ignored", "")))
    cancel = _CancelFlag(conn)
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):  # the parent is gone
                return
            op = request[0]
            if op == "close":
                return
            if op == "count":
                try:
                    conn.send(("ok", backend.count_tokens(request[1])))
                except ChatError as e:
                    conn.send(("failed", str(e), None))
            elif op == "generate":
                cancel.clear()
                _generate(conn, cancel, backend, request[1], request[2])
    finally:
        backend.close()


def _generate(conn: Connection, cancel: _CancelFlag, backend: Any,
              messages: list[dict[str, str]], settings: GenerationSettings) -> None:
    batch = StreamBatch(BATCH_S)

    def on_text(piece: str) -> None:
        if batch.add(piece):
            conn.send(("text", batch.take(), *batch.figures()))

    try:
        reply = backend.generate(messages, settings, on_text=on_text, cancel=cancel)
    except ChatError as e:
        if batch.pending:
            conn.send(("text", batch.take(), batch.count, None, None))
        conn.send(("failed", str(e), e.partial))
        return
    except Exception as e:  # noqa: BLE001 - a bug in the child: the parent reports it
        conn.send(("failed", f"Generation failed: {type(e).__name__}: {e}", None))
        return
    if batch.pending:
        conn.send(("text", batch.take(), batch.count, None, None))
    conn.send(("done", reply))


def main() -> int:
    """`python -m slm_wizard.core.runtime.genproc`: read the task from stdin, connect, serve."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c is the parent's to handle
    task = json.loads(sys.stdin.readline())
    _end_with_parent(int(task.get("parent", 0)))
    key = bytes.fromhex(task["key"])
    sock = socket.create_connection(("127.0.0.1", int(task["port"])), timeout=30)
    sock.settimeout(None)
    conn = Connection(sock.detach())
    answer_challenge(conn, key)
    deliver_challenge(conn, key)
    _serve(conn, task["kind"], task["model"], task["kw"])
    return 0


def _end_with_parent(parent: int, every: float = 0.5) -> None:
    """A watchdog thread: this process ends as soon as `parent` (the tool) is gone, even when
    the tool was killed with `kill -9` (every platform: the parent's pid is polled)."""
    if parent <= 0:
        return

    def watch() -> None:
        import psutil

        while True:
            time.sleep(every)
            if os.getppid() != parent or not psutil.pid_exists(parent):
                os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


# --- the parent's handle -----------------------------------------------------------------------

def _own_group() -> dict:
    """The child runs in its own process group (a terminal's signals are the tool's to handle);
    it needs no parent-death signal: its watchdog ends it with the tool (a parent-death signal
    would follow the starting thread, and a screen's worker thread ends before the model)."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}




def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was ended by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was ended by signal {-code}"
    return f"exited with code {code}"


class ChildBackend:
    """A chat backend whose model lives in a child process (see the module docstring)."""

    def __init__(self, kind: str, model: Path | str, *, start_timeout: float = START_TIMEOUT_S,
                 **kw: Any) -> None:
        self.kind = kind
        self.name = kind
        self.model = str(model)
        from slm_wizard.core.base.paths import child_log

        self.log_path = child_log("generation-process.log")
        self._lock = threading.Lock()
        self._closed = False
        self._closing = False
        self._conn: Connection | None = None
        self.live = LiveFigures()
        self.system_refusal = ""
        self.system_ignored = ""
        key = os.urandom(32)
        task = {"key": key.hex(), "kind": kind, "model": self.model, "parent": os.getpid(),
                "kw": {k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()}}
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(POLL_S)
        task["port"] = server.getsockname()[1]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "slm_wizard.core.runtime.genproc"], stdin=subprocess.PIPE,
                stdout=log, stderr=subprocess.STDOUT, **_own_group())
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self.pid: int = self._proc.pid
        try:
            self._proc.stdin.write((json.dumps(task) + "\n").encode())
            self._proc.stdin.close()
            self._conn = self._accept(server, key, start_timeout)
            message = self._wait(start_timeout, what="load the model")
        except (ChatError, OSError, EOFError, AuthenticationError) as e:
            self._closed = True
            self._stop_child()
            if isinstance(e, ChatError):
                raise
            raise ChatError(f"The generating process could not start: {e}") from e
        finally:
            server.close()
        if message[0] != "ready":
            self._closed = True
            self._stop_child()
            raise ChatError(str(message[1]))
        self.name, self.max_length = message[1], message[2]
        # Why the model takes no system prompt ("" when it does), for the settings dialog.
        self.system_refusal = str(message[4]) if len(message) > 4 else ""
        self.system_ignored = str(message[5]) if len(message) > 5 else ""
        if kind == "ort":
            self.model_dir = Path(self.model).expanduser()

    # -- plumbing -----------------------------------------------------------------------------

    def _accept(self, server: socket.socket, key: bytes, timeout: float) -> Connection:
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock, _ = server.accept()
                break
            except TimeoutError:
                if self._proc.poll() is not None:
                    raise self._crash() from None
                if time.monotonic() > deadline:
                    raise ChatError(
                        f"The generating process did not start in {timeout:.0f} s.") from None
        sock.settimeout(None)
        conn = Connection(sock.detach())
        deliver_challenge(conn, key)
        answer_challenge(conn, key)
        return conn

    def _crash(self) -> ChatError:
        if self._closed:
            return ChatError("This model was closed while it was answering: load it again.")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=1.0)
        how = _how_it_ended(self._proc.returncode)
        self._closed = True
        where = f" (its output: {self.log_path})" if self.log_path else ""
        return ChatError(f"The generating process {how}{where}. The app is fine: load the "
                         "model again (ctrl+l in the Chat step) or send the message again.")

    def _wait(self, timeout: float | None, what: str,
              cancel: threading.Event | None = None) -> tuple:
        """The child's next message; raises ChatError if the child dies or `timeout` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        asked = False
        while True:
            if not asked and (self._closing or (cancel is not None and cancel.is_set())):
                asked = True
                with contextlib.suppress(OSError, ValueError):
                    self._conn.send(("cancel",))
            try:
                if self._conn.poll(POLL_S):
                    return self._conn.recv()
            except (EOFError, OSError):
                raise self._crash() from None
            if self._proc.poll() is not None:
                raise self._crash()
            if deadline is not None and time.monotonic() > deadline:
                raise ChatError(f"The generating process did not {what} in {timeout:.0f} s.")

    def _usable(self) -> None:
        if self._closed or self._conn is None:
            raise ChatError("This model was closed (or its process ended): load it again.")

    # -- the backend interface ----------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return not self._closed and self._proc.poll() is None

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        with self._lock:
            self._usable()
            self._conn.send(("count", messages))
            message = self._wait(60.0, "count the prompt's tokens")
        if message[0] == "ok":
            return int(message[1])
        raise ChatError(str(message[1]))

    def generate(self, messages: list[dict[str, str]], settings: GenerationSettings, *,
                 on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> Reply:
        with self._lock:
            self._usable()
            self.live = LiveFigures()
            self._conn.send(("generate", messages, settings))
            parts: list[str] = []
            while True:
                try:
                    message = self._wait(None, "answer", cancel)
                except ChatError as e:
                    if parts:
                        e.partial = Reply("".join(parts), _partial_stats(self.live))
                    raise
                op = message[0]
                if op == "text":
                    _, text, count, tps, ttft = message
                    live = self.live
                    self.live = LiveFigures(count, live.decode_tps if tps is None else tps,
                                            live.ttft_s if ttft is None else ttft)
                    parts.append(text)
                    if on_text is not None:
                        on_text(text)
                elif op == "done":
                    return message[1]
                elif op == "failed":
                    raise ChatError(str(message[1]), message[2])

    def _stop_child(self) -> None:
        for end in (None, self._proc.terminate, self._proc.kill):
            if end is not None:
                with contextlib.suppress(OSError):
                    end()
            try:
                self._proc.wait(timeout=2.0)
                break
            except subprocess.TimeoutExpired:
                continue
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()

    def close(self) -> None:
        """Stop a reply in progress, then end the child (politely, then by force)."""
        self._closing = True
        got = self._lock.acquire(timeout=2.0)
        try:
            if not self._closed and self._conn is not None and self._proc.poll() is None:
                with contextlib.suppress(OSError, ValueError):
                    self._conn.send(("close",))
            self._closed = True
            self._stop_child()
        finally:
            if got:
                self._lock.release()


def _partial_stats(live: LiveFigures):
    from slm_wizard.core.runtime.metrics import ReplyStats

    return ReplyStats(prompt_tokens=0, generated_tokens=live.tokens, ttft_s=live.ttft_s or 0.0,
                      prefill_tps=0.0, decode_tps=live.decode_tps or 0.0, total_s=0.0,
                      stopped=False, finish_reason="error")


if __name__ == "__main__":
    sys.exit(main())
