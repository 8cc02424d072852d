"""Command line: ``python -m pmtimer_harness COMMAND``; each command lives in ``commands/``.

Exit status (``commands/common.py``): 0 pass, 1 fail, 2 usage error,
3 timeout or halted, 4 error verdict, 77 skipped, 130 Ctrl-C (143 SIGTERM,
129 SIGHUP: ``stop_signals.py``).  A user mistake (a missing guest, an
option out of range, NASM rejecting the one guest named) gets one clear message and
status 2, as argparse gives its own usage errors, never a traceback; once the
command line is parsed, ``--json`` and ``--tap`` print the error as their document.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Iterator, Sequence
from importlib import import_module
from typing import NoReturn

from pmtimer_harness import __version__
from pmtimer_harness.frontends import stop_signals

# Each command's name -> its module in commands/ (whose add_to adds it).  Only
# the module of the command being run is imported: start-up stays short.
COMMANDS = {
    "run": "run",
    "resume": "run",
    "snapshot": "snapshot",
    "tables": "tables",
    "plot": "plot",
    "image": "image",
    "qemu": "qemu",
    "differential": "differential",
    "suite": "suite",
    "cache": "cache",
    "platforms": "platforms",
    "matrix": "matrix",
    "fingerprint": "fingerprint",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (argparse prints the whole usage first), with the usage status."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        from pmtimer_harness.frontends.commands.common import USAGE_ERROR

        self.exit(USAGE_ERROR, f"harness: error: {message} (see: {self.prog} --help)\n")


class VersionAction(argparse.Action):
    """-V: the version, and which dispatch runs (the configuration loads only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> NoReturn:
        from pmtimer_harness.core.config import describe_dispatch

        print(f"pmtimer-harness {__version__} ({describe_dispatch()})")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or for ``command``'s module alone when it names one."""
    parser = OneLineParser(
        prog="python -m pmtimer_harness",
        description="Run x86 guests under Unicorn against Python device models (ACPI PM timer, bhyve style).",
    )
    parser.add_argument("-V", "--version", action=VersionAction, help="show the version and the dispatch, and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for module in modules:
        import_module(f"pmtimer_harness.frontends.commands.{module}").add_to(commands)
    return parser


@contextlib.contextmanager
def loading_modules(for_good: bool) -> Iterator[None]:
    """No cyclic garbage collection while a command's modules load: none of their objects is garbage.

    Loading makes tens of thousands of objects (classes, functions, Unicorn's
    constants), and each pass of the collector over them frees nothing.  In a
    process of its own (``for_good``) they are then frozen (``gc.freeze``): the
    collector never walks them again, and the run's own passes stay small.
    Anywhere else (a test calling ``main``) the collector simply resumes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if for_good:
            gc.freeze()
        if was_enabled:
            gc.enable()


def main(argv: Sequence[str] | None = None, own_process: bool = False) -> int:
    """Run one command; ``own_process``: the process ends with it (``entry_point``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = None  # until the command line is parsed: its own mistakes are argparse's to report
    try:
        with loading_modules(for_good=own_process):
            parser = build_parser(arguments[0] if arguments else None)
        args = parser.parse_args(arguments)
        status = args.handler(args)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM, SIGHUP) outside a running guest (assembling, loading, waiting for a peer): one line.
        from pmtimer_harness.frontends.commands.common import INTERRUPTED_STATUS

        print(f"harness: {stop_signals.interrupted()}", file=sys.stderr)
        status = INTERRUPTED_STATUS
    except Exception as error:
        from pmtimer_harness.frontends.commands.common import stop_with, user_errors

        if not isinstance(error, user_errors()):
            raise
        return stop_with(args, str(error))
    if stop_signals.received() is None:
        return status
    from pmtimer_harness.frontends.commands.common import INTERRUPTED_STATUS

    return stop_signals.signalled_status(status, INTERRUPTED_STATUS)


def entry_point() -> int:
    """``pmtimer-harness`` and ``python -m pmtimer_harness``: ``main`` in a process of its own, which then ends."""
    with stop_signals.taken_as_ctrl_c():  # the process's own: never a library user's handlers
        status = main(own_process=True)
    # Everything still alive now lives until the process ends.  Frozen, it is left
    # alone by the collections of the interpreter's shutdown, which otherwise
    # free it object by object: tens of milliseconds of a one-guest run.
    gc.freeze()
    return status
