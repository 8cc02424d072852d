"""Each guest check catches the broken timer it exists for."""

import pytest
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.tools.runner import run_guest

from tests.faults import (
    AlwaysWraps24Timer,
    AnyWidthTimer,
    BhyveRateTimer,
    ByteLaneTimer,
    JumpsAheadOnceTimer,
    JumpsBackOnceTimer,
    ResetOnWriteTimer,
    SteppingBackTimer,
    StuckTimer,
    TmrStsAtBit22,
    TmrStsNeverSets,
    WrapsAtBit23Timer,
    WrapsAtBit25Timer,
)
from tests.guests import bundled

CAUGHT = [
    ("monotonic.asm", SteppingBackTimer, [], "FAIL: every step between two reads is forward"),
    ("monotonic.asm", SteppingBackTimer, ["--timer-width", "24"], "FAIL: every step between two reads is forward"),
    ("monotonic.asm", StuckTimer, [], "FAIL: time advanced between the first and the last read"),
    ("rate.asm", StuckTimer, [], "FAIL: the timer advances 3579545 ticks per second over 100 us"),
    ("rate.asm", BhyveRateTimer, [], "FAIL: the timer advances 3579545 ticks per second over 10 ms"),
    ("wrap24.asm", WrapsAtBit23Timer, [], "FAIL: the first read is the start value plus a few ticks"),
    ("wrap24.asm", WrapsAtBit25Timer, [], "FAIL: the counter wraps"),
    ("wrap24.asm", WrapsAtBit25Timer, [], "FAIL: no value has bits set above the timer width"),
    ("wrap32.asm", AlwaysWraps24Timer, [], "FAIL: the first read is the start value plus a few ticks"),
    ("discovery.asm", AlwaysWraps24Timer, ["--timer-start", "0xFFF000"],
     "FAIL: every step is forward, modulo the width the FADT gives"),
    ("carry24.asm", AlwaysWraps24Timer, [], "FAIL: the counter never decreases across 2^24"),
    ("linux_pmtmr.asm", WrapsAtBit23Timer, ["--timer-width", "24"],
     "FAIL: elapsed ticks across the 24-bit wrap, masked as Linux does"),
    ("linux_pmtmr.asm", JumpsBackOnceTimer, [],
     "FAIL: acpi_pm_read_verified never returns a value behind the one before"),
    ("freebsd_pmtmr.asm", AlwaysWraps24Timer, ["--timer-width", "32"],
     "FAIL: elapsed ticks across 2^24, masked as TMR_VAL_EXT says"),
    ("freebsd_pmtmr.asm", SteppingBackTimer, [], "FAIL: every step is forward modulo the timecounter's mask"),
    ("seabios_pmtmr.asm", BhyveRateTimer, [],
     "FAIL: elapsed ticks across the wrap, extended as SeaBIOS does"),
    ("ovmf_pmtmr.asm", WrapsAtBit23Timer, ["--timer-width", "24"],
     "FAIL: a 10 ms delay across the 24-bit wrap waits 35795 ticks"),
    ("ovmf_pmtmr.asm", JumpsAheadOnceTimer, [], "FAIL: a 1 ms delay waits 3580 ticks"),
    ("access_qemu.asm", ByteLaneTimer, [], "FAIL: a 2-byte read at the third port returns the low 16 bits too"),
    ("access_qemu.asm", ResetOnWriteTimer, [], "FAIL: a write neither resets nor changes the counter"),
    ("access_bhyve_narrow.asm", AnyWidthTimer, [], "FAIL: the 2-byte read is refused"),
    ("access_bhyve_write.asm", AnyWidthTimer, [], "FAIL: the write is refused"),
]


@pytest.mark.parametrize(("guest", "broken_timer", "options", "failure"), CAUGHT)
def test_guest_catches_the_broken_timer(guest, broken_timer, options, failure):
    run = run_guest(bundled(guest), options, timer_model=broken_timer)
    assert run.result.verdict == Verdict.FAIL, run.result.console
    assert failure in run.result.console


@pytest.mark.parametrize("guest", sorted({case[0] for case in CAUGHT}))
def test_guest_passes_with_the_real_timer(guest):
    run = run_guest(bundled(guest))
    assert run.as_expected, run.result.console


@pytest.mark.parametrize(
    "options",
    [["--timer-width", "32"], ["--timer-width", "24"], ["--timer-port", "0x608"], ["--io-semantics", "qemu"]],
)
def test_discovery_guest_passes_unchanged_on_every_platform(options):
    run = run_guest(bundled("discovery.asm"), options)
    assert run.result.verdict == Verdict.PASS, run.result.console


@pytest.mark.parametrize("width", ["24", "32"])
def test_overflow_interrupt_guest_passes_at_both_widths(width):
    run = run_guest(bundled("overflow_irq.asm"), ["--timer-width", width])
    assert run.result.verdict == Verdict.PASS, run.result.console


def test_a_tmr_sts_that_never_sets_leaves_the_guest_asleep():
    run = run_guest(bundled("overflow_irq.asm"), pm1_model=TmrStsNeverSets)
    assert run.result.verdict == Verdict.HALTED
    assert "HLT" in run.result.report.reason


def test_a_tmr_sts_at_the_wrong_bit_fails_the_interrupt_guest():
    run = run_guest(bundled("overflow_irq.asm"), pm1_model=TmrStsAtBit22)
    assert run.result.verdict == Verdict.FAIL
    assert "FAIL: each interrupt came when the top bit had just toggled" in run.result.console


@pytest.mark.parametrize("guest", ["linux_pmtmr.asm", "freebsd_pmtmr.asm", "seabios_pmtmr.asm"])
@pytest.mark.parametrize("width", ["24", "32"])
def test_consumer_guests_pass_at_both_widths(guest, width):
    run = run_guest(bundled(guest), ["--timer-width", width])
    assert run.result.verdict == Verdict.PASS, run.result.console


def test_linux_never_notices_a_32_bit_timer_that_wraps_at_24_and_freebsd_does():
    options = ["--timer-width", "32"]
    assert run_guest(bundled("linux_pmtmr.asm"), options, timer_model=AlwaysWraps24Timer).result.verdict == "pass"
    assert run_guest(bundled("freebsd_pmtmr.asm"), options, timer_model=AlwaysWraps24Timer).result.verdict == "fail"


def test_on_a_chipset_whose_reads_are_not_latched_linux_keeps_time_and_a_naive_reader_does_not():
    # acpi_pm_read_verified retries until three reads are in order: a stray read is never returned.
    linux = run_guest(bundled("linux_pmtmr.asm"), ["--quirk", "unlatched-reads"]).result
    assert linux.verdict == "pass", linux.console
    assert "acpi_pm_read_verified read again 0 times" not in linux.console
    naive = run_guest(bundled("monotonic.asm"), ["--quirk", "unlatched-reads"]).result
    assert "FAIL: every step between two reads is forward" in naive.console


def test_ovmf_says_so_where_there_is_no_timer():
    run = run_guest(bundled("ovmf_pmtmr.asm"), ["--platform", "no-pm-timer"])
    assert "FAIL: the platform has a PM timer" in run.result.console and run.as_expected


def test_a_stuck_timer_never_reaches_the_seabios_deadline():
    run = run_guest(bundled("seabios_pmtmr.asm"), ["--max-instructions", "3000000"], timer_model=StuckTimer)
    assert run.result.verdict == Verdict.TIMEOUT
