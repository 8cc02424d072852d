"""A firmware delay loop under the virtual clock, against bare Unicorn running the same bytes with no hooks.

One process, one guest (benchmarks/delay_loop.asm: 10^7 turns of
``dec ecx / jnz``, two instructions a block).  Under the virtual clock the
harness counts every block; bare Unicorn counts nothing.  Each round runs
every contender once, back to back, so that a slow spell of the machine falls
on all of them; the ratio reported is the median of the per-round ratios.

Contenders: bare Unicorn, and the harness with each dispatch it has (the
compiled one where the extension is built, and the Python one).  Target for
the default dispatch: at most 1.5x bare Unicorn.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import unicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pmtimer_harness.core.config import MachineConfig, default_dispatch
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.tools.assembler import find_nasm

ITERATIONS = 10_000_000
ROUNDS = 5
LOAD_ADDRESS = 0x1000
TARGET = 1.5
DISPATCHES = tuple(dict.fromkeys((default_dispatch(), "python")))  # the default first: the target is its


def assemble() -> bytes:
    source = Path(__file__).with_name("delay_loop.asm")
    with tempfile.TemporaryDirectory() as scratch:
        image = Path(scratch) / "guest.bin"
        subprocess.run([find_nasm(), "-f", "bin", f"-DITERATIONS={ITERATIONS}", "-o", str(image), str(source)],
                       check=True)
        return image.read_bytes()


def bare_unicorn(image: bytes) -> float:
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 1 << 20)
    uc.mem_write(LOAD_ADDRESS, image)
    began = time.perf_counter()
    uc.emu_start(LOAD_ADDRESS, LOAD_ADDRESS + len(image) - 2)  # stop before the exit OUT
    return time.perf_counter() - began


def harness(image: bytes, dispatch: str) -> float:
    machine = Machine(MachineConfig(mode=32, load_address=LOAD_ADDRESS, dispatch=dispatch))
    machine.load(image)
    result = machine.run()
    assert result.instructions == 1 + 2 * ITERATIONS + 2 and result.verdict.value == "pass", result
    return result.wall_seconds


def main() -> int:
    image = assemble()
    contenders = {"bare": lambda: bare_unicorn(image)}
    contenders.update({dispatch: lambda dispatch=dispatch: harness(image, dispatch) for dispatch in DISPATCHES})
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(ROUNDS):
        for name, run in contenders.items():
            samples[name].append(run())
    print(f"Delay loop: {ITERATIONS:,} turns of dec/jnz under the virtual clock, {ROUNDS} rounds")
    print(f"  bare Unicorn, no hooks          median {statistics.median(samples['bare']):6.3f} s")
    for index, dispatch in enumerate(DISPATCHES):
        ratios = [mine / bare for mine, bare in zip(samples[dispatch], samples["bare"], strict=True)]
        ratio = statistics.median(ratios)
        target = f"target {TARGET}x: {'ok' if ratio <= TARGET else 'OVER TARGET'}" if index == 0 else "no target"
        print(f"  harness, --dispatch {dispatch:<10} median {statistics.median(samples[dispatch]):6.3f} s  "
              f"median ratio {ratio:6.2f}x  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
