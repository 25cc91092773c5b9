"""Run external programs: argument lists (never a shell string), always a timeout, never a raise.

`run_command` captures a short command's output (`cmake --version`, `foundry ...`);
`stream_command` runs a long one (pip, Olive) line by line and can be cancelled. Both start the
program the same way (`_spawn`, `child_options`): in its own process group, so a timeout or a
cancel also ends whatever it started, and (Linux) with a parent-death signal, so it never
outlives the tool, even after `kill -9` of it.
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
    cut_short: bool = False  # ended by us after it said its work was done (see stream_command)
    pid: int | None = None  # the program's process id (and process group id)

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


_PR_SET_PDEATHSIG = 1  # prctl(2) option (Linux)


def _parent_death_hook() -> Callable[[], None] | None:
    """On Linux, a `preexec_fn` that asks the kernel to SIGKILL the child when the thread that
    started it goes away (the tool killed with `kill -9` included); None elsewhere.

    The starting thread must wait for the child (run_command and stream_command do)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def die_with_parent() -> None:  # runs in the child, between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return die_with_parent


def child_options() -> dict:
    """How every child process starts (Popen keyword arguments): in its own process group, so a
    stop or a timeout ends whatever it started, and on Linux with a parent-death signal, so it
    never outlives the tool (docs/reliability.md)."""
    if _WINDOWS:
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    hook = _parent_death_hook()
    return {"start_new_session": True, **({"preexec_fn": hook} if hook else {})}


def _spawn(
    argv: tuple[str, ...],
    *,
    cwd: str | os.PathLike | None,
    env: dict[str, str] | None,
    merge_stderr: bool,
) -> subprocess.Popen | CommandResult:
    """Start `argv` (see child_options) with no stdin and piped output.

    Returns the process, or a CommandResult saying why it could not start."""
    group = child_options()
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            cwd=cwd,
            env=env,
            **group,
        )
    except (OSError, subprocess.SubprocessError) as exc:  # SubprocessError: the hook failed
        if not isinstance(exc, OSError):
            exc = OSError(str(exc))
        return CommandResult(argv, None, error=_start_error(argv, exc))


def _kill_group(proc: subprocess.Popen, sig: int | None = None) -> None:
    """End the program and everything it started (its process group); SIGKILL by default."""
    with contextlib.suppress(OSError):
        if _WINDOWS:
            proc.kill()
        else:
            os.killpg(proc.pid, sig if sig is not None else signal.SIGKILL)


def _interrupt_group(proc: subprocess.Popen) -> None:
    """Ask the program's process group to stop, like Ctrl+C (it may clean up)."""
    if _WINDOWS:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.CTRL_BREAK_EVENT)
    else:
        _kill_group(proc, signal.SIGINT)


def _terminate_group(proc: subprocess.Popen) -> None:
    """End the program's process group at once, without its Ctrl+C handling."""
    _kill_group(proc, None if _WINDOWS else signal.SIGTERM)


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
    proc = _spawn(argv, cwd=cwd, env=env, merge_stderr=False)
    if isinstance(proc, CommandResult):
        return proc
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
            pid=proc.pid,
        )
    return CommandResult(argv, proc.returncode, _decode(out), _decode(err), pid=proc.pid)


def _name(argv: Sequence[str]) -> str:
    return " ".join([os.path.basename(argv[0]), *argv[1:]])


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _split_lines(stream, out: queue.Queue[str | None], split_cr: bool) -> None:
    """Queue every line of `stream`, then None. Progress bars end their updates with a carriage
    return: with `split_cr` each update is a line, else only the line's last state is kept."""
    buf = b""
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        buf += chunk
        *complete, buf = buf.split(b"\n")
        for raw in complete:
            _queue_line(_decode(raw).rstrip("\r"), out, split_cr)
    if buf:
        _queue_line(_decode(buf).rstrip("\r"), out, split_cr)
    out.put(None)


def _queue_line(text: str, out: queue.Queue[str | None], split_cr: bool) -> None:
    if not split_cr:
        out.put(text.split("\r")[-1])
        return
    for part in text.split("\r"):
        if part:
            out.put(part)


def stream_command(
    args: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    keep_lines: int = 200,
    grace: float = 5.0,
    split_cr: bool = False,
    finished: Callable[[str], bool] | None = None,
    finish_grace: float = 0.5,
) -> CommandResult:
    """Run `args`, calling `on_line` for every output line (stdout and stderr merged).

    `cancel` (set from another thread) or the `timeout` ends the program: first politely (SIGINT
    / CTRL_BREAK, so it can clean up), then for good (SIGKILL of its process group) after `grace`
    seconds. The result's stdout holds the last `keep_lines` lines.

    `finished(line)` may say that a line is the program's last useful word (Olive's "Model is
    saved at ..."): if the program has not exited `finish_grace` s later, its process group is
    ended with SIGTERM and the result is marked `cut_short` (its exit code is then 0: its work
    was done; what was cut is only its shutdown).
    """
    argv = tuple(str(a) for a in args)
    proc = _spawn(argv, cwd=cwd, env=env, merge_stderr=True)
    if isinstance(proc, CommandResult):
        return proc

    lines: queue.Queue[str | None] = queue.Queue()
    thread = threading.Thread(target=_split_lines, args=(proc.stdout, lines, split_cr),
                              daemon=True)
    thread.start()
    kept: list[str] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    stop_reason = ""
    asked_at: float | None = None  # when we asked the program to stop
    killed = False
    exited_at: float | None = None
    finished_at: float | None = None
    cut_short = False
    try:
        while True:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                idle = True
            else:
                if line is None:  # end of output
                    break
                idle = False
                kept.append(line)
                del kept[:-keep_lines]
                on_line(line)
                if finished_at is None and finished is not None and finished(line):
                    finished_at = time.monotonic()
            now = time.monotonic()
            if not stop_reason and cancel is not None and cancel.is_set():
                stop_reason = "cancelled"
            if not stop_reason and deadline is not None and now > deadline:
                stop_reason = "timeout"
            if (not stop_reason and finished_at is not None and now - finished_at > finish_grace
                    and proc.poll() is None):
                cut_short = True
                _terminate_group(proc)
                break
            if stop_reason and asked_at is None:
                asked_at = now
                _interrupt_group(proc)
            elif asked_at is not None and not killed and now - asked_at > grace:
                _kill_group(proc)
                killed = True
            if idle and proc.poll() is not None:
                exited_at = exited_at or now
                if now - exited_at > 2.0:  # something it left behind holds the pipe open
                    _kill_group(proc)
                    break
    except BaseException:  # Ctrl-C in the calling thread: the program must not outlive us
        _kill_group(proc)
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
        raise
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        code = proc.wait()
    text = "\n".join(kept)
    if stop_reason == "cancelled":
        return CommandResult(argv, None, text, error="cancelled", cancelled=True, pid=proc.pid)
    if stop_reason == "timeout":
        return CommandResult(
            argv, None, text, error=f"stopped after {timeout:g} s without finishing",
            timed_out=True, pid=proc.pid,
        )
    if cut_short:
        return CommandResult(argv, 0, text, cut_short=True, pid=proc.pid)
    return CommandResult(argv, code, text, pid=proc.pid)


def which(*names: str) -> str | None:
    """The first of `names` found on PATH, as a full path."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None
