"""Signals that end a run: Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed terminal) are one thing.

The rule (docs/reliability.md): each of them stops the child work, leaves nothing half-written,
prints one line and exits with 128 + the signal's number (130, 143, 129). SIGINT already raises
KeyboardInterrupt in the main thread; `install()` makes SIGTERM and SIGHUP raise `Interrupted`,
a KeyboardInterrupt that remembers its signal, so every `except KeyboardInterrupt` clean-up path
(temporary folders, child process groups, the CLI's one line) serves all three.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

# The signals handled like Ctrl-C, where the platform has them (Windows has no SIGHUP).
STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; `signum` says which (SIGINT for a plain Ctrl-C)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(exc: BaseException | int | None = None) -> int:
    """128 + the signal's number: of an `Interrupted`, of a signal number, else SIGINT's (130)."""
    signum = exc if isinstance(exc, int) else getattr(exc, "signum", signal.SIGINT)
    return 128 + int(signum)


def _raise(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise `Interrupted` in the main thread (as SIGINT raises
    KeyboardInterrupt); the previous handlers come back after. A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in STOP_SIGNALS if s != signal.SIGINT}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def ignore_further() -> None:
    """After the run has said it was interrupted: a second signal must not end the process by
    the signal while the interpreter shuts down (the exit code would then not be the one said)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in STOP_SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def on_stop_signal(callback: Callable[[int], None]) -> Iterator[None]:
    """While inside: each stop signal calls `callback(signum)` instead of raising (for a run that
    stops itself cleanly, e.g. convert cancelling Olive). Restores the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda signum, _f: callback(signum)) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
