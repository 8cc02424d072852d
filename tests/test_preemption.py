"""A busy host is not a broken timer: guests built for a real clock tell the two apart.

Under the host clock, and in QEMU, the host may stop a guest for milliseconds
between two reads; the guest then sees the counter jump.  The guests built
for a real clock (CLOCK_VIRTUAL 0) measure again when that happens and judge
one clean sample.  Here they run, so built, under the harness's virtual clock
with timers and PM1 registers that jump or come late at chosen moments
(tests/faults.py): deterministic stand-ins for a busy host.  Each case shows
the guest excusing a one-off and catching the same fault when it repeats.
"""

from dataclasses import replace
from pathlib import Path

import pytest
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.peers.qemu import QEMU_CONFIG
from pmtimer_harness.tools.assembler import assemble
from pmtimer_harness.tools.runner import run_guest

from tests.faults import (
    CoarseTimer,
    JumpsAtEveryWrapTimer,
    PausedOnceAfterTheWrapTimer,
    PausedOnceAtTheWrapTimer,
    SciEnNeverSet,
    SteppingBackOftenTimer,
    TmrStsAlwaysLate,
    TmrStsLateOnce,
)
from tests.guests import bundled

# QEMU's platform, as the differential runs it, but on the virtual clock.
PLATFORM = ["--platform", "qemu"]
NEAR_THE_WRAP = ["--timer-start", "0xFFFF00"]


def built_for_a_real_clock(name: str, folder: Path) -> Path:
    """The bundled guest as QEMU gets it (CLOCK_VIRTUAL 0), as a raw binary the harness runs."""
    image = assemble(bundled(name), QEMU_CONFIG.nasm_defines()).image
    binary = folder / (Path(name).stem + ".bin")
    binary.write_bytes(image)
    return binary


def run_built_for_a_real_clock(name, folder, options, **models):
    return run_guest(built_for_a_real_clock(name, folder), PLATFORM + options, **models).result


# wrap24: reads 358 ticks apart, so that waiting for another wrap takes 47,000 reads, not 4.7 million,
# and starting 100 reads below the wrap.
WRAP_OPTIONS = ["--timer-start", "0xFF7000", "--io-ns", "100000"]


def test_a_wrap_measured_across_a_pause_is_measured_again(tmp_path):
    result = run_built_for_a_real_clock("wrap24.asm", tmp_path, WRAP_OPTIONS, timer_model=PausedOnceAtTheWrapTimer)
    assert result.verdict == Verdict.PASS, result.console
    assert "measuring the next wrap" in result.console


def test_a_timer_that_jumps_at_every_wrap_still_fails(tmp_path):
    result = run_built_for_a_real_clock("wrap24.asm", tmp_path, WRAP_OPTIONS, timer_model=JumpsAtEveryWrapTimer)
    assert result.verdict == Verdict.FAIL
    assert result.console.count("measuring the next wrap") == 2
    assert "FAIL: the step across the wrap is a small forward step" in result.console


def test_one_late_overflow_interrupt_is_excused(tmp_path):
    result = run_built_for_a_real_clock("overflow_irq.asm", tmp_path, [], pm1_model=TmrStsLateOnce)
    assert result.verdict == Verdict.PASS, result.console
    assert "PASS: the earliest interrupt came within 10 ms of its toggle" in result.console


def test_overflow_interrupts_that_are_always_late_fail(tmp_path):
    result = run_built_for_a_real_clock("overflow_irq.asm", tmp_path, [], pm1_model=TmrStsAlwaysLate)
    assert result.verdict == Verdict.FAIL
    assert "FAIL: the earliest interrupt came within 10 ms of its toggle" in result.console


def test_always_late_interrupts_fail_the_virtual_clock_build_too():
    result = run_guest(bundled("overflow_irq.asm"), pm1_model=TmrStsLateOnce).result
    assert result.verdict == Verdict.FAIL
    assert "FAIL: each interrupt came within a few ticks of the toggle" in result.console


@pytest.mark.parametrize("width", ["24", "32"])
def test_the_interrupt_guest_checks_that_the_platform_is_in_acpi_mode(width):
    # The 24-bit path once jumped over the switch to ACPI mode, and over this check.
    result = run_guest(bundled("overflow_irq.asm"), ["--timer-width", width], pm1_model=SciEnNeverSet).result
    assert result.verdict == Verdict.FAIL
    assert "FAIL: the platform is in ACPI mode (SCI_EN is set)" in result.console


def test_a_deadline_that_passes_during_a_pause_is_waited_for_again(tmp_path):
    result = run_built_for_a_real_clock("seabios_pmtmr.asm", tmp_path, NEAR_THE_WRAP,
                                        timer_model=PausedOnceAfterTheWrapTimer)
    assert result.verdict == Verdict.PASS, result.console
    assert "waiting for another deadline" in result.console


@pytest.mark.parametrize("real_clock", [False, True], ids=["virtual-clock-build", "real-clock-build"])
def test_a_coarse_timer_misses_every_deadline(tmp_path, real_clock):
    if real_clock:
        result = run_built_for_a_real_clock("seabios_pmtmr.asm", tmp_path, NEAR_THE_WRAP, timer_model=CoarseTimer)
    else:
        result = run_guest(bundled("seabios_pmtmr.asm"), timer_model=CoarseTimer).result
    assert result.verdict == Verdict.FAIL
    assert "FAIL: a 1 ms deadline ends within a few ticks of its end" in result.console


def test_a_timer_that_steps_back_again_and_again_fails_linux_boot_check():
    result = run_guest(bundled("linux_pmtmr.asm"), timer_model=SteppingBackOftenTimer).result
    assert result.verdict == Verdict.FAIL
    assert "FAIL: the boot-time consistency check of init_acpi_pm_clocksource passes" in result.console


def test_built_for_a_real_clock_linux_still_catches_a_timer_that_steps_back(tmp_path):
    # Built so, the boot check runs just after the wrap, where Linux's own rule excuses
    # any value below 0xFFF: the stepping back shows in acpi_pm_read_verified instead.
    result = run_built_for_a_real_clock("linux_pmtmr.asm", tmp_path, NEAR_THE_WRAP,
                                        timer_model=SteppingBackOftenTimer)
    assert result.verdict == Verdict.FAIL
    assert "FAIL: acpi_pm_read_verified never needs to read again" in result.console


@pytest.mark.parametrize("guest", ["wrap24.asm", "overflow_irq.asm", "seabios_pmtmr.asm", "linux_pmtmr.asm",
                                   "freebsd_pmtmr.asm"])
def test_built_for_a_real_clock_the_guests_pass_on_a_sound_timer(tmp_path, guest):
    options = [] if guest == "overflow_irq.asm" else WRAP_OPTIONS if guest == "wrap24.asm" else NEAR_THE_WRAP
    result = run_built_for_a_real_clock(guest, tmp_path, options)
    assert result.verdict == Verdict.PASS, result.console


def test_the_qemu_platform_is_the_real_clock():
    assert replace(QEMU_CONFIG).nasm_defines()["CLOCK_VIRTUAL"] == 0
