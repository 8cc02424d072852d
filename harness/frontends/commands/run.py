"""``run GUEST`` and ``resume SNAPSHOT``: one guest to its verdict."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TextIO

from pmtimer_harness.core.machine import Machine
from pmtimer_harness.devices.uart16550 import MAX_INPUT_BYTES
from pmtimer_harness.frontends.commands.common import (
    add_cache_option,
    add_trace_options,
    count,
    report_run,
    trace_options,
    traces_on_console,
    use_cache,
)
from pmtimer_harness.tools.files import read_bytes
from pmtimer_harness.tools.guest import is_source, source_dependencies
from pmtimer_harness.tools.options import add_machine_options, tcp_port
from pmtimer_harness.tools.output import refuse_inputs
from pmtimer_harness.tools.runner import GuestRun, RunWatcher, guest_config, resume_snapshot, run_guest


def add_to(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run one guest (.asm or .bin)")
    run.add_argument("guest", help="path to a NASM (.asm) or C (.c, .S) source, an ELF (.elf) or a flat binary (.bin)")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_trace_options(run)
    add_cache_option(run)
    run.add_argument("--snapshot", type=Path, metavar="FILE",
                     help="where to save snapshots: at --save-at, and whenever the guest writes port 0xF5")
    run.add_argument("--save-at", type=count, metavar="N",
                     help="save a snapshot once N instructions have retired (virtual clock), then go on")
    run.add_argument("--gdb", type=tcp_port, metavar="PORT",
                     help="serve the GDB remote protocol on localhost:PORT (0: any free port) and wait for gdb")
    run.add_argument("--uart-input", type=Path, metavar="FILE",
                     help=f"send FILE's bytes (at most {MAX_INPUT_BYTES:,}) to COM1's receiver from time 0, one "
                          "character time apart at the baud rate the guest programs (docs/machine.md)")
    add_machine_options(run)
    run.set_defaults(handler=command_run)

    resume = commands.add_parser("resume", help="restore a snapshot and run it to the end")
    resume.add_argument("file", help="a snapshot written by --snapshot")
    resume.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_trace_options(resume)
    resume.add_argument("--snapshot", type=Path, metavar="FILE", help="where the guest's own snapshot requests go")
    resume.add_argument("--platform", metavar="NAME",
                        help="restore onto this platform's board (default: the one the snapshot recorded)")
    resume.add_argument("--device", action="append", default=[], metavar="SPEC",
                        help="a device of your own, in place of the one the snapshot records by its name, or "
                             "added (from its reset state); the recorded ones are rebuilt by themselves")
    resume.set_defaults(handler=command_resume)


def command_run(args: argparse.Namespace) -> int:
    for output in (args.snapshot, args.trace_file):
        if output is not None:
            refuse_inputs(output, [*guest_inputs(Path(args.guest), args), *_uart_inputs(args)])
    uart_input = None if args.uart_input is None else read_bytes(args.uart_input, MAX_INPUT_BYTES)
    echo = _Echo(args)
    with trace_options(args) as (trace, instructions):
        run = run_guest(
            args.guest, args, trace=trace, instruction_trace=instructions,
            progress=echo.watcher(_status_line(args) if args.gdb is None else None), gdb_port=args.gdb,
            snapshot_path=args.snapshot, save_at=args.save_at, use_cache=use_cache(args), uart_input=uart_input,
        )
    return report_run(echo.reported(run), args.json)


def guest_inputs(guest: Path, args: argparse.Namespace) -> list[Path]:
    """The files a run of ``guest`` reads: the guest, and for a source every file its build reads."""
    if not (guest.is_file() and is_source(guest)):
        return [guest]  # a missing guest is the run's to report
    _, config = guest_config(guest, args)
    return [guest, *source_dependencies(guest, config, use_cache=use_cache(args))]


def _uart_inputs(args: argparse.Namespace) -> list[Path]:
    return [] if args.uart_input is None else [args.uart_input]


def command_resume(args: argparse.Namespace) -> int:
    if args.trace_file is not None:
        refuse_inputs(args.trace_file, [args.file])
    echo = _Echo(args)
    with trace_options(args) as (trace, instructions):
        run = resume_snapshot(
            args.file, trace=trace, instruction_trace=instructions, progress=echo.watcher(_status_line(args)),
            snapshot_path=args.snapshot, platform=args.platform, devices=args.device,
        )
    return report_run(echo.reported(run), args.json)


def _status_line(args: argparse.Namespace) -> RunWatcher | None:
    """A long run's status line, unless a trace is printed where it would go."""
    if traces_on_console(args):
        return None
    from pmtimer_harness.frontends.progress import RunProgress  # threads and the terminal: only a run that shows it

    return RunProgress


class _Echo:
    """The console on the terminal as it comes: on stdout before the report, or on stderr beside ``--json``.

    A trace printed on the console keeps the console for the report, as before;
    the status line gives way to an echo on a terminal, where the two would
    overwrite each other.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.stream: TextIO | None = None if traces_on_console(args) else sys.stderr if args.json else sys.stdout
        self.shown = False

    def watcher(self, status_line: RunWatcher | None) -> RunWatcher | None:
        stream = self.stream
        if stream is None:
            return status_line
        if stream.isatty():
            status_line = None

        @contextmanager
        def watch(machine: Machine, name: str) -> Iterator[None]:
            from pmtimer_harness.frontends.console_echo import ConsoleEcho  # a thread: only a run that shows it

            with ExitStack() as stack:
                if status_line is not None:
                    stack.enter_context(status_line(machine, name))
                echo = stack.enter_context(ConsoleEcho(machine, stream))
                yield
            self.shown = echo.shown

        return watch

    def reported(self, run: GuestRun) -> GuestRun:
        """The run as the report shows it: without the console text already on stdout."""
        if not self.shown or self.stream is not sys.stdout:
            return run
        return run.replace(result=run.result.replace(console=""))
