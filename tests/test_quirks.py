"""Every quirk on its own: a guest that catches it, and a guest that survives it.

A quirk is one property of one platform (``--quirk NAME``), laid over another
platform.  Each case names the platform it is laid over, the guest that notices
(with the line or verdict that shows it) and a guest that runs through it; on
the platform alone, the catching guest passes (the matrix and the bundled
guests' own tests show that).
Quirks no short guest can see are tested on the device (tests/test_pm_timer.py,
tests/test_acpi_pm1.py) and listed in docs/limits.md.
"""

from pathlib import Path

import pytest
from pmtimer_harness.tools.runner import run_guest

from tests.guests import bundled

PROBES = Path(__file__).resolve().parent / "probes"

# quirk, platform under it, catching guest, what shows it (a console line or a verdict), surviving guest
CASES = [
    ("narrow-reads-refused", "qemu", "access_qemu.asm", "error", "monotonic.asm"),
    ("narrow-reads-low-bytes", "acpi", "access_bhyve_narrow.asm", "FAIL: the 2-byte read is refused",
     "monotonic.asm"),
    ("narrow-reads-lanes", "qemu", "access_qemu.asm",
     "FAIL: a 2-byte read at the third port returns the low 16 bits too", "monotonic.asm"),
    ("narrow-reads-all-ones", "qemu", "access_qemu.asm", "fail", "monotonic.asm"),
    ("narrow-reads-zero", "qemu", "access_qemu.asm", "fail", "monotonic.asm"),
    ("narrow-reads-stale", "qemu", "narrow_read_probe.asm",
     "FAIL: the 2-byte read is not the last full read's low bytes", "monotonic.asm"),
    ("writes-ignored", "acpi", "access_bhyve_write.asm", "FAIL: the write is refused", "monotonic.asm"),
    ("tmr-sts-never", "acpi", "overflow_irq.asm", "halted", "monotonic.asm"),
    ("tmr-en-dropped", "acpi", "overflow_irq.asm", "halted", "monotonic.asm"),
    ("tmr-sts-bit-23", "acpi", "overflow_irq.asm", "fail", "monotonic.asm"),
    ("bhyve-rate", "acpi", "rate.asm", "FAIL: the timer advances 3579545 ticks per second over 10 ms",
     "monotonic.asm"),
    ("microsecond-steps", "acpi", "fine_steps.asm", "FAIL: consecutive reads differ by at most one tick",
     "monotonic.asm"),
    ("unlatched-reads", "qemu", "monotonic.asm", "FAIL: every step between two reads is forward", "linux_pmtmr.asm"),
    ("hardware-reduced-fadt", "acpi", "discovery.asm", "fail", "linux_pmtmr.asm"),
    ("no-tmr-val-ext", "acpi", "discovery.asm", "FAIL: no value has bits set above the width the FADT gives",
     "monotonic.asm"),
    ("no-pm-timer", "acpi", "monotonic.asm", "fail", "hello.asm"),
]
START = {"no-tmr-val-ext": ["--timer-start", "0xFFF000"]}


def guest(name):
    probe = PROBES / name
    return probe if probe.exists() else bundled(name)


@pytest.mark.parametrize(("quirk", "platform", "catcher", "shows", "survivor"), CASES, ids=[c[0] for c in CASES])
def test_a_guest_catches_the_quirk_and_another_runs_through_it(quirk, platform, catcher, shows, survivor):
    options = ["--platform", platform, *START.get(quirk, [])]
    caught = run_guest(guest(catcher), [*options, "--quirk", quirk]).result
    assert shows in (caught.verdict.value, *caught.console.splitlines()), caught.console
    survived = run_guest(guest(survivor), [*options, "--quirk", quirk]).result
    assert survived.verdict == "pass", survived.console


def test_every_quirk_is_tested_here_or_named_as_seen_only_by_the_device():
    from pmtimer_harness.platform.profiles import QUIRKS

    device_only = {"sci-needs-sci-en", "sci-ignores-sci-en", "xen-rate", "100ns-time-base", "fadt-revision-1",
                   "restarts-after-restore",  # tests/test_platform_snapshots.py
                   "tmr-sts-bit-31"}  # the top bit of a 32-bit timer; a 24-bit one is refused (test_platform_conflicts)
    assert {case[0] for case in CASES} | device_only == set(QUIRKS)
