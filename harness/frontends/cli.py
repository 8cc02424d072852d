"""Command line: ``python -m pmtimer_harness COMMAND``; each command lives in ``commands/``.

Exit status (``commands/common.py``): 0 pass, 1 fail, 2 usage error,
3 timeout or halted, 4 error verdict.  A user mistake (a missing guest, an
option out of range, NASM rejecting the source) gets one clear message and
status 2, as argparse gives its own usage errors, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from pmtimer_harness import __version__
from pmtimer_harness.frontends.commands import (
    cache,
    differential,
    matrix,
    platforms,
    plot,
    qemu,
    run,
    snapshot,
    suite,
    tables,
)
from pmtimer_harness.frontends.commands.common import USAGE_ERROR, USER_ERRORS

COMMANDS = (run, snapshot, tables, plot, qemu, differential, suite, cache, platforms, matrix)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (argparse prints the whole usage first), with the usage status."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(USAGE_ERROR, f"harness: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m pmtimer_harness",
        description="Run x86 guests under Unicorn against Python device models (ACPI PM timer, bhyve style).",
    )
    parser.add_argument("--version", action="version", version=f"pmtimer-harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_to(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as error:
        print(f"harness: error: {error}", file=sys.stderr)
        return USAGE_ERROR
