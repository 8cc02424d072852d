"""``fingerprint``: what a guest sees of a platform's PM timer, from the harness or a peer, and two compared.

The probe is ``asm/fingerprint.asm``; reading and comparing its fields is
``platform/fingerprint.py``.  Here a fingerprint is taken: the probe runs in
the harness under a profile (in this process), or boots in QEMU or Bochs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends.commands.common import (
    ERROR_STATUS,
    FAIL_STATUS,
    PASS_STATUS,
    TIMEOUT_STATUS,
    stop_with,
)
from pmtimer_harness.frontends.commands.peer_options import add_timeout, choice
from pmtimer_harness.peers.qemu import ACCELS, MACHINES
from pmtimer_harness.platform.fingerprint import (
    PROBE,
    Fingerprint,
    FingerprintError,
    compare,
    comparison_as_dict,
    format_comparison,
    format_table,
    from_json,
    parse,
)
from pmtimer_harness.platform.profiles import PlatformError, profile
from pmtimer_harness.tools.guest import PEERS

MAX_FINGERPRINT_FILE = 1 << 20  # a saved fingerprint is about 1 KiB


class ProbeFailed(Exception):
    """The probe did not finish: no fingerprint to show (``status``: timeout or error)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def add_to(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "fingerprint", help="what a guest sees of a platform's PM timer (harness or peer), or two compared",
    )
    where = command.add_mutually_exclusive_group()
    where.add_argument("--platform", metavar="NAME", help="a harness platform profile (default acpi)")
    where.add_argument("--peer", type=choice(PEERS), help="boot the probe in a real emulator: qemu or bochs")
    where.add_argument("--compare", nargs=2, metavar=("A", "B"),
                       help="compare two fingerprints, each a platform name, a peer (qemu:pc:tcg, qemu:q35:kvm, "
                            "bochs:legacy) or a file saved with --json; status 0 when all fields agree, 1 if not")
    command.add_argument("--machine", type=choice(MACHINES), help="with --peer qemu: pc (default) or q35")
    command.add_argument("--accel", type=choice(ACCELS), help="with --peer qemu: tcg (default) or kvm")
    command.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_timeout(command, "stop a peer, or the harness run, after this many seconds (default 60)")
    command.set_defaults(handler=command_fingerprint)


def command_fingerprint(args: argparse.Namespace) -> int:
    if args.peer != "qemu" and (args.machine or args.accel):
        return stop_with(args, "--machine and --accel choose QEMU's configuration: give them with --peer qemu")
    try:
        if args.compare:
            first, second = (take(spec, args.timeout) for spec in args.compare)
            return _show_comparison(first, second, args.json)
        if args.peer is not None:
            spec = "bochs:legacy" if args.peer == "bochs" else f"qemu:{args.machine or 'pc'}:{args.accel or 'tcg'}"
        else:
            spec = args.platform or "acpi"
        fingerprint = take(spec, args.timeout, file_allowed=False)
    except (FingerprintError, PlatformError) as error:
        return stop_with(args, str(error))
    except ProbeFailed as error:
        return stop_with(args, str(error), error.status)
    print(json.dumps(fingerprint.as_dict(), indent=2) if args.json else format_table(fingerprint))
    return PASS_STATUS


def take(spec: str, timeout_s: float, *, file_allowed: bool = True) -> Fingerprint:
    """The fingerprint ``spec`` names: a file saved with --json, a peer (``qemu:M:A``, ``bochs:legacy``), a platform."""
    if file_allowed and (spec.endswith(".json") or Path(spec).is_file()):
        from pmtimer_harness.tools import files

        return from_json(files.read_text(spec, MAX_FINGERPRINT_FILE, errors="replace"), spec)
    if ":" in spec:
        return of_peer(*_peer_spec(spec), timeout_s)
    return of_platform(spec, timeout_s)


def _peer_spec(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if parts == ["bochs", "legacy"]:
        return "bochs", "i440fx", "emulated"
    if len(parts) == 3 and parts[0] == "qemu" and parts[1] in MACHINES and parts[2] in ACCELS:
        return "qemu", parts[1], parts[2]
    raise FingerprintError(
        f"{spec!r} is not a peer: qemu:MACHINE:ACCEL ({'/'.join(MACHINES)}, {'/'.join(ACCELS)}) or bochs:legacy"
    )


def of_platform(name: str, timeout_s: float) -> Fingerprint:
    """The probe in the harness, under platform profile ``name`` (in this process)."""
    from pmtimer_harness.tools.runner import run_guest

    profile(name)  # an unknown name is the user's mistake, named before the run
    result = run_guest(PROBE, ["--platform", name, "--timeout", str(timeout_s)]).result
    if result.verdict is Verdict.INTERRUPTED:
        raise KeyboardInterrupt
    if result.verdict in (Verdict.TIMEOUT, Verdict.HALTED):
        raise ProbeFailed(f"the probe did not finish on platform {name}: {result.verdict.value}", TIMEOUT_STATUS)
    # An error verdict is the platform refusing an access: the field it stopped at says so.
    return parse(result.console, f"platform {name}", stopped=result.verdict is Verdict.ERROR)


def of_peer(peer: str, machine: str, accel: str, timeout_s: float) -> Fingerprint:
    """The probe booted in a real emulator: QEMU (``machine``, ``accel``) or Bochs."""
    from pmtimer_harness.peers.differential import PeerSetup
    from pmtimer_harness.tools.guest import GuestError

    setup = PeerSetup(peer, machine, accel)
    reason = setup.unavailable()
    if reason is not None:
        raise GuestError(f"{setup.label} cannot run here: {reason}")
    run = setup.run(PROBE, timeout_s)
    if run.verdict == "timeout":
        raise ProbeFailed(f"the probe did not finish in {setup.label} within {timeout_s:g} s", TIMEOUT_STATUS)
    if run.verdict != "pass":
        notes = "; ".join(run.notes) or "no notes"
        raise ProbeFailed(f"the probe ended with {run.verdict} in {setup.label} ({notes})", ERROR_STATUS)
    return parse(run.console, setup.label)


def _show_comparison(first: Fingerprint, second: Fingerprint, as_json: bool) -> int:
    if as_json:
        print(json.dumps(comparison_as_dict(first, second), indent=2))
    else:
        print(format_comparison(first, second))
    return PASS_STATUS if all(row.agree for row in compare(first, second)) else FAIL_STATUS
