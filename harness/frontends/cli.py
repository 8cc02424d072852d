"""Command line: ``python -m pmtimer_harness run GUEST``, ``python -m pmtimer_harness suite``.

Exit status: 0 pass, 1 fail, 2 error or usage error, 3 timeout or halted.
A user mistake (a missing guest, an option out of range, NASM rejecting the
source) gets one clear message and status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pmtimer_harness.core.config import ConfigError
from pmtimer_harness.core.machine import InstructionTraceOptions, TraceSink
from pmtimer_harness.core.result import RunResult
from pmtimer_harness.core.snapshot_format import SnapshotError
from pmtimer_harness.frontends.plot import NothingToPlot, PlotUnavailable, plot_guest
from pmtimer_harness.frontends.suite import bundled_guests, format_table
from pmtimer_harness.peers.qemu import QemuUnavailable, find_qemu, portability, run_in_qemu
from pmtimer_harness.platform.acpi_tables import build_tables, dump
from pmtimer_harness.tools.assembler import AssemblyError, NasmNotFound
from pmtimer_harness.tools.guest import GuestError, check_guest_path
from pmtimer_harness.tools.options import HeaderOptionError, add_machine_options, address_range, machine_config, number
from pmtimer_harness.tools.runner import GuestRun, resume_snapshot, run_guest

USAGE_ERROR = 2
USER_ERRORS = (
    GuestError, AssemblyError, NasmNotFound, ConfigError, HeaderOptionError, OSError, PlotUnavailable, NothingToPlot,
    SnapshotError, QemuUnavailable,
)
# BrokenPipeError is an OSError: main() handles it first.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pmtimer_harness",
        description="Run x86 guests under Unicorn against Python device models (ACPI PM timer, bhyve style).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run one guest (.asm or .bin)")
    run.add_argument("guest", help="path to a NASM source (.asm) or raw flat binary (.bin)")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    run.add_argument(
        "--trace", nargs="?", const="ports", choices=("ports", "insn"),
        help="print every port access (ports, the default) or every instruction as well (insn)",
    )
    run.add_argument("--snapshot", type=Path, metavar="FILE",
                     help="where to save snapshots: at --save-at, and whenever the guest writes port 0xF5")
    run.add_argument("--save-at", type=number, metavar="N",
                     help="save a snapshot once N instructions have retired (virtual clock), then go on")
    run.add_argument("--gdb", type=number, metavar="PORT",
                     help="serve the GDB remote protocol on localhost:PORT (0: any free port) and wait for gdb")
    run.add_argument("--trace-limit", type=number, default=10_000, metavar="N",
                     help="stop the instruction trace after N instructions (default 10,000)")
    run.add_argument("--trace-range", type=address_range, action="append", default=[], metavar="FIRST-LAST",
                     help="trace only instructions in this address range (repeatable), e.g. 0x7c00-0x7cff")
    add_machine_options(run)
    resume = commands.add_parser("resume", help="restore a snapshot and run it to the end")
    resume.add_argument("file", help="a snapshot written by --snapshot")
    resume.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    resume.add_argument("--trace", nargs="?", const="ports", choices=("ports", "insn"),
                        help="print every port access (ports) or every instruction as well (insn)")
    resume.add_argument("--trace-limit", type=number, default=10_000, metavar="N")
    resume.add_argument("--trace-range", type=address_range, action="append", default=[], metavar="FIRST-LAST")
    resume.add_argument("--snapshot", type=Path, metavar="FILE", help="where the guest's own snapshot requests go")
    snapshot = commands.add_parser("snapshot", help="inspect a snapshot")
    snapshot_commands = snapshot.add_subparsers(dest="snapshot_command", required=True, metavar="ACTION")
    info = snapshot_commands.add_parser("info", help="print the header, configuration and chunks")
    info.add_argument("file", help="a snapshot")
    tables = commands.add_parser("tables", help="dump the ACPI tables the machine gives its guests")
    add_machine_options(tables)
    plot = commands.add_parser("plot", help="draw the timer values a guest read against time (needs matplotlib)")
    plot.add_argument("guest", help="path to a NASM source (.asm) or raw flat binary (.bin)")
    plot.add_argument("-o", "--output", default="timer.png", help="the picture to write (default timer.png)")
    add_machine_options(plot)
    qemu = commands.add_parser("qemu", help="run one guest, unmodified, in QEMU (needs qemu-system-x86_64)")
    qemu.add_argument("guest", help="path to a NASM source (.asm)")
    qemu.add_argument("--timeout", type=float, default=60.0, help="kill QEMU after this many seconds (default 60)")
    differential = commands.add_parser("differential", help="run every portable bundled guest here and in QEMU")
    differential.add_argument("--timeout", type=float, default=60.0, help="per guest, in QEMU (default 60)")
    suite = commands.add_parser("suite", help="run every bundled guest and print a table")
    suite.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    add_machine_options(suite)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return command_run(args)
        if args.command == "tables":
            return command_tables(args)
        if args.command == "plot":
            return command_plot(args)
        if args.command == "qemu":
            return command_qemu(args)
        if args.command == "differential":
            return command_differential(args)
        if args.command == "resume":
            return command_resume(args)
        if args.command == "snapshot":
            return command_snapshot(args)
        return command_suite(args)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as error:
        print(f"harness: error: {error}", file=sys.stderr)
        return USAGE_ERROR


def trace_options(args: argparse.Namespace) -> tuple[TraceSink | None, InstructionTraceOptions | None]:
    """The trace sink (stderr when standard output carries JSON) and the instruction trace, as asked."""
    stream = sys.stderr if args.json else sys.stdout
    trace = (lambda line: print(line, file=stream)) if args.trace else None
    instructions = None
    if args.trace == "insn":
        instructions = InstructionTraceOptions(limit=args.trace_limit, ranges=tuple(args.trace_range))
    return trace, instructions


def command_run(args: argparse.Namespace) -> int:
    trace, instructions = trace_options(args)
    run = run_guest(
        args.guest, args, trace=trace, instruction_trace=instructions,
        show_progress=not args.trace and args.gdb is None, gdb_port=args.gdb,
        snapshot_path=args.snapshot, save_at=args.save_at,
    )
    return report_run(run, args.json)


def command_resume(args: argparse.Namespace) -> int:
    trace, instructions = trace_options(args)
    run = resume_snapshot(
        args.file, trace=trace, instruction_trace=instructions, show_progress=not args.trace,
        snapshot_path=args.snapshot,
    )
    return report_run(run, args.json)


def describe_snapshot(data: bytes) -> str:
    from pmtimer_harness.core.snapshot import describe

    return describe(data)


def command_snapshot(args: argparse.Namespace) -> int:
    try:
        data = Path(args.file).read_bytes()
    except OSError as error:
        raise SnapshotError(f"{args.file}: {error.strerror or error}") from None
    try:
        print(describe_snapshot(data))
    except SnapshotError as error:
        raise SnapshotError(f"{args.file}: {error}") from None
    return 0


def report_run(run: GuestRun, as_json: bool) -> int:
    for warning in run.result.warnings:
        print(f"harness: note: {warning}", file=sys.stderr)
    if as_json:
        print(json.dumps(run.as_dict(), indent=2, default=str))
    else:
        print(format_run(run))
    return run.result.verdict.exit_status


def command_plot(args: argparse.Namespace) -> int:
    output = Path(args.output)
    run = plot_guest(args.guest, args, output)
    print(f"{output}: {run.guest.name}, verdict {run.result.verdict.value}")
    return 0


def command_qemu(args: argparse.Namespace) -> int:
    guest = Path(args.guest)
    check_guest_path(guest)
    reason = portability(guest)
    if reason is not None:
        print(f"harness: note: {guest.name} is marked not portable: {reason}", file=sys.stderr)
    run = run_in_qemu(guest, args.timeout)
    if run.console:
        print(run.console.rstrip("\n"))
        print()
    code = f" (exit code {run.exit_code})" if run.exit_code is not None else ""
    print(f"{guest.name} in QEMU: {run.verdict}{code}, {run.wall_seconds:.2f} s wall")
    return {"pass": 0, "fail": 1, "error": 2, "timeout": 3}[run.verdict]


def command_differential(args: argparse.Namespace) -> int:
    from pmtimer_harness.peers.differential import compare, format_comparisons

    find_qemu()
    comparisons = [compare(guest, args.timeout) for guest in bundled_guests()]
    print(format_comparisons(comparisons))
    return 0 if all(item.agree for item in comparisons) else 1


def command_tables(args: argparse.Namespace) -> int:
    config = machine_config((), args)
    print(dump(build_tables(config.timer_port, config.timer_width)), end="")
    return 0


def command_suite(args: argparse.Namespace) -> int:
    runs = []
    from pmtimer_harness.frontends.progress import SuiteProgress  # tqdm: only the suite needs it

    guests = bundled_guests()
    with SuiteProgress(len(guests)) as progress:
        for guest in guests:
            progress.starting(guest.name)
            try:
                runs.append(run_guest(guest, args))
            except USER_ERRORS as error:
                print(f"harness: error: {guest.name}: {error}", file=sys.stderr)
                return USAGE_ERROR
            progress.finished(runs[-1])
    if args.json:
        print(json.dumps([run.as_dict() for run in runs], indent=2, default=str))
    else:
        print(format_table(runs))
    return 0 if all(run.as_expected for run in runs) else 1


def format_run(run: GuestRun) -> str:
    result = run.result
    lines = []
    if result.console:
        lines.append(result.console.rstrip("\n"))
        lines.append("")
    code = f" (exit code {result.exit_code})" if result.exit_code is not None else ""
    lines.append(f"{run.guest.name}: {result.verdict.value}{code}")
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
