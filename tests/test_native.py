"""The compiled fast path (harness/core/native.c) against a bare Unicorn engine.

Each guest is a few bytes of 32-bit code, assembled by hand with the assembly
beside it.  The Python side of each test is the least a dispatch does: a
block callback that counts the block that ran and decodes the next one.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import unicorn
from hypothesis import given
from hypothesis import strategies as st
from pmtimer_harness.core import snapshot as snapshot_module
from pmtimer_harness.core.blocks import EMPTY_BLOCK, Block, decode_block
from pmtimer_harness.core.bus import route_key
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.native_dispatch import NativeDispatch
from pmtimer_harness.core.native_hooks import native_available, native_counts
from pmtimer_harness.devices.pm_timer import NS_PER_SECOND, PM_TMR_FREQUENCY_HZ, PmTimer, TimeBase
from pmtimer_harness.tools.runner import GuestRun, resume_snapshot, run_guest

from tests.guests import bundled

pytestmark = pytest.mark.skipif(not native_available(), reason="the C extension is not built here")

LOAD = 0x1000
RESULTS = 0x3000
TIMER = 0x408
NEVER = 1 << 127  # a count no run reaches


def loop_guest(iterations: int) -> bytes:
    return (
        b"\xb9" + iterations.to_bytes(4, "little")  # mov ecx, iterations
        + b"\x49"  # .loop: dec ecx
        + b"\x75\xfd"  # jnz .loop
        + b"\xf4"  # hlt
    )


def read_guest(reads: int) -> bytes:
    return (
        b"\x66\xba" + TIMER.to_bytes(2, "little")  # mov dx, 0x408
        + b"\xbf" + RESULTS.to_bytes(4, "little")  # mov edi, RESULTS
        + b"\xb9" + reads.to_bytes(4, "little")  # mov ecx, reads
        + b"\xed"  # .loop: in eax, dx
        + b"\xab"  # stosd
        + b"\x49"  # dec ecx
        + b"\x75\xfb"  # jnz .loop
        + b"\xf4"  # hlt
    )


class Guest:
    """An engine with the guest loaded and a Counts whose Python side counts what C leaves to it."""

    def __init__(self, code: bytes) -> None:
        self.uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
        self.uc.mem_map(0, 1 << 20)
        self.uc.mem_write(LOAD, code)
        self.code = code
        self.counts = native_counts(self.uc)
        self.counts.block = EMPTY_BLOCK
        self.counts.next_check = NEVER
        self.blocks: dict[int, Block] = {}
        self.python_blocks = 0
        self.python_reads: list[tuple[int, int]] = []
        self.outs: list[tuple[int, int, int]] = []
        assert self.counts.hook_block(self.on_block) == unicorn.UC_ERR_OK
        assert self.counts.hook_ports(self.on_in, self.on_out) == unicorn.UC_ERR_OK

    def on_block(self, _engine: int, address: int, size: int, _user: int) -> None:
        self.python_blocks += 1
        counts = self.counts
        counts.retired += counts.block.icount
        counts.ordinal = 0
        block = self.blocks.get(address)
        if block is None or block.size != size:
            block = self.blocks[address] = decode_block(bytes(self.uc.mem_read(address, size)), address, 32)
            counts.remember(block)
        counts.block = block

    def on_in(self, _engine: int, port: int, width: int, _user: int) -> int:
        self.python_reads.append((port, width))
        self.counts.ordinal += 1
        self.counts.port_accesses += 1
        return 0x1234

    def on_out(self, _engine: int, port: int, width: int, value: int, _user: int) -> None:
        self.outs.append((port, width, value))

    def run(self) -> int:
        """Instructions retired, the HLT's block counted whole."""
        self.uc.emu_start(LOAD, LOAD + len(self.code))
        assert self.counts.error is None
        return self.counts.retired + self.counts.block.icount

    def results(self, count: int) -> list[int]:
        data = self.uc.mem_read(RESULTS, 4 * count)
        return [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]


def per_instruction_count(code: bytes) -> int:
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 1 << 20)
    uc.mem_write(LOAD, code)
    executed = [0]

    def count(_uc: unicorn.Uc, _address: int, _size: int, _user: object) -> None:
        executed[0] += 1

    uc.hook_add(unicorn.UC_HOOK_CODE, count)
    uc.emu_start(LOAD, LOAD + len(code))
    return executed[0]


def pm_timer_reader(timer: PmTimer) -> tuple[int, int, int, int, int]:
    return (route_key(timer.port, 4), timer.start, timer.numerator, timer.denominator, timer.mask)


def test_a_loop_counted_a_block_at_a_time_in_c_equals_the_per_instruction_count() -> None:
    guest = Guest(loop_guest(1000))
    assert guest.run() == per_instruction_count(guest.code) == 1 + 2 * 1000 + 1
    assert guest.python_blocks == 3  # the first block, the loop's first run, the HLT's block: C counted the rest


def test_the_check_point_hands_the_block_to_python() -> None:
    guest = Guest(loop_guest(1000))
    guest.counts.next_check = 101  # mov ecx (1) and 50 loops of 2: the 51st loop's block reaches it
    assert guest.run() == 2002
    assert guest.python_blocks > 900  # from the check point on, Python is asked at every block


def test_a_block_forgotten_is_decoded_again_in_python() -> None:
    guest = Guest(loop_guest(10))
    guest.run()
    first = guest.python_blocks
    for address in guest.blocks:
        guest.counts.forget(address)
    guest.counts.block = EMPTY_BLOCK
    guest.counts.retired = 0
    guest.blocks.clear()
    guest.run()
    assert guest.python_blocks == 2 * first


def test_a_time_reader_is_answered_in_c_at_its_place_in_the_block() -> None:
    reads = 200
    timer = PmTimer(start=0xFFFF_F000)  # wraps within the run
    guest = Guest(read_guest(reads))
    counts = guest.counts
    counts.insn_ns, counts.io_ns, counts.idle_ns = 7, 1000, 5
    counts.time_readers = (pm_timer_reader(timer),)
    guest.run()
    # Read i comes after the three movs and i loops of four instructions, and after i reads.
    expected = [timer.read(TIMER, 4, (3 + 4 * i) * 7 + i * 1000 + 5) for i in range(reads)]
    assert guest.results(reads) == expected
    assert guest.python_reads == []
    assert counts.port_accesses == reads


def test_a_read_without_a_time_reader_goes_to_python() -> None:
    guest = Guest(read_guest(3))
    guest.counts.time_readers = ((route_key(TIMER, 2), 0, 1, 1, 0xFFFF),)  # another width
    guest.run()
    assert guest.results(3) == [0x1234] * 3
    assert guest.python_reads == [(TIMER, 4)] * 3


def test_a_time_past_64_bits_goes_to_python() -> None:
    guest = Guest(read_guest(1))
    guest.counts.time_readers = (pm_timer_reader(PmTimer()),)
    guest.counts.idle_ns = (1 << 63) - 1
    guest.counts.insn_ns = 1 << 62
    guest.run()
    assert guest.python_reads == [(TIMER, 4)]


def test_a_count_past_64_bits_is_kept_exactly_and_python_counts_every_block() -> None:
    guest = Guest(loop_guest(5))
    guest.counts.retired = 1 << 70
    guest.counts.next_check = 1 << 80
    assert guest.run() == (1 << 70) + 12
    assert guest.python_blocks == 6  # the first block (the first loop in it), four loops and the HLT's


def test_a_python_callback_that_raises_stops_the_cpu_and_is_kept() -> None:
    class Refusing(Guest):
        def on_out(self, _engine: int, port: int, width: int, value: int, _user: int) -> None:
            raise RuntimeError("broken")

    code = b"\xe6\x80" + b"\xeb\xfe"  # out 0x80, al; jmp $ (forever, unless the CPU is stopped)
    guest = Refusing(code)
    began = time.perf_counter()
    guest.uc.emu_start(LOAD, 0, timeout=5_000_000)
    assert time.perf_counter() - began < 2
    assert isinstance(guest.counts.error, RuntimeError)
    guest.counts.error = None
    assert guest.counts.error is None


@pytest.mark.parametrize("width", [24, 32])
@given(now_ns=st.one_of(st.integers(0, 10**12), st.integers(0, (1 << 64) - 1)), start=st.integers(0, (1 << 32) - 1))
def test_a_time_reader_gives_the_pm_timers_integer_for_every_64_bit_time(width: int, now_ns: int, start: int) -> None:
    from pmtimer_harness.core import _native

    timer = PmTimer(width=width, start=start & ((1 << width) - 1))
    _, *fields = pm_timer_reader(timer)
    assert _native.time_read(*fields, now_ns) == timer.read(timer.port, 4, now_ns)


@pytest.mark.parametrize("now_ns", [0, 279, 280, NS_PER_SECOND - 1, NS_PER_SECOND, (1 << 64) - 1, 1 << 63])
def test_a_time_reader_at_the_boundaries(now_ns: int) -> None:
    from pmtimer_harness.core import _native

    assert _native.time_read(0, PM_TMR_FREQUENCY_HZ, NS_PER_SECOND, 0xFFFF_FFFF, now_ns) == PmTimer().read(
        TIMER, 4, now_ns
    )


@given(now_ns=st.integers(0, (1 << 64) - 1))
def test_a_time_reader_whose_product_needs_128_bits_is_exact(now_ns: int) -> None:
    from pmtimer_harness.core import _native

    bhyve = TimeBase(numerator=1 << 32, denominator=NS_PER_SECOND * 1199)  # platform/profiles.py, BHYVE_TIME
    timer = PmTimer(time_base=bhyve)
    assert _native.time_read(0, bhyve.numerator, bhyve.denominator, timer.mask, now_ns) == timer.read(
        TIMER, 4, now_ns
    )


def test_a_time_reader_with_no_denominator_is_refused() -> None:
    from pmtimer_harness.core import _native

    counts = _native.Counts()
    with pytest.raises(ValueError, match="denominator"):
        counts.time_readers = ((1, 0, 1, 0, 0xFF),)
    assert counts.time_readers == ()


def test_counts_are_made_with_the_clock_s_rates_and_no_check_point() -> None:
    from pmtimer_harness.core import _native

    counts = _native.Counts(3, io_ns=1000)
    assert (counts.insn_ns, counts.io_ns, counts.next_check, counts.retired, counts.idle_ns) == (3, 1000, NEVER, 0, 0)
    assert _native.Counts(next_check=5).next_check == 5


def test_counts_take_any_int_and_give_it_back() -> None:
    from pmtimer_harness.core import _native

    counts = _native.Counts()
    for value in (0, -5, (1 << 63) - 1, 1 << 63, -(1 << 100), 1 << 127):
        counts.idle_ns = counts.next_check = value
        assert counts.idle_ns == counts.next_check == value
    with pytest.raises(TypeError):
        counts.retired = 1.5


def test_a_block_with_more_hooked_instructions_than_c_holds_keeps_its_indices() -> None:
    from pmtimer_harness.core import _native

    counts = _native.Counts()
    many = decode_block(b"\xed" * (_native.MAX_HOOKED + 1), LOAD, 32)  # in eax, dx, 17 times
    counts.block = many
    assert counts.hooked_index == many.hooked_index
    counts.block = EMPTY_BLOCK
    assert counts.hooked_index == ()


# --- the compiled dispatch in the harness ----------------------------------------------


RESULT_FIELDS = ("verdict", "exit_code", "console", "instructions", "virtual_ns", "port_reads", "port_writes")


def result_of(run: GuestRun) -> dict[str, object]:
    said = run.result.as_dict()
    return {name: said[name] for name in RESULT_FIELDS}


@pytest.mark.parametrize(("saving", "resuming"), [("native", "python"), ("python", "native")])
def test_a_run_saved_on_one_path_resumes_on_the_other_to_the_uninterrupted_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saving: str, resuming: str
) -> None:
    guest = bundled("overflow_irq.asm")  # timer reads, an SCI and its handler across the save point
    whole = result_of(run_guest(guest, ["--dispatch", saving]))
    assert whole == result_of(run_guest(guest, ["--dispatch", resuming]))
    snapshot = tmp_path / "machine.snap"
    run_guest(guest, ["--dispatch", saving], snapshot_path=snapshot, save_at=2500)
    monkeypatch.setenv("HARNESS_DISPATCH", resuming)  # the restoring side's choice, not the saved one
    resumed = resume_snapshot(snapshot)
    assert resumed.config.dispatch == resuming
    assert result_of(resumed) == whole


def test_the_compiled_dispatch_runs_by_default_and_answers_the_timer_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_DISPATCH", raising=False)
    run = run_guest(bundled("monotonic.asm"), [])
    assert run.config.dispatch == "native"
    machine = Machine(run.config)
    assert isinstance(machine.dispatch, NativeDispatch)
    assert machine.dispatch.counts.time_readers == ((route_key(machine.config.timer_port, 4), 0,
                                                   PM_TMR_FREQUENCY_HZ, NS_PER_SECOND, 0xFFFF_FFFF),)


def test_a_stepped_or_unlatched_timer_is_left_to_python() -> None:
    for platform in ("hyperv", "piix4"):
        machine = Machine(MachineConfig(platform=platform))
        assert machine.dispatch.counts.time_readers == (), platform


def test_a_trace_takes_the_time_readers_away() -> None:
    machine = Machine(MachineConfig(), trace=lambda _line: None)
    assert machine.dispatch.counts.time_readers == ()


def test_a_timer_restored_to_another_count_is_answered_in_c_from_that_count(tmp_path: Path) -> None:
    snapshot = tmp_path / "machine.snap"
    run_guest(bundled("monotonic.asm"), ["--dispatch", "native"], snapshot_path=snapshot, save_at=1000)
    machine = snapshot_module.load(snapshot.read_bytes(), platform="bhyve")  # bhyve's timer restarts near 0
    timer = next(device for device in machine.board.devices if isinstance(device, PmTimer))
    assert timer.start != 0
    assert [reader[1] for reader in machine.dispatch.counts.time_readers] == [timer.start]
