"""Cost of one RDTSC under the virtual clock, against Unicorn's native RDTSC and a PM timer read.

One process, one guest (benchmarks/tsc_poll.asm: `rdtsc` in a three-instruction
loop).  Each round runs every contender once, back to back; the figures are
medians over the rounds, in nanoseconds per loop.  Contenders:

- native: bare Unicorn, no hook: RDTSC reads the host's TSC (what the harness's
  host clock runs);
- harness, virtual clock, on the default dispatch: the instruction hook writes
  the virtual TSC (harness/core/tsc.py, in Python on every dispatch), the block
  hook counts;
- harness, virtual clock, PM timer: benchmarks/poll.asm, `in eax, dx` in the same
  loop, for comparison with a port read;
- reference path (``--dispatch reference``): one Python call per instruction too.

No target: a TSC read costs about what a timer read does, and guests read it
about as often.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import unicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_port_read import LOAD_ADDRESS, READS, assemble  # the same guests' build, beside this file
from pmtimer_harness.core.config import MachineConfig, default_dispatch
from pmtimer_harness.core.machine import Machine

ROUNDS = 11
REFERENCE_ROUNDS = 3


def native(image: bytes) -> float:
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 1 << 20)
    uc.mem_write(LOAD_ADDRESS, image)
    began = time.perf_counter()
    uc.emu_start(LOAD_ADDRESS, LOAD_ADDRESS + len(image) - 2)  # stop before the exit OUT
    return time.perf_counter() - began


def harness(image: bytes, dispatch: str | None = None) -> float:
    machine = Machine(MachineConfig(mode=32, load_address=LOAD_ADDRESS, dispatch=dispatch or default_dispatch()))
    machine.load(image)
    result = machine.run()
    assert result.verdict.value == "pass", result
    return result.wall_seconds


def main() -> int:
    tsc, poll = assemble("tsc_poll.asm"), assemble("poll.asm")
    contenders = {
        "Unicorn's native RDTSC (no hook)": lambda: native(tsc),
        "harness, virtual clock, RDTSC": lambda: harness(tsc),
        "harness, virtual clock, PM timer IN": lambda: harness(poll),
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(ROUNDS):
        for name, run in contenders.items():
            samples[name].append(run() / READS * 1e9)
    samples["reference path, virtual clock, RDTSC"] = [
        harness(tsc, "reference") / READS * 1e9 for _ in range(REFERENCE_ROUNDS)
    ]
    print(f"TSC read cost: {READS:,} reads in a three-instruction loop, {ROUNDS} rounds ({REFERENCE_ROUNDS} reference)")
    for name, values in samples.items():
        print(f"  {name:<38} median {statistics.median(values):7.0f} ns/read  fastest {min(values):7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
