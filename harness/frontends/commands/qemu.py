"""``qemu GUEST`` and ``differential``: the same guests in QEMU."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pmtimer_harness.frontends.suite import bundled_guests
from pmtimer_harness.peers.qemu import find_qemu, portability, run_in_qemu
from pmtimer_harness.tools.guest import check_guest_path


def add_to(commands: argparse._SubParsersAction) -> None:
    qemu = commands.add_parser("qemu", help="run one guest, unmodified, in QEMU (needs qemu-system-x86_64)")
    qemu.add_argument("guest", help="path to a NASM source (.asm)")
    qemu.add_argument("--timeout", type=float, default=60.0, help="kill QEMU after this many seconds (default 60)")
    qemu.set_defaults(handler=command_qemu)

    differential = commands.add_parser("differential", help="run every portable bundled guest here and in QEMU")
    differential.add_argument("--timeout", type=float, default=60.0, help="per guest, in QEMU (default 60)")
    differential.set_defaults(handler=command_differential)


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
