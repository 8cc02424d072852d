"""The same guests in Bochs, a second peer with its own ACPI model and BIOS (``pytest -m differential``).

`make test` installs Bochs with apt-get where it can; elsewhere these tests
are skipped, and say why.
"""

import pytest
from pmtimer_harness.peers.bochs import run_in_bochs
from pmtimer_harness.peers.differential import PeerSetup, compare
from pmtimer_harness.peers.portable import portability

from tests.guests import bundled, write_guest
from tests.peer_marks import needs_bochs

pytestmark = [pytest.mark.differential, needs_bochs]
BOCHS = PeerSetup("bochs", "i440fx", "emulated")


@pytest.mark.parametrize("guest", ["discovery.asm", "monotonic.asm"])
def test_the_same_in_bochs(guest):
    comparison = compare(bundled(guest), BOCHS)
    assert comparison.agree, "\n".join(comparison.differences()) + "\n" + comparison.peer_run.console


def test_bochs_finds_its_own_timer():
    run = run_in_bochs(bundled("discovery.asm"), timeout_s=30)
    assert run.verdict == "pass", run.console
    assert "24-bit timer at port 0x0000b008" in run.console


@pytest.mark.parametrize(("write", "code"), [("mov al, 0x80\n out 0xF4, al", 0x80),
                                             ("mov ax, 0x100\n out 0xF4, ax", 0x100)])
def test_the_exit_code_comes_back_whole_from_bochs(tmp_path, write, code):
    run = run_in_bochs(write_guest(tmp_path, "mov al, 'b'\n out 0xE9, al\n" + write + "\n hlt\n"), timeout_s=30)
    assert (run.verdict, run.exit_code, run.console) == ("fail", code, "b")


def test_a_guest_that_never_ends_is_stopped_at_the_deadline(tmp_path):
    run = run_in_bochs(write_guest(tmp_path, "spin: jmp spin\n"), timeout_s=2)
    assert run.verdict == "timeout"
    assert run.wall_seconds < 10


def test_a_guest_can_be_portable_to_qemu_and_not_to_bochs():
    assert portability(bundled("overflow_irq.asm"), "qemu") is None
    assert "SCI" in portability(bundled("overflow_irq.asm"), "bochs")
    assert "32-bit timer" in portability(bundled("wrap32.asm"), "bochs")
