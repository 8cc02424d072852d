"""PM1 registers alone: TMR_STS at each toggle of the timer's top bit, write-1-to-clear, TMR_EN."""

import pytest
from pmtimer_harness.devices.acpi_pm1 import Pm1Registers
from pmtimer_harness.devices.pm_timer import NS_PER_SECOND, PM_TMR_FREQUENCY_HZ, IoSemantics, PmTimer


def first_ns_of_tick(tick):
    return -(-tick * NS_PER_SECOND // PM_TMR_FREQUENCY_HZ)


def registers(width, start=0, semantics=IoSemantics.BHYVE):
    return Pm1Registers(PmTimer(width=width, start=start, semantics=semantics), semantics=semantics)


@pytest.mark.parametrize("width", [24, 32])
@pytest.mark.parametrize("toggle", [1, 2, 3])
def test_tmr_sts_sets_exactly_when_the_top_bit_toggles(width, toggle):
    start = (1 << (width - 1)) - 1000
    pm1 = registers(width, start)
    toggle_tick = toggle * (1 << (width - 1)) - start  # counter reaches k * 2^(width-1)
    at = first_ns_of_tick(toggle_tick)
    if toggle > 1:
        pm1.write(0x400, 2, 1, first_ns_of_tick(toggle_tick - 1))  # cleared one tick before
    else:
        assert pm1.read(0x400, 2, first_ns_of_tick(toggle_tick - 1)) == 0
    assert pm1.read(0x400, 2, at - 1) == 0
    assert pm1.read(0x400, 2, at) == 1
    assert pm1.next_toggle_ns(at - 1) == at


def test_writing_one_clears_and_zero_does_not():
    pm1 = registers(24, start=0xFFFFF0)
    later = first_ns_of_tick(100)
    assert pm1.read(0x400, 2, later) == 1
    pm1.write(0x400, 2, 0, later)
    assert pm1.read(0x400, 2, later) == 1
    pm1.write(0x400, 2, 1, later)
    assert pm1.read(0x400, 2, later) == 0


def test_sci_needs_tmr_en_and_tmr_sts():
    pm1 = registers(24, start=0xFFFFF0)
    later = first_ns_of_tick(100)
    assert not pm1.sci_asserted(later)
    pm1.write(0x402, 2, 1, later)
    assert pm1.read(0x402, 2, later) == 1
    assert pm1.sci_asserted(later)
    pm1.write(0x400, 2, 1, later)
    assert not pm1.sci_asserted(later)


def test_a_32_bit_timer_sets_tmr_sts_at_bit_31_not_bit_23():
    pm1 = registers(32, start=(1 << 23) - 10)
    assert not pm1.tmr_sts(first_ns_of_tick(20))


def test_sci_en_reads_set():
    assert registers(32).read(0x404, 2, 0) == 1


def test_bhyve_takes_2_byte_accesses_qemu_also_1():
    (bhyve_sts, _, _) = registers(32).windows
    (qemu_sts, _, _) = registers(32, semantics=IoSemantics.QEMU).windows
    assert bhyve_sts.read_widths == {2} and "bhyve" in bhyve_sts.refusal
    assert qemu_sts.read_widths == {1, 2}


def test_a_byte_write_to_the_high_half_does_not_touch_bit_0():
    pm1 = registers(24, start=0xFFFFF0, semantics=IoSemantics.QEMU)
    later = first_ns_of_tick(100)
    pm1.write(0x401, 1, 1, later)
    assert pm1.read(0x400, 1, later) == 1
    pm1.write(0x403, 1, 1, later)
    assert pm1.read(0x402, 1, later) == 0


def test_no_tmr_sts_at_reset_even_with_the_top_bit_set():
    assert registers(24, start=0xC00000).read(0x400, 2, 0) == 0


from pmtimer_harness.devices.acpi_pm1 import BYTES_PM1, Pm1Access, Pm1Rules, SciGate, TmrSts  # noqa: E402


@pytest.mark.parametrize(("gate", "sci_after_clearing_sci_en", "sci_en_reads"), [
    (SciGate.ALWAYS_ACPI, True, 1),  # SCI_EN cannot be cleared: SMI_CMD is 0, always in ACPI mode
    (SciGate.SCI_EN, False, 0),  # VirtualBox: no SCI while SCI_EN is clear
    (SciGate.IGNORES_SCI_EN, True, 0),  # Xen: the SCI does not look at SCI_EN
])
def test_what_the_sci_makes_of_a_cleared_sci_en(gate, sci_after_clearing_sci_en, sci_en_reads):
    timer = PmTimer(width=24, start=0xFFFFF0)
    pm1 = Pm1Registers(timer, rules=Pm1Rules(sci=gate, access=BYTES_PM1))
    later = first_ns_of_tick(100)
    pm1.write(0x402, 2, 1, later)  # TMR_EN
    pm1.write(0x404, 2, 0, later)  # SCI_EN cleared
    assert pm1.read(0x404, 2, later) == sci_en_reads
    assert pm1.sci_asserted(later) == sci_after_clearing_sci_en


# --- hand-over and the first TMR_STS, per platform -------------------------------------

from pmtimer_harness.devices.acpi_pm1 import Handover  # noqa: E402

BOCHS_LIKE = Pm1Rules(tmr_sts=TmrSts.BIT_23, sci=SciGate.IGNORES_SCI_EN, access=BYTES_PM1,
                      first_tmr_sts=0xFFFFFF, handover=Handover(smi_cmd=0xB2, acpi_enable=0xF1, acpi_disable=0xF0))


def bochs_like(start=0):
    return Pm1Registers(PmTimer(width=24, start=start), 0xB000, 0xB004, rules=BOCHS_LIKE)


def test_legacy_mode_until_acpi_enable_is_written_to_smi_cmd():
    pm1 = bochs_like()
    assert pm1.read(0xB004, 2, 0) == 0  # SCI_EN clear at hand-over
    pm1.write(0xB2, 1, 0x42, 0)  # another SMI command: no change
    assert (pm1.read(0xB004, 2, 0), pm1.read(0xB2, 1, 0)) == (0, 0x42)
    pm1.write(0xB2, 1, 0xF1, 0)
    assert pm1.read(0xB004, 2, 0) == 1
    pm1.write(0xB2, 1, 0xF0, 0)
    assert pm1.read(0xB004, 2, 0) == 0


def test_bochs_sets_the_first_tmr_sts_at_count_ffffff_not_at_the_toggle():
    pm1 = bochs_like()
    assert not pm1.tmr_sts(first_ns_of_tick(0x800001))  # the toggle at 0x800000 passes unseen
    assert not pm1.tmr_sts(first_ns_of_tick(0xFFFFFF) - 1)
    assert pm1.tmr_sts(first_ns_of_tick(0xFFFFFF))
    assert pm1.next_toggle_ns(0) == first_ns_of_tick(0xFFFFFF)
    # Cleared: from now on each toggle of bit 23, the next one tick later ((d + 0x800000) & ~0x7fffff).
    pm1.write(0xB000, 2, 1, first_ns_of_tick(0xFFFFFF))
    assert not pm1.tmr_sts(first_ns_of_tick(0x1000000) - 1)
    assert pm1.tmr_sts(first_ns_of_tick(0x1000000))


def test_qemu_has_tmr_sts_set_at_hand_over():
    rules = Pm1Rules(tmr_sts=TmrSts.BIT_23, sci=SciGate.IGNORES_SCI_EN, access=BYTES_PM1,
                     first_tmr_sts=0)
    pm1 = Pm1Registers(PmTimer(width=24, start=0x1234), rules=rules)
    assert pm1.read(0x400, 2, 0) == 1
    pm1.write(0x400, 2, 1, 0)
    assert pm1.read(0x400, 2, first_ns_of_tick(0x800000 - 0x1234) - 1) == 0
    assert pm1.read(0x400, 2, first_ns_of_tick(0x800000 - 0x1234)) == 1


def test_the_first_tmr_sts_still_to_come_and_the_smi_command_survive_a_restore():
    pm1 = bochs_like()
    saved_at = first_ns_of_tick(0x900000)
    pm1.write(0xB2, 1, 0xF1, saved_at)
    state = pm1.state(saved_at)
    assert state["first_tmr_sts_in"] == 0xFFFFFF - 0x900000 and state["smi_cmd"] == 0xF1
    fresh = bochs_like()
    fresh.timer.restore(pm1.timer.state(saved_at), 0)
    fresh.restore(state, 0)
    assert fresh.read(0xB004, 2, 0) == 1 and fresh.read(0xB2, 1, 0) == 0xF1
    assert not fresh.tmr_sts(first_ns_of_tick(0xFFFFFF - 0x900000) - 1)
    assert fresh.tmr_sts(first_ns_of_tick(0xFFFFFF - 0x900000))


def test_a_version_1_state_restores_as_it_did():
    pm1 = bochs_like()
    pm1.restore({"tmr_en": True, "tmr_sts": False, "sci_en": True}, 0)
    assert pm1.read(0xB2, 1, 0) == 0 and pm1.next_toggle_ns(0) == first_ns_of_tick(0x800000)


def test_a_four_byte_read_of_pm1_sts_carries_pm1_en_in_its_upper_half():
    # The event block is PM1_STS then PM1_EN (ACPI 6.5, 4.8.3.1); Xen's handle_evt_io reads it byte by byte.
    pm1 = Pm1Registers(PmTimer(width=32, semantics=IoSemantics.QEMU), semantics=IoSemantics.QEMU)
    pm1.write(0x402, 2, 1, 0)
    assert pm1.read(0x400, 4, 0) == 0x0001_0000
    pm1.write(0x400, 4, 0x0000_0000, 0)  # a 4-byte write reaches PM1_EN too
    assert pm1.read(0x402, 2, 0) == 0


def test_a_platform_that_drops_tmr_en_reads_it_back_as_zero_and_raises_no_sci():
    timer = PmTimer(width=32, start=0x7FFF_FFF0)
    pm1 = Pm1Registers(timer, rules=Pm1Rules(tmr_en_kept=False))  # bhyve: pm1_enable_handler
    pm1.write(0x402, 2, 1, 0)
    later = first_ns_of_tick(100)
    assert pm1.read(0x402, 2, later) == 0
    assert not pm1.sci_asserted(later)
    assert pm1.next_toggle_ns(0) is not None  # the status still moves; only the enable is gone


def test_an_access_that_stays_in_its_register_reads_zero_past_it_and_writes_nothing_there():
    # OpenVMM's io_read shifts the register that holds the first byte; VirtualBox cuts a 4-byte write to 16 bits.
    rules = Pm1Rules(access=Pm1Access(frozenset({1, 2, 4}), frozenset({1, 2, 4}), refusal="", spans_block=False))
    pm1 = Pm1Registers(PmTimer(width=32, semantics=IoSemantics.QEMU), rules=rules)
    pm1.write(0x402, 2, 1, 0)
    assert pm1.read(0x400, 4, 0) == 0  # PM1_EN's TMR_EN is not in the upper half
    pm1.write(0x400, 4, 0x0000_0000, 0)
    assert pm1.read(0x402, 2, 0) == 1  # and a 4-byte write at PM1_STS does not reach PM1_EN
