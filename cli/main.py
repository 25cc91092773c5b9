"""The `slm-wizard` command: plain `slm-wizard` opens the wizard, subcommands run a step headless.

Each subcommand lives in `cli/commands/<name>.py` with `add_parser(subparsers)` and
`run(args) -> int`. Those modules keep their top-level imports light, so `--help` and
`--version` never load torch, transformers, olive or onnxruntime.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from slm_wizard.core import __version__

if TYPE_CHECKING:
    import argparse

# The order in which the steps appear in `--help` (the guide's order).
ORDER = ("check", "inspect", "convert", "template", "deploy", "chat", "bench", "validate", "sweep",
         "serve", "demo")


def _command_modules() -> list:
    import pkgutil

    from slm_wizard.cli import commands

    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return [importlib.import_module(f"slm_wizard.cli.commands.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    import argparse  # here: plain `slm-wizard` opens the wizard without it

    parser = argparse.ArgumentParser(
        prog="slm-wizard",
        description="From a fine-tuned small language model (a Hugging Face folder) to a quantized "
        "ONNX model running in Foundry Local. Without a subcommand, the interactive wizard opens.",
    )
    parser.add_argument("--version", action="version", version=f"slm-wizard {__version__}")
    parser.add_argument(
        "--config-dir",
        metavar="DIR",
        help="where settings and saved progress live (default: the platform's config folder; "
        "also SLM_WIZARD_CONFIG_DIR)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for module in _command_modules():
        module.add_parser(sub)
    return parser


def _is_path_action(action: argparse.Action) -> bool:
    """An argument that names a file or folder (type Path, or a DIR/FILE metavar)."""
    from pathlib import Path

    metavar = action.metavar if isinstance(action.metavar, str) else ""
    return action.type is Path or metavar.endswith(("DIR", "FILE", "OUT"))


def empty_path_argument(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The name of the first path argument given as an empty text, else None.

    An empty path is refused everywhere: `Path("")` is the current folder, so `--out ""` would
    otherwise mean "here" (and `--force` would empty it)."""
    import argparse

    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    argv = list(argv)
    if sub is None or not argv or argv[0] not in sub.choices:
        return None
    cmd: argparse.ArgumentParser = sub.choices[argv[0]]
    by_option = {o: a for a in cmd._actions for o in a.option_strings}
    positionals = [a for a in cmd._actions if not a.option_strings]
    position = 0
    tokens = argv[1:]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-") and token != "-" and len(token) > 1:
            name, eq, value = token.partition("=")
            action = by_option.get(name)
            takes_value = action is not None and action.nargs != 0
            if action is not None and eq and takes_value and not value.strip() \
                    and _is_path_action(action):
                return name
            if takes_value and not eq:
                if i + 1 < len(tokens) and not tokens[i + 1].strip() and _is_path_action(action):
                    return name
                i += 1  # skip the option's value
        else:
            if position < len(positionals):
                action = positionals[position]
                if not token.strip() and _is_path_action(action):
                    return action.metavar if isinstance(action.metavar, str) else action.dest
                position += 1
        i += 1
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not _after_global(argv):  # the wizard itself: no subcommand modules to load first
        return _open_wizard(argv)
    parser = build_parser()
    empty = empty_path_argument(parser, _after_global(argv))
    if ("--config-dir" in argv[:-1] and not argv[argv.index("--config-dir") + 1].strip()) \
            or "--config-dir=" in argv:
        empty = "--config-dir"
    if empty is not None:
        return _refuse_empty_path(empty)
    args = parser.parse_args(argv)
    if args.config_dir:
        os.environ["SLM_WIZARD_CONFIG_DIR"] = args.config_dir
    if args.command is None:  # only global options: the wizard, by its one launch path
        return _open_wizard(argv)
    module = importlib.import_module(f"slm_wizard.cli.commands.{args.command}")
    from slm_wizard.core.base import signals
    from slm_wizard.core.base.logfile import CLI_LOG, log_bug, log_to_file
    from slm_wizard.core.base.status import Refused

    log_to_file(CLI_LOG)  # records (tracebacks of bugs included) go there, never to the terminal
    if sys.stdout is None:  # started with stdout closed (`>&-`): say so instead of losing it
        return _output_failed(args.command, None)
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)  # type: ignore[assignment]
    try:  # SIGTERM and SIGHUP end a command as Ctrl-C does (docs/reliability.md)
        with signals.installed():
            code = int(module.run(args) or 0)
        sys.stdout.flush()  # a full or closed stdout fails here, not at exit
        return code
    except OutputError as exc:
        return _output_failed(args.command, exc.error)
    except Refused as exc:  # a step refused its input, in every command: one line, exit 2
        if getattr(args, "json", False):
            import json

            print(json.dumps(exc.to_dict()))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM or SIGHUP
        return _interrupted(args.command, exc)
    except Exception as exc:  # a bug: one line here, the traceback in the log file
        stop = _caused_by_ctrl_c(exc)
        if stop is not None:  # a library wrapped the KeyboardInterrupt (lazy imports)
            return _interrupted(args.command, stop)
        where = log_bug(f"{args.command} failed", exc, CLI_LOG)
        print(f"error: {args.command} failed unexpectedly ({type(exc).__name__}: {exc}); this "
              f"is a bug in slm-wizard, {where}", file=sys.stderr)
        return 1
    finally:
        if isinstance(sys.stdout, _GuardedStdout):
            sys.stdout = stdout


# --- the output streams: a closed pipe ends quietly, a closed or full stdout is one line ------

EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader went away


class OutputError(Exception):
    """Writing to stdout failed (`error`: the OSError); not an OSError itself, so a command's
    own `except OSError` around a file never mistakes it for its file's error."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _GuardedStdout:
    """stdout while a command runs: a failed write or flush raises OutputError."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)  # type: ignore[attr-defined]
        except OSError as exc:
            raise OutputError(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[attr-defined]
        except OSError as exc:
            raise OutputError(exc) from exc

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _output_failed(command: str, exc: OSError | None) -> int:
    """End a command whose stdout cannot be written: quietly for a closed pipe (`| head -1`),
    else one line on stderr. Further writes (and the interpreter's last flush) go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass  # no descriptor (stdout closed at the start, or captured): nothing to redirect
    if isinstance(exc, BrokenPipeError):
        return EXIT_PIPE
    why = "it is closed" if exc is None else (exc.strerror or str(exc))
    print(f"error: {command}: cannot write to the standard output ({why}); the output was lost",
          file=sys.stderr)
    return 1


def _refuse_empty_path(name: str) -> int:
    print(f"error: {name}: the path is empty: give a folder or file name (an empty path is "
          "never read as the current folder)", file=sys.stderr)
    return 2


def _open_wizard(argv: list[str]) -> int:
    """`slm-wizard [--config-dir DIR]`: the interactive wizard, with only the global options
    parsed (building the full parser imports every subcommand: 0.2 s before the first screen)."""
    config_dir = None
    if argv:
        import argparse

        parser = argparse.ArgumentParser(prog="slm-wizard")
        parser.add_argument("--config-dir", metavar="DIR")
        config_dir = parser.parse_args(argv).config_dir
    if config_dir is not None:
        if not config_dir.strip():
            return _refuse_empty_path("--config-dir")
        os.environ["SLM_WIZARD_CONFIG_DIR"] = config_dir
    closed = [name for name, stream in (("input", sys.stdin), ("output", sys.stdout))
              if stream is None]
    if closed:  # the wizard reads keys from stdin and draws on stdout
        print(f"error: the wizard needs a terminal, but the standard {' and '.join(closed)} "
              f"{'is' if len(closed) == 1 else 'are'} closed; the headless commands are listed "
              "by `slm-wizard --help`", file=sys.stderr)
        return 2
    import gc

    # No cyclic garbage collection while Textual and the first screen build their thousands of
    # objects (about 90 collections that free next to nothing); the app turns it back on once
    # the first screen is painted.
    gc.disable()
    try:
        from slm_wizard.tui.app import run_app

        code = run_app(gc_paused=True)
    finally:
        gc.enable()
    if code > 128:  # ended by SIGTERM or SIGHUP: the wizard cancelled its work first
        _interrupted("the wizard", code - 128)
    return code


def _interrupted(command: str, exc: BaseException | int) -> int:
    """The one line of an interrupted command; its exit code is 128 + the signal's number."""
    from slm_wizard.core.base import signals

    code = signals.exit_code(exc)
    by = "" if code == 130 else f" by {signals.signal_name(code - 128)}"
    import contextlib

    with contextlib.suppress(OSError, ValueError):  # SIGHUP: the terminal may be gone
        print(f"interrupted: {command} stopped{by} (exit {code}); nothing was half-written",
              file=sys.stderr)
    return code


def _caused_by_ctrl_c(exc: BaseException) -> KeyboardInterrupt | None:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _after_global(argv: list[str]) -> list[str]:
    """argv from the subcommand on (the global --config-dir DIR skipped)."""
    out = list(argv)
    while out and out[0].startswith("--config-dir"):
        out = out[1:] if "=" in out[0] else out[2:]
    return out


def entry() -> int:
    """The `slm-wizard` program: main(), and after an interruption (exit 128 + signal) no further
    stop signal.

    A Ctrl-C that arrives while the interpreter shuts down (library threads, a signal already
    pending) would otherwise end the process by the signal (exit -2) after the message said 130."""
    from slm_wizard.core.base import signals

    try:
        code = main()
    except KeyboardInterrupt as exc:
        code = signals.exit_code(exc)
    if code - 128 in signals.STOP_SIGNALS:
        signals.ignore_further()
    return code


if __name__ == "__main__":
    sys.exit(entry())
