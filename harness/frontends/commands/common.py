"""What the commands share: the errors that are the user's, trace options, and how a run is printed."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pmtimer_harness.core.config import ConfigError
from pmtimer_harness.core.machine import InstructionTraceOptions
from pmtimer_harness.core.result import RunResult, Verdict
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.options import address_range, number
from pmtimer_harness.tools.output import open_output
from pmtimer_harness.tools.runner import GuestRun

if TYPE_CHECKING:
    from pmtimer_harness.core.machine import TraceSink
    from pmtimer_harness.core.trace import PortRange

# Exit statuses, the same for every command (docs/running.md, "Exit status").
PASS_STATUS = 0
FAIL_STATUS = 1  # a guest not as expected, or one that could not be built (suite, matrix, differential: a row)
USAGE_ERROR = 2  # the command cannot run: a bad option or header value, a missing or unusable file or program
TIMEOUT_STATUS = 3  # timeout or halted
ERROR_STATUS = 4  # an error verdict: the guest did something the machine refuses
INTERRUPTED_STATUS = 130  # Ctrl-C: 128 + SIGINT, what a shell reports for a program Ctrl-C ended
SKIP_STATUS = 77  # every check the guest made was SKIP, or (differential) every run was skipped: automake's "skipped"
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
    from pmtimer_harness.platform.profiles import PlatformError
    from pmtimer_harness.tools.assembler import AssemblyError, NasmNotFound
    from pmtimer_harness.tools.guest import GuestError
    from pmtimer_harness.tools.options import HeaderOptionError

    # BrokenPipeError is an OSError: main() handles it first.
    return (
        GuestError, AssemblyError, NasmNotFound, ConfigError, HeaderOptionError, OSError, PlatformError,
        PlotUnavailable, PlotError, SnapshotError, QemuUnavailable, BochsUnavailable, DiskError,
    )


def __getattr__(name: str) -> object:
    # USER_ERRORS, for the commands that catch them while they run (PEP 562: built on first use).
    if name == "USER_ERRORS":
        return user_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stop_with(args: argparse.Namespace | None, message: str, status: int = USAGE_ERROR) -> int:
    """End a command on an error: one line on standard error, and the document --json or --tap promised.

    A reader of standard output gets a document it can parse, saying what went
    wrong, instead of nothing: ``{"error": ...}``, or TAP's ``Bail out!``.
    """
    print(f"harness: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "status": status}, indent=2))
    elif getattr(args, "tap", False):
        print("TAP version 13\nBail out! " + " ".join(message.split()))  # TAP's reason is one line
    return status


def check_specs(args: argparse.Namespace) -> None:
    """Build each ``--device`` once before the first run: a wrong SPEC is the user's mistake, not every guest's."""
    from pmtimer_harness.core.device_specs import build_device

    for spec in getattr(args, "device", ()):
        build_device(spec)


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


JOBS_ENV = "HARNESS_JOBS"  # the default for -j, as MAKEFLAGS' -j is make's


def add_jobs_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("-j", "--jobs", type=process_count, default=None, metavar="N",
                        help=f"run N {what} at a time, each in a worker process (default: {JOBS_ENV}, else the cores "
                             "there are); 1 runs them one after another in this process")


def jobs(args: argparse.Namespace) -> int:
    """How many at a time: -j, else HARNESS_JOBS, else the cores there are."""
    if args.jobs is not None:
        return args.jobs
    text = os.environ.get(JOBS_ENV, "").strip()
    if not text:
        from pmtimer_harness.tools.parallel import cores

        return cores()
    try:
        return process_count(text)
    except argparse.ArgumentTypeError as error:
        raise ConfigError(f"{JOBS_ENV}: {error}") from None


def process_count(text: str) -> int:
    """A number of worker processes: 1 or more."""
    value = number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 or more (1 runs in this process)")
    return value


def add_trace_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trace", nargs="?", const="ports", choices=("ports", "insn"),
        help="print every port access (ports, the default) or every instruction as well (insn)",
    )
    parser.add_argument("--trace-limit", type=count, default=10_000, metavar="N",
                        help="stop the instruction trace after N instructions (default 10,000)")
    parser.add_argument("--trace-range", type=address_range, action="append", default=[], metavar="FIRST-LAST",
                        help="trace only instructions in this address range (repeatable), e.g. 0x7c00-0x7cff")
    parser.add_argument("--trace-ports", type=port_ranges, action="append", default=[], metavar="PORTS",
                        help="trace only these ports, e.g. 0x408,0x400-0x407 (repeatable; implies --trace)")
    parser.add_argument("--trace-device", type=device_names, action="append", default=[], metavar="NAMES",
                        help="trace only these devices, e.g. pm-timer,acpi-pm1 (repeatable; implies --trace)")
    parser.add_argument("--trace-file", type=Path, metavar="FILE",
                        help="write the trace to FILE, one JSON object a line, instead of printing it "
                             "(implies --trace)")


MAX_PORT = 0xFFFF  # the x86 I/O space


def port_ranges(text: str) -> tuple[PortRange, ...]:
    """PORT or FIRST-LAST, comma-separated: 0x408,0x400-0x407."""
    ranges = []
    for part in text.split(","):
        first, separator, last = part.partition("-")
        low = number(first)
        high = number(last) if separator else low
        if not 0 <= low <= high <= MAX_PORT:
            raise argparse.ArgumentTypeError(f"{part!r} is not a port or a range of ports (0-{MAX_PORT:#x})")
        ranges.append((low, high))
    return tuple(ranges)


def device_names(text: str) -> tuple[str, ...]:
    """Device names, comma-separated: pm-timer,debug-console."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: a device name is empty")
    return names


def traces_on_console(args: argparse.Namespace) -> bool:
    """The trace is printed where a progress line would go: the run shows none."""
    return _trace_mode(args) is not None and args.trace_file is None


def _trace_mode(args: argparse.Namespace) -> str | None:
    narrowed = args.trace_ports or args.trace_device or args.trace_file is not None
    return args.trace or ("ports" if narrowed else None)


@contextlib.contextmanager
def trace_options(args: argparse.Namespace) -> Iterator[tuple[TraceSink | None, InstructionTraceOptions | None]]:
    """The tracer and the instruction trace, as asked, for the length of a run.

    The trace goes to --trace-file as JSON lines (the file appears whole when
    the run ends, as every output does), else as text to standard output, or
    to standard error when standard output carries JSON.
    """
    mode = _trace_mode(args)
    if mode is None:
        yield None, None
        return
    from pmtimer_harness.core.trace import Tracer  # only a traced run: start-up

    instructions = None
    if mode == "insn":
        instructions = InstructionTraceOptions(limit=args.trace_limit, ranges=tuple(args.trace_range))
    narrowing = {"ports": [r for given in args.trace_ports for r in given],
                 "devices": [name for given in args.trace_device for name in given]}
    if args.trace_file is None:
        stream = sys.stderr if args.json else sys.stdout
        yield Tracer(lambda line: print(line, file=stream), **narrowing), instructions
        return
    with open_output(args.trace_file) as file:
        yield Tracer(lambda line: file.write(line.encode() + b"\n"), as_json=True, **narrowing), instructions


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
