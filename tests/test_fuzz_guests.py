"""Random guests: whatever a guest does, the run ends in a verdict, in its budget, counted exactly.

Hypothesis generates guest images (``tests/guest_strategies.py``): random
bytes in each start mode, sequences of plausible real-mode code, and 64-bit
code that jumps to, calls, loads from, stores to and stacks at non-canonical
addresses and addresses outside RAM.  Each
runs under the virtual clock with a small instruction budget, three ways
(``tests/reference_count.py``), and under the host clock with a small
wall-clock budget.  Every run must end in a verdict without an internal
harness error, within its budget, with its captures inside their caps, and
under the virtual clock the instruction count must equal the per-instruction
reference at every port access and at the verdict.

``make test`` runs a short, fixed profile; ``make fuzz`` (HARNESS_FUZZ=long)
a long, random one.
"""

import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.cpu import is_canonical
from pmtimer_harness.core.dispatch import MAX_DECODED_INSTRUCTIONS, VirtualDispatch
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.result import RunResult, Verdict
from pmtimer_harness.devices.debug_console import HEAD_BYTES, TAIL_BYTES

from tests.guest_strategies import LOAD_ADDRESS, plausible_image, plausible_image_64, random_image
from tests.reference_count import assert_counts_exact, counted_run

MARGIN_S = 3.0  # a loaded machine; what matters is that no run takes many budgets
HOST_TIMEOUT_S = 0.1
LONG = os.environ.get("HARNESS_FUZZ") == "long"
COMMON = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}
settings.register_profile("short", derandomize=True, **COMMON)  # the same examples every time
settings.register_profile("long", **COMMON)
settings.load_profile("long" if LONG else "short")


def examples(short: int) -> int:
    return short * 50 if LONG else short

START = {16: LOAD_ADDRESS, 32: 0x1000, 64: 0x1000}


@st.composite
def machine_options(draw: st.DrawFn) -> dict[str, object]:
    width = draw(st.sampled_from([24, 32]))
    toggle = 1 << (width - 1)
    return {
        "timer_width": width,
        "timer_start": draw(st.sampled_from([0, toggle - 256, (1 << width) - 256])),
        "insn_ns": draw(st.sampled_from([1, 100, 10_000])),
        "io_semantics": draw(st.sampled_from(["bhyve", "qemu"])),
        "strict_io": draw(st.booleans()),
    }


def check_ended_well(result: RunResult, budget_s: float, wall_s: float) -> None:
    assert isinstance(result.verdict, Verdict)
    if result.report is not None:
        assert "internal harness error" not in result.report.reason, result.report.format()
    assert wall_s < budget_s + MARGIN_S
    assert len(result.console) <= HEAD_BYTES + TAIL_BYTES + 100
    assert len(result.warnings) <= 34


def check_ran_only_canonical_code(result: RunResult, mode: int) -> None:
    """A 64-bit CPU never stands at a non-canonical address: the jump there faulted (a real CPU's #GP)."""
    report = result.report
    if mode == 64 and report is not None and report.address is not None and not is_canonical(report.address):
        assert "not canonical" in (report.details or ""), report.format()


def run_virtual(image: bytes, config: MachineConfig) -> None:
    began = time.perf_counter()
    run = counted_run(image, config)
    for result in (run.fast, run.plain.result, run.traced.result):
        check_ended_well(result, 3 * config.timeout, time.perf_counter() - began)
        check_ran_only_canonical_code(result, config.mode)
    assert_counts_exact(run)


def run_host(image: bytes, config: MachineConfig) -> None:
    machine = Machine(config)
    machine.load(image)
    began = time.perf_counter()
    result = machine.run()
    check_ended_well(result, config.timeout, time.perf_counter() - began)
    check_ran_only_canonical_code(result, config.mode)
    assert result.instructions is None


def virtual_config(mode: int, options: dict[str, object]) -> MachineConfig:
    return MachineConfig(mode=mode, load_address=START[mode], max_instructions=5_000, timeout=10, **options)


def host_config(mode: int, options: dict[str, object]) -> MachineConfig:
    return MachineConfig(mode=mode, load_address=START[mode], clock="host", timeout=HOST_TIMEOUT_S, **options)


@settings(max_examples=examples(20))
@given(image=plausible_image(), options=machine_options())
def test_plausible_real_mode_code_under_the_virtual_clock(image, options):
    run_virtual(image, virtual_config(16, options))


@settings(max_examples=examples(12))
@given(image=random_image, mode=st.sampled_from([16, 32, 64]), options=machine_options())
def test_random_bytes_under_the_virtual_clock(image, mode, options):
    run_virtual(image, virtual_config(mode, options))


@settings(max_examples=examples(15))
@given(image=plausible_image_64(), options=machine_options())
def test_64_bit_code_at_non_canonical_and_outside_addresses_under_the_virtual_clock(image, options):
    run_virtual(image, virtual_config(64, options))


@settings(max_examples=examples(4))
@given(image=plausible_image_64(), options=machine_options())
def test_64_bit_code_at_non_canonical_and_outside_addresses_under_the_host_clock(image, options):
    run_host(image, host_config(64, options))


@settings(max_examples=examples(6))  # each may take its whole wall-clock budget
@given(image=st.one_of(plausible_image(), random_image), options=machine_options())
def test_random_guests_under_the_host_clock(image, options):
    run_host(image, host_config(16, options))


def decoded_instructions(machine: Machine) -> int:
    assert isinstance(machine.dispatch, VirtualDispatch)
    return sum(len(block.instructions) for block in machine.dispatch.blocks.values())


def test_the_block_table_is_capped_in_instructions():
    # A runaway guest: from 0x1000 through zeroed RAM (`add [eax], al`), 512 instructions a block.
    machine = Machine(MachineConfig(memory=4 << 20, load_address=0x1000, mode=32, max_instructions=150_000))
    machine.load(b"\xe9" + (0x100000 - 0x1005).to_bytes(4, "little"))  # jmp 0x100000
    assert machine.run().verdict == Verdict.TIMEOUT
    assert decoded_instructions(machine) <= MAX_DECODED_INSTRUCTIONS  # 150,000 decoded in all


def test_many_small_blocks_run_whole_under_the_cap():
    # 20,000 distinct one-instruction blocks: `jmp $+2` repeated.
    image = b"\xeb\x00" * 20_000 + b"\xb0\x00\xe6\xf4"
    machine = Machine(MachineConfig(memory=1 << 20, load_address=0x10000, mode=32))
    machine.load(image)
    assert machine.run().verdict == Verdict.PASS
    assert decoded_instructions(machine) <= MAX_DECODED_INSTRUCTIONS
