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

# What an ACPI 1.0 reader finds through the RSDT, typed from each platform's source (see docs/platforms.md):
# platform: (PM_TMR_BLK, X_PM_TMR_BLK, FADT revision, TMR_VAL_EXT, hardware-reduced), or None: no RSDT at all
FADT = {
    "acpi": (0x408, 0x408, 6, 1, 0),
    "bhyve": (0x408, 0x408, 5, 1, 0),  # usr.sbin/bhyve/acpi.c build_fadt: revision 5
    # SeaBIOS PM base 0x600; hw/i386/acpi-build.c acpi_get_pm_info: PIIX4 revision 1 (no X_ fields), ICH9 revision 3
    "qemu": (0x608, None, 1, 0, 0),
    "qemu-kvm": (0x608, None, 1, 0, 0),
    "qemu-q35": (0x608, 0x608, 3, 0, 0),
    "qemu-q35-kvm": (0x608, 0x608, 3, 0, 0),
    "qemu-ovmf": (0xB008, None, 1, 0, 0),  # OvmfPlatforms.h PIIX4_PMBA_VALUE 0xB000; QEMU's revision-1 table
    "qemu-microvm": None,  # acpi-microvm.c: an RSDP with no RSDT
    "xen": (0xB008, None, 1, 1, 0),  # libacpi build.c: the RSDT names a revision-1 copy, fadt_10
    "xen-v0": (0x1F48, None, 1, 1, 0),  # ioreq.h ACPI_PM_TMR_BLK_ADDRESS_V0
    "xen-pvh": (0xB008, None, 1, 1, 0),  # the copy was taken before the timer fields were cleared
    # DevACPI.cpp acpiR3SetupFadt: the RSDT's copy keeps revision 4 but stops at 116 bytes, so a reader that trusts
    # the revision finds X_PM_TMR_BLK past the table's end (here: zeros)
    "virtualbox": (0x4008, 0, 4, 1, 0),
    "hyperv": (0, 0x408, 6, 1, 0),  # mu_msvm Fadt.aslc: every 32-bit block field 0, X_PM_TMR_BLK at 0x408
    "cloud-hypervisor": None, "firecracker": None, "crosvm": None, "acrn-prelaunched": None,  # the XSDT alone
    "acrn": (0, 0, 5, 1, 0),  # acrn-dm acpi.c: revision 5, PM_TMR_BLK 0, an I/O X_PM_TMR_BLK at 0
    "bochs": (0xB008, None, 1, 0, 0),  # rombios32.c: a revision-1 FADT
    "bochs-uefi": (0xB008, 0xB008, 5, 1, 0),  # acpi_tables.cc: bit 8, meant as RTC_S4, is TMR_VAL_EXT
    "intel-pch": (0x1808, 0x1808, 6, 0, 0),  # coreboot soc_fill_fadt: pmbase 0x1800 + 8, no TMR_VAL_EXT
    "intel-pch-tim-dis": (0x1808, 0x1808, 6, 0, 0),  # coreboot: ACPI_TIM_DIS leaves the FADT as it was
    "amd-fch": (0x408, 0x408, 6, 1, 0),  # coreboot picasso: ACPI_IO_BASE 0x400, ACPI_FADT_32BIT_TIMER
    "no-pm-timer": (0, 0, 6, 0, 1),
}

# Ticks over 1 ms (1,000,003 instructions and one port access at the default 1 ns / 1000 ns):
# the documented rate in Hz, and how coarse the count is (ticks it may be off by).
RATE = {
    "bhyve": (2**32 / 1199, 1),  # sbintime / freq_sbt, freq_sbt = 2^32 / 3579545 truncated to 1199
    "xen": (3_579_545 - 0.05 * 3.579545, 1),  # (3579545 << 32) / 1e9 truncated: about -0.05 ppm
    "xen-v0": (3_579_545 - 0.05 * 3.579545, 1),
    "bochs": (3_579_545, 4),  # simulated microseconds: the count moves 3-4 ticks at a time
    "bochs-uefi": (3_579_545, 4),
}
SPAN_NS = 1_000_003 + 1000
ANSWERED_BY_NOTHING = {"xen-pvh", "intel-pch-tim-dis"}  # a timer named (or 0) where no device answers


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
    if FADT[platform] is None:
        assert "INFO: no FADT" in result.console  # nothing through the RSDT: the XSDT alone
        return
    legacy, extended, revision, ext, reduced = FADT[platform]
    blk, length, flags, x_blk, revision_seen, ticks = numbers(
        result.console, "PM_TMR_BLK", "PM_TMR_LEN", "Flags", "X_PM_TMR_BLK", "revision", "ticks over 1 ms")
    assert (blk, revision_seen) == (legacy, revision), result.console
    # mu_msvm's Fadt.aslc fills PM_TMR_LEN though it leaves PM_TMR_BLK 0
    assert length == (4 if legacy or platform in ("hyperv",) else 0)
    assert x_blk == extended
    assert (bool(flags & 1 << 8), bool(flags & 1 << 20)) == (bool(ext), bool(reduced))
    if platform in ANSWERED_BY_NOTHING:
        assert ticks == 0  # the port the table names reads all ones, twice
    elif extended or legacy:
        hz, coarse = RATE.get(platform, (3_579_545, 1))
        assert abs(ticks - SPAN_NS * hz / 1e9) <= coarse, f"{ticks} ticks"
    else:
        assert ticks is None


# What a 2-byte read at the timer port, a 1-byte read, and a 2-byte read at port + 2 return.
NARROW = {
    "acpi": "refused", "bhyve": "refused",
    # hw/acpi/core.c: one 32-bit register; a narrow read keeps its low bytes (QEMU 7.2 does, run here)
    "qemu": "low bytes", "qemu-ovmf": "low bytes", "qemu-q35": "low bytes", "qemu-kvm": "low bytes",
    "qemu-q35-kvm": "low bytes",
    "xen": "all ones", "xen-v0": "all ones", "virtualbox": "all ones", "bochs": "all ones", "bochs-uefi": "all ones",
    # pm/mod.rs io_read: the count shifted to the port's offset
    "hyperv": "lanes", "hyperv-gen1": "lanes",
    # devices/src/acpi.rs leaves a narrow read's data alone, and KVM zeroed it (x86.c emulator_pio_in_out)
    "cloud-hypervisor": "zero",
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
    elif rule == "zero":
        assert (word, byte, high) == (0, 0, 0)
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
    # bhyve acpi.h SMI_CMD 0xb2, BHYVE_ACPI_ENABLE 0xa0; pm.c: pm1_control 0 at reset, smi_cmd_handler sets SCI_EN
    "bhyve": (0xB2, 0xA0, 0, 0, 1),
    # hvmloader acpi_enable_sci: SCI_EN set before the OS runs; no SMI_CMD in static_tables.c
    "xen": (0, 0, 1, 0, None),
    # DevACPI.cpp: SMI_CMD 0x442e, ACPI_ENABLE 0xa1; acpiR3Reset clears pm1a_ctl
    "virtualbox": (0x442E, 0xA1, 0, 0, 1),
    # openvmm piix4_pm write_static: 0xE1 to 0xB2 enables ACPI
    "hyperv-gen1": (0xB2, 0xE1, 0, 0, 1),
    # acrn-dm acpi.h SMI_CMD 0xb2, ACPI_ENABLE 0xa0; pm.c pm1_control 0
    "acrn": (0xB2, 0xA0, 0, 0, 1),
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
# Xen's handle_pmt_io answers only a 4-byte read inside its four ports, and a read past them reaches no device
# (emulate.c null_read); VirtualBox registers one port (DevACPI.cpp), so IOM reads the rest as unused.
UNALIGNED = {"qemu": "zero", "qemu-q35": "zero", "qemu-kvm": "split", "qemu-q35-kvm": "split", "bochs": "all ones",
             "xen": "all ones", "virtualbox": "all ones"}


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


# --- the whole fingerprint, for the platforms no peer here can boot ----------------------------------
# Typed from each platform's source (docs/platforms.md names them); a field a source does not settle is left out.
# QEMU and Bochs are held to the real peers instead (tests/test_fingerprint.py).


def fadt_fields(rsdt_revision, xsdt_revision, blk, length, x_blk, x_access, ext, reduced):
    return {
        "fadt_revision": rsdt_revision, "xsdt_fadt_revision": xsdt_revision, "x_fields": "yes", "pm_tmr_blk": blk,
        "pm_tmr_len": length, "x_pm_tmr_blk": x_blk, "x_pm_tmr_blk_access_size": x_access, "tmr_val_ext": ext,
        "hardware_reduced": reduced,
    }


def handover_fields(smi_cmd, acpi_enable, tmr_sts, sci_en, tmr_en):
    return {"smi_cmd": smi_cmd, "acpi_enable": acpi_enable, "tmr_sts_at_handover": tmr_sts,
            "sci_en_at_handover": sci_en, "tmr_en_readback": tmr_en}


def read_fields(kind, **others):
    reads = {f"read{width}_at_{offset}": kind for width in (1, 2) for offset in range(4)}
    reads.update({f"read4_at_{offset}": kind for offset in (1, 2, 3)}, write4="ignored")
    return {**reads, **others}


NO_TIMER_FIELDS = {"timer_port": "none", **read_fields("no timer", write4="no timer")}
LANES = read_fields("lanes", read1_at_0="low-bytes", read2_at_0="low-bytes")  # at +0 a lane is the low bytes

SOURCED_FINGERPRINTS = {
    # usr.sbin/bhyve/acpi.c build_fadt; acpi.h SMI_CMD, BHYVE_ACPI_ENABLE; pm.c pm1_enable_handler drops TMR_EN;
    # vpmtmr.c vpmtmr_handler refuses the first narrow read
    "bhyve": {**fadt_fields("5", "5", "0x408", "4", "0x408", "3", "1", "0"), "timer_port": "0x408",
              **handover_fields("0xb2", "0xa0", "0", "0", "0"), "read1_at_0": "stops the guest"},
    # libacpi build.c (revision 4, the revision-1 fadt_10 for the RSDT), static_tables.c (GAS access bytes 0);
    # hvmloader acpi_enable_sci; pmtimer.c handle_pmt_io (~0 unless a 4-byte read), emulate.c null_read
    "xen": {**fadt_fields("1", "4", "0xb008", "4", "0xb008", "0", "1", "0"), "timer_port": "0xb008",
            **handover_fields("0x0", "0x0", "0", "1", "1"), **read_fields("all-ones")},
    "xen-v0": {**fadt_fields("1", "4", "0x1f48", "4", "0x1f48", "0", "1", "0"), "timer_port": "0x1f48",
               **read_fields("all-ones")},
    # libxl_x86_acpi.c init_acpi_config (revision 5, no ACPI_HAS_PMTIMER); no vPM, so the named PM1 ports read ~0
    "xen-pvh": {**fadt_fields("1", "5", "0x0", "0", "0x0", "0", "1", "0"), **NO_TIMER_FIELDS,
                **handover_fields("0x0", "0x0", "1", "1", "1")},
    # DevACPI.cpp acpiR3SetupFadt, acpiPMTmrRead (one port, 4 bytes), SMI_CMD 0x442e / ACPI_ENABLE 0xa1
    "virtualbox": {**fadt_fields("4", "4", "0x4008", "4", "0x4008", "3", "1", "0"), "timer_port": "0x4008",
                   **handover_fields("0x442e", "0xa1", "0", "0", "1"), **read_fields("all-ones")},
    # mu_msvm Fadt.aslc: 32-bit block fields 0 (the probe reads PM1 there: none), X_PM_TMR_BLK QWORD; pm/mod.rs
    "hyperv": {**fadt_fields("6", "6", "0x0", "4", "0x408", "4", "1", "0"), "timer_port": "0x408",
               **handover_fields("0x0", "0x0", "none", "none", "none"), **LANES},
    # piix4_pm write_static (0xE1 to 0xB2), the same PM device; the PCAT BIOS's FADT is not public
    "hyperv-gen1": {"timer_port": "0x408", **handover_fields("0xb2", "0xe1", "0", "0", "1"), **LANES},
    # vmm/src/acpi.rs create_facp_table and Rsdp::new (no RSDT); devices/src/acpi.rs + KVM's zeroed PIO data
    "cloud-hypervisor": {**fadt_fields("none", "6", "0x0", "0", "0x608", "3", "1", "1"), "timer_port": "0x608",
                         **handover_fields("0x0", "0x0", "none", "none", "none"),
                         **read_fields("zero", read4_at_1="low-bytes", read4_at_2="low-bytes",
                                       read4_at_3="low-bytes")},
    # src/acpi-tables fadt.rs (revision 6, HW_REDUCED_ACPI, no timer), rsdp.rs (no RSDT)
    "firecracker": {**fadt_fields("none", "6", "0x0", "0", "0x0", "0", "0", "1"), **NO_TIMER_FIELDS,
                    **handover_fields("0x0", "0x0", "none", "none", "none")},
    # x86_64/src/acpi.rs (not hardware-reduced, no timer); devices/src/acpi.rs (control 0, PM1_EN keeps bits)
    "crosvm": {**fadt_fields("none", "6", "0x0", "0", "0x0", "0", "0", "0"), **NO_TIMER_FIELDS,
               **handover_fields("0x0", "0x0", "0", "0", "1")},
    # acrn-dm acpi.c basl_fwrite_fadt, acpi.h; pm.c pm1_enable_handler drops TMR_EN
    "acrn": {**fadt_fields("5", "5", "0x0", "0", "0x0", "3", "1", "0"), **NO_TIMER_FIELDS,
             **handover_fields("0xb2", "0xa0", "0", "0", "0")},
    # acpi_template facp.asl (hardware-reduced), vacpi.c build_vrsdp (no RSDT)
    "acrn-prelaunched": {**fadt_fields("none", "5", "0x0", "0", "0x0", "0", "1", "1"), **NO_TIMER_FIELDS,
                         **handover_fields("0x0", "0x0", "none", "none", "none")},
    # acpi-microvm.c acpi_build_microvm (revision 5, HW_REDUCED_ACPI, no pm_tmr, no RSDT)
    "qemu-microvm": {**fadt_fields("none", "5", "0x0", "0", "0x0", "0", "0", "1"), **NO_TIMER_FIELDS,
                     **handover_fields("0x0", "0x0", "none", "none", "none")},
    # bochs acpi_tables.cc build_fadt (3.1-dev) on acpi.cc's timer
    "bochs-uefi": {**fadt_fields("5", "5", "0xb008", "4", "0xb008", "3", "1", "0"), "timer_port": "0xb008",
                   "smi_cmd": "0xb2", "acpi_enable": "0xf1", **read_fields("all-ones")},
    # coreboot soc_fill_fadt (0x1808, no TMR_VAL_EXT), fill_fadt_extended_pm_io (dword); pmc.c ACPI_TIM_DIS
    "intel-pch": {**fadt_fields("6", "6", "0x1808", "4", "0x1808", "3", "0", "0"), "timer_port": "0x1808"},
    "intel-pch-tim-dis": {**fadt_fields("6", "6", "0x1808", "4", "0x1808", "3", "0", "0"), "timer_port": "0x1808"},
    # coreboot picasso iomap.h (0x408), acpi.c acpi_fill_fadt (ACPI_FADT_32BIT_TIMER)
    "amd-fch": {**fadt_fields("6", "6", "0x408", "4", "0x408", "3", "1", "0"), "timer_port": "0x408"},
}
# Hyper-V's lanes are its count's bytes: started where every byte is set, no lane reads as zero.
FINGERPRINT_OPTIONS = {"hyperv": ["--timer-start", "0x7F7F7F7F"], "hyperv-gen1": ["--timer-start", "0x7F7F7F7F"]}


@pytest.mark.parametrize("platform", sorted(SOURCED_FINGERPRINTS))
def test_the_fingerprint_is_the_one_the_platforms_sources_give(platform):
    from pmtimer_harness.core.result import Verdict
    from pmtimer_harness.platform.fingerprint import PROBE, parse

    result = run_guest(PROBE, ["--platform", platform, *FINGERPRINT_OPTIONS.get(platform, [])]).result
    shown = parse(result.console, platform, stopped=result.verdict is Verdict.ERROR).fields
    expected = SOURCED_FINGERPRINTS[platform]
    assert {name: shown[name] for name in expected} == expected
