"""Run external programs: argument lists (never a shell string), always a timeout, never a raise.

`run_command` captures a short command's output (`cmake --version`, `foundry ...`);
`stream_command` runs a long one (pip) line by line and can be cancelled. Both start the program
in its own process group, so a timeout or a cancel also ends whatever it started.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_WINDOWS = sys.platform == "win32"


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    returncode: int | None  # None when the program did not run to its end
    stdout: str = ""
    stderr: str = ""
    error: str = ""  # "" when the program ran; else why not, written for the user
    timed_out: bool = False
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.error

    @property
    def output(self) -> str:
        return (self.stdout + "\n" + self.stderr).strip()

    @property
    def command(self) -> str:
        """The command for messages: the program's name (not its full path) and arguments."""
        return " ".join([os.path.basename(self.args[0]), *self.args[1:]]) if self.args else ""

    def describe(self) -> str:
        """One line saying what went wrong (or "ok"), e.g. for a check's `found` column."""
        if self.error:
            return self.error
        if self.returncode != 0:
            first = next((ln.strip() for ln in self.output.splitlines() if ln.strip()), "")
            tail = f": {first[:120]}" if first else ""
            return f"`{self.command}` exited with code {self.returncode}{tail}"
        return "ok"


def _popen_kwargs() -> dict:
    if _WINDOWS:
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _kill_group(proc: subprocess.Popen, sig: int | None = None) -> None:
    """End the program and everything it started (its process group)."""
    with contextlib.suppress(OSError):
        if _WINDOWS:
            proc.kill()
        else:
            os.killpg(proc.pid, sig if sig is not None else signal.SIGKILL)


def _start_error(args: Sequence[str], exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{args[0]} was not found"
    if isinstance(exc, PermissionError):
        return f"{args[0]} cannot be run (permission denied)"
    return f"{args[0]} could not start: {exc}"


def run_command(
    args: Sequence[str],
    timeout: float = 5.0,
    *,
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run `args` and capture its output. Missing, failing or hanging programs give a result."""
    argv = tuple(str(a) for a in args)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            **_popen_kwargs(),
        )
    except OSError as exc:
        return CommandResult(argv, None, error=_start_error(argv, exc))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:  # a grandchild outside the group holds the pipes
            proc.kill()
            out, err = b"", b""
        return CommandResult(
            argv,
            None,
            _decode(out),
            _decode(err),
            error=f"`{_name(argv)}` did not answer within {timeout:g} s",
            timed_out=True,
        )
    return CommandResult(argv, proc.returncode, _decode(out), _decode(err))


def _name(argv: Sequence[str]) -> str:
    return " ".join([os.path.basename(argv[0]), *argv[1:]])


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def stream_command(
    args: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    keep_lines: int = 200,
) -> CommandResult:
    """Run `args`, calling `on_line` for every output line (stdout and stderr merged).

    `cancel` (set from another thread) ends the program: first politely (SIGINT / CTRL_BREAK),
    then for good after 5 s. The result's stdout holds the last `keep_lines` lines.
    """
    argv = tuple(str(a) for a in args)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            **_popen_kwargs(),
        )
    except OSError as exc:
        return CommandResult(argv, None, error=_start_error(argv, exc))

    lines: queue.Queue[str | None] = queue.Queue()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            # Progress bars end lines with carriage returns: keep the last state of the line.
            text = _decode(raw).rstrip("\r\n").split("\r")[-1]
            lines.put(text)
        lines.put(None)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    kept: list[str] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    stop_reason = ""
    asked_at: float | None = None  # when we asked the program to stop
    killed = False
    exited_at: float | None = None
    while True:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            pass
        else:
            if line is None:  # end of output
                break
            kept.append(line)
            del kept[:-keep_lines]
            on_line(line)
            continue
        now = time.monotonic()
        if not stop_reason and cancel is not None and cancel.is_set():
            stop_reason = "cancelled"
        if not stop_reason and deadline is not None and now > deadline:
            stop_reason = "timeout"
        if stop_reason and asked_at is None:
            asked_at = now
            if _WINDOWS:
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                _kill_group(proc, signal.SIGINT)  # like Ctrl+C: pip cleans up
        elif asked_at is not None and not killed and now - asked_at > 5.0:
            _kill_group(proc)
            killed = True
        if proc.poll() is not None:
            exited_at = exited_at or now
            if now - exited_at > 2.0:  # something it left behind holds the pipe open
                _kill_group(proc)
                break
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        code = proc.wait()
    text = "\n".join(kept)
    if stop_reason == "cancelled":
        return CommandResult(argv, None, text, error="cancelled", cancelled=True)
    if stop_reason == "timeout":
        return CommandResult(
            argv, None, text, error=f"stopped after {timeout:g} s without finishing", timed_out=True
        )
    return CommandResult(argv, code, text)


def which(*names: str) -> str | None:
    """The first of `names` found on PATH, as a full path."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None
