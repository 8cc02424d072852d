"""asm/include/fadt_timer.inc, the consumer guests' start: a FADT that names no timer makes the guest skip."""

import pytest
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.tools.runner import run_guest

from tests.guests import bundled

NO_TIMER_PORT = "SKIP: the FADT names no timer port: nothing to read\nSUMMARY: 1 tests, 1 skipped\n"


@pytest.mark.parametrize(
    ("guest", "platform"),
    [
        ("linux_pmtmr.asm", "no-pm-timer"),
        ("freebsd_pmtmr.asm", "cloud-hypervisor"),  # PM_TMR_LEN 0: FreeBSD takes no timer from it
        ("seabios_pmtmr.asm", "hyperv"),  # the RSDT's FADT leaves PM_TMR_BLK 0
    ],
)
def test_a_consumer_skips_where_its_fadt_names_no_timer(guest, platform):
    run = run_guest(bundled(guest), ["--platform", platform])
    assert (run.result.verdict, run.result.exit_code) == (Verdict.SKIP, 77)
    assert run.result.console.endswith(NO_TIMER_PORT)
    assert run.as_expected  # its header says skip there


def test_a_fadt_not_found_is_still_a_failure():
    run = run_guest(bundled("seabios_pmtmr.asm"), ["--platform", "qemu-microvm"])  # no RSDT for SeaBIOS to follow
    assert run.result.verdict == Verdict.FAIL
    assert run.result.console.endswith("FAIL: the FADT is found\nSUMMARY: 1 tests, 1 unexpected failures\n")


def test_a_found_fadt_is_no_test_of_its_own():
    console = run_guest(bundled("linux_pmtmr.asm"), ["--platform", "qemu"]).result.console
    assert "the FADT is found" not in console
