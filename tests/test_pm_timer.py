"""The PM timer model alone: rate, width, wrap, start value, access semantics."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pmtimer_harness.devices.pm_timer import PM_TMR_FREQUENCY_HZ, IoSemantics, PmTimer

SECOND = 1_000_000_000


def test_one_second_is_exactly_3579545_ticks():
    assert PmTimer().counter(SECOND) == PM_TMR_FREQUENCY_HZ


def test_an_hour_has_no_drift():
    assert PmTimer(width=32).counter(3600 * SECOND) == (3600 * PM_TMR_FREQUENCY_HZ) % 2**32


def test_a_tick_starts_on_its_exact_nanosecond():
    # Tick 1 starts at 10^9 / 3579545 = 279.36... ns.
    timer = PmTimer()
    assert timer.counter(279) == 0
    assert timer.counter(280) == 1


def test_start_value_is_the_count_at_time_zero():
    assert PmTimer(start=0x123456).counter(0) == 0x123456


@pytest.mark.parametrize("width", [24, 32])
def test_wraps_to_zero_at_two_to_the_width(width):
    timer = PmTimer(width=width, start=2**width - 1)
    one_tick_later = -(-SECOND // PM_TMR_FREQUENCY_HZ)  # first nanosecond of tick 1
    assert timer.counter(0) == 2**width - 1
    assert timer.counter(one_tick_later) == 0


def test_a_32_bit_timer_carries_into_bit_24():
    timer = PmTimer(width=32, start=0xFFFFFF)
    assert timer.counter(300) == 0x1000000


def test_rejects_widths_other_than_24_and_32():
    with pytest.raises(ValueError, match="24 or 32"):
        PmTimer(width=16)


def test_rejects_a_start_value_wider_than_the_timer():
    with pytest.raises(ValueError, match="does not fit"):
        PmTimer(width=24, start=1 << 24)


@given(
    width=st.sampled_from([24, 32]),
    start=st.integers(0, 2**32 - 1),
    now_ns=st.integers(0, 10**15),
)
def test_counter_is_start_plus_whole_ticks_modulo_the_width(width, start, now_ns):
    start &= (1 << width) - 1
    timer = PmTimer(width=width, start=start)
    assert timer.counter(now_ns) == (start + now_ns * PM_TMR_FREQUENCY_HZ // SECOND) % 2**width


@given(earlier=st.integers(0, 10**15), gap=st.integers(0, 4 * SECOND))
def test_elapsed_ticks_survive_the_wrap_as_linux_computes_them(earlier, gap):
    timer = PmTimer(width=24)
    elapsed = (timer.counter(earlier + gap) - timer.counter(earlier)) & 0xFFFFFF
    exact = (earlier + gap) * PM_TMR_FREQUENCY_HZ // SECOND - earlier * PM_TMR_FREQUENCY_HZ // SECOND
    assert elapsed == exact


def test_bhyve_semantics_claim_one_port_for_4_byte_reads_only():
    (window,) = PmTimer(semantics=IoSemantics.BHYVE).windows
    assert (window.base, window.length) == (0x408, 1)
    assert window.read_widths == {4}
    assert window.write_widths == set()
    assert "bhyve" in window.refusal


def test_qemu_semantics_claim_four_ports_for_any_width():
    (window,) = PmTimer(port=0x608, semantics=IoSemantics.QEMU).windows
    assert (window.base, window.length) == (0x608, 4)
    assert window.read_widths == {1, 2, 4}
    assert window.write_widths == {1, 2, 4}


@pytest.mark.parametrize(("width", "expected"), [(1, 0x78), (2, 0x5678), (4, 0x12345678)])
def test_narrow_reads_return_the_low_order_bytes(width, expected):
    timer = PmTimer(start=0x12345678, semantics=IoSemantics.QEMU)
    assert timer.read(0x40A, width, 0) == expected


def test_a_write_changes_nothing():
    timer = PmTimer(start=0x12345678, semantics=IoSemantics.QEMU)
    timer.write(0x408, 4, 0, 1000)
    assert timer.counter(0) == 0x12345678


def test_state_is_the_count_and_a_restore_continues_from_it_at_any_time():
    timer = PmTimer(port=0x608, width=24, start=5, semantics=IoSemantics.QEMU)
    saved = timer.state(SECOND)
    assert saved == {"counter": 5 + PM_TMR_FREQUENCY_HZ, "last": 5}
    resumed = PmTimer(port=0x608, width=24, semantics=IoSemantics.QEMU)
    resumed.restore(saved, 0)  # the host clock starts again at 0
    assert resumed.counter(0) == saved["counter"]
    resumed.restore(saved, 7 * SECOND)  # the virtual clock goes on from the saved instant
    assert resumed.counter(7 * SECOND) == saved["counter"]


def test_a_timer_that_loses_its_time_base_restarts_at_zero_after_a_restore():
    timer = PmTimer(restarts_on_restore=True)
    timer.restore({"counter": 123_456}, 3 * SECOND)
    assert timer.counter(3 * SECOND) == 0
    assert timer.counter(4 * SECOND) == PM_TMR_FREQUENCY_HZ


# --- platforms' time bases (harness/platform/profiles.py) ------------------------------

from pmtimer_harness.devices.pm_timer import UnlatchedPmTimer  # noqa: E402
from pmtimer_harness.platform.profiles import BHYVE_TIME, BOCHS_TIME, HYPERV_TIME, XEN_TIME  # noqa: E402


def test_bhyve_counts_2_to_the_32_over_1199_ticks_a_second():
    # sbinuptime() / freq_sbt with freq_sbt = 2^32 / 3579545 truncated to 1199: 720 ppm fast.
    assert BHYVE_TIME.ticks(SECOND) == 2**32 // 1199 == 3_582_124


def test_xen_scales_nanoseconds_by_a_truncated_32_bit_fraction():
    assert XEN_TIME.ticks(SECOND) == (SECOND * ((3_579_545 << 32) // SECOND)) >> 32 == 3_579_544


@pytest.mark.parametrize(("base", "quantum"), [(HYPERV_TIME, 100), (BOCHS_TIME, 1000)])
def test_a_stepped_clock_changes_the_count_only_at_its_steps(base, quantum):
    for ns in (quantum * 7, quantum * 7 + quantum - 1):
        assert base.ticks(ns) == (quantum * 7) * PM_TMR_FREQUENCY_HZ // SECOND


@pytest.mark.parametrize("base", [BHYVE_TIME, XEN_TIME, HYPERV_TIME, BOCHS_TIME])
@pytest.mark.parametrize("tick", [1, 2, 3, 1000, 2**23, 2**31 + 5])
def test_first_ns_at_is_the_first_nanosecond_of_a_tick(base, tick):
    at = base.first_ns_at(tick)
    assert base.ticks(at) >= tick > base.ticks(at - 1)


def test_unlatched_reads_are_about_one_in_24_and_the_same_every_run():
    def values(timer):
        return [timer.read(0x408, 4, ns * 1000) for ns in range(100_000)]

    first, second = values(UnlatchedPmTimer(width=24)), values(UnlatchedPmTimer(width=24))
    assert first == second
    exact = PmTimer(width=24)
    bad = sum(value != exact.counter(ns * 1000) for ns, value in enumerate(first))
    assert 0.040 < bad / len(first) < 0.044


# --- unaligned reads: QEMU under TCG and under KVM, Bochs ---------------------------------

from pmtimer_harness.devices.pm_timer import NarrowRead, TimerAccess, TimerWrite  # noqa: E402

COUNT = 0x00ABCDEF


def timer_with(rule):
    return PmTimer(port=0x608, width=24, start=COUNT, access=TimerAccess(rule, TimerWrite.IGNORE, ""))


@pytest.mark.parametrize(("port", "width", "tcg", "kvm"), [
    (0x608, 1, 0xEF, 0xEF), (0x609, 1, 0xEF, 0xEF), (0x60B, 1, 0xEF, 0xEF),
    (0x608, 2, 0xCDEF, 0xCDEF), (0x60A, 2, 0xCDEF, 0xCDEF),
    (0x609, 2, 0, 0xEFEF),  # KVM: a byte at +1, a byte at +2
    (0x60B, 2, 0, 0xFFEF),  # a byte at +3, then 0xFF past the timer
    (0x609, 4, 0, 0xFFCDEFEF),  # a byte at +1, a word at +2, 0xFF
    (0x60A, 4, 0, 0xFFFFCDEF),
    (0x60B, 4, 0, 0xFFFFFFEF),
    (0x608, 4, COUNT, COUNT),
])
def test_qemu_unaligned_reads_are_zero_under_tcg_and_split_under_kvm(port, width, tcg, kvm):
    assert timer_with(NarrowRead.UNALIGNED_ZERO).read(port, width, 0) == tcg
    assert timer_with(NarrowRead.SPLIT).read(port, width, 0) == kvm


@pytest.mark.parametrize("port", [0x609, 0x60A, 0x60B])
def test_all_ones_covers_a_dword_read_off_the_port(port):
    assert timer_with(NarrowRead.ALL_ONES).read(port, 4, 0) == 0xFFFFFFFF


@pytest.mark.parametrize(("port", "width", "expected"), [
    (0x608, 1, 0xEF), (0x609, 1, 0xCD), (0x60A, 1, 0xAB), (0x60B, 1, 0x00),
    (0x609, 2, 0xABCD), (0x60B, 2, 0x0000),
    (0x609, 4, 0x0000ABCD), (0x60A, 4, 0x000000AB),  # OpenVMM's io_read: the count shifted, 0 past its top
])
def test_lanes_give_the_counts_bytes_from_the_offset_on(port, width, expected):
    assert timer_with(NarrowRead.LANES).read(port, width, 0) == expected
