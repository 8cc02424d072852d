"""Held-out probes: each platform gives the answers its own source documents.

The expectations below are typed from the platforms' sources (see
/docs/platforms.md for where each comes from), not read from the profiles, so a
profile that drifts from its platform fails here.  The probes in tests/probes
print what they find; these tests read the lines.
"""

import re
from pathlib import Path

import pytest
from pmtimer_harness.tools.runner import run_guest

PROBES = Path(__file__).resolve().parent / "probes"

# platform: (PM_TMR_BLK, X_PM_TMR_BLK, FADT revision, TMR_VAL_EXT, hardware-reduced)
FADT = {
    "acpi": (0x408, 0x408, 6, 1, 0),
    "bhyve": (0x408, 0x408, 6, 1, 0),  # usr.sbin/bhyve/acpi.c
    # SeaBIOS PM base 0x600; hw/i386/acpi-build.c acpi_get_pm_info: PIIX4 revision 1 (no X_ fields), ICH9 revision 3
    "qemu": (0x608, None, 1, 0, 0),
    "qemu-kvm": (0x608, None, 1, 0, 0),
    "qemu-q35": (0x608, 0x608, 3, 0, 0),
    "qemu-q35-kvm": (0x608, 0x608, 3, 0, 0),
    "qemu-ovmf": (0xB008, None, 1, 0, 0),  # OvmfPlatforms.h PIIX4_PMBA_VALUE 0xB000; QEMU's revision-1 table
    "xen": (0xB008, 0xB008, 6, 1, 0),  # tools/libacpi/static_tables.c
    "virtualbox": (0x4008, 0x4008, 6, 1, 0),  # DevACPI.cpp: PM base 0x4000
    "hyperv": (0x408, 0x408, 6, 1, 0),  # openvmm pm/mod.rs: PM base 0x400
    "cloud-hypervisor": (0, 0x608, 6, 1, 1),  # vmm/src/acpi.rs: only X_PM_TMR_BLK
    "bochs": (0xB008, None, 1, 0, 0),  # rombios32.c: a revision-1 FADT
    "piix4": (0x408, 0x408, 6, 0, 0),
    "intel-pch": (0x1808, 0x1808, 6, 0, 0),
    "amd-fch": (0x808, 0x808, 6, 1, 0),
    "width-mismatch": (0x408, 0x408, 6, 0, 0),  # X_PM_TMR_BLK 32 bits, no TMR_VAL_EXT
    "no-pm-timer": (0, 0, 6, 0, 1),
}

# Ticks over 1 ms (1,000,003 instructions and one port access at the default 1 ns / 1000 ns):
# the documented rate in Hz, and how coarse the count is (ticks it may be off by).
RATE = {
    "bhyve": (2**32 / 1199, 1),  # sbintime / freq_sbt, freq_sbt = 2^32 / 3579545 truncated to 1199
    "xen": (3_579_545 - 0.05 * 3.579545, 1),  # (3579545 << 32) / 1e9 truncated: about -0.05 ppm
    "bochs": (3_579_545, 4),  # simulated microseconds: the count moves 3-4 ticks at a time
}
SPAN_NS = 1_000_003 + 1000


def probe(name, platform, *options):
    return run_guest(PROBES / name, ["--platform", platform, *options]).result


def numbers(console, *labels):
    found = []
    for label in labels:
        match = re.search(rf"{label} (0x[0-9a-f]+|\d+)", console)
        found.append(None if match is None else int(match.group(1), 0))
    return found


@pytest.mark.parametrize("platform", sorted(FADT))
def test_the_fadt_and_the_rate_are_as_documented(platform):
    result = probe("fadt_and_rate_probe.asm", platform)
    legacy, extended, revision, ext, reduced = FADT[platform]
    blk, length, flags, x_blk, revision_seen, ticks = numbers(
        result.console, "PM_TMR_BLK", "PM_TMR_LEN", "Flags", "X_PM_TMR_BLK", "revision", "ticks over 1 ms")
    assert (blk, revision_seen) == (legacy, revision), result.console
    assert length == (4 if legacy else 0)
    assert x_blk == extended
    assert (bool(flags & 1 << 8), bool(flags & 1 << 20)) == (bool(ext), bool(reduced))
    if extended or legacy:
        hz, coarse = RATE.get(platform, (3_579_545, 1))
        assert abs(ticks - SPAN_NS * hz / 1e9) <= coarse, f"{ticks} ticks"
    else:
        assert ticks is None


# What a 2-byte read at the timer port, a 1-byte read, and a 2-byte read at port + 2 return.
NARROW = {
    "acpi": "refused", "bhyve": "refused", "width-mismatch": "refused",
    # hw/acpi/core.c: one 32-bit register; a narrow read keeps its low bytes (QEMU 7.2 does, run here)
    "qemu": "low bytes", "qemu-ovmf": "low bytes", "qemu-q35": "low bytes", "qemu-kvm": "low bytes",
    "qemu-q35-kvm": "low bytes",
    "xen": "all ones", "virtualbox": "all ones", "bochs": "all ones",
    "hyperv": "lanes",
    "cloud-hypervisor": "untouched",
}


@pytest.mark.parametrize("platform", sorted(NARROW))
def test_narrow_reads_are_as_documented(platform):
    result = probe("narrow_read_probe.asm", platform)
    rule = NARROW[platform]
    if rule == "refused":
        assert result.verdict == "error" and "2-byte IN" in result.report.reason
        return
    full, word, byte, high = numbers(result.console, "full", "word", "byte", "word-at-2")
    later = int(re.findall(r"full (0x[0-9a-f]+)", result.console)[1], 16)
    if rule == "all ones":
        assert (word, byte, high) == (0xFFFF, 0xFF, 0xFFFF)
    elif rule == "untouched":  # the buffer keeps what the last full read put there
        assert (word, byte, high) == (full & 0xFFFF, full & 0xFF, full & 0xFFFF)
    else:  # the live counter: after the first full read, before the last
        assert full & 0xFFFF < word <= later & 0xFFFF
        assert word & 0xFF <= byte <= (word & 0xFF) + 8
        if rule == "lanes":
            assert high == later >> 16
        else:
            assert word <= high <= later & 0xFFFF


@pytest.mark.parametrize(("platform", "refused"), [
    ("acpi", True), ("bhyve", True), ("qemu", False), ("xen", False), ("virtualbox", False), ("hyperv", False),
    ("cloud-hypervisor", False), ("bochs", False),
])
def test_a_write_is_refused_or_ignored_as_documented(platform, refused):
    result = probe("write_probe.asm", platform)
    if refused:
        assert result.verdict == "error" and "OUT" in result.report.reason
        return
    before, after = numbers(result.console, "before", "after")
    assert 0 < after - before < 100  # ignored: neither reset nor changed


# Typed from REFERENCE.md ("What the real peers showed") and the sources it names, not from the profiles:
# (SMI_CMD, ACPI_ENABLE, SCI_EN and PM1_STS at hand-over, SCI_EN after ACPI_ENABLE, or None where there is no SMI_CMD)
HANDOVER = {
    # init_common_fadt_data: SMI_CMD 0xB2 with SMM (TCG); piix4.c ACPI_ENABLE 0xF1, ich9 ICH9_APM_ACPI_ENABLE 0x02;
    # acpi_pm_tmr_reset leaves overflow_time 0: TMR_STS set at once
    "qemu": (0xB2, 0xF1, 0, 1, 1),
    "qemu-q35": (0xB2, 0x02, 0, 1, 1),
    # no SMM under KVM here: SMI_CMD 0, acpi_only sets SCI_EN at reset
    "qemu-kvm": (0, 0, 1, 1, None),
    "qemu-q35-kvm": (0, 0, 1, 1, None),
    # rombios32.c smi_cmd 0xB2, acpi_enable 0xF1; acpi.cc: pmcntrl 0 at reset, tmr_overflow_time 0xFFFFFF
    "bochs": (0xB2, 0xF1, 0, 0, 1),
}


@pytest.mark.parametrize("platform", sorted(HANDOVER))
def test_the_hand_over_is_as_documented(platform):
    result = probe("handover_probe.asm", platform)
    smi_cmd, enable, sci_en, pm1_sts = numbers(result.console, "smi_cmd", "acpi_enable", "sci_en", "pm1_sts")
    (after,) = numbers(result.console, "sci_en after ACPI_ENABLE")
    assert (smi_cmd, enable, sci_en, pm1_sts, after) == HANDOVER[platform], result.console


# 2-byte reads at timer + 1 and + 3, 4-byte reads at + 1..3: QEMU under TCG reads an unaligned access as
# unassigned, 0 (softmmu/memory.c memory_region_access_valid); under KVM it splits it into aligned pieces, each
# the count's low bytes, 0xFF past the timer (physmem.c memory_access_size); Bochs answers only a dword at the
# port (acpi.cc acpi_pm_iomask): all ones.
UNALIGNED = {"qemu": "zero", "qemu-q35": "zero", "qemu-kvm": "split", "qemu-q35-kvm": "split", "bochs": "all ones"}


@pytest.mark.parametrize("platform", sorted(UNALIGNED))
def test_unaligned_reads_are_as_documented(platform):
    result = probe("handover_probe.asm", platform)
    w1, w3, d1, d2, d3 = numbers(result.console, "word-at-1", "word-at-3", "dword-at-1", "dword-at-2", "dword-at-3")
    rule = UNALIGNED[platform]
    if rule == "zero":
        assert (w1, w3, d1, d2, d3) == (0, 0, 0, 0, 0)
    elif rule == "all ones":
        assert (w1, w3, d1, d2, d3) == (0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    else:  # pieces: byte at +1 then byte at +2 (each the low byte); byte at +3 then 0xFF; and so on
        assert w1 >> 8 == w1 & 0xFF and w3 >> 8 == 0xFF
        assert d1 >> 24 == 0xFF and (d1 >> 8) & 0xFF == d1 & 0xFF
        assert d2 >> 16 == 0xFFFF and d3 >> 8 == 0xFFFFFF
