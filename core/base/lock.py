"""One writer at a time: a lock file next to what is written.

The rule (docs/reliability.md): an output folder, a report folder, a deployed model name and the
settings file are locked while a run writes them. A second writer is refused (`Busy`, a refusal:
exit 2) with a message naming the first one's process id; a lock whose process is gone (killed,
crashed) is taken over, and `took_over` says whose it was so the caller can tell the user.

The lock of `<parent>/<name>` is the file `<parent>/.<name>.lock`, created with O_EXCL (atomic on
every platform and file system the tool supports). It holds the owner's pid and the process's
start time, so a pid that was reused by another program does not keep a dead run's lock alive.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from slm_wizard.core.base.status import Refused

SUFFIX = ".lock"


class Busy(Refused):
    """Another run is writing the same thing (the message names its process)."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class LockError(Refused):
    """The lock file cannot be written where the output goes (a file in the way, no access)."""


def lock_path(target: Path) -> Path:
    """`<parent>/.<name>.lock` (a long name is shortened, so the lock never makes a legal path
    too long)."""
    target = Path(target)
    name = target.name or "root"
    if len(name.encode("utf-8")) > 200:
        name = name[:80] + "-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:12]
    return target.parent / f".{name}{SUFFIX}"


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def _alive(pid: int, started: float | None) -> bool:
    """The process `pid` runs and is the one that took the lock (same start time)."""
    import psutil

    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except (psutil.Error, OSError):
        return True  # exists, but we may not look at it


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class Lock:
    """`with Lock(target, what):` holds the lock of `target` while inside.

    `what` says what the holder does ("convert into /x/out"), shown to a refused second writer.
    `wait`: seconds to wait for a live holder before refusing (the settings file waits a little;
    outputs refuse at once)."""

    def __init__(self, target: Path, what: str, *, wait: float = 0.0) -> None:
        self.target = Path(target)
        self.path = lock_path(self.target)
        self.what = what
        self.wait = wait
        self.took_over: int | None = None  # the pid of a dead holder whose lock was taken over
        self._held = False

    @property
    def notice(self) -> str:
        """One sentence about a taken-over stale lock ("" when there was none)."""
        if self.took_over is None:
            return ""
        who = f"process {self.took_over}" if self.took_over else "a process"
        return (f"Took over the lock {self.path} of {who}, which is no longer running (it was "
                "interrupted).")

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"pid": os.getpid(), "started": _start_time(os.getpid()),
                       "what": self.what, "since": time.strftime("%Y-%m-%d %H:%M:%S")}, fh)
        return True

    def _take_over_if_stale(self) -> dict | None:
        """The holder's record when it is alive; None after removing a stale lock."""
        info = _read(self.path)
        pid = info.get("pid")
        if not isinstance(pid, int):  # being written this instant, or damaged
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return None
            if age < 5.0:
                return {"pid": None, "what": "another run"}
            pid = 0
        started = info.get("started")
        if _alive(pid, started if isinstance(started, (int, float)) else None):
            return info
        # Stale: move it aside under a name of our own (atomic), so that two runs taking over
        # at once do not remove each other's fresh lock.
        aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return None
        if _read(aside).get("pid") != info.get("pid"):  # a fresh lock came in between: restore
            with contextlib.suppress(OSError):
                os.link(aside, self.path)
            aside.unlink(missing_ok=True)
            return _read(self.path) or {"pid": None, "what": "another run"}
        aside.unlink(missing_ok=True)
        self.took_over = pid
        return None

    def acquire(self) -> Lock:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                created = self._create()
            except OSError as exc:
                raise LockError(f"cannot write in {self.path.parent} ({exc.strerror or exc}): "
                                "choose another folder.") from None
            if created:
                self._held = True
                return self
            holder = self._take_over_if_stale()
            if holder is None:
                continue
            if time.monotonic() >= deadline:
                pid = holder.get("pid")
                who = f"process {pid}" if pid else "another process"
                doing = holder.get("what") or "another slm-wizard run"
                since = f" since {holder['since']}" if holder.get("since") else ""
                raise Busy(f"{self.target} is in use by {who} ({doing}{since}): wait for it to "
                           f"finish, then run again (its lock: {self.path}).",
                           pid if isinstance(pid, int) else None)
            time.sleep(0.05)

    def release(self) -> None:
        if self._held:
            self._held = False
            if _read(self.path).get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
