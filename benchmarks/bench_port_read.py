"""Cost of one PM timer read through the harness, against a bare Unicorn IN hook.

One process, one guest (benchmarks/poll.asm: `in eax, dx` in a three-instruction
loop).  Each round runs every contender once, back to back, so that a slow
spell of the machine falls on all of them; the ratio reported is the median of
the per-round ratios, with the fastest round of each contender beside it.
Contenders:

- baseline: ``Uc.hook_add(UC_HOOK_INSN, lambda ...: 7)``, a bare IN hook
  returning a constant, the way a Unicorn user writes one;
- harness, host clock and virtual clock: the full path (block accounting,
  routing, access rules, the PM timer model), on the default dispatch (the
  compiled one where the extension is built);
- harness, virtual clock on the Python path (``--dispatch python``), where the
  default is the compiled one: no target, its cost is there to be known.

Targets: at most 1.3x the baseline with the host clock, 2.0x with the virtual.

Beside them, what the reference path (``--dispatch reference``,
harness/core/reference_dispatch.py) costs: Python hooks through
``Uc.hook_add``, one call per instruction.  It has no target: it is there to
be read.  It runs fewer rounds (each is several times slower).
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

from pmtimer_harness.core.config import MachineConfig, default_dispatch
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.tools.assembler import find_nasm

READS = 100_000
ROUNDS = 21
LOAD_ADDRESS = 0x1000
TARGETS = {"host": 1.3, "virtual": 2.0}
REFERENCE_ROUNDS = 3


def assemble(name: str) -> bytes:
    """A benchmark guest beside this file, assembled for READS reads of the timer at 0x408."""
    source = Path(__file__).with_name(name)
    with tempfile.TemporaryDirectory() as scratch:
        image = Path(scratch) / "guest.bin"
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


def harness(image: bytes, clock: str, dispatch: str | None = None) -> float:
    config = MachineConfig(mode=32, load_address=LOAD_ADDRESS, clock=clock, dispatch=dispatch or default_dispatch())
    machine = Machine(config)
    machine.load(image)
    result = machine.run()
    assert result.port_reads == READS and result.verdict.value == "pass", result
    return result.wall_seconds


def main() -> int:
    image = assemble("poll.asm")
    contenders = {
        "baseline": lambda: bare_unicorn(image),
        "host": lambda: harness(image, "host"),
        "virtual": lambda: harness(image, "virtual"),
    }
    python_too = default_dispatch() != "python"
    if python_too:
        contenders["virtual, python"] = lambda: harness(image, "virtual", "python")
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(ROUNDS):
        for name, run in contenders.items():
            samples[name].append(run() / READS * 1e9)
    print(f"PM timer read cost: {READS:,} reads, {ROUNDS} rounds")
    print(f"  bare Unicorn IN hook (constant)  fastest {min(samples['baseline']):6.0f} ns/read")
    for clock, target in TARGETS.items():
        ratios = [mine / bare for mine, bare in zip(samples[clock], samples["baseline"], strict=True)]
        ratio = statistics.median(ratios)
        verdict = "ok" if ratio <= target else "OVER TARGET"
        print(f"  harness, {clock:<7} clock          fastest {min(samples[clock]):6.0f} ns/read  "
              f"median ratio {ratio:4.2f}x (quartiles {_quartiles(ratios)})  target {target}x: {verdict}")
    if python_too:
        ratios = [mine / bare for mine, bare in zip(samples["virtual, python"], samples["baseline"], strict=True)]
        print(f"  harness, virtual, --dispatch python fastest {min(samples['virtual, python']):6.0f} ns/read  "
              f"median ratio {statistics.median(ratios):4.2f}x (no target: the Python path's cost)")
    reference_path(image, statistics.median(samples["baseline"]), statistics.median(samples["virtual"]))
    return 0


def reference_path(image: bytes, baseline_ns: float, fast_ns: float) -> None:
    """The reference path, virtual clock: per read (three instructions of poll.asm's loop and one IN)."""
    per_read = statistics.median(harness(image, "virtual", "reference") / READS * 1e9 for _ in range(REFERENCE_ROUNDS))
    print(f"  reference path, virtual clock     median  {per_read:6.0f} ns/read  "
          f"{per_read / baseline_ns:5.1f}x the bare hook, {per_read / fast_ns:5.1f}x the fast path "
          f"({REFERENCE_ROUNDS} rounds; no target: it is for reading)")


def _quartiles(values: list[float]) -> str:
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.2f}-{high:.2f}"


if __name__ == "__main__":
    sys.exit(main())
