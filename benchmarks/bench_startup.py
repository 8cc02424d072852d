"""Start-up: a tiny guest run as a process, start to verdict, against a process that only imports Unicorn.

Contenders, each a fresh process, interleaved round by round so that a slow
spell of the machine falls on all of them:

- floor: ``python -c "import unicorn"``, the least any Unicorn harness in Python pays;
- harness: ``python -m pmtimer_harness run benchmarks/one_read.asm`` (one timer
  read, then exit), with the assembly cache and Python's bytecode cache warm,
  as on a user's machine;
- QEMU: ``qemu-system-x86_64 -machine pc`` booting the same guest through
  SeaBIOS to its exit (the disk made beforehand), where QEMU is installed.

Reported: the median time of each, and the median of the per-round ratios
harness/floor (target: at most 1.3x).
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
GUEST = REPO / "benchmarks" / "one_read.asm"
ROUNDS = 21
TARGET = 1.3


def timed(command: list[str]) -> float:
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    began = time.perf_counter()
    subprocess.run(command, cwd=REPO, capture_output=True, check=False, timeout=120, env=environment)
    return time.perf_counter() - began


def qemu_contender(folder: Path) -> list[str] | None:
    from pmtimer_harness.peers.disk import disk_image
    from pmtimer_harness.peers.qemu import QEMU_CONFIG, QemuUnavailable, find_qemu, qemu_command

    try:
        qemu = find_qemu()
    except QemuUnavailable:
        return None
    disk = folder / "one_read.img"
    disk.write_bytes(disk_image(GUEST, QEMU_CONFIG))
    return qemu_command(qemu, disk, "pc", "tcg")


def main() -> int:
    contenders = {
        "floor (import unicorn)": [sys.executable, "-c", "import unicorn"],
        "harness run": [sys.executable, "-m", "pmtimer_harness", "run", str(GUEST)],
    }
    with tempfile.TemporaryDirectory() as scratch:
        qemu = qemu_contender(Path(scratch))
        if qemu is not None:
            contenders["QEMU boot to exit"] = qemu
        for command in contenders.values():
            timed(command)  # warm the caches: assembly, bytecode, the OS's file cache
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(ROUNDS):
            for name, command in contenders.items():
                times[name].append(timed(command))
    floor, harness = times["floor (import unicorn)"], times["harness run"]
    ratio = statistics.median(h / f for h, f in zip(harness, floor, strict=True))
    print(f"Start-up, a one-read guest as a process (median of {ROUNDS} interleaved rounds):")
    for name, values in times.items():
        print(f"  {name:<24} {statistics.median(values) * 1000:8.1f} ms   (fastest {min(values) * 1000:.1f} ms)")
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"  harness / floor: {ratio:.2f}x (median of per-round ratios; target {TARGET}x: {verdict})")
    if qemu is not None:
        print(f"  QEMU / harness:  {statistics.median(times['QEMU boot to exit']) / statistics.median(harness):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
