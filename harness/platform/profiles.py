"""Platforms as data: the same PM timer as each hypervisor and chipset a guest may meet.

One frozen ``Profile`` per platform, each property with the public source it
comes from (``sources``); quirks are single properties that can be laid over any
profile (``--quirk NAME``).  Nothing here runs: ``board.py`` builds devices and
ACPI tables from a resolved profile, and ``docs/platforms.md`` is generated from
this data (``python -m pmtimer_harness platforms --markdown``).

Sources are named ``repo: path (function)``, as in the project's reference notes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType

from pmtimer_harness.devices.acpi_pm1 import ACPI_MODE, BHYVE_PM1, BYTES_PM1, Handover, Pm1Access, SciGate, TmrSts
from pmtimer_harness.devices.pm_timer import EXACT, NS_PER_SECOND, NarrowRead, TimeBase, TimerWrite
from pmtimer_harness.devices.ports import UnclaimedPorts
from pmtimer_harness.platform.acpi_tables import FadtShape

DEFAULT_PLATFORM = "acpi"


class Restore(str, Enum):
    """What the counter does after a snapshot is restored."""

    CONTINUES = "continues"
    RESTARTS = "restarts"  # near 0: the platform does not save the timer's time base


ANY_WIDTH_PM1 = Pm1Access(frozenset({1, 2, 4}), frozenset({1, 2, 4}), refusal="")
VBOX_PM1 = Pm1Access(frozenset({2}), frozenset({2, 4}), refusal="", floats=True, spans_block=False)
BHYVE_RATE = TimeBase(numerator=1 << 32, denominator=NS_PER_SECOND * 1199)  # sbintime / freq_sbt (1199)
XEN_RATE = TimeBase(numerator=(3_579_545 << 32) // NS_PER_SECOND, denominator=1 << 32)
HYPERV_TIME = TimeBase(quantum_ns=100)
BOCHS_TIME = TimeBase(quantum_ns=1000)

# The properties a profile states, in the order the table and docs show them.
PROPERTIES = (
    "port", "width", "narrow_reads", "writes", "tmr_sts", "first_tmr_sts", "tmr_en", "sci", "handover", "pm1_base",
    "pm1_access", "time_base", "unlatched_reads", "restore", "fadt", "unclaimed_ports",
)
MODEL = "model: "  # a source that begins so is the harness's own choice, where no platform source decides


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    port: int | None  # None: no timer at all
    width: int
    narrow_reads: NarrowRead
    writes: TimerWrite
    tmr_sts: TmrSts
    sci: SciGate
    pm1_base: int | None  # PM1a_EVT_BLK (PM1_STS, PM1_EN at +2), PM1a_CNT_BLK at +4; None: no PM1 block
    first_tmr_sts: int | None = None  # the count that first sets TMR_STS (0: set at hand-over); None: next toggle
    handover: Handover = ACPI_MODE  # SMI_CMD 0 and SCI_EN set, or legacy mode until ACPI_ENABLE
    tmr_en: bool = True  # False: PM1_EN drops TMR_EN, so it reads back 0 and the timer never raises the SCI (bhyve)
    unclaimed_ports: UnclaimedPorts = UnclaimedPorts.ALL_ONES
    time_base: TimeBase = EXACT
    unlatched_reads: bool = False
    restore: Restore = Restore.CONTINUES
    fadt: FadtShape = field(default_factory=FadtShape)
    pm1_access: Pm1Access = BYTES_PM1
    refusal: str = ""  # what a refused timer access means on this platform
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_timer(self) -> bool:
        return self.port is not None

    def shown(self, name: str) -> str:
        """A property as the table and the docs print it."""
        value = getattr(self, name)
        if not self.has_timer and name not in ("port", "fadt", "restore", "unclaimed_ports"):
            return "-"
        if name == "port":
            return "none" if value is None else f"{value:#x}"
        if name == "pm1_base":
            return "none" if value is None else f"{value:#x}"
        if name == "pm1_access":
            return "-" if self.pm1_base is None else value.describe()
        if name == "tmr_en":
            return "kept" if value else "dropped: reads back 0"
        if name == "unclaimed_ports":
            return f"read as {value.described}"
        if name == "time_base":
            return describe_time_base(value)
        if name == "first_tmr_sts":
            if value is None:
                return "at the next toggle"
            return "set at hand-over" if value == 0 else f"at count {value:#x}"
        if name == "handover":
            if self.pm1_base is None:
                return "-"
            if not value.legacy:
                return "ACPI mode (SMI_CMD 0, SCI_EN set)"
            return (f"legacy mode (SMI_CMD {value.smi_cmd:#x}, ACPI_ENABLE {value.acpi_enable:#x}, "
                    f"ACPI_DISABLE {value.acpi_disable:#x}; SCI_EN clear)")
        if name == "fadt":
            return value.describe(self.width) if self.has_timer else f"revision {value.revision}, no timer"
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    def as_dict(self) -> dict[str, object]:
        """The profile for ``platforms --json``: each property's value as shown, with its source or the model it is."""
        return {
            "name": self.name, "port": self.port, "width": self.width if self.has_timer else None,
            "summary": self.summary,
            "properties": {name: self.property_record(name) for name in PROPERTIES},
        }

    def property_record(self, name: str) -> dict[str, str | None]:
        source = self.sources[name]
        model = source.startswith(MODEL)
        return {"value": self.shown(name), "source": None if model else source,
                "model": source.removeprefix(MODEL) if model else None}


def describe_time_base(base: TimeBase) -> str:
    ppm = (base.hz / 3_579_545 - 1) * 1e6
    rate = "exact" if base.numerator * NS_PER_SECOND == 3_579_545 * base.denominator else f"{ppm:+.2f} ppm"
    step = "" if base.quantum_ns == 1 else f", counts in {base.quantum_ns} ns steps"
    return f"{base.hz:,.1f} Hz ({rate}){step}"


# --- sources -----------------------------------------------------------------

SPEC = "ACPI specification 6.5, 4.8.3.3 and 4.8.2.1"
BHYVE = "freebsd/freebsd-src: sys/amd64/vmm/io/vpmtmr.c (vpmtmr_handler)"
BHYVE_PM = "freebsd/freebsd-src: usr.sbin/bhyve/amd64/pm.c"
BHYVE_ACPI = "freebsd/freebsd-src: usr.sbin/bhyve/acpi.c"
BHYVE_SNAPSHOT = "freebsd/freebsd-src: sys/amd64/vmm/io/vpmtmr.c (vpmtmr_snapshot)"
QEMU = "qemu/qemu: hw/acpi/core.c (acpi_pm_tmr_ops, acpi_pm1_evt_get_sts)"
QEMU_BUILD = "qemu/qemu: hw/i386/acpi-build.c; SeaBIOS PM base 0x600"
QEMU_SCI = "qemu/qemu: hw/acpi/core.c (acpi_update_sci: no SCI_EN term; acpi_pm1_cnt_write keeps SCI_EN)"
QEMU_FIRST_TMR_STS = (
    "qemu/qemu: hw/acpi/core.c (acpi_pm_tmr_reset leaves overflow_time 0, so acpi_pm1_evt_get_sts sets TMR_STS "
    "at once; real QEMU 7.2 pc and q35, TCG and KVM, read PM1_STS 0x0001 at hand-over)"
)
QEMU_FADT_PC = (
    "qemu/qemu: hw/i386/acpi-build.c (acpi_get_pm_info: PIIX4 FADT revision 1, 'w2k requires FADT(rev1)'); "
    "SeaBIOS: revision-0 RSDP, RSDT only"
)
QEMU_FADT_Q35 = (
    "qemu/qemu: hw/i386/acpi-build.c (acpi_get_pm_info: ICH9 FADT revision 3), hw/acpi/aml-build.c (build_fadt: "
    "X_PM_TMR_BLK from AcpiFadtData.pm_tmr, access size 0); SeaBIOS: revision-0 RSDP, RSDT only"
)
QEMU_LEGACY_PC = (
    "qemu/qemu: hw/i386/acpi-build.c (init_common_fadt_data: SMI_CMD 0xB2 when SMM is on, as under TCG), "
    "hw/acpi/piix4.c (apm_ctrl_changed: ACPI_ENABLE 0xF1, ACPI_DISABLE 0xF0), hw/acpi/core.c (acpi_pm1_cnt_update)"
)
QEMU_LEGACY_Q35 = (
    "qemu/qemu: hw/i386/acpi-build.c (init_common_fadt_data: SMI_CMD 0xB2 when SMM is on, as under TCG), "
    "hw/isa/lpc_ich9.c (ich9_apm_ctrl_changed: ICH9_APM_ACPI_ENABLE 0x2, ICH9_APM_ACPI_DISABLE 0x3)"
)
QEMU_ACPI_ONLY = (
    "qemu/qemu: hw/i386/acpi-build.c (init_common_fadt_data: SMI_CMD 0 without SMM), hw/acpi/core.c "
    "(acpi_pm1_cnt_reset: SCI_EN set when acpi_only); real QEMU 7.2 under KVM here: SMI_CMD 0, SCI_EN 1"
)
QEMU_NARROW_TCG = (
    "qemu/qemu: hw/acpi/core.c (acpi_pm_tmr_ops: impl.min_access_size 4, valid.min_access_size 1; "
    "acpi_pm_tmr_read ignores the offset), softmmu/memory.c (memory_region_access_valid rejects an unaligned "
    "access, memory_region_dispatch_read reads it as unassigned: 0); real QEMU 7.2 TCG agrees"
)
QEMU_NARROW_KVM = (
    "qemu/qemu: accel/kvm/kvm-all.c (kvm_handle_io), softmmu/physmem.c (flatview_read_continue, "
    "memory_access_size: an unaligned read split into aligned pieces; past the timer, unassigned_io_ops 0xFF); "
    "real QEMU 7.2 under KVM agrees"
)
OVMF = "tianocore/edk2: OvmfPkg/Include/OvmfPlatforms.h (PIIX4_PMBA_VALUE)"
XEN = "xen: xen/arch/x86/hvm/pmtimer.c"
XEN_TABLES = "xen: tools/libacpi/static_tables.c"
VBOX = "VirtualBox: src/VBox/Devices/PC/DevACPI.cpp"
HYPERV = "microsoft/openvmm: vm/devices/chipset/src/pm/mod.rs"
CLOUD_HV = "cloud-hypervisor: devices/src/acpi.rs (AcpiPmTimerDevice)"
CLOUD_HV_FADT = "cloud-hypervisor: vmm/src/acpi.rs"
BOCHS = "bochs: bochs/iodev/acpi.cc"
BOCHS_BIOS = "bochs: bios/rombios32.c"
BOCHS_NARROW = (
    "bochs: bochs/iodev/acpi.cc (acpi_pm_iomask: the timer takes only a dword at its own port; "
    "every other read there is unhandled, all ones); real Bochs 2.7 agrees"
)
BOCHS_SCI = "bochs: bochs/iodev/acpi.cc (pm_update_sci: pmsts & pmen, no SCI_EN term)"
BOCHS_FIRST_TMR_STS = "bochs: bochs/iodev/acpi.cc (reset: tmr_overflow_time = 0xffffff; get_pmsts)"
BOCHS_LEGACY = (
    "bochs: bios/rombios32.c (FADT smi_cmd 0xB2, acpi_enable 0xF1, acpi_disable 0xF0), bochs/iodev/acpi.cc "
    "(generate_smi sets and clears SCI_EN; reset leaves pmcntrl 0); real Bochs 2.7 agrees"
)
LINUX_PIIX4 = "torvalds/linux: drivers/clocksource/acpi_pm.c (acpi_pm_read_verified; PIIX4 8086:7113 rev < 3)"
HOST_LOGS = 'host boot logs ("ACPI: PM-Timer IO Port: 0x1808 (24 bits)")'
XEN_FADT_FIX = "xen: commit f325d2477e (acpi_parse_fadt trusts TMR_VAL_EXT, not the register's bit width)"
NO_TIMER = ("qemu/qemu: hw/i386/acpi-microvm.c; firecracker: src/vmm/src/acpi; crosvm: x86_64/src/acpi.rs")
HARNESS = MODEL + "the specification's timer with bhyve's layout and access rules"


def _sources(default: str, **overrides: str) -> Mapping[str, str]:
    return MappingProxyType({name: overrides.get(name, default) for name in PROPERTIES})


# --- the profiles ----------------------------------------------------------------

ACPI = Profile(
    name="acpi",
    summary="the specification's timer at bhyve's port: exact rate, 32 bits, 4-byte reads only, TMR_STS and the SCI",
    port=0x408, width=32, narrow_reads=NarrowRead.REFUSE, writes=TimerWrite.REFUSE, tmr_sts=TmrSts.TOP_BIT,
    sci=SciGate.ALWAYS_ACPI, pm1_base=0x400, pm1_access=BHYVE_PM1,
    refusal=(
        "bhyve's vpmtmr_handler accepts only a 4-byte IN at the timer port "
        "(`if (!in || bytes != 4) return (-1);`): bhyve would fail the vCPU run and exit"
    ),
    sources=_sources(SPEC, port=BHYVE, narrow_reads=BHYVE, writes=BHYVE, pm1_base=BHYVE_PM, fadt=BHYVE_ACPI,
                     restore=HARNESS, sci=HARNESS),
)

PROFILES: dict[str, Profile] = {}


def _add(profile: Profile) -> Profile:
    PROFILES[profile.name] = profile
    return profile


_add(ACPI)
_add(replace(
    ACPI, name="bhyve",
    summary="bhyve as shipped: +720 ppm, no TMR_STS, 4-byte IN only, and the count restarts near 0 after a restore",
    tmr_sts=TmrSts.NEVER, time_base=BHYVE_RATE, restore=Restore.RESTARTS,
    sources=_sources(BHYVE, pm1_base=BHYVE_PM, fadt=BHYVE_ACPI, sci=BHYVE_PM, restore=BHYVE_SNAPSHOT,
                     unlatched_reads=BHYVE),
))
QEMU_PROFILE = _add(Profile(
    name="qemu",
    summary="QEMU pc under TCG behind SeaBIOS: 0x608, 24 bits, unaligned reads 0, TMR_STS set at hand-over, "
            "legacy mode, revision-1 FADT",
    port=0x608, width=24, narrow_reads=NarrowRead.UNALIGNED_ZERO, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.BIT_23,
    sci=SciGate.IGNORES_SCI_EN, pm1_base=0x600, first_tmr_sts=0,
    handover=Handover(smi_cmd=0xB2, acpi_enable=0xF1, acpi_disable=0xF0),
    fadt=FadtShape(revision=1, xsdt=False),
    sources=_sources(QEMU, port=QEMU_BUILD, pm1_base=QEMU_BUILD, fadt=QEMU_FADT_PC, narrow_reads=QEMU_NARROW_TCG,
                     sci=QEMU_SCI, first_tmr_sts=QEMU_FIRST_TMR_STS, handover=QEMU_LEGACY_PC),
))
QEMU_Q35_FADT = FadtShape(revision=3, xsdt=False, timer_access_size=0, pm1_access_size=0)
_add(replace(
    QEMU_PROFILE, name="qemu-q35",
    summary="QEMU q35 under TCG behind SeaBIOS: as qemu, with a revision-3 FADT (X_PM_TMR_BLK access size 0) "
            "and ICH9's ACPI_ENABLE 0x02",
    handover=Handover(smi_cmd=0xB2, acpi_enable=0x02, acpi_disable=0x03), fadt=QEMU_Q35_FADT,
    sources=_sources(QEMU, port=QEMU_BUILD, pm1_base=QEMU_BUILD, fadt=QEMU_FADT_Q35, narrow_reads=QEMU_NARROW_TCG,
                     sci=QEMU_SCI, first_tmr_sts=QEMU_FIRST_TMR_STS, handover=QEMU_LEGACY_Q35),
))
_add(replace(
    QEMU_PROFILE, name="qemu-kvm",
    summary="QEMU pc under KVM behind SeaBIOS: as qemu, but unaligned reads split into pieces, and ACPI mode "
            "at hand-over (no SMM: SMI_CMD 0)",
    narrow_reads=NarrowRead.SPLIT, handover=ACPI_MODE,
    sources=_sources(QEMU, port=QEMU_BUILD, pm1_base=QEMU_BUILD, fadt=QEMU_FADT_PC, narrow_reads=QEMU_NARROW_KVM,
                     sci=QEMU_SCI, first_tmr_sts=QEMU_FIRST_TMR_STS, handover=QEMU_ACPI_ONLY),
))
_add(replace(
    QEMU_PROFILE, name="qemu-q35-kvm",
    summary="QEMU q35 under KVM behind SeaBIOS: as qemu-kvm, with q35's revision-3 FADT",
    narrow_reads=NarrowRead.SPLIT, handover=ACPI_MODE, fadt=QEMU_Q35_FADT,
    sources=_sources(QEMU, port=QEMU_BUILD, pm1_base=QEMU_BUILD, fadt=QEMU_FADT_Q35, narrow_reads=QEMU_NARROW_KVM,
                     sci=QEMU_SCI, first_tmr_sts=QEMU_FIRST_TMR_STS, handover=QEMU_ACPI_ONLY),
))
_add(replace(
    QEMU_PROFILE, name="qemu-ovmf", summary="QEMU pc behind OVMF: the same timer at 0xB008",
    port=0xB008, pm1_base=0xB000, fadt=FadtShape(revision=1),
    sources=_sources(QEMU, port=OVMF, pm1_base=OVMF, fadt=QEMU_FADT_PC, narrow_reads=QEMU_NARROW_TCG, sci=QEMU_SCI,
                     first_tmr_sts=QEMU_FIRST_TMR_STS, handover=QEMU_LEGACY_PC),
))
_add(Profile(
    name="xen",
    summary="Xen HVM: 0xB008, 32 bits, narrow reads all ones, writes dropped, TMR_STS on bit 31, SCI without SCI_EN",
    port=0xB008, width=32, narrow_reads=NarrowRead.ALL_ONES, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.BIT_31,
    sci=SciGate.IGNORES_SCI_EN, pm1_base=0xB000, pm1_access=ANY_WIDTH_PM1, time_base=XEN_RATE,
    sources=_sources(XEN, fadt=XEN_TABLES, port=XEN_TABLES, pm1_base=XEN_TABLES),
))
_add(Profile(
    name="virtualbox",
    summary="VirtualBox: 0x4008, 32 bits, narrow reads 0xFF/0xFFFF, TMR_STS on bit 31, the SCI needs SCI_EN",
    port=0x4008, width=32, narrow_reads=NarrowRead.ALL_ONES, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.BIT_31,
    sci=SciGate.SCI_EN, pm1_base=0x4000, pm1_access=VBOX_PM1,
    sources=_sources(VBOX),
))
_add(Profile(
    name="hyperv",
    summary="Hyper-V (as OpenVMM models it): 0x408, 32 bits, byte lanes, TMR_STS never set, 100 ns time base",
    port=0x408, width=32, narrow_reads=NarrowRead.LANES, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.NEVER,
    sci=SciGate.ALWAYS_ACPI, pm1_base=0x400, time_base=HYPERV_TIME,
    sources=_sources(HYPERV),
))
_add(Profile(
    name="cloud-hypervisor",
    summary="cloud-hypervisor: 0x608, 32 bits, a hardware-reduced FADT with only X_PM_TMR_BLK, no PM1, "
            "restarts on restore",
    port=0x608, width=32, narrow_reads=NarrowRead.STALE, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.NEVER,
    sci=SciGate.ALWAYS_ACPI, pm1_base=None, restore=Restore.RESTARTS,
    fadt=FadtShape(tmr_val_ext=True, pm_tmr_blk=False, hardware_reduced=True),
    sources=_sources(CLOUD_HV, fadt=CLOUD_HV_FADT, pm1_base=CLOUD_HV_FADT, tmr_sts=CLOUD_HV_FADT,
                     sci=CLOUD_HV_FADT),
))
_add(Profile(
    name="bochs",
    summary="Bochs 2.7 with its legacy BIOS: 0xB008, 24 bits, a revision-1 FADT, every read but a dword at the "
            "port all ones, legacy mode, the first TMR_STS at 0xFFFFFF, counts in microsecond steps",
    port=0xB008, width=24, narrow_reads=NarrowRead.ALL_ONES, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.BIT_23,
    sci=SciGate.IGNORES_SCI_EN, pm1_base=0xB000, time_base=BOCHS_TIME, fadt=FadtShape(revision=1, xsdt=False),
    first_tmr_sts=0xFFFFFF, handover=Handover(smi_cmd=0xB2, acpi_enable=0xF1, acpi_disable=0xF0),
    sources=_sources(BOCHS, port=BOCHS_BIOS, pm1_base=BOCHS_BIOS, fadt=BOCHS_BIOS, narrow_reads=BOCHS_NARROW,
                     sci=BOCHS_SCI, first_tmr_sts=BOCHS_FIRST_TMR_STS, handover=BOCHS_LEGACY),
))
_add(replace(
    ACPI, name="piix4",
    summary="Intel PIIX4 before revision 3: 24 bits, and about 4.2% of reads are not latched",
    width=24, unlatched_reads=True, narrow_reads=NarrowRead.LOW_BYTES, writes=TimerWrite.IGNORE,
    pm1_access=BYTES_PM1, refusal="",
    sources=_sources(SPEC, width=LINUX_PIIX4, unlatched_reads=LINUX_PIIX4, port=HARNESS, pm1_base=HARNESS,
                     restore=HARNESS, sci=HARNESS, narrow_reads=HARNESS, writes=HARNESS),
))
_add(replace(
    ACPI, name="intel-pch", summary="an Intel PCH: the timer at 0x1808, 24 bits",
    port=0x1808, width=24, pm1_base=0x1800, narrow_reads=NarrowRead.LOW_BYTES, writes=TimerWrite.IGNORE,
    pm1_access=BYTES_PM1, refusal="",
    sources=_sources(SPEC, port=HOST_LOGS, width=HOST_LOGS, pm1_base=HOST_LOGS, narrow_reads=HARNESS,
                     writes=HARNESS, restore=HARNESS, sci=HARNESS),
))
_add(replace(
    ACPI, name="amd-fch", summary="an AMD FCH: the timer at 0x808, 32 bits",
    port=0x808, width=32, pm1_base=0x800, narrow_reads=NarrowRead.LOW_BYTES, writes=TimerWrite.IGNORE,
    pm1_access=BYTES_PM1, refusal="",
    sources=_sources(SPEC, port=HOST_LOGS, width=HOST_LOGS, pm1_base=HOST_LOGS, narrow_reads=HARNESS,
                     writes=HARNESS, restore=HARNESS, sci=HARNESS),
))
_add(replace(
    ACPI, name="width-mismatch",
    summary="firmware that declares a 32-bit X_PM_TMR_BLK, without TMR_VAL_EXT, for a 24-bit timer",
    width=24, fadt=FadtShape(tmr_val_ext=False),
    sources=_sources(SPEC, width=XEN_FADT_FIX, fadt=XEN_FADT_FIX, port=BHYVE, narrow_reads=BHYVE, writes=BHYVE,
                     pm1_base=BHYVE_PM, restore=HARNESS, sci=HARNESS),
))
_add(replace(
    ACPI, name="no-pm-timer",
    summary="Firecracker, crosvm, QEMU microvm: a hardware-reduced FADT that declares no timer",
    port=None, pm1_base=None, tmr_sts=TmrSts.NEVER, fadt=FadtShape(hardware_reduced=True),
    sources=_sources(NO_TIMER),
))


# --- quirks: one property of one platform, on any other ------------------------------


@dataclass(frozen=True)
class Quirk:
    name: str
    summary: str
    changes: Mapping[str, object]
    source: str


QUIRKS: dict[str, Quirk] = {quirk.name: quirk for quirk in (
    Quirk("narrow-reads-refused", "a 1- or 2-byte read, or a write, stops the guest (bhyve)",
          {"narrow_reads": NarrowRead.REFUSE, "writes": TimerWrite.REFUSE, "refusal": ACPI.refusal}, BHYVE),
    Quirk("narrow-reads-low-bytes", "a narrow read returns the counter's low bytes at any of the four ports, aligned "
          "or not (a model: QEMU does so only for aligned reads)",
          {"narrow_reads": NarrowRead.LOW_BYTES}, HARNESS),
    Quirk("narrow-reads-lanes", "a narrow read returns the counter's bytes at its port's offset (Hyper-V)",
          {"narrow_reads": NarrowRead.LANES}, HYPERV),
    Quirk("narrow-reads-all-ones", "a narrow read returns 0xFF or 0xFFFF (Xen, VirtualBox, Bochs)",
          {"narrow_reads": NarrowRead.ALL_ONES}, XEN),
    Quirk("narrow-reads-stale", "a narrow read leaves the I/O buffer untouched: the last value read (cloud-hypervisor)",
          {"narrow_reads": NarrowRead.STALE}, CLOUD_HV),
    Quirk("writes-ignored", "a write to the timer is dropped", {"writes": TimerWrite.IGNORE}, QEMU),
    Quirk("tmr-sts-never", "TMR_STS is never set (bhyve, Hyper-V)", {"tmr_sts": TmrSts.NEVER}, BHYVE_PM),
    Quirk("tmr-sts-bit-23", "TMR_STS follows bit 23 whatever the width (QEMU, Bochs)",
          {"tmr_sts": TmrSts.BIT_23}, QEMU),
    Quirk("tmr-sts-bit-31", "TMR_STS follows bit 31 (Xen, VirtualBox)", {"tmr_sts": TmrSts.BIT_31}, XEN),
    Quirk("sci-needs-sci-en", "SCI_EN is the guest's to clear, and no SCI comes while it is clear (VirtualBox)",
          {"sci": SciGate.SCI_EN}, VBOX),
    Quirk("sci-ignores-sci-en", "the SCI comes whatever SCI_EN says (Xen)", {"sci": SciGate.IGNORES_SCI_EN}, XEN),
    Quirk("bhyve-rate", "the count runs 720 ppm fast, as bhyve's sbintime arithmetic makes it",
          {"time_base": BHYVE_RATE}, BHYVE),
    Quirk("xen-rate", "Xen's scaled rate, 0.05 ppm slow", {"time_base": XEN_RATE}, XEN),
    Quirk("100ns-time-base", "the count follows a clock in 100 ns units (Hyper-V)", {"time_base": HYPERV_TIME}, HYPERV),
    Quirk("microsecond-steps", "the count moves in microsecond steps of 3-4 ticks (Bochs)",
          {"time_base": BOCHS_TIME}, BOCHS),
    Quirk("unlatched-reads", "about 4.2% of reads are not latched and come back out of order (PIIX4)",
          {"unlatched_reads": True}, LINUX_PIIX4),
    Quirk("restarts-after-restore", "after a snapshot is restored the count restarts near 0 (bhyve, cloud-hypervisor)",
          {"restore": Restore.RESTARTS}, BHYVE_SNAPSHOT),
    Quirk("fadt-revision-1", "a revision-1 FADT (ACPI 1.0, no X_ fields) (Bochs)",
          {"fadt": FadtShape(revision=1)}, BOCHS_BIOS),
    Quirk("hardware-reduced-fadt", "a hardware-reduced FADT with only X_PM_TMR_BLK and no PM1 block (cloud-hypervisor)",
          {"fadt": FadtShape(tmr_val_ext=None, pm_tmr_blk=False, hardware_reduced=True), "pm1_base": None},
          CLOUD_HV_FADT),
    Quirk("no-tmr-val-ext", "the FADT never sets TMR_VAL_EXT, whatever the timer's width",
          {"fadt": FadtShape(tmr_val_ext=False)}, XEN_FADT_FIX),
    Quirk("no-pm-timer", "no timer, and an FADT that declares none",
          {"port": None, "pm1_base": None, "fadt": FadtShape(hardware_reduced=True)}, NO_TIMER),
)}


class PlatformError(ValueError):
    """A platform the harness cannot build as asked."""


class UnknownPlatform(PlatformError):
    pass


class PlatformConflict(PlatformError):
    """Quirks or options that contradict one another, or that would change nothing on the board."""


# What a board without a timer still has: a quirk that changes anything else changes nothing there.
WITHOUT_A_TIMER = frozenset({"port", "pm1_base", "fadt"})


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownPlatform(f"no platform {name!r}; the platforms are {', '.join(PROFILES)}") from None


def resolve(
    name: str,
    quirks: Sequence[str] = (),
    *,
    port: int | None = None,
    width: int | None = None,
    access: Mapping[str, object] | None = None,
) -> Profile:
    """The profile with the quirks laid over it, then the explicit options over those.

    Refuses (``PlatformConflict``) two quirks that set one property two ways,
    a quirk or an option for a timer the board does not have, and TMR_STS on
    bit 31 of a 24-bit timer, which would never be set.
    """
    chosen = replace(profile(name), **_quirk_changes(quirks))
    if not chosen.has_timer:
        board = f"{name} with {', '.join(quirks)}" if quirks else name
        _refuse_timer_changes(board, quirks, port=port, width=width, access=access)
        return chosen
    if access:
        chosen = replace(chosen, **access)
    if port is not None:
        chosen = replace(chosen, port=port)
    if width is not None:
        chosen = replace(chosen, width=width)
    if chosen.tmr_sts is TmrSts.BIT_31 and chosen.width == 24:
        raise PlatformConflict(
            "TMR_STS follows bit 31 and a 24-bit timer has none: it would never be set "
            "(give the timer 32 bits, or ask for tmr-sts-never)"
        )
    return chosen


def _quirk_changes(quirks: Sequence[str]) -> dict[str, object]:
    """Every property the quirks set; two quirks may agree on one, never differ."""
    changes: dict[str, object] = {}
    set_by: dict[str, str] = {}
    for quirk_name in quirks:
        quirk = QUIRKS.get(quirk_name)
        if quirk is None:
            raise UnknownPlatform(f"no quirk {quirk_name!r}; the quirks are {', '.join(QUIRKS)}")
        for name, value in quirk.changes.items():
            if name in changes and changes[name] != value:
                raise PlatformConflict(f"quirks {set_by[name]} and {quirk_name} set the {name} two ways: choose one")
            changes[name], set_by[name] = value, quirk_name
    return changes


def _refuse_timer_changes(
    board: str, quirks: Sequence[str], *, port: int | None, width: int | None, access: Mapping[str, object] | None
) -> None:
    for quirk_name in quirks:
        if set(QUIRKS[quirk_name].changes) - WITHOUT_A_TIMER:
            raise PlatformConflict(f"quirk {quirk_name} changes the PM timer, and platform {board} has none")
    given = [option for option, value in (("--timer-port", port), ("--timer-width", width),
                                          ("--io-semantics", access)) if value is not None]
    if given:
        raise PlatformConflict(f"platform {board} has no PM timer: {' and '.join(given)} cannot apply")
