"""The catalogue of real timer consumers in C (asm/c/catalogue): each names the broken timer it catches, each
says on every platform what its NASM counterpart says, and docs/matrix.md shows them as they declare.

Every cell a guest declares is an item of the pytest plugin (pyproject's harness_guests), as for the NASM
guests; under ``HARNESS_FUZZ=long`` each C consumer and its NASM counterpart also run on every platform here
and are compared cell by cell.
"""

import os
from pathlib import Path

import pytest
from pmtimer_harness.asm import C_GUEST_DIR
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends.matrix import run_matrix
from pmtimer_harness.platform.profiles import PROFILES
from pmtimer_harness.tools import c_compiler
from pmtimer_harness.tools.guest import checked_header
from pmtimer_harness.tools.runner import run_guest

from tests.faults import (
    AllOnesTimer,
    AlwaysWraps24Timer,
    BhyveRateTimer,
    JumpsAheadOnceTimer,
    SteppingBackTimer,
    StuckTimer,
    WrapsAtBit23Timer,
    WrapsAtBit25Timer,
)
from tests.guests import bundled

try:
    c_compiler.find_compiler()
    NO_COMPILER = False
except c_compiler.CompilerNotFound:
    NO_COMPILER = True
pytestmark = pytest.mark.skipif(NO_COMPILER, reason="no C compiler here (pip install 'pmtimer-harness[c]')")

CATALOGUE = C_GUEST_DIR / "catalogue"
GUESTS = sorted(CATALOGUE.glob("*.c"))
LONG = os.environ.get("HARNESS_FUZZ") == "long"
DOCS_MATRIX = Path(__file__).resolve().parent.parent / "docs" / "matrix.md"
TABLE_TITLE = "## Real consumers, in C"
README = Path(__file__).resolve().parent.parent / "README.md"
README_TITLE = "## Which system's timer code works where"

# The C consumer and the NASM guest that reads the timer the same way.
COUNTERPARTS = {
    "linux_acpi_pm.c": "linux_pmtmr.asm",
    "freebsd_acpi_timer.c": "freebsd_pmtmr.asm",
    "seabios_timer.c": "seabios_pmtmr.asm",
    "edk2_acpi_timer_delay.c": "ovmf_pmtmr.asm",
}

CAUGHT = [
    ("linux_acpi_pm.c", WrapsAtBit23Timer, ["--timer-width", "24"],
     "FAIL: the count reaches 0xffc000, just below the 24-bit wrap (the count went back before reaching the top "
     "of 24 bits: it wraps below 2^24)"),
    ("linux_acpi_pm.c", SteppingBackTimer, [], "FAIL: acpi_pm_read_verified never needs to read again"),
    ("freebsd_acpi_timer.c", AlwaysWraps24Timer, ["--timer-width", "32"],
     "FAIL: elapsed ticks across 2^24, masked as TMR_VAL_EXT says"),
    ("seabios_timer.c", BhyveRateTimer, [], "FAIL: elapsed ticks across the wrap, extended as SeaBIOS does"),
    ("edk2_acpi_timer_delay.c", JumpsAheadOnceTimer, [], "FAIL: MicroSecondDelay(1000) waits 3579 ticks"),
    ("edk2_performance_counter.c", WrapsAtBit25Timer, [],
     "FAIL: GetPerformanceCounter stays within the range GetPerformanceCounterProperties states"),
    ("openbsd_acpitimer.c", AlwaysWraps24Timer, ["--timer-width", "32"],
     "FAIL: elapsed ticks across 2^24, read by acpitimer_read and masked as TMR_VAL_EXT says"),
    ("netbsd_acpi_timer.c", AlwaysWraps24Timer, ["--timer-width", "32"],
     "FAIL: elapsed ticks across 2^24, masked by AcpiGetTimerResolution"),
    ("grub_tsc_pmtimer.c", AllOnesTimer, [], "INFO: ten reads of 0 or 0xFFFFFF: timer is broken; giving up"),
    ("ipxe_acpi_timer.c", SteppingBackTimer, [], "FAIL: currticks advances one tick per 3495 of the timer"),
    ("xen_init_pmtimer.c", AlwaysWraps24Timer, ["--timer-width", "32"],
     "FAIL: the calibration ends as the count passes its target"),
    ("linux_tsc_calibration.c", StuckTimer, [], "FAIL: the two references differ: Linux has a PM timer reference"),
]


@pytest.mark.parametrize(("guest", "broken_timer", "options", "cause"), CAUGHT,
                         ids=[f"{case[0]}-{case[1].__name__}" for case in CAUGHT])
def test_a_catalogue_guest_fails_on_its_broken_timer_and_names_the_cause(guest, broken_timer, options, cause):
    result = run_guest(CATALOGUE / guest, options, timer_model=broken_timer).result
    assert result.verdict == Verdict.FAIL, result.console
    assert cause in result.console.splitlines(), result.console


def test_every_catalogue_guest_is_shown_a_broken_timer():
    assert sorted({case[0] for case in CAUGHT}) == [guest.name for guest in GUESTS]


@pytest.mark.parametrize("guest", sorted(COUNTERPARTS))
def test_a_c_consumer_declares_on_every_platform_what_its_nasm_counterpart_does(guest):
    ours, theirs = checked_header(CATALOGUE / guest), checked_header(bundled(COUNTERPARTS[guest]))
    assert {platform: ours.expect_on(platform) for platform in PROFILES} == {
        platform: theirs.expect_on(platform) for platform in PROFILES}


@pytest.mark.skipif(not LONG, reason="both guests on every platform: make fuzz (HARNESS_FUZZ=long)")
@pytest.mark.parametrize("guest", sorted(COUNTERPARTS))
def test_a_c_consumer_and_its_nasm_counterpart_agree_cell_by_cell(guest):
    platforms = list(PROFILES)
    cells = run_matrix([CATALOGUE / guest, bundled(COUNTERPARTS[guest])], platforms)
    ours, theirs = cells[: len(platforms)], cells[len(platforms):]
    assert [(cell.platform, cell.verdict) for cell in ours] == [(cell.platform, cell.verdict) for cell in theirs]


def catalogue_table(page: Path = DOCS_MATRIX, title: str = TABLE_TITLE) -> dict[str, dict[str, str]]:
    """A page's table of the catalogue: each guest's verdict per platform, as the cells show them."""
    text = page.read_text(encoding="utf-8")
    section = text[text.index(title):]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [name.strip() for name in rows[0].strip("|").split("|")]
    table = {}
    for row in rows[2:]:
        guest, *cells = (cell.strip() for cell in row.strip("|").split("|"))
        table[guest.strip("`")] = {platform: cell.split()[0] for platform, cell in zip(header[1:], cells, strict=True)}
    return table


@pytest.mark.parametrize(("page", "title"), [(DOCS_MATRIX, TABLE_TITLE), (README, README_TITLE)],
                         ids=["docs/matrix.md", "README.md"])
def test_the_docs_show_every_catalogue_guest_as_its_header_declares_it_on_every_platform(page, title):
    table = catalogue_table(page, title)
    assert sorted(table) == [guest.name for guest in GUESTS]
    for guest in GUESTS:
        header = checked_header(guest)
        assert table[guest.name] == {platform: header.expect_on(platform).value for platform in PROFILES}, guest.name
