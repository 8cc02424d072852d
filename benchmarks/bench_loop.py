"""A firmware delay loop under the virtual clock, against bare Unicorn running the same bytes with no hooks.

One process, one guest (benchmarks/delay_loop.asm: 10^7 turns of
``dec ecx / jnz``, two instructions a block).  Under the virtual clock the
harness counts every block; bare Unicorn counts nothing.  Each round runs
every contender once, back to back, so that a slow spell of the machine falls
on all of them; the ratio reported is the median of the per-round ratios.

Contenders: bare Unicorn; bare Unicorn with a block hook written in C that
does nothing, registered through Unicorn's C API (where a C compiler is found
to build it): the floor of any harness that counts blocks; and the harness
with each dispatch it has (the compiled one where the extension is built, and
the Python one).  Target for the default dispatch: at most 1.5x bare Unicorn.
"""

from __future__ import annotations

import ctypes
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import unicorn
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pmtimer_harness.core.config import MachineConfig, default_dispatch
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.tools.assembler import find_nasm

ITERATIONS = 10_000_000
ROUNDS = 21  # a run takes 0.05-0.1 s: one slow spell of the machine moves a median of five by a third
PYTHON_ROUNDS = 3  # the Python path takes seconds a run, and has no target
LOAD_ADDRESS = 0x1000
TARGET = 1.5
DISPATCHES = tuple(dict.fromkeys((default_dispatch(), "python")))  # the default first: the target is its
NO_OP_HOOK = "#include <stdint.h>\nvoid no_op_block(void *uc, uint64_t address, uint32_t size, void *user) {}\n"


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


def no_op_hook_library(scratch: Path) -> ctypes.CDLL | None:
    """The no-op block hook, built with the C compiler there is; None where there is none."""
    compiler = next((found for name in ("cc", "gcc", "clang") if (found := shutil.which(name))), None)
    if compiler is None:
        return None
    source, library = scratch / "no_op.c", scratch / "no_op.so"
    source.write_text(NO_OP_HOOK)
    built = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(source)], check=False)
    return ctypes.CDLL(str(library)) if built.returncode == 0 else None


def unicorn_with_no_op_hook(image: bytes, library: ctypes.CDLL) -> float:
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 1 << 20)
    uc.mem_write(LOAD_ADDRESS, image)
    handle = uc_hook_h()
    hook = ctypes.cast(library.no_op_block, ctypes.c_void_p)
    status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), unicorn.UC_HOOK_BLOCK, hook, None,
                               ctypes.c_uint64(1), ctypes.c_uint64(0))
    assert status == unicorn.UC_ERR_OK, status
    began = time.perf_counter()
    uc.emu_start(LOAD_ADDRESS, LOAD_ADDRESS + len(image) - 2)
    return time.perf_counter() - began


def harness(image: bytes, dispatch: str) -> float:
    machine = Machine(MachineConfig(mode=32, load_address=LOAD_ADDRESS, dispatch=dispatch))
    machine.load(image)
    result = machine.run()
    assert result.instructions == 1 + 2 * ITERATIONS + 2 and result.verdict.value == "pass", result
    return result.wall_seconds


def main() -> int:
    image = assemble()
    with tempfile.TemporaryDirectory() as scratch:
        library = no_op_hook_library(Path(scratch))
        contenders = {"bare": lambda: bare_unicorn(image)}
        if library is not None:
            contenders["no-op hook"] = lambda: unicorn_with_no_op_hook(image, library)
        contenders.update({dispatch: lambda dispatch=dispatch: harness(image, dispatch) for dispatch in DISPATCHES})
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for round_number in range(ROUNDS):
            for name, run in contenders.items():
                if name != "python" or round_number < PYTHON_ROUNDS:
                    samples[name].append(run())

    def ratio(name: str) -> float:
        paired = samples["bare"][: len(samples[name])]  # the Python path ran in the first rounds only
        return statistics.median(mine / bare for mine, bare in zip(samples[name], paired, strict=True))

    print(f"Delay loop: {ITERATIONS:,} turns of dec/jnz under the virtual clock, {ROUNDS} rounds "
          f"({PYTHON_ROUNDS} of the Python path)")
    print(f"  bare Unicorn, no hooks          median {statistics.median(samples['bare']):6.3f} s")
    if "no-op hook" in samples:
        print(f"  bare Unicorn, no-op C block hook median {statistics.median(samples['no-op hook']):6.3f} s  "
              f"median ratio {ratio('no-op hook'):6.2f}x  the floor of counting blocks")
    else:
        print("  bare Unicorn, no-op C block hook: not measured, no C compiler found")
    for index, dispatch in enumerate(DISPATCHES):
        verdict = "ok" if ratio(dispatch) <= TARGET else "OVER TARGET"
        target = f"target {TARGET}x: {verdict}" if index == 0 else "no target"
        print(f"  harness, --dispatch {dispatch:<10} median {statistics.median(samples[dispatch]):6.3f} s  "
              f"median ratio {ratio(dispatch):6.2f}x  {target}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
