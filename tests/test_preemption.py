"""A busy host is not a broken timer: guests built for a real clock tell the two apart.

Under the host clock, and in QEMU, the host may stop a guest for milliseconds
between two reads; the guest then sees the counter jump.  The guests built
for a real clock (CLOCK_VIRTUAL 0) judge such a jump by a second clock (the
TSC, which a pause moves too), or read in an order no pause can fool, or
measure again and judge one clean sample.  Here they run, so built, under the
harness's virtual clock, with the whole guest paused at a chosen moment (every
clock moves, as on a busy host), and with timers and PM1 registers that jump
or come late on their own (tests/faults.py).  Each case shows the guest
excusing the pause and catching the fault.
"""

from pathlib import Path

import pytest
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.peers.qemu import QEMU_CONFIG
from pmtimer_harness.tools.assembler import assemble
from pmtimer_harness.tools.runner import build_machine, run_guest

from tests.faults import (
    PAUSE_TICKS,
    CoarseTimer,
    JumpsAtEveryWrapTimer,
    JumpsOnceAtTheWrapTimer,
    PausedOnceAfterTheWrapTimer,
    PausingTimer,
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


def run_paused_once(name, folder, options, pause_from, inside_the_read):
    """Built for a real clock, run with the whole guest paused once, when the count first reaches ``pause_from``."""
    machine = build_machine(built_for_a_real_clock(name, folder), PLATFORM + options, timer_model=PausingTimer)
    machine.board.timer.machine = machine
    machine.board.timer.pause_from = pause_from
    machine.board.timer.inside_the_read = inside_the_read
    return machine.run()


# wrap24: reads 36 ticks apart; the TSC's calibration (2^17 ticks) ends just before the guest
# waits for the wrap.
WRAP_OPTIONS = ["--timer-start", "0xFD0000", "--io-ns", "10000"]
JUST_BEFORE_THE_WRAP = (1 << 24) - 40


def test_a_pause_between_the_reads_around_the_wrap_is_no_fault(tmp_path):
    result = run_paused_once("wrap24.asm", tmp_path, WRAP_OPTIONS, JUST_BEFORE_THE_WRAP, inside_the_read=False)
    assert result.verdict == Verdict.PASS, result.console
    assert f"INFO: a step of {PAUSE_TICKS + 36} ticks" in result.console, result.console
    assert "measuring the next wrap" not in result.console


def test_a_pause_inside_a_read_at_the_wrap_is_measured_again(tmp_path):
    result = run_paused_once("wrap24.asm", tmp_path, WRAP_OPTIONS, JUST_BEFORE_THE_WRAP, inside_the_read=True)
    assert result.verdict == Verdict.PASS, result.console
    assert result.console.count("measuring the next wrap") == 1


@pytest.mark.parametrize("timer_model", [JumpsOnceAtTheWrapTimer, JumpsAtEveryWrapTimer])
def test_a_timer_that_jumps_at_the_wrap_fails_at_once(tmp_path, timer_model):
    result = run_built_for_a_real_clock("wrap24.asm", tmp_path, WRAP_OPTIONS, timer_model=timer_model)
    assert result.verdict == Verdict.FAIL
    assert "measuring the next wrap" not in result.console
    assert "FAIL: the step across the wrap is as long as the time the TSC saw pass" in result.console


TOGGLE = 1 << 23  # overflow_irq's first toggle: the counter starts at 0
# overflow_irq polls through four toggles (9.4 s): reads 100 us apart make that 47,000 polls.
OVERFLOW_OPTIONS = ["--io-ns", "100000"]


def latest_interrupt(console: str) -> int:
    """The most ticks between a toggle and overflow_irq's handler, from its INFO line."""
    line = next(line for line in console.splitlines() if line.startswith("INFO: the handler read the counter"))
    return int(line.split(" to ")[1].split()[0])


@pytest.mark.parametrize("inside_the_read", [True, False], ids=["inside-the-timer-read", "after-the-status-read"])
def test_an_interrupt_a_pause_made_late_is_no_fault(tmp_path, inside_the_read):
    # A poll's timer read 1100-384 ticks before the toggle starts the pause (reads are 358 ticks
    # apart, so its status read is before the toggle too).  Paused after the status read, the
    # guest resumes with the SCI due, and the handler runs before that poll is judged: the poll
    # must judge by the phase it read with its status, not by what the handler has written since.
    result = run_paused_once("overflow_irq.asm", tmp_path, OVERFLOW_OPTIONS, TOGGLE - 1100,
                             inside_the_read=inside_the_read)
    assert result.verdict == Verdict.PASS, result.console
    assert latest_interrupt(result.console) > PAUSE_TICKS - 1100


@pytest.mark.parametrize("pm1_model", [TmrStsLateOnce, TmrStsAlwaysLate])
def test_a_late_tmr_sts_fails_even_once(tmp_path, pm1_model):
    result = run_built_for_a_real_clock("overflow_irq.asm", tmp_path, OVERFLOW_OPTIONS, pm1_model=pm1_model)
    assert result.verdict == Verdict.FAIL
    assert "FAIL: TMR_STS was set whenever the timer read before it had passed the toggle" in result.console


# ovmf_pmtmr: built for a real clock, it calibrates the TSC (2^17 ticks), waits until 4.6 ms below the wrap, then
# delays 10 ms across it; reads 36 ticks apart.
OVMF_OPTIONS = ["--timer-start", "0xFDA000", "--io-ns", "10000"]


def test_a_delay_a_pause_ended_late_is_no_fault(tmp_path):
    # The 10 ms delay starts near 0xFFC000, so its target is near 2^24 + 0x4BD3: paused just before it.
    result = run_paused_once("ovmf_pmtmr.asm", tmp_path, OVMF_OPTIONS, (1 << 24) + 0x4B00, inside_the_read=False)
    assert result.verdict == Verdict.PASS, result.console
    assert "PASS: a 10 ms delay across the 24-bit wrap waits 35795 ticks" in result.console
    waited = int(result.console.split("INFO: waited ")[1].split()[0])
    assert waited > 35795 + PAUSE_TICKS // 2  # the pause did make it late


@pytest.mark.parametrize("timer_model", [JumpsOnceAtTheWrapTimer, CoarseTimer])
def test_a_delay_the_timer_jumped_to_its_end_fails(tmp_path, timer_model):
    result = run_built_for_a_real_clock("ovmf_pmtmr.asm", tmp_path, OVMF_OPTIONS, timer_model=timer_model)
    assert result.verdict == Verdict.FAIL
    assert "FAIL: a 10 ms delay across the 24-bit wrap waits 35795 ticks" in result.console


def test_always_late_interrupts_fail_the_virtual_clock_build_too():
    result = run_guest(bundled("overflow_irq.asm"), pm1_model=TmrStsLateOnce).result
    assert result.verdict == Verdict.FAIL
    assert "FAIL: each interrupt came within a few ticks of the toggle" in result.console


@pytest.mark.parametrize("real_clock", [False, True], ids=["virtual-clock-build", "real-clock-build"])
def test_the_interrupt_guest_takes_the_counter_as_it_finds_it(tmp_path, real_clock):
    # Under KVM, SeaBIOS can take longer than a half period (2.34 s) to boot: the counter is
    # then in its upper half when the guest sets TMR_EN.
    upper_half = ["--timer-start", "0x900000"]
    if real_clock:
        result = run_built_for_a_real_clock("overflow_irq.asm", tmp_path, upper_half + OVERFLOW_OPTIONS)
    else:
        result = run_guest(bundled("overflow_irq.asm"), upper_half).result
    assert result.verdict == Verdict.PASS, result.console


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
                                   "freebsd_pmtmr.asm", "ovmf_pmtmr.asm"])
def test_built_for_a_real_clock_the_guests_pass_on_a_sound_timer(tmp_path, guest):
    own_options = {"overflow_irq.asm": OVERFLOW_OPTIONS, "wrap24.asm": WRAP_OPTIONS, "ovmf_pmtmr.asm": OVMF_OPTIONS}
    options = own_options.get(guest, NEAR_THE_WRAP)
    result = run_built_for_a_real_clock(guest, tmp_path, options)
    assert result.verdict == Verdict.PASS, result.console


def test_the_qemu_platform_is_the_real_clock():
    assert QEMU_CONFIG.replace().nasm_defines()["CLOCK_VIRTUAL"] == 0
