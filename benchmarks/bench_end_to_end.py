"""End to end, the harness against QEMU: wall time from process start to exit.

For each portable bundled guest, and for a guest that polls the timer 10^3,
10^5 and 10^6 times, one run measures side by side:

- ``python -m pmtimer_harness run GUEST`` as a process: Python start-up, importing
  Unicorn and capstone, assembly from the cache, the run (with Python's
  bytecode cache allowed, as on a user's machine);
- ``run_guest(GUEST)`` inside an already running Python, as pytest calls it;
- ``qemu-system-x86_64 -machine pc`` booting the same guest through SeaBIOS,
  as a process, with the disk image made beforehand, under TCG and, where
  ``/dev/kvm`` is usable, under KVM (the guest on the host's CPU).

Each is the median of a few runs.  The ratios are QEMU's time over the
harness's (above 1: the harness is faster).  Skipped, with the reason, without
QEMU; the KVM column shows "-" without KVM.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pmtimer_harness.frontends.suite import bundled_guests  # noqa: E402
from pmtimer_harness.peers.disk import disk_image  # noqa: E402
from pmtimer_harness.peers.portable import portability  # noqa: E402
from pmtimer_harness.peers.qemu import (  # noqa: E402
    QEMU_CONFIG,
    QemuUnavailable,
    find_qemu,
    kvm_unavailable,
    qemu_command,
)
from pmtimer_harness.tools.runner import run_guest  # noqa: E402

POLL_SIZES = (1_000, 100_000, 1_000_000)
RUNS = 3


def timed(command: list[str]) -> float:
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    began = time.perf_counter()
    subprocess.run(command, cwd=REPO, capture_output=True, check=False, timeout=300, env=environment)
    return time.perf_counter() - began


def timed_in_process(guest: Path) -> float:
    began = time.perf_counter()
    run_guest(guest)
    return time.perf_counter() - began


def measure(guest: Path, folder: Path, kvm: bool) -> tuple[float, float, float, float | None]:
    # The commands run_in_qemu uses, on a disk made once, outside the timing.
    disk = folder / f"{guest.stem}.img"
    disk.write_bytes(disk_image(guest, QEMU_CONFIG))
    harness = [sys.executable, "-m", "pmtimer_harness", "run", str(guest)]
    timed(harness)  # warm the assembly and bytecode caches
    process = statistics.median(timed(harness) for _ in range(RUNS))
    in_process = statistics.median(timed_in_process(guest) for _ in range(RUNS))
    tcg = statistics.median(timed(qemu_command(find_qemu(), disk, "pc", "tcg")) for _ in range(RUNS))
    under_kvm = None
    if kvm:
        under_kvm = statistics.median(timed(qemu_command(find_qemu(), disk, "pc", "kvm")) for _ in range(RUNS))
    return process, in_process, tcg, under_kvm


def main() -> int:
    try:
        find_qemu()
    except QemuUnavailable as error:
        print(f"end-to-end comparison skipped: {error}")
        return 0
    no_kvm = kvm_unavailable()
    print("End to end (median of 3): the harness as a process and in-process; QEMU pc booting through SeaBIOS,")
    print("under TCG and KVM" + (f" (KVM: {no_kvm})" if no_kvm else ""))
    print(f"  {'guest':<22} {'process':>9} {'in-proc':>9} {'QEMU TCG':>9} {'QEMU KVM':>9}"
          "   TCG/process  TCG/in-process  KVM/in-process")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        guests = [guest for guest in bundled_guests() if portability(guest) is None]
        for size in POLL_SIZES:
            wrapper = folder / f"poll_{size}.asm"
            wrapper.write_text(f"%define READS {size}\n%include \"{REPO / 'benchmarks' / 'poll_boot.asm'}\"\n")
            guests.append(wrapper)
        for guest in guests:
            process, in_process, tcg, under_kvm = measure(guest, folder, no_kvm is None)
            kvm_time = "-" if under_kvm is None else f"{under_kvm:8.3f}s"
            kvm_ratio = "-" if under_kvm is None else f"{under_kvm / in_process:.2f}x"
            print(f"  {guest.name:<22} {process:8.3f}s {in_process:8.3f}s {tcg:8.3f}s {kvm_time:>9}   "
                  f"{tcg / process:10.2f}x  {tcg / in_process:14.2f}x  {kvm_ratio:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
