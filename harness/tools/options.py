"""Machine options: one parser for the command line and for guests' ``; harness:`` headers.

Every option defaults to "not given", so the header's choices can be laid
under the command line's: header first, command line over it, and
``MachineConfig``'s defaults for whatever neither names.  ``--platform`` sets
the timer's port, width and access rules at once; an explicit option at the
same level or above overrides them, and a platform named on the command line
overrides what the header says about that hardware (the guest runs on the
platform the user chose).
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Sequence

from pmtimer_harness.core.config import (
    DISPATCH_ALIASES,
    DISPATCHES,
    MAX_TIMEOUT_S,
    MachineConfig,
    dispatch_from_environment,
)

SIZE = r"(?i)^(0x[0-9a-f]+|\d+)\s*(k|kib|m|mib|g|gib)?$"  # compiled (and kept) by re once a size is given
SIZE_UNITS = {None: 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}


def number(text: str) -> int:
    """A decimal or 0x-prefixed integer (also 0o and 0b), with _ separators allowed."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def address_range(text: str) -> tuple[int, int]:
    """FIRST-LAST, both addresses included: 0x7c00-0x7cff."""
    first, separator, last = text.partition("-")
    if not separator:
        raise argparse.ArgumentTypeError(f"not an address range: {text!r} (try 0x7c00-0x7cff)")
    low, high = number(first), number(last)
    if low > high:
        raise argparse.ArgumentTypeError(f"the range {text!r} ends before it starts")
    return low, high


def size(text: str) -> int:
    """A byte count: 1048576, 0x100000, 1M, 640K, 2MiB."""
    match = re.match(SIZE, text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1M, 640K or 0x100000)")
    unit = match.group(2).lower() if match.group(2) else None
    return int(match.group(1), 0) * SIZE_UNITS[unit]


def seconds(text: str) -> float:
    """A wall-clock budget: more than 0, at most MAX_TIMEOUT_S; not inf, not nan."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT_S:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    return value


def tcp_port(text: str) -> int:
    """A TCP port to listen on: 0 (any free one) to 65535."""
    value = number(text)
    if not 0 <= value <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0 to 65535; 0 picks a free one)")
    return value


def add_machine_options(parser: argparse.ArgumentParser, *, devices: bool = True) -> None:
    """The machine's options; ``devices``: with ``--device``, for a command that runs a guest."""
    group = parser.add_argument_group("machine")
    unset = argparse.SUPPRESS
    group.add_argument("--memory", type=size, default=unset, help="guest RAM size (default 1M)")
    group.add_argument("--mode", type=int, choices=(16, 32, 64), default=unset,
                       help="start mode: 16 real (default), 32 flat protected, 64 long")
    group.add_argument("--load-address", type=number, default=unset,
                       help="where the image is loaded and started (default 0x7C00)")
    group.add_argument("--strict-io", action="store_true", default=unset,
                       help="an access to an unclaimed port is an error (default: reads all ones)")
    group.add_argument("--max-instructions", type=number, default=unset,
                       help="instruction budget, checked at block boundaries (default 200,000,000; virtual clock only)")
    group.add_argument("--timeout", type=seconds, default=unset, help="wall-clock budget in seconds (default 60)")
    group.add_argument("--dispatch", choices=(*DISPATCHES, *DISPATCH_ALIASES), default=unset,
                       help="native: the hot path compiled (default where it was built); python: the same in "
                            "Python (default elsewhere; 'fast' is its old name); reference: plain Python hooks, one "
                            "call per instruction, to read and step through.  Default: $HARNESS_DISPATCH if set")
    if devices:
        group.add_argument("--device", action="append", default=unset, metavar="SPEC",
                           help="attach your own device: module:Class, module:Class,key=value,... (values are "
                                "Python literals) or an installed device's NAME (repeatable; docs/your-project.md)")
    clock = parser.add_argument_group("clock")
    clock.add_argument("--clock", choices=("virtual", "host"), default=unset,
                       help="virtual: deterministic, from instruction counts (default); host: monotonic host time")
    clock.add_argument("--insn-ns", type=number, default=unset,
                       help="virtual nanoseconds per instruction (default 1)")
    clock.add_argument("--io-ns", type=number, default=unset,
                       help="virtual nanoseconds per port access (default 1000)")
    platform = parser.add_argument_group("platform")
    platform.add_argument("--platform", default=unset, metavar="NAME",
                          help="the platform's timer, PM1 block and FADT at once: acpi (default), bhyve, qemu, "
                               "xen, ... "
                               "(python -m pmtimer_harness platforms)")
    platform.add_argument("--quirk", dest="quirks", action="append", default=unset, metavar="NAME",
                          help="add one platform's flaw to another, e.g. unlatched-reads (repeatable)")
    timer = parser.add_argument_group("ACPI PM timer")
    timer.add_argument("--timer-width", type=int, choices=(24, 32), default=unset,
                       help="counter width in bits (default: the platform's; acpi 32, TMR_VAL_EXT as bhyve sets it)")
    timer.add_argument("--timer-port", type=number, default=unset,
                       help="timer I/O port (default: the platform's; acpi 0x408)")
    timer.add_argument("--timer-start", type=number, default=unset, help="counter value at time 0 (default 0)")
    timer.add_argument("--io-semantics", choices=("bhyve", "qemu"), default=unset,
                       help="bhyve: only 4-byte IN at the timer port; qemu: 1/2/4-byte reads, writes ignored "
                            "(default: the platform's rules)")


class HeaderOptionError(Exception):
    pass


class _HeaderParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise HeaderOptionError(message)


@functools.cache
def header_parser() -> argparse.ArgumentParser:
    """The parser of a guest's ``; harness:`` options: built once, as parsing leaves it unchanged."""
    parser = _HeaderParser(prog="; harness:", add_help=False)
    add_machine_options(parser)
    return parser


def parse_header_options(options: Sequence[str]) -> argparse.Namespace:
    """A header's options parsed; none at all need no parser (every option's default is to be absent)."""
    if not options:
        return argparse.Namespace()
    return header_parser().parse_args(list(options))


OPTION_FIELDS = (
    "memory", "mode", "load_address", "strict_io", "max_instructions", "timeout", "clock",
    "insn_ns", "io_ns", "timer_width", "timer_port", "timer_start", "io_semantics", "platform", "quirks",
    "dispatch",
)
# What a platform decides: a header's word on these gives way to a platform named on the command line.
PLATFORM_FIELDS = ("timer_width", "timer_port", "io_semantics", "quirks")


def machine_config(header_options: Sequence[str], command_line: argparse.Namespace) -> MachineConfig:
    """Header options first, the command line over them, defaults for the rest."""
    chosen = {name: value for name, value in vars(parse_header_options(header_options)).items()
              if name in OPTION_FIELDS}
    given = {name: value for name, value in vars(command_line).items() if name in OPTION_FIELDS}
    if "platform" in given:
        for name in PLATFORM_FIELDS:
            chosen.pop(name, None)
    chosen.update(given)
    if "dispatch" not in chosen:
        from_environment = dispatch_from_environment()
        if from_environment is not None:
            chosen["dispatch"] = from_environment
    return MachineConfig(**chosen)


def device_specs(header_options: Sequence[str], command_line: argparse.Namespace) -> list[str]:
    """The ``--device`` SPECs of a run: the header's, then the command line's; all are attached."""
    header = parse_header_options(header_options)
    return [*getattr(header, "device", ()), *getattr(command_line, "device", ())]
