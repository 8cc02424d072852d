"""10^6 and 10^7 PM timer reads as a process, end to end, on each dispatch, against QEMU booting the same guest.

The guest is benchmarks/poll_boot.asm (``in eax, dx`` in a three-instruction
loop, then exit 0): in the harness, ``python -m pmtimer_harness run`` as a
process, from start to exit, once with each dispatch it has (the compiled one
where the extension is built, and the Python one); in QEMU, ``-machine pc``
under TCG booting it through SeaBIOS from a disk made beforehand, where QEMU
is installed.  The contenders run interleaved, round by round, so that a
slow spell of the machine falls on all of them; each figure is a median.

Target for the default dispatch at 10^7 reads: faster than QEMU under TCG.
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

from pmtimer_harness.core.config import default_dispatch  # noqa: E402
from pmtimer_harness.peers.disk import disk_image  # noqa: E402
from pmtimer_harness.peers.qemu import QEMU_CONFIG, QemuUnavailable, find_qemu, qemu_command  # noqa: E402

SIZES = (1_000_000, 10_000_000)
ROUNDS = 3
DISPATCHES = tuple(dict.fromkeys((default_dispatch(), "python")))  # the default first


def timed(command: list[str]) -> float:
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    began = time.perf_counter()
    subprocess.run(command, cwd=REPO, capture_output=True, check=False, timeout=600, env=environment)
    return time.perf_counter() - began


def contenders(guest: Path, folder: Path) -> dict[str, list[str]]:
    commands = {
        dispatch: [sys.executable, "-m", "pmtimer_harness", "run", str(guest), "--dispatch", dispatch]
        for dispatch in DISPATCHES
    }
    try:
        qemu = find_qemu()
    except QemuUnavailable:
        return commands
    disk = folder / f"{guest.stem}.img"
    disk.write_bytes(disk_image(guest, QEMU_CONFIG))
    return {**commands, "QEMU TCG": qemu_command(qemu, disk, "pc", "tcg")}


def main() -> int:
    print(f"PM timer reads as a process, end to end (median of {ROUNDS}, interleaved)")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for size in SIZES:
            guest = folder / f"poll_{size}.asm"
            guest.write_text(f"%define READS {size}\n%include \"{REPO / 'benchmarks' / 'poll_boot.asm'}\"\n")
            commands = contenders(guest, folder)
            timed(commands[DISPATCHES[0]])  # warm the assembly and bytecode caches
            samples: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(ROUNDS):
                for name, command in commands.items():
                    samples[name].append(timed(command))
            medians = {name: statistics.median(times) for name, times in samples.items()}
            qemu = medians.get("QEMU TCG")
            for name, seconds in medians.items():
                per_read = f"{seconds / size * 1e9:6.0f} ns/read"
                versus = "" if qemu is None or name == "QEMU TCG" else f"  QEMU TCG / this {qemu / seconds:5.2f}x"
                print(f"  {size:>10,} reads  {name:<9} {seconds:7.3f} s  {per_read}{versus}")
            if qemu is None:
                print("  (QEMU is not installed: no comparison)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
