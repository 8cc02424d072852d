"""Each property the QEMU and Bochs profiles took from the real platforms, flipped on purpose, is caught.

The probes' expectations (tests/test_probes.py) are typed from the platforms'
sources; here a profile with one property turned back to what the harness had
before is put in its place, and the same expectation must fail.
"""


import pytest
from pmtimer_harness.devices.acpi_pm1 import ACPI_MODE, SciGate
from pmtimer_harness.devices.pm_timer import NarrowRead
from pmtimer_harness.platform import profiles
from pmtimer_harness.platform.profiles import FadtShape

from tests import test_probes

FLIPS = [
    ("qemu", {"first_tmr_sts": None}, test_probes.test_the_hand_over_is_as_documented),
    ("qemu", {"handover": ACPI_MODE}, test_probes.test_the_hand_over_is_as_documented),
    ("bochs", {"handover": ACPI_MODE}, test_probes.test_the_hand_over_is_as_documented),
    ("qemu", {"narrow_reads": NarrowRead.LOW_BYTES}, test_probes.test_unaligned_reads_are_as_documented),
    ("qemu-kvm", {"narrow_reads": NarrowRead.UNALIGNED_ZERO}, test_probes.test_unaligned_reads_are_as_documented),
    ("bochs", {"narrow_reads": NarrowRead.LOW_BYTES}, test_probes.test_unaligned_reads_are_as_documented),
    ("qemu", {"fadt": FadtShape()}, test_probes.test_the_fadt_and_the_rate_are_as_documented),
]


@pytest.mark.parametrize(("platform", "change", "check"), FLIPS,
                         ids=[f"{f[0]}-{next(iter(f[1]))}" for f in FLIPS])
def test_a_flipped_property_fails_its_typed_expectation(monkeypatch, platform, change, check):
    monkeypatch.setitem(profiles.PROFILES, platform, profiles.PROFILES[platform].replace(**change))
    with pytest.raises(AssertionError):
        check(platform)


def test_bochs_without_its_late_first_tmr_sts_lets_overflow_irq_pass(monkeypatch):
    """overflow_irq.asm fails on bochs because of it (its header says so); without it the guest passes."""
    from pmtimer_harness.tools.runner import run_guest

    from tests.guests import bundled

    assert run_guest(bundled("overflow_irq.asm"), ["--platform", "bochs"]).result.verdict == "fail"
    monkeypatch.setitem(profiles.PROFILES, "bochs", profiles.PROFILES["bochs"].replace(first_tmr_sts=None))
    assert run_guest(bundled("overflow_irq.asm"), ["--platform", "bochs"]).result.verdict == "pass"


def test_the_sci_gate_flipped_to_sci_en_stops_the_sci_in_legacy_mode():
    from pmtimer_harness.core.board import Board
    from pmtimer_harness.core.config import MachineConfig

    board = Board(MachineConfig(platform="qemu"))
    board.pm1.write(0x602, 2, 1, 0)  # TMR_EN; TMR_STS is set at hand-over, SCI_EN is clear
    assert board.pm1.sci_asserted(0)  # acpi_update_sci has no SCI_EN term
    board.pm1.rules = board.pm1.rules.replace(sci=SciGate.SCI_EN)
    assert not board.pm1.sci_asserted(0)


@pytest.mark.parametrize(("platform", "access_size"), [("qemu-q35", 0), ("qemu-q35-kvm", 0), ("acpi", 3)])
def test_x_pm_tmr_blk_access_size_is_the_platforms(platform, access_size):
    from pmtimer_harness.core.board import Board
    from pmtimer_harness.core.config import MachineConfig

    (fadt,) = [t.data for t in Board(MachineConfig(platform=platform)).acpi_tables if t.name == "FACP"]
    assert fadt[208 + 3] == access_size and fadt[8] == (3 if access_size == 0 else 6)
