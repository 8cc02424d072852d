"""Cost of one PM timer read through the harness, against a bare Unicorn IN hook.

One process, one guest (benchmarks/poll.asm: `in eax, dx` in a three-instruction
loop), rounds interleaved so that machine noise falls on every contender alike.
Reported: the median time per read of each, and the ratios of medians:

- baseline: ``Uc.hook_add(UC_HOOK_INSN, lambda ...: 7)``, a bare IN hook
  returning a constant, the way a Unicorn user writes one;
- harness, host clock and virtual clock: the full path (block accounting,
  routing, access rules, the PM timer model).

Targets: at most 1.3x the baseline with the host clock, 2.0x with the virtual.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import unicorn
from unicorn import x86_const as x86

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.assembler import find_nasm
from harness.config import MachineConfig
from harness.machine import Machine

READS = 200_000
ROUNDS = 9
LOAD_ADDRESS = 0x1000
TARGETS = {"host": 1.3, "virtual": 2.0}


def assemble_poll_guest() -> bytes:
    source = Path(__file__).with_name("poll.asm")
    with tempfile.TemporaryDirectory() as scratch:
        image = Path(scratch) / "poll.bin"
        subprocess.run(
            [find_nasm(), "-f", "bin", f"-DREADS={READS}", "-DTIMER_PORT=0x408", "-o", str(image), str(source)],
            check=True,
        )
        return image.read_bytes()


def bare_unicorn(image: bytes) -> float:
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 1 << 20)
    uc.mem_write(LOAD_ADDRESS, image)
    uc.hook_add(unicorn.UC_HOOK_INSN, lambda uc, port, size, user: 7, None, 1, 0, x86.UC_X86_INS_IN)
    began = time.perf_counter()
    uc.emu_start(LOAD_ADDRESS, LOAD_ADDRESS + len(image) - 2)  # stop before the exit OUT
    return time.perf_counter() - began


def harness(image: bytes, clock: str) -> float:
    machine = Machine(MachineConfig(mode=32, load_address=LOAD_ADDRESS, clock=clock))
    machine.load(image)
    result = machine.run()
    assert result.port_reads == READS and result.verdict.value == "pass", result
    return result.wall_seconds


def main() -> int:
    image = assemble_poll_guest()
    samples: dict[str, list[float]] = {"baseline": [], "host": [], "virtual": []}
    for _ in range(ROUNDS):
        samples["baseline"].append(bare_unicorn(image))
        samples["host"].append(harness(image, "host"))
        samples["virtual"].append(harness(image, "virtual"))
    per_read = {name: statistics.median(times) / READS * 1e9 for name, times in samples.items()}
    print(f"PM timer read cost, {READS:,} reads x {ROUNDS} interleaved rounds, medians")
    print(f"  bare Unicorn IN hook (constant)  {per_read['baseline']:8.0f} ns/read")
    missed = 0
    for clock, target in TARGETS.items():
        ratio = per_read[clock] / per_read["baseline"]
        verdict = "ok" if ratio <= target else "OVER TARGET"
        missed += ratio > target
        print(f"  harness, {clock:<7} clock          {per_read[clock]:8.0f} ns/read  {ratio:4.2f}x  "
              f"(target {target}x: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
