"""Mutated ELF guests: whatever the file holds, a one-line refusal or a run that ends in a verdict, in bounded time.

Hypothesis mutates a valid guest ELF (a C guest built by the test, with its symbols and DWARF line table;
the minimal ELF of ``test_elf_loader.py`` where no C compiler is installed): bytes overwritten in its
header, its program and section headers and anywhere else, runs of 0x00 and 0xFF, truncations.  Each is
read as the run reads it; what loads has its addresses named (symbols, DWARF) and runs under a small
budget.  ``make test`` runs a short, fixed profile; ``make fuzz`` (HARNESS_FUZZ=long) a long, random one.
"""

import os
import struct
import time
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.tools import c_compiler
from pmtimer_harness.tools.elf_image import ElfError, read_elf
from pmtimer_harness.tools.guest import GuestError
from pmtimer_harness.tools.runner import run_guest

from tests.test_elf_loader import EXIT_CODE_5, elf32

LONG = os.environ.get("HARNESS_FUZZ") == "long"
COMMON = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}
settings.register_profile("short", derandomize=True, **COMMON)  # the same examples every time
settings.register_profile("long", **COMMON)
settings.load_profile("long" if LONG else "short")
MEMORY = 1 << 24
READ_BUDGET_S = 2.0  # a 10 KiB file: pyelftools reads it in well under 0.1 s
GUEST = """\
#include "harness.h"
int main(void)
{
	report(inl(TIMER_PORT) != 1, "the timer reads");
	return report_summary();
}
"""


def examples(short: int) -> int:
    return short * 50 if LONG else short


@lru_cache(maxsize=1)
def valid_elf(folder: str) -> bytes:
    """A linked C guest with symbols and DWARF, or a minimal ELF where there is no compiler."""
    try:
        compiler_guest = os.path.join(folder, "fuzzed.c")
        with open(compiler_guest, "w") as file:
            file.write(GUEST)
        return c_compiler.build(compiler_guest, MachineConfig().nasm_defines(), 32, use_cache=False).elf
    except c_compiler.CompilerNotFound:
        return elf32([(0x8000, EXIT_CODE_5, 5)])


def regions(data: bytes) -> list[tuple[int, int]]:
    """Where a mutation matters most: the ELF header, the program headers, the section headers; then anywhere."""
    if data[4] != 1 or len(data) < 52:
        return [(0, len(data))]
    phoff, shoff = struct.unpack_from("<II", data, 28)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 42)
    tables = [(0, 52), (phoff, phoff + phentsize * phnum), (shoff, shoff + shentsize * shnum)]
    return [(low, min(high, len(data))) for low, high in tables if low < min(high, len(data))] + [(0, len(data))]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    image = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        low, high = draw(st.sampled_from(regions(data)))
        at = draw(st.integers(low, high - 1))
        fill = draw(st.one_of(st.binary(min_size=1, max_size=4),
                              st.sampled_from([b"\x00" * 4, b"\xff" * 4, b"\x7f\xff\xff\xff"])))
        image[at : at + len(fill)] = fill
    if draw(st.booleans()) and draw(st.booleans()):
        del image[draw(st.integers(0, len(image) - 1)) :]
    return bytes(image)


@settings(max_examples=examples(40))
@given(data=st.data())
def test_a_mutated_elf_is_refused_in_one_line_or_named_and_run_to_a_verdict(tmp_path_factory, data):
    folder = tmp_path_factory.getbasetemp() / "elf_fuzz"
    folder.mkdir(exist_ok=True)
    elf = data.draw(mutated(valid_elf(str(folder))))
    began = time.perf_counter()
    try:
        image = read_elf(elf, "fuzzed.elf", MEMORY)
    except ElfError as error:
        assert "\n" not in str(error) and str(error).startswith("fuzzed.elf: ")
        return
    for address in (image.entry, image.entry + 5, image.base + len(image.image) - 1, 0):
        named = image.source_map.get(address)
        assert named is None or isinstance(named, str)
    assert time.perf_counter() - began < READ_BUDGET_S
    path = folder / "fuzzed.elf"
    path.write_bytes(elf)
    try:
        run = run_guest(path, ["--memory", str(MEMORY), "--mode", str(image.bits), "--max-instructions", "20000",
                               "--timeout", "5"], use_cache=False)
    except (GuestError, ConfigError) as error:  # its image does not fit in RAM, or covers the ACPI tables
        assert "\n" not in str(error)
        return
    assert isinstance(run.result.verdict, Verdict)
    if run.result.report is not None:
        assert "internal harness error" not in run.result.report.reason, run.result.report.format()
