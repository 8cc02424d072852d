"""What the commands share: the errors that are the user's, trace options, and how a run is printed."""

from __future__ import annotations

import argparse
import json
import sys

from pmtimer_harness.core.config import ConfigError
from pmtimer_harness.core.machine import InstructionTraceOptions, TraceSink
from pmtimer_harness.core.result import RunResult, Verdict
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.options import address_range, number
from pmtimer_harness.tools.runner import GuestRun

# Exit statuses, the same for every command (README, "Exit status").
PASS_STATUS = 0
FAIL_STATUS = 1  # the guest failed; for suite and matrix: a guest's verdict was not the one expected
USAGE_ERROR = 2  # the command cannot run: a bad option, a missing or unusable file, NASM rejecting the source
TIMEOUT_STATUS = 3  # timeout or halted
ERROR_STATUS = 4  # an error verdict: the guest did something the machine refuses
INTERRUPTED_STATUS = 130  # Ctrl-C: 128 + SIGINT, what a shell reports for a program Ctrl-C ended
SKIP_STATUS = 77  # every check the guest made was SKIP: automake's and kvm-unit-tests' "skipped"
VERDICT_STATUS = {
    Verdict.PASS: PASS_STATUS,
    Verdict.FAIL: FAIL_STATUS,
    Verdict.ERROR: ERROR_STATUS,
    Verdict.TIMEOUT: TIMEOUT_STATUS,
    Verdict.HALTED: TIMEOUT_STATUS,
    Verdict.INTERRUPTED: INTERRUPTED_STATUS,
    Verdict.SKIP: SKIP_STATUS,
}


def user_errors() -> tuple[type[Exception], ...]:
    """The errors that are the user's (one line, USAGE_ERROR), imported when first asked for: a run starts fast."""
    from pmtimer_harness.core.snapshot_format import SnapshotError
    from pmtimer_harness.frontends.plot import PlotError, PlotUnavailable
    from pmtimer_harness.peers.bochs import BochsUnavailable
    from pmtimer_harness.peers.disk import DiskError
    from pmtimer_harness.peers.qemu import QemuUnavailable
    from pmtimer_harness.tools.assembler import AssemblyError, NasmNotFound
    from pmtimer_harness.tools.guest import GuestError
    from pmtimer_harness.tools.options import HeaderOptionError

    # BrokenPipeError is an OSError: main() handles it first.
    return (
        GuestError, AssemblyError, NasmNotFound, ConfigError, HeaderOptionError, OSError, PlotUnavailable, PlotError,
        SnapshotError, QemuUnavailable, BochsUnavailable, DiskError,
    )


def __getattr__(name: str) -> object:
    # USER_ERRORS, for the commands that catch them while they run (PEP 562: built on first use).
    if name == "USER_ERRORS":
        return user_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def count(text: str) -> int:
    """A whole number of things, 0 or more: a count of instructions or lines cannot be negative."""
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; a count is 0 or more")
    return value


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-cache", action="store_true",
                        help="assemble afresh and keep nothing (as HARNESS_NO_CACHE=1)")


def use_cache(args: argparse.Namespace) -> bool | None:
    """False when --no-cache was given, else None: the environment decides."""
    return False if args.no_cache else None


def add_trace_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trace", nargs="?", const="ports", choices=("ports", "insn"),
        help="print every port access (ports, the default) or every instruction as well (insn)",
    )
    parser.add_argument("--trace-limit", type=count, default=10_000, metavar="N",
                        help="stop the instruction trace after N instructions (default 10,000)")
    parser.add_argument("--trace-range", type=address_range, action="append", default=[], metavar="FIRST-LAST",
                        help="trace only instructions in this address range (repeatable), e.g. 0x7c00-0x7cff")


def trace_options(args: argparse.Namespace) -> tuple[TraceSink | None, InstructionTraceOptions | None]:
    """The trace sink (stderr when standard output carries JSON) and the instruction trace, as asked."""
    stream = sys.stderr if args.json else sys.stdout
    trace = (lambda line: print(line, file=stream)) if args.trace else None
    instructions = None
    if args.trace == "insn":
        instructions = InstructionTraceOptions(limit=args.trace_limit, ranges=tuple(args.trace_range))
    return trace, instructions


def report_run(run: GuestRun, as_json: bool) -> int:
    for warning in run.result.warnings:
        print(f"harness: note: {warning}", file=sys.stderr)
    if as_json:
        print(json.dumps(run.as_dict(), indent=2, default=str))
    else:
        print(format_run(run))
    return VERDICT_STATUS[run.result.verdict]


def format_run(run: GuestRun) -> str:
    result = run.result
    lines = []
    if result.console:
        lines.append(printable(result.console.rstrip("\n")))
        lines.append("")
    code = f" (exit code {result.exit_code})" if result.exit_code is not None else ""
    lines.append(f"{shown_name(run.guest.name)}: {result.verdict.value}{code}")
    if result.report is not None:
        lines.append(result.report.format())
    lines.append(figures(result))
    return "\n".join(lines)


def figures(result: RunResult) -> str:
    counted = "not counted (host clock)" if result.instructions is None else f"{result.instructions:,}"
    parts = [f"{counted} instructions", f"{result.port_reads:,} port reads"]
    if result.virtual_ns is not None:
        parts.append(f"{result.virtual_ns / 1e9:.9f} s virtual")
    parts.append(f"{result.wall_seconds:.3f} s wall")
    return ", ".join(parts)


def printable(console: str) -> str:
    """Guest console text safe for a terminal: control characters (an escape sequence) shown as \\xNN.

    Line breaks and tabs stay; ``--json`` keeps the console exactly as the guest wrote it.
    """
    return "".join(
        character if character.isprintable() or character in "\n\t" else _escaped(character)
        for character in console.replace("\r\n", "\n")
    )


def _escaped(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
