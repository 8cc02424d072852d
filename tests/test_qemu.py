"""The same guests in QEMU: the differential check.

QEMU is a real dependency of these tests: `make test` installs it with
apt-get where it can.  Where QEMU cannot be had they are skipped, and say why.
"""

import shutil

import pytest
from pmtimer_harness.devices.pm_timer import PmTimer
from pmtimer_harness.frontends.suite import bundled_guests
from pmtimer_harness.peers.differential import checks, compare
from pmtimer_harness.peers.qemu import QemuUnavailable, find_qemu, portability, run_in_qemu

from tests.guests import bundled, write_guest

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="QEMU (qemu-system-x86_64) is not installed"
)

PORTABLE = [guest for guest in bundled_guests() if portability(guest) is None]


@needs_qemu
@pytest.mark.parametrize("guest", PORTABLE, ids=[guest.name for guest in PORTABLE])
def test_each_portable_guest_means_the_same_in_qemu(guest):
    comparison = compare(guest)
    assert comparison.agree, "\n".join(comparison.differences()) + "\n" + comparison.qemu.console


@needs_qemu
def test_the_exit_code_comes_back_from_qemu(tmp_path):
    guest = write_guest(tmp_path, "mov al, 'q'\n out 0xE9, al\n mov al, 3\n out 0xF4, al\n")
    run = run_in_qemu(guest, timeout_s=30)
    assert (run.verdict, run.exit_code, run.console) == ("fail", 3, "q")


class JumpsBackTimer(PmTimer):
    """Every 1000th read is 100,000 ticks behind: a step back any clock can see."""

    reads = 0

    def read(self, port, width, now_ns):
        self.reads += 1
        value = super().read(port, width, now_ns)
        return (value - 100_000) & self.mask if self.reads % 1000 == 0 else value


@needs_qemu
def test_a_broken_harness_timer_shows_as_a_difference():
    comparison = compare(bundled("monotonic.asm"), timer_model=JumpsBackTimer)
    assert not comparison.agree
    assert ("FAIL", "every step between two reads is forward") in checks(comparison.harness.console)


def test_guests_that_need_the_harness_say_why():
    assert "32-bit timer" in portability(bundled("wrap32.asm"))
    assert "bhyve" in portability(bundled("access_bhyve_write.asm"))
    assert portability(bundled("monotonic.asm")) is None
    assert len(PORTABLE) >= 4


def test_without_qemu_the_message_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("HARNESS_QEMU", raising=False)
    with pytest.raises(QemuUnavailable, match="apt-get install qemu-system-x86"):
        find_qemu()
