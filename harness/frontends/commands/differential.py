"""``differential [PATH...]``: guests in the harness and on real VMMs, compared row by row."""

from __future__ import annotations

import argparse
import json
import sys

from pmtimer_harness.frontends import stop_signals
from pmtimer_harness.frontends.commands.common import (
    FAIL_STATUS,
    INTERRUPTED_STATUS,
    PASS_STATUS,
    SKIP_STATUS,
    add_jobs_option,
    jobs,
)
from pmtimer_harness.frontends.commands.peer_options import add_timeout, choices
from pmtimer_harness.frontends.suite import guests_in
from pmtimer_harness.peers.qemu import ACCELS, DEFAULT_ACCELS, MACHINES
from pmtimer_harness.tools.guest import PEERS, checked_header


def add_to(commands: argparse._SubParsersAction) -> None:
    differential = commands.add_parser(
        "differential", help="run guests here and in QEMU or Bochs, and compare (default: the bundled guests)",
    )
    differential.add_argument("paths", nargs="*", metavar="PATH",
                              help="guest sources, or folders whose .asm files are guests")
    differential.add_argument("--machine", type=choices(MACHINES), default=list(MACHINES),
                              help="QEMU machine types, comma-separated (default pc,q35)")
    differential.add_argument("--accel", type=choices(ACCELS), default=list(DEFAULT_ACCELS),
                              help="accelerators, comma-separated: tcg, kvm, hvf, whpx (default tcg and this host's: "
                                   "kvm on Linux, hvf on macOS, whpx on Windows; skipped where QEMU lacks it)")
    differential.add_argument("--peer", type=choices(PEERS), default=["qemu"],
                              help="peers, comma-separated: qemu (default), bochs")
    shape = differential.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print a JSON list, one row per guest and peer")
    shape.add_argument("--tap", action="store_true", help="print TAP version 13, one test point per guest and peer")
    add_timeout(differential, "per run, in the harness and on the peer (default 60)")
    add_jobs_option(differential, "rows")
    differential.set_defaults(handler=command_differential)


def command_differential(args: argparse.Namespace) -> int:
    from pmtimer_harness.frontends.progress import SuiteProgress
    from pmtimer_harness.peers.differential import compare_all, format_comparisons, format_tap, setups

    guests = guests_in(args.paths)
    for guest in guests:  # every header read before the first run: a mistake there costs no half-done table
        checked_header(guest)
    configurations = setups(args.peer, args.machine, args.accel)
    for setup in configurations:
        setup.unavailable()  # a missing peer program: one line, before any run
    try:
        with SuiteProgress(len(guests) * len(configurations), unit="run") as progress:
            comparisons = compare_all(guests, configurations, args.timeout, progress, jobs(args))
    except KeyboardInterrupt:
        print(f"harness: {stop_signals.interrupted()}; the peers were stopped", file=sys.stderr)
        return INTERRUPTED_STATUS
    if args.json:
        print(json.dumps([item.as_dict() for item in comparisons], indent=2))
    elif args.tap:
        print(format_tap(comparisons))
    else:
        print(format_comparisons(comparisons))
    if any(item.error is not None for item in comparisons):
        return FAIL_STATUS  # a guest that could not be built: its rows say why
    if not any(item.ran for item in comparisons):
        # Nothing was compared, so nothing agreed: the rows above say why each was skipped.
        print("harness: note: every run was skipped; nothing was compared", file=sys.stderr)
        return SKIP_STATUS
    return PASS_STATUS if all(item.agree for item in comparisons) else FAIL_STATUS
