"""``qemu GUEST``: one guest, unmodified, in QEMU."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends import stop_signals
from pmtimer_harness.frontends.commands.common import VERDICT_STATUS, printable
from pmtimer_harness.frontends.commands.peer_options import add_timeout, choice
from pmtimer_harness.peers.portable import portability
from pmtimer_harness.peers.qemu import ACCELS, MACHINES, kvm_unavailable, run_in_qemu
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.guest import GuestError, check_guest_path, is_source, read_header


def add_to(commands: argparse._SubParsersAction) -> None:
    qemu = commands.add_parser("qemu", help="run one guest, unmodified, in QEMU (needs qemu-system-x86_64)")
    qemu.add_argument("guest", help="path to a guest's source: NASM (.asm) or C (.c, .S)")
    qemu.add_argument("--machine", type=choice(MACHINES), default="pc", help="QEMU machine type: pc (default) or q35")
    qemu.add_argument("--accel", type=choice(ACCELS), default="tcg",
                      help="tcg (default): QEMU emulates the CPU; kvm: the host's CPU runs the guest")
    qemu.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_timeout(qemu, "kill QEMU after this many seconds (default 60)")
    qemu.set_defaults(handler=command_qemu)


def command_qemu(args: argparse.Namespace) -> int:
    guest = Path(args.guest)
    check_guest_path(guest)
    read_header(guest)  # refuses a source that is not text (binary junk) in one line, before NASM does in many
    if not is_source(guest):
        raise GuestError(f"{shown_name(guest)}: QEMU runs a guest built for its platform: give its source "
                         "(.asm, .c or .S)")
    if args.accel == "kvm" and (reason := kvm_unavailable()) is not None:
        raise GuestError(f"-accel kvm cannot run here: {reason}")
    reason = portability(guest)
    if reason is not None:
        print(f"harness: note: {guest.name} is marked not portable: {reason}", file=sys.stderr)
    try:
        run = run_in_qemu(guest, args.machine, args.accel, args.timeout)
    except KeyboardInterrupt:
        print(f"harness: {stop_signals.interrupted()}; QEMU was stopped", file=sys.stderr)
        return 130
    for note in run.notes:
        print(f"harness: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({
            "guest": str(guest), "machine": args.machine, "accel": args.accel, "verdict": run.verdict,
            "exit_code": run.exit_code, "console": run.console, "wall_seconds": run.wall_seconds,
            "notes": list(run.notes),
        }, indent=2))
        return VERDICT_STATUS[Verdict(run.verdict)]
    if run.console:
        print(printable(run.console.rstrip("\n")))
        print()
    code = f" (exit code {run.exit_code})" if run.exit_code is not None else ""
    print(f"{guest.name} in QEMU {args.machine}/{args.accel}: {run.verdict}{code}, {run.wall_seconds:.2f} s wall")
    return VERDICT_STATUS[Verdict(run.verdict)]
