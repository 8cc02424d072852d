"""End to end, the harness against QEMU: wall time from process start to exit.

For each portable bundled guest, and for a guest that polls the timer 10^3,
10^5 and 10^6 times, one run measures side by side:

- ``python -m pmtimer_harness run GUEST`` as a process: Python start-up, importing
  Unicorn and capstone, assembly from the cache, the run (with Python's
  bytecode cache allowed, as on a user's machine);
- ``run_guest(GUEST)`` inside an already running Python, as pytest calls it;
- ``qemu-system-x86_64`` booting the same guest through SeaBIOS, as a process,
  with the disk image made beforehand.

Each is the median of a few runs.  The ratios are QEMU's time over the
harness's (above 1: the harness is faster).  Skipped, with the reason, without QEMU.
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
from pmtimer_harness.peers.qemu import QemuUnavailable, boot_disk, find_qemu, portability  # noqa: E402
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


def qemu_command(guest: Path, folder: Path) -> list[str]:
    # The command run_in_qemu uses, on a disk made once, outside the timing.
    disk = boot_disk(guest, folder)
    return [
        find_qemu(), "-machine", "pc", "-accel", "tcg", "-m", "32", "-nodefaults", "-display", "none", "-no-reboot",
        "-monitor", "none", "-serial", "none", "-drive", f"file={disk},format=raw,if=ide,index=0",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01", "-debugcon", f"file:{folder / 'console.txt'}",
    ]


def measure(guest: Path, folder: Path) -> tuple[float, float, float]:
    harness = [sys.executable, "-m", "harness", "run", str(guest)]
    qemu = qemu_command(guest, folder)
    timed(harness)  # warm the assembly and bytecode caches
    process = statistics.median(timed(harness) for _ in range(RUNS))
    in_process = statistics.median(timed_in_process(guest) for _ in range(RUNS))
    theirs = statistics.median(timed(qemu) for _ in range(RUNS))
    return process, in_process, theirs


def main() -> int:
    try:
        find_qemu()
    except QemuUnavailable as error:
        print(f"end-to-end comparison skipped: {error}")
        return 0
    print("End to end (median of 3): the harness as a process and in-process, QEMU TCG booting through SeaBIOS")
    print(f"  {'guest':<22} {'process':>9} {'in-proc':>9} {'QEMU':>9}   QEMU/process  QEMU/in-process")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        guests = [guest for guest in bundled_guests() if portability(guest) is None]
        for size in POLL_SIZES:
            wrapper = folder / f"poll_{size}.asm"
            wrapper.write_text(f"%define READS {size}\n%include \"{REPO / 'benchmarks' / 'poll_boot.asm'}\"\n")
            guests.append(wrapper)
        for guest in guests:
            process, in_process, theirs = measure(guest, folder)
            print(f"  {guest.name:<22} {process:8.3f}s {in_process:8.3f}s {theirs:8.3f}s   "
                  f"{theirs / process:10.2f}x  {theirs / in_process:14.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
