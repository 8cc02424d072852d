"""The differential check: each portable guest in the harness and in a real VMM, compared.

The harness runs the guest on the peer's platform (for QEMU: timer at 0x608,
24 bits, QEMU's access rules) under the host clock, as a real machine's timer
follows real time, while the peer boots the same guest from a disk.  The two
run at the same time (the peer is a separate process), so a row costs the
longer of the two.  They agree when the verdict, the exit code and the
guest's check lines (``PASS: ...``/``FAIL: ...``, in order) are the same;
``INFO:`` lines carry measured values, which differ between two machines and
are shown, not compared.

A peer configuration is the peer, its machine type and its accelerator:
QEMU ``pc`` or ``q35`` under ``tcg`` or ``kvm``, and Bochs (its i440FX, its
own CPU emulation), which the harness meets with its ``bochs`` profile.  One
that cannot run here (no ``/dev/kvm``) gives skipped rows that say why, as
does a guest the boot loader cannot start (``disk.py``: a 64-bit start, a
place a PC has no RAM at); a guest that asks for 32-bit protected mode at its
own address (``--mode 32 --load-address``) is started so on the peer too.
A guest NASM rejects is an error row with NASM's message, never agreeing,
and the other rows still run.

Rows may run side by side, each in a worker process (``tools/parallel.py``),
which runs the harness and starts the peer as a serial run does; the rows come
back in order.  Under that load the harness's host clock and the peer's see
less of the CPU, so a guest that measures time may differ where a serial run
(``-j 1``) agrees.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pmtimer_harness.columns import aligned
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.result import RunResult, Verdict, check_lines
from pmtimer_harness.devices.pm_timer import PmTimer
from pmtimer_harness.peers.bochs import BOCHS_CONFIG, BOCHS_PLATFORM_OPTIONS, find_bochs, run_in_bochs
from pmtimer_harness.peers.disk import boot_refusal
from pmtimer_harness.peers.portable import portability
from pmtimer_harness.peers.process import CANCEL_POLL_S, PeerRun
from pmtimer_harness.peers.qemu import (
    QEMU_CONFIG,
    QEMU_PLATFORM_OPTIONS,
    accel_missing,
    find_qemu,
    kvm_unavailable,
    run_in_qemu,
)
from pmtimer_harness.tools.assembler import AssemblyError
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.guest import GuestError
from pmtimer_harness.tools.parallel import run_jobs
from pmtimer_harness.tools.runner import ItemProgress, run_guest

BOCHS_MACHINE, BOCHS_ACCEL = "i440fx", "emulated"

DEFAULT_TIMEOUT_S = 60.0


def checks(console: str) -> list[tuple[str, str]]:
    return check_lines(console)


@dataclass(frozen=True)
class PeerSetup:
    """One peer configuration: which VMM, its machine type and accelerator."""

    peer: str = "qemu"
    machine: str = "pc"
    accel: str = "tcg"

    @property
    def label(self) -> str:
        return "Bochs" if self.peer == "bochs" else f"QEMU {self.machine}/{self.accel}"

    @property
    def platform_options(self) -> tuple[str, ...]:
        """The harness's options for the peer's platform."""
        return BOCHS_PLATFORM_OPTIONS if self.peer == "bochs" else QEMU_PLATFORM_OPTIONS

    @property
    def config(self) -> MachineConfig:
        """The platform the peer's disk is assembled for."""
        return BOCHS_CONFIG if self.peer == "bochs" else QEMU_CONFIG

    def unavailable(self) -> str | None:
        """None if this configuration can run here, else why not (a missing peer program is an error)."""
        if self.peer == "bochs":
            find_bochs()
            return None
        qemu = find_qemu()
        return (kvm_unavailable() if self.accel == "kvm" else None) or accel_missing(self.accel, qemu)

    def run(self, guest: Path, timeout_s: float, cancel: threading.Event | None = None) -> PeerRun:
        if self.peer == "bochs":
            return run_in_bochs(guest, timeout_s, cancel)
        return run_in_qemu(guest, self.machine, self.accel, timeout_s, cancel)


def setups(peers: Sequence[str], machines: Sequence[str], accels: Sequence[str]) -> list[PeerSetup]:
    """Every configuration asked for: QEMU's machines x accelerators, and Bochs once."""
    chosen = []
    for peer in peers:
        if peer == "bochs":
            chosen.append(PeerSetup("bochs", BOCHS_MACHINE, BOCHS_ACCEL))
        else:
            chosen += [PeerSetup(peer, machine, accel) for machine in machines for accel in accels]
    return chosen


@dataclass
class Comparison:
    guest: Path
    setup: PeerSetup = PeerSetup()
    skipped: str | None = None  # why the guest was not run on the peer
    harness: RunResult | None = None
    peer_run: PeerRun | None = None
    error: str | None = None  # why the guest could not be run at all (NASM's message, say)

    @property
    def ran(self) -> bool:
        return self.harness is not None and self.peer_run is not None

    @property
    def agree(self) -> bool:
        if self.error is not None:
            return False
        if self.harness is None or self.peer_run is None:
            return True
        return (
            self.harness.verdict.value == self.peer_run.verdict
            and self.harness.exit_code == self.peer_run.exit_code
            and checks(self.harness.console) == checks(self.peer_run.console)
        )

    @property
    def outcome(self) -> str:
        """The row as a progress line shows it."""
        if self.error is not None:
            return f"ERROR ({self.note})"
        if not self.ran:
            return f"skipped ({self.skipped})"
        return "agree" if self.agree else "DIFFER"

    @property
    def note(self) -> str:
        """The error as the table gives it: its first line (NASM may write many; ``--json`` has them all)."""
        lines = (self.error or "").strip().splitlines()
        return lines[0] if lines else ""

    @property
    def wall_seconds(self) -> float:
        """What the row cost: the longer of the two runs, which went on at the same time."""
        if self.harness is None or self.peer_run is None:
            return 0.0
        return max(self.harness.wall_seconds, self.peer_run.wall_seconds)

    def differences(self) -> list[str]:
        if self.harness is None or self.peer_run is None or self.agree:
            return []
        lines = [f"verdict: harness {self.harness.verdict.value} (exit code {self.harness.exit_code}), "
                 f"{self.setup.label} {self.peer_run.verdict} (exit code {self.peer_run.exit_code})"]
        ours, theirs = checks(self.harness.console), checks(self.peer_run.console)
        lines += [f"harness only: {kind}: {what}" for kind, what in ours if (kind, what) not in theirs]
        lines += [f"peer only:    {kind}: {what}" for kind, what in theirs if (kind, what) not in ours]
        return lines + self.peer_run.notes

    def as_dict(self) -> dict[str, object]:
        """One row of ``differential --json``."""
        row: dict[str, object] = {
            "guest": str(self.guest),
            "peer": self.setup.peer,
            "machine": self.setup.machine,
            "accel": self.setup.accel,
            "agree": self.agree if self.ran or self.error is not None else None,
            "skipped": self.skipped,
            "error": self.error,
            "harness_verdict": Verdict.ERROR.value if self.error is not None else None,
            "harness_exit_code": None,
            "peer_verdict": None,
            "peer_exit_code": None,
        }
        if self.harness is not None and self.peer_run is not None:
            row.update({
                "harness_verdict": self.harness.verdict.value,
                "harness_exit_code": self.harness.exit_code,
                "peer_verdict": self.peer_run.verdict,
                "peer_exit_code": self.peer_run.exit_code,
                "checks": [f"{kind}: {what}" for kind, what in checks(self.peer_run.console)],
                "differences": self.differences(),
                "harness_wall_seconds": round(self.harness.wall_seconds, 3),
                "peer_wall_seconds": round(self.peer_run.wall_seconds, 3),
                "peer_notes": self.peer_run.notes,
            })
        return row


def compare(
    guest: Path,
    setup: PeerSetup = PeerSetup(),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    timer_model: type[PmTimer] = PmTimer,
) -> Comparison:
    """Run ``guest`` in the harness and on the peer at the same time, and compare.

    A guest that cannot be built (NASM rejects it) is an error row: the other rows still run.
    """
    try:
        reason = portability(guest, setup.peer) or setup.unavailable() or boot_refusal(guest, setup.config)
        if reason is not None:
            return Comparison(guest, setup, skipped=reason)
        return _run_both(guest, setup, timeout_s, timer_model)
    except (AssemblyError, GuestError) as error:
        return Comparison(guest, setup, error=str(error))


def _run_both(guest: Path, setup: PeerSetup, timeout_s: float, timer_model: type[PmTimer]) -> Comparison:
    peer: list[PeerRun] = []
    failure: list[BaseException] = []
    cancel = threading.Event()

    def run_peer() -> None:
        try:
            peer.append(setup.run(guest, timeout_s, cancel))
        except BaseException as error:  # handed to the caller's thread below
            failure.append(error)

    worker = threading.Thread(target=run_peer, name=f"peer-{guest.name}", daemon=True)
    worker.start()
    try:
        harness = run_guest(guest, [*setup.platform_options, "--timeout", str(timeout_s)], timer_model=timer_model)
        if harness.result.verdict is Verdict.INTERRUPTED:
            raise KeyboardInterrupt
        while worker.is_alive():
            worker.join(CANCEL_POLL_S)  # in slices, so that Ctrl-C reaches this thread
    except BaseException:
        cancel.set()  # the harness side failed or was interrupted: stop the peer now, not at its deadline
        worker.join()
        raise
    if failure:
        raise failure[0]
    return Comparison(guest, setup, harness=harness.result, peer_run=peer[0])


@dataclass(frozen=True)
class ComparisonJob:
    """One row to run, as a worker process is handed it."""

    guest: Path
    setup: PeerSetup
    timeout_s: float

    @property
    def name(self) -> str:
        return f"{self.guest.name} on {self.setup.label}"

    def died(self, reason: str) -> Comparison:
        """The row of a guest whose worker process died under it."""
        return Comparison(self.guest, self.setup, error=reason)


def compare_job(job: ComparisonJob) -> Comparison:
    return compare(job.guest, job.setup, job.timeout_s)


def compare_all(
    guests: Iterable[Path], configurations: Sequence[PeerSetup], timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: ItemProgress | None = None, jobs: int = 1,
) -> list[Comparison]:
    """Every guest on every configuration, ``jobs`` rows at a time (1: in turn, in this process)."""
    todo = [ComparisonJob(guest, setup, timeout_s) for guest in guests for setup in configurations]

    def starting(index: int) -> None:
        if progress is not None:
            progress.starting(todo[index].name)

    def finished(index: int, comparison: Comparison) -> None:
        if progress is not None:
            progress.finished_item(todo[index].name, comparison.outcome, comparison.wall_seconds)

    return run_jobs(compare_job, todo, jobs, died=ComparisonJob.died, starting=starting, finished=finished)


def format_comparisons(comparisons: Sequence[Comparison]) -> str:
    rows = [("guest", "on", "harness", "peer", "", "note")]
    for item in comparisons:
        if item.error is not None:
            rows.append((item.guest.name, item.setup.label, Verdict.ERROR.value, "-", "ERROR", item.note))
            continue
        if item.harness is None or item.peer_run is None:
            rows.append((item.guest.name, item.setup.label, "-", "-", "skipped", item.skipped or ""))
            continue
        rows.append((
            item.guest.name, item.setup.label, item.harness.verdict.value, item.peer_run.verdict,
            "agree" if item.agree else "DIFFER",
            f"{len(checks(item.peer_run.console))} checks; peer {item.peer_run.wall_seconds:.2f} s",
        ))
    lines = aligned(rows, rule=True, free_last=True)
    for item in comparisons:
        lines += [f"{item.guest.name} on {item.setup.label}: {difference}" for difference in item.differences()]
    ran = [item for item in comparisons if item.ran]
    unbuilt = [item for item in comparisons if item.error is not None]
    differ = sum(not item.agree for item in ran)
    lines.append("")
    lines.append(f"{len(ran) - differ} of {len(ran)} runs agree" + (f", {differ} DIFFER" if differ else "")
                 + f"; {len(comparisons) - len(ran) - len(unbuilt)} skipped"
                 + (f"; {len(unbuilt)} ERROR (not run)" if unbuilt else ""))
    lines += [f"  {item.guest.name} on {item.setup.label}: {item.error}" for item in unbuilt]
    return "\n".join(lines)


def format_tap(comparisons: Sequence[Comparison]) -> str:
    """TAP version 13: ``ok`` where the two agree, ``not ok`` with a YAML block where they differ or the
    guest could not be built, ``# SKIP`` and the reason where the row was skipped."""
    lines = ["TAP version 13", f"1..{len(comparisons)}"]
    for number, item in enumerate(comparisons, 1):
        # '#' starts a TAP directive: keep it out of the description.
        name = f"{shown_name(item.guest)} on {item.setup.label}".replace("#", "_")
        if not item.ran and item.error is None:
            lines.append(f"ok {number} - {name} # SKIP {' '.join((item.skipped or '').split())}")
            continue
        lines.append(f"{'ok' if item.agree else 'not ok'} {number} - {name}")
        if item.agree:
            continue
        lines.append("  ---")
        if item.error is not None:
            lines += [f"  verdict: {Verdict.ERROR.value}", f"  reason: {json.dumps(item.error)}"]
        else:
            lines.append("  differences:")
            lines += [f"    - {json.dumps(difference)}" for difference in item.differences()]
        lines.append("  ...")
    return "\n".join(lines)
