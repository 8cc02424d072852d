"""Start-up: a tiny guest run as a process, start to verdict, against a process that only imports Unicorn.

Contenders, each a fresh process, interleaved round by round so that a slow
spell of the machine falls on all of them:

- Python alone: ``python -c pass``, what every contender pays before its first import;
- floor: ``python -c "import unicorn"``, the least any Unicorn harness in Python pays;
- bare Unicorn run: the floor plus mapping memory, writing the guest's bytes
  and running them with one IN hook (no harness at all);
- import unicorn, capstone: what a run would pay to decode its blocks with
  capstone, as the Python path does (the compiled path decodes them in C and
  loads no capstone);
- harness: ``python -m pmtimer_harness run benchmarks/one_read.asm`` (one timer
  read, then exit), with the assembly cache and Python's bytecode cache warm,
  as on a user's machine;
- QEMU: ``qemu-system-x86_64 -machine pc`` booting the same guest through
  SeaBIOS to its exit (the disk made beforehand), where QEMU is installed.

Reported: the median time of each, and its median per-round ratio to the
floor (target for the harness: at most 1.3x).
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
FLOOR = "floor (import unicorn)"
HARNESS = "harness run"

# The guest's bytes (argv[1], hex) at its load address (argv[2]), one IN hook, run to the HLT.
BARE_RUN = """
import sys
import unicorn
from unicorn import x86_const
image, load = bytes.fromhex(sys.argv[1]), int(sys.argv[2])
uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_16)
uc.mem_map(0, 1 << 20)
uc.mem_write(load, image)
uc.hook_add(unicorn.UC_HOOK_INSN, lambda uc, port, size, data: 0, None, 1, 0, x86_const.UC_X86_INS_IN)
uc.emu_start(load, load + len(image) - 1)
"""


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


def load_average() -> str:
    """Other work on the machine slows every contender, but not all alike: said beside the figures."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):  # Windows has none
        return "unknown"


def bare_contender() -> list[str]:
    from pmtimer_harness import MachineConfig, assemble

    config = MachineConfig()
    image = assemble(GUEST, config.nasm_defines()).image
    return [sys.executable, "-c", BARE_RUN, image.hex(), str(config.load_address)]


def main() -> int:
    contenders = {
        "Python alone (pass)": [sys.executable, "-c", "pass"],
        FLOOR: [sys.executable, "-c", "import unicorn"],
        "bare Unicorn run": bare_contender(),
        "import unicorn, capstone": [sys.executable, "-c", "import unicorn, capstone"],
        HARNESS: [sys.executable, "-m", "pmtimer_harness", "run", str(GUEST)],
    }
    load_before = load_average()
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
    print(f"Start-up, a one-read guest as a process (median of {ROUNDS} interleaved rounds; "
          "x: median of the per-round ratios to the floor):")
    print(f"  load average (1 min) before and after: {load_before} and {load_average()}, on {os.cpu_count()} cores")
    for name, values in times.items():
        ratio = statistics.median(value / floor for value, floor in zip(values, times[FLOOR], strict=True))
        print(f"  {name:<26} {statistics.median(values) * 1000:8.1f} ms   (fastest {min(values) * 1000:6.1f} ms)"
              f"   {ratio:5.2f}x")
    ratio = statistics.median(h / f for h, f in zip(times[HARNESS], times[FLOOR], strict=True))
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"  harness / floor: {ratio:.2f}x (target {TARGET}x: {verdict})")
    if qemu is not None:
        qemu_ratio = statistics.median(times["QEMU boot to exit"]) / statistics.median(times[HARNESS])
        print(f"  QEMU / harness:  {qemu_ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
