"""The output streams (cli.main): a closed pipe ends quietly (exit 141, 128 + SIGPIPE), a full or
closed stdout is one line on stderr (exit 1), a closed stdin is refused where it is read (exit 2);
never a "bug" message or a traceback."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slm_wizard.cli.main import EXIT_PIPE, main
from tests.helpers.folders import make_model


class _Failing(io.StringIO):
    """A stdout whose writes fail as a closed pipe or a full disk makes them fail."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error


@pytest.mark.parametrize("argv", [["inspect", "{m}"], ["inspect", "{m}", "--json"],
                                  ["template", "{m}", "--show"]])
def test_a_closed_pipe_ends_quietly(argv: list[str], tmp_path: Path, monkeypatch,
                                    capsys) -> None:
    folder = make_model(tmp_path / "m")
    monkeypatch.setattr(sys, "stdout", _Failing(BrokenPipeError(errno.EPIPE, "Broken pipe")))
    code = main([a.format(m=folder) for a in argv])
    assert code == EXIT_PIPE == 141
    assert capsys.readouterr().err == ""


def test_a_full_stdout_is_one_line_on_stderr(tmp_path: Path, monkeypatch, capsys) -> None:
    folder = make_model(tmp_path / "m")
    monkeypatch.setattr(sys, "stdout", _Failing(OSError(errno.ENOSPC, "No space left on device")))
    code = main(["inspect", str(folder)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "cannot write to the standard output" in err
    assert "No space left on device" in err and "bug" not in err


def test_stdout_closed_at_the_start_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    folder = make_model(tmp_path / "m")
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["inspect", str(folder)]) == 1
    assert "standard output (it is closed)" in capsys.readouterr().err


def test_chat_repl_with_stdin_closed_is_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    from tests.helpers.folders import make_onnx

    folder = make_onnx(tmp_path / "onnx")
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["chat", str(folder)]) == 2
    assert "standard input is closed" in capsys.readouterr().err


def test_the_wizard_with_stdin_closed_is_refused(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    assert main([]) == 2
    assert "standard input is closed" in capsys.readouterr().err


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slm_wizard.cli", *args], text=True,
                          stderr=subprocess.PIPE, timeout=120, **kw)  # type: ignore[call-overload]


def test_real_processes_pipe_full_and_closed(tmp_path: Path) -> None:
    """As a shell runs them: `| head -1`, `> /dev/full`, `>&-`."""
    folder = str(make_model(tmp_path / "m"))
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        res = _run(["inspect", folder], stdout=write)
    finally:
        os.close(write)
    assert (res.returncode, res.stderr) == (141, "")
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            res = _run(["inspect", folder], stdout=full)
        assert res.returncode == 1 and "No space left" in res.stderr
        assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr
    res = _run(["inspect", folder], stdout=subprocess.DEVNULL,
               preexec_fn=lambda: os.close(1))  # noqa: PLW1509 - the child's own stdout
    assert res.returncode == 1 and "it is closed" in res.stderr


def test_a_repl_line_that_is_not_utf8_is_named_and_the_chat_goes_on(tmp_path: Path,
                                                                    monkeypatch, capsys) -> None:
    from slm_wizard.cli.commands import chat as command
    from slm_wizard.core.steps import chat as step
    from tests.helpers import FakeChatBackend

    class Stdin(io.TextIOWrapper):
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", Stdin(io.BytesIO(b"caf\xe9\nhello\n")))
    backend = FakeChatBackend()
    code = command._loop(step.new_session(step.Options(str(tmp_path)), backend), backend, False)
    err = capsys.readouterr().err
    assert code == 0 and backend.calls == 1  # the bad line was not sent, the good one was
    assert "that line is not valid UTF-8 text (byte 0xe9 at character 4)" in err
