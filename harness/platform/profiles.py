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
from enum import Enum
from types import MappingProxyType

from pmtimer_harness.devices.acpi_pm1 import ACPI_MODE, BHYVE_PM1, BYTES_PM1, Handover, Pm1Access, SciGate, TmrSts
from pmtimer_harness.devices.pm_timer import BHYVE_REFUSAL, EXACT, NS_PER_SECOND, NarrowRead, TimeBase, TimerWrite
from pmtimer_harness.devices.ports import UnclaimedPorts
from pmtimer_harness.platform import sources as src
from pmtimer_harness.platform.acpi_tables import SPEC_FADT_SHAPE, FadtShape
from pmtimer_harness.platform.sources import MODEL, is_model
from pmtimer_harness.record import Record

DEFAULT_PLATFORM = "acpi"


class Restore(str, Enum):
    """What the counter does after a snapshot is restored."""

    CONTINUES = "continues"
    RESTARTS = "restarts"  # near 0: the platform does not save the timer's time base


# The properties a profile states, in the order the table and docs show them.
PROPERTIES = (
    "port", "width", "narrow_reads", "writes", "tmr_sts", "first_tmr_sts", "tmr_en", "sci", "handover", "pm1_base",
    "pm1_access", "time_base", "unlatched_reads", "restore", "fadt", "unclaimed_ports", "rtc", "com1",
)
TIMER_PROPERTIES = frozenset({"width", "narrow_reads", "writes", "tmr_sts", "first_tmr_sts", "time_base",
                              "unlatched_reads", "restore"})
PM1_PROPERTIES = frozenset({"tmr_en", "sci", "handover", "pm1_access"})  # a PM1 block may stand without a timer


class Profile(Record):
    """A platform: how its timer, PM1 block, FADT and board behave, each property with its source."""

    __slots__ = (
        "name",
        "summary",
        "port",
        "width",
        "narrow_reads",
        "writes",
        "tmr_sts",
        "sci",
        "pm1_base",
        "first_tmr_sts",
        "handover",
        "tmr_en",
        "unclaimed_ports",
        "time_base",
        "unlatched_reads",
        "restore",
        "fadt",
        "pm1_access",
        "rtc",
        "com1",
        "refusal",
        "sources",
    )

    def __init__(
        self,
        name: str,
        summary: str,
        port: int | None,  # None: no timer at all
        width: int,
        narrow_reads: NarrowRead,
        writes: TimerWrite,
        tmr_sts: TmrSts,
        sci: SciGate,
        pm1_base: int | None,  # PM1a_EVT_BLK (PM1_STS, PM1_EN at +2), PM1a_CNT_BLK at +4; None: no PM1 block
        first_tmr_sts: int | None = None,  # the count that first sets TMR_STS (0: set at hand-over); None: next toggle
        handover: Handover = ACPI_MODE,  # SMI_CMD 0 and SCI_EN set, or legacy mode until ACPI_ENABLE
        # False: PM1_EN drops TMR_EN, so it reads back 0 and the timer never raises the SCI (bhyve)
        tmr_en: bool = True,
        unclaimed_ports: UnclaimedPorts = UnclaimedPorts.ALL_ONES,
        time_base: TimeBase = EXACT,
        unlatched_reads: bool = False,
        restore: Restore = Restore.CONTINUES,
        fadt: FadtShape = SPEC_FADT_SHAPE,
        pm1_access: Pm1Access = BYTES_PM1,
        rtc: bool = True,  # the CMOS/RTC at 0x70/0x71, IRQ 8; False: its ports are the platform's empty slots
        com1: bool = True,  # a 16550 UART at 0x3F8-0x3FF, IRQ 4; False: likewise
        refusal: str = "",  # what a refused timer access means on this platform
        sources: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.summary = summary
        self.port = port
        self.width = width
        self.narrow_reads = narrow_reads
        self.writes = writes
        self.tmr_sts = tmr_sts
        self.sci = sci
        self.pm1_base = pm1_base
        self.first_tmr_sts = first_tmr_sts
        self.handover = handover
        self.tmr_en = tmr_en
        self.unclaimed_ports = unclaimed_ports
        self.time_base = time_base
        self.unlatched_reads = unlatched_reads
        self.restore = restore
        self.fadt = fadt
        self.pm1_access = pm1_access
        self.rtc = rtc
        self.com1 = com1
        self.refusal = refusal
        self.sources = {} if sources is None else sources

    @property
    def has_timer(self) -> bool:
        return self.port is not None

    def shown(self, name: str) -> str:
        """A property as the table and the docs print it."""
        value = getattr(self, name)
        if (name in TIMER_PROPERTIES and not self.has_timer) or (name in PM1_PROPERTIES and self.pm1_base is None):
            return "-"
        if name == "port":
            return "none" if value is None else f"{value:#x}"
        if name == "pm1_base":
            return "none" if value is None else f"{value:#x}"
        if name == "pm1_access":
            return value.describe()
        if name == "tmr_en":
            return "kept" if value else "dropped: reads back 0"
        if name == "unclaimed_ports":
            return f"read as {value.described}"
        if name in ("rtc", "com1"):
            present, ports = BOARD_DEVICES[name]
            return present if value else f"none: {ports} read as {self.unclaimed_ports.described}"
        if name == "time_base":
            return describe_time_base(value)
        if name == "first_tmr_sts":
            if value is None:
                return "at the next toggle"
            return "set at hand-over" if value == 0 else f"at count {value:#x}"
        if name == "handover":
            if not value.legacy:
                return f"ACPI mode (SMI_CMD 0, SCI_EN {'set' if value.sci_en else 'clear, the OS sets it'})"
            return (f"legacy mode (SMI_CMD {value.smi_cmd:#x}, ACPI_ENABLE {value.acpi_enable:#x}, "
                    f"ACPI_DISABLE {value.acpi_disable:#x}; SCI_EN clear)")
        if name == "fadt":
            return value.describe(self.width if self.has_timer else None)
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
        model = is_model(source)
        return {"value": self.shown(name), "source": None if model else source,
                "model": source.removeprefix(MODEL) if model else None}


def describe_time_base(base: TimeBase) -> str:
    ppm = (base.hz / 3_579_545 - 1) * 1e6
    rate = "exact" if base.numerator * NS_PER_SECOND == 3_579_545 * base.denominator else f"{ppm:+.2f} ppm"
    step = "" if base.quantum_ns == 1 else f", counts in {base.quantum_ns} ns steps"
    return f"{base.hz:,.1f} Hz ({rate}){step}"


# What ``rtc`` and ``com1`` put on the board, and the ports that are an empty slot without them.
BOARD_DEVICES = {"rtc": ("MC146818 at 0x70/0x71, IRQ 8", "0x70/0x71"),
                 "com1": ("16550 at 0x3F8-0x3FF, IRQ 4", "0x3F8-0x3FF")}

BHYVE_TIME = TimeBase(numerator=1 << 32, denominator=NS_PER_SECOND * 1199)  # sbintime / freq_sbt (1199)
XEN_TIME = TimeBase(numerator=(3_579_545 << 32) // NS_PER_SECOND, denominator=1 << 32)
HYPERV_TIME = TimeBase(quantum_ns=100)
BOCHS_TIME = TimeBase(quantum_ns=1000)

NO_TIMER_BOARD = {"port": None, "pm1_base": None, "tmr_sts": TmrSts.NEVER}  # what a timerless profile changes
ANY_WIDTH_PM1 = Pm1Access(frozenset({1, 2, 4}), frozenset({1, 2, 4}), refusal="")
VBOX_PM1 = Pm1Access(frozenset({2}), frozenset({2, 4}), refusal="", floats=True, spans_block=False,
                     ports_per_register=1)
HYPERV_PM1 = Pm1Access(frozenset({1, 2, 4}), frozenset({1, 2, 4}), refusal="", spans_block=False)
# A read wider than its register, or across two, is refused and zero-filled: it reaches no other register.
CROSVM_PM1 = Pm1Access(frozenset({1, 2}), frozenset({1, 2}), refusal="", floats=True, spans_block=False)
ACRN_PM1 = Pm1Access(refusal="", floats=True, ports_per_register=1)  # bhyve's handlers, but the VM goes on


def cited(**sources: str) -> Mapping[str, str]:
    """A profile's sources: one for every property, or the profile is a mistake, found at import."""
    missing = [name for name in PROPERTIES if name not in sources]
    unknown = sorted(set(sources) - set(PROPERTIES))
    if missing or unknown:
        raise ValueError(f"sources: missing {missing}, unknown {unknown}")
    return MappingProxyType({name: sources[name] for name in PROPERTIES})


def recited(base: Mapping[str, str], **changes: str) -> Mapping[str, str]:
    return cited(**{**base, **changes})


def uncited(source: str, **changes: str) -> Mapping[str, str]:
    """The sources of a board without a timer: one source, which says so, for every property but ``changes``."""
    return cited(**{**dict.fromkeys(PROPERTIES, source), **changes})


# --- the profiles ----------------------------------------------------------------

PROFILES: dict[str, Profile] = {}


def _add(profile: Profile) -> Profile:
    PROFILES[profile.name] = profile
    return profile


ACPI = _add(Profile(
    name="acpi",
    summary="the specification's timer at bhyve's port: exact rate, 32 bits, 4-byte reads only, TMR_STS and the SCI",
    port=0x408, width=32, narrow_reads=NarrowRead.REFUSE, writes=TimerWrite.REFUSE, tmr_sts=TmrSts.TOP_BIT,
    sci=SciGate.ALWAYS_ACPI, pm1_base=0x400, pm1_access=BHYVE_PM1, refusal=BHYVE_REFUSAL,
    sources=cited(
        port=src.BHYVE_TIMER, width=src.SPEC, narrow_reads=src.BHYVE_TIMER, writes=src.BHYVE_TIMER,
        tmr_sts=src.SPEC, first_tmr_sts=src.SPEC, tmr_en=src.SPEC, sci=src.SPEC_SCI, handover=src.SPEC_SCI,
        pm1_base=src.BHYVE_PM1, pm1_access=src.BHYVE_PM1, time_base=src.SPEC, unlatched_reads=src.SPEC,
        restore=src.SPEC_RESTORE, fadt=src.SPEC_FADT, unclaimed_ports=src.BHYVE_UNCLAIMED, rtc=src.PC_RTC,
        com1=src.PC_COM1,
    ),
))
_add(ACPI.replace(
    name="bhyve",
    summary="bhyve as shipped: +720 ppm, 4-byte IN only, TMR_STS never set and TMR_EN dropped, legacy mode "
            "(SMI_CMD 0xB2, ACPI_ENABLE 0xA0), a revision-5 FADT, and the count restarts near 0 after a restore",
    tmr_sts=TmrSts.NEVER, tmr_en=False, sci=SciGate.SMI_CMD_ONLY, handover=Handover(0xB2, 0xA0, 0xA1),
    time_base=BHYVE_TIME, restore=Restore.RESTARTS, fadt=FadtShape(revision=5, length=276), com1=False,
    sources=cited(
        port=src.BHYVE_TIMER, width=src.BHYVE_TIMER, narrow_reads=src.BHYVE_TIMER, writes=src.BHYVE_TIMER,
        tmr_sts=src.BHYVE_TMR_STS, first_tmr_sts=src.BHYVE_TMR_STS, tmr_en=src.BHYVE_TMR_EN, sci=src.BHYVE_SCI,
        handover=src.BHYVE_HANDOVER, pm1_base=src.BHYVE_PM1, pm1_access=src.BHYVE_PM1, time_base=src.BHYVE_RATE,
        unlatched_reads=src.BHYVE_TIMER, restore=src.BHYVE_SNAPSHOT, fadt=src.BHYVE_FADT,
        unclaimed_ports=src.BHYVE_UNCLAIMED, rtc=src.BHYVE_RTC, com1=src.BHYVE_COM1,
    ),
))

QEMU_SOURCES = cited(
    port=src.QEMU_PORT, width=src.QEMU_TIMER, narrow_reads=src.QEMU_NARROW_TCG, writes=src.QEMU_TIMER,
    tmr_sts=src.QEMU_TMR_STS, first_tmr_sts=src.QEMU_FIRST_TMR_STS, tmr_en=src.QEMU_TMR_EN, sci=src.QEMU_SCI,
    handover=src.QEMU_LEGACY_PC, pm1_base=src.QEMU_PORT, pm1_access=src.QEMU_PM1_ACCESS, time_base=src.QEMU_TIMER,
    unlatched_reads=src.QEMU_TIMER, restore=src.QEMU_RESTORE, fadt=src.QEMU_FADT_PC,
    unclaimed_ports=src.QEMU_UNCLAIMED, rtc=src.QEMU_RTC, com1=src.QEMU_COM1,
)
QEMU = _add(Profile(
    name="qemu",
    summary="QEMU pc under TCG behind SeaBIOS: 0x608, 24 bits, unaligned reads 0, TMR_STS set at hand-over, "
            "legacy mode, revision-1 FADT",
    port=0x608, width=24, narrow_reads=NarrowRead.UNALIGNED_ZERO, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.BIT_23,
    sci=SciGate.IGNORES_SCI_EN, pm1_base=0x600, pm1_access=ANY_WIDTH_PM1, first_tmr_sts=0,
    handover=Handover(smi_cmd=0xB2, acpi_enable=0xF1, acpi_disable=0xF0),
    fadt=FadtShape(revision=1, xsdt=False), sources=QEMU_SOURCES,
))
QEMU_Q35_FADT = FadtShape(revision=3, xsdt=False, timer_access_size=0, pm1_access_size=0)
_add(QEMU.replace(
    name="qemu-q35",
    summary="QEMU q35 under TCG behind SeaBIOS: as qemu, with a revision-3 FADT (X_PM_TMR_BLK access size 0) "
            "and ICH9's ACPI_ENABLE 0x02",
    handover=Handover(smi_cmd=0xB2, acpi_enable=0x02, acpi_disable=0x03), fadt=QEMU_Q35_FADT,
    sources=recited(QEMU_SOURCES, fadt=src.QEMU_FADT_Q35, handover=src.QEMU_LEGACY_Q35),
))
_add(QEMU.replace(
    name="qemu-kvm",
    summary="QEMU pc under KVM behind SeaBIOS: as qemu, but unaligned reads split into pieces, and ACPI mode "
            "at hand-over (no SMM: SMI_CMD 0)",
    narrow_reads=NarrowRead.SPLIT, handover=ACPI_MODE,
    sources=recited(QEMU_SOURCES, narrow_reads=src.QEMU_NARROW_KVM, handover=src.QEMU_ACPI_ONLY),
))
_add(QEMU.replace(
    name="qemu-q35-kvm",
    summary="QEMU q35 under KVM behind SeaBIOS: as qemu-kvm, with q35's revision-3 FADT",
    narrow_reads=NarrowRead.SPLIT, handover=ACPI_MODE, fadt=QEMU_Q35_FADT,
    sources=recited(QEMU_SOURCES, fadt=src.QEMU_FADT_Q35, narrow_reads=src.QEMU_NARROW_KVM,
                    handover=src.QEMU_ACPI_ONLY),
))
_add(QEMU.replace(
    name="qemu-ovmf", summary="QEMU pc behind OVMF: the same timer at 0xB008",
    port=0xB008, pm1_base=0xB000, fadt=FadtShape(revision=1),
    sources=recited(QEMU_SOURCES, port=src.OVMF_PORT, pm1_base=src.OVMF_PORT, handover=src.OVMF_AS_QEMU,
                    fadt=src.OVMF_AS_QEMU),
))
_add(ACPI.replace(
    name="qemu-microvm",
    summary="QEMU microvm under KVM: no timer and no PM1 block, a hardware-reduced revision-5 FADT named by the "
            "XSDT alone, no RTC, COM1",
    **NO_TIMER_BOARD, fadt=FadtShape(revision=5, hardware_reduced=True, rsdt=False), rtc=False,
    sources=uncited(src.MICROVM_NO_TIMER, fadt=src.MICROVM_FADT, unclaimed_ports=src.QEMU_UNCLAIMED,
                    rtc=src.MICROVM_RTC, com1=src.MICROVM_COM1),
))

XEN_SOURCES = cited(
    port=src.XEN_PORTS, width=src.XEN_TIMER, narrow_reads=src.XEN_TIMER, writes=src.XEN_TIMER,
    tmr_sts=src.XEN_TMR_STS, first_tmr_sts=src.XEN_TMR_STS, tmr_en=src.XEN_TMR_EN, sci=src.XEN_SCI,
    handover=src.XEN_HANDOVER, pm1_base=src.XEN_PORTS, pm1_access=src.XEN_PM1_ACCESS, time_base=src.XEN_RATE,
    unlatched_reads=src.XEN_TIMER, restore=src.XEN_RESTORE, fadt=src.XEN_FADT, unclaimed_ports=src.XEN_UNCLAIMED,
    rtc=src.XEN_RTC, com1=src.XEN_COM1,
)
XEN = _add(Profile(
    name="xen",
    summary="Xen HVM behind hvmloader: 0xB008, 32 bits, every narrow or unaligned read all ones, TMR_STS on bit 31, "
            "the SCI without SCI_EN, a revision-4 FADT with a revision-1 copy for the RSDT",
    port=0xB008, width=32, narrow_reads=NarrowRead.ALL_ONES, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.BIT_31,
    sci=SciGate.IGNORES_SCI_EN, pm1_base=0xB000, pm1_access=ANY_WIDTH_PM1, time_base=XEN_TIME,
    fadt=FadtShape(revision=4, rsdt_copy_revision=1, timer_access_size=0, pm1_access_size=0), com1=False,
    sources=XEN_SOURCES,
))
_add(XEN.replace(
    name="xen-v0",
    summary="Xen HVM's old port layout (a guest migrated from Xen 4.0 or older): as xen, the timer at 0x1F48",
    port=0x1F48, pm1_base=0x1F40,
    sources=recited(XEN_SOURCES, port=src.XEN_PORTS_V0, pm1_base=src.XEN_PORTS_V0, fadt=src.XEN_FADT_V0,
                    handover=src.XEN_V0_HANDOVER),
))
_add(ACPI.replace(
    name="xen-pvh",
    summary="Xen PVH: no timer and no PM1 device, yet a revision-5 FADT naming PM1 blocks at 0xB000 and a "
            "revision-1 copy for the RSDT naming a timer at 0xB008, all reading all ones",
    **NO_TIMER_BOARD, rtc=False, com1=False,
    fadt=FadtShape(revision=5, rsdt_copy_revision=1, tmr_val_ext=True, named_pm1_base=0xB000,
                   named_timer_port=0xB008, named_timer_in_rsdt_copy_only=True, pm1_access_size=0),
    sources=uncited(src.XEN_PVH_PORTS, fadt=src.XEN_PVH_FADT, unclaimed_ports=src.XEN_UNCLAIMED,
                    rtc=src.XEN_PVH_DEVICES, com1=src.XEN_PVH_DEVICES),
))

_add(Profile(
    name="virtualbox",
    summary="VirtualBox: 0x4008, 32 bits, every narrow or unaligned read all ones, TMR_STS on bit 31, the SCI needs "
            "SCI_EN, legacy mode (SMI_CMD 0x442E, ACPI_ENABLE 0xA1), a revision-4 FADT and a short copy for the RSDT",
    port=0x4008, width=32, narrow_reads=NarrowRead.ALL_ONES, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.BIT_31,
    sci=SciGate.SCI_EN, pm1_base=0x4000, pm1_access=VBOX_PM1, handover=Handover(0x442E, 0xA1, 0xA0),
    fadt=FadtShape(revision=4, rsdt_copy_revision=4), com1=False,
    sources=cited(
        port=src.VBOX_PORTS, width=src.VBOX_WIDTH, narrow_reads=src.VBOX_TIMER, writes=src.VBOX_WRITES,
        tmr_sts=src.VBOX_TMR_STS, first_tmr_sts=src.VBOX_TMR_STS, tmr_en=src.VBOX_TMR_EN, sci=src.VBOX_SCI,
        handover=src.VBOX_HANDOVER, pm1_base=src.VBOX_PORTS, pm1_access=src.VBOX_PM1, time_base=src.VBOX_RATE,
        unlatched_reads=src.VBOX_RATE, restore=src.VBOX_RESTORE, fadt=src.VBOX_FADT, unclaimed_ports=src.VBOX_TIMER,
        rtc=src.VBOX_RTC, com1=src.VBOX_COM1,
    ),
))

HYPERV_SOURCES = cited(
    port=src.HYPERV_GEN2_FADT, width=src.HYPERV_TIMER, narrow_reads=src.HYPERV_TIMER, writes=src.HYPERV_WRITES,
    tmr_sts=src.HYPERV_TMR_STS, first_tmr_sts=src.HYPERV_TMR_STS, tmr_en=src.HYPERV_TMR_EN, sci=src.HYPERV_SCI,
    handover=src.HYPERV_GEN2_HANDOVER, pm1_base=src.HYPERV_GEN2_FADT, pm1_access=src.HYPERV_PM1_ACCESS,
    time_base=src.HYPERV_RATE, unlatched_reads=src.HYPERV_TIMER, restore=src.HYPERV_RESTORE,
    fadt=src.HYPERV_GEN2_FADT, unclaimed_ports=src.HYPERV_UNCLAIMED, rtc=src.HYPERV_RTC, com1=src.HYPERV_GEN2_COM1,
)
HYPERV = _add(Profile(
    name="hyperv",
    summary="Hyper-V generation 2 (mu_msvm's FADT, OpenVMM's PM device): 0x408 named only by a QWORD "
            "X_PM_TMR_BLK, 32 bits, byte lanes, TMR_STS never set, a 100 ns time base",
    port=0x408, width=32, narrow_reads=NarrowRead.LANES, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.NEVER,
    sci=SciGate.IGNORES_SCI_EN, pm1_base=0x400, pm1_access=HYPERV_PM1, time_base=HYPERV_TIME,
    fadt=FadtShape(legacy_blocks=False, timer_access_size=4, timer_bit_width=64, pm1_event_access_size=4,
                   pm1_event_bit_width=64),
    com1=False, sources=HYPERV_SOURCES,
))
_add(HYPERV.replace(
    name="hyperv-gen1",
    summary="Hyper-V generation 1: the same PM device as a PIIX4 function of PCI revision 2 (Linux then reads the "
            "timer three times a read), legacy mode (SMI_CMD 0xB2, ACPI_ENABLE 0xE1)",
    handover=Handover(0xB2, 0xE1, 0x1E, enable_sets_tmr_en=True), fadt=FadtShape(), com1=True,
    sources=recited(HYPERV_SOURCES, port=src.HYPERV_GEN1_PORT, pm1_base=src.HYPERV_GEN1_PORT,
                    handover=src.HYPERV_GEN1_HANDOVER, fadt=src.HYPERV_GEN1_FADT, com1=src.HYPERV_GEN1_COM1),
))

_add(Profile(
    name="cloud-hypervisor",
    summary="cloud-hypervisor: 0x608, 32 bits, a hardware-reduced FADT with only X_PM_TMR_BLK and the XSDT alone, "
            "narrow reads 0, no PM1 block, restarts on restore",
    port=0x608, width=32, narrow_reads=NarrowRead.ZERO, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.NEVER,
    sci=SciGate.ALWAYS_ACPI, pm1_base=None, restore=Restore.RESTARTS,
    fadt=FadtShape(tmr_val_ext=True, pm_tmr_blk=False, hardware_reduced=True, rsdt=False), com1=False,
    sources=cited(
        port=src.CLOUD_HV_FADT, width=src.CLOUD_HV_TIMER, narrow_reads=src.CLOUD_HV_TIMER,
        writes=src.CLOUD_HV_WRITES, tmr_sts=src.CLOUD_HV_NO_PM1, first_tmr_sts=src.CLOUD_HV_NO_PM1,
        tmr_en=src.CLOUD_HV_NO_PM1, sci=src.CLOUD_HV_NO_PM1, handover=src.CLOUD_HV_NO_PM1,
        pm1_base=src.CLOUD_HV_NO_PM1, pm1_access=src.CLOUD_HV_NO_PM1, time_base=src.CLOUD_HV_TIMER,
        unlatched_reads=src.CLOUD_HV_TIMER, restore=src.CLOUD_HV_RESTORE, fadt=src.CLOUD_HV_FADT,
        unclaimed_ports=src.CLOUD_HV_UNCLAIMED, rtc=src.CLOUD_HV_DEVICES, com1=src.CLOUD_HV_DEVICES,
    ),
))
_add(ACPI.replace(
    name="firecracker",
    summary="Firecracker: no timer and no PM1 block, a hardware-reduced FADT named by the XSDT alone, "
            "unclaimed ports reading 0",
    **NO_TIMER_BOARD, fadt=FadtShape(hardware_reduced=True, rsdt=False), unclaimed_ports=UnclaimedPorts.ZERO,
    rtc=False,
    sources=uncited(src.FIRECRACKER_FADT, unclaimed_ports=src.FIRECRACKER_UNCLAIMED, rtc=src.FIRECRACKER_DEVICES,
                    com1=src.FIRECRACKER_DEVICES),
))
_add(ACPI.replace(
    name="crosvm",
    summary="crosvm: no timer, a PM1 block whose SCI_EN starts clear, an FADT that is not hardware-reduced and "
            "names no timer, the XSDT alone, unclaimed ports reading 0",
    port=None, tmr_sts=TmrSts.NEVER, pm1_base=0x600, pm1_access=CROSVM_PM1, sci=SciGate.SCI_EN,
    handover=Handover(sci_en_clear=True), fadt=FadtShape(rsdt=False, x_pm1_blocks=False),
    unclaimed_ports=UnclaimedPorts.ZERO,
    sources=uncited(src.CROSVM_FADT, pm1_base=src.CROSVM_PORT, pm1_access=src.CROSVM_PM1, tmr_en=src.CROSVM_PM1,
                    sci=src.CROSVM_SCI, handover=src.CROSVM_PM1, unclaimed_ports=src.CROSVM_UNCLAIMED,
                    rtc=src.CROSVM_RTC, com1=src.CROSVM_COM1),
))
_add(ACPI.replace(
    name="acrn",
    summary="ACRN's post-launched VMs: no timer (PM_TMR_BLK 0, an empty X_PM_TMR_BLK, TMR_VAL_EXT still set), "
            "bhyve's PM1 block and legacy mode (SMI_CMD 0xB2, ACPI_ENABLE 0xA0), a revision-5 FADT",
    port=None, tmr_sts=TmrSts.NEVER, tmr_en=False, pm1_access=ACRN_PM1, sci=SciGate.SMI_CMD_GATES,
    handover=Handover(0xB2, 0xA0, 0xA1), fadt=FadtShape(revision=5, tmr_val_ext=True, timer_gas_without_timer=True),
    com1=False,
    sources=uncited(src.ACRN_POST_FADT, pm1_base=src.ACRN_POST_PORTS, pm1_access=src.ACRN_POST_PM1,
                    tmr_en=src.ACRN_POST_TMR_EN, sci=src.ACRN_POST_SCI, handover=src.ACRN_POST_HANDOVER,
                    unclaimed_ports=src.ACRN_UNCLAIMED, rtc=src.ACRN_POST_RTC, com1=src.ACRN_POST_COM1),
))
_add(ACPI.replace(
    name="acrn-prelaunched",
    summary="ACRN's pre-launched VMs: no timer, no PM1 block, a hardware-reduced revision-5 FADT named by the "
            "XSDT alone",
    **NO_TIMER_BOARD, fadt=FadtShape(revision=5, hardware_reduced=True, tmr_val_ext=True, rsdt=False),
    sources=uncited(src.ACRN_PRE_FADT, unclaimed_ports=src.ACRN_PRE_UNCLAIMED, rtc=src.ACRN_PRE_RTC,
                    com1=src.ACRN_PRE_COM1),
))

BOCHS_SOURCES = cited(
    port=src.BOCHS_BIOS, width=src.BOCHS_TIMER, narrow_reads=src.BOCHS_NARROW, writes=src.BOCHS_NARROW,
    tmr_sts=src.BOCHS_FIRST_TMR_STS, first_tmr_sts=src.BOCHS_FIRST_TMR_STS, tmr_en=src.BOCHS_SCI, sci=src.BOCHS_SCI,
    handover=src.BOCHS_LEGACY, pm1_base=src.BOCHS_BIOS, pm1_access=src.BOCHS_PM1_ACCESS, time_base=src.BOCHS_TIMER,
    unlatched_reads=src.BOCHS_TIMER, restore=src.BOCHS_TIMER, fadt=src.BOCHS_BIOS, unclaimed_ports=src.BOCHS_UNCLAIMED,
    rtc=src.BOCHS_RTC, com1=src.BOCHS_COM1,
)
BOCHS = _add(Profile(
    name="bochs",
    summary="Bochs 2.7 with its legacy BIOS: 0xB008, 24 bits, a revision-1 FADT, every read but a dword at the "
            "port all ones, legacy mode, the first TMR_STS at 0xFFFFFF, counts in microsecond steps",
    port=0xB008, width=24, narrow_reads=NarrowRead.ALL_ONES, writes=TimerWrite.IGNORE, tmr_sts=TmrSts.BIT_23,
    sci=SciGate.IGNORES_SCI_EN, pm1_base=0xB000, time_base=BOCHS_TIME, fadt=FadtShape(revision=1, xsdt=False),
    first_tmr_sts=0xFFFFFF, handover=Handover(smi_cmd=0xB2, acpi_enable=0xF1, acpi_disable=0xF0),
    sources=BOCHS_SOURCES,
))
_add(BOCHS.replace(
    name="bochs-uefi",
    summary="Bochs 3.1 under UEFI: its own revision-5 FADT sets TMR_VAL_EXT on the 24-bit timer (a flag meant as "
            "RTC_S4), which a reader that trusts the flag takes for 32 bits",
    fadt=FadtShape(revision=5, length=276, tmr_val_ext=True),
    sources=recited(BOCHS_SOURCES, port=src.BOCHS_UEFI_FADT, pm1_base=src.BOCHS_UEFI_FADT, fadt=src.BOCHS_UEFI_FADT,
                    handover=src.BOCHS_UEFI_AS_LEGACY, first_tmr_sts=src.BOCHS_UEFI_AS_LEGACY),
))

CHIPSET_SOURCES = cited(
    port=src.CHIPSET_PORTS, width=src.SPEC, narrow_reads=src.CHIPSET_NARROW, writes=src.CHIPSET_NARROW,
    tmr_sts=src.SPEC, first_tmr_sts=src.SPEC, tmr_en=src.SPEC, sci=src.SPEC_SCI, handover=src.SPEC_SCI,
    pm1_base=src.CHIPSET_PORTS, pm1_access=src.CHIPSET_NARROW, time_base=src.SPEC, unlatched_reads=src.SPEC,
    restore=src.CHIPSET_RESTORE, fadt=src.SPEC_FADT, unclaimed_ports=src.CHIPSET_NARROW, rtc=src.PC_RTC,
    com1=src.PC_COM1,
)
CHIPSET = ACPI.replace(
    narrow_reads=NarrowRead.LOW_BYTES, writes=TimerWrite.IGNORE, pm1_access=BYTES_PM1, refusal="",
    sources=CHIPSET_SOURCES,
)
_add(CHIPSET.replace(
    name="piix4",
    summary="Intel PIIX4 before revision 3: 24 bits, and about 4.2% of reads are not latched",
    width=24, unlatched_reads=True,
    sources=recited(CHIPSET_SOURCES, width=src.LINUX_PIIX4, unlatched_reads=src.PIIX4_SHAPE),
))
_add(CHIPSET.replace(
    name="intel-pch", summary="an Intel PCH under coreboot: the timer at 0x1808, 24 bits",
    port=0x1808, width=24, pm1_base=0x1800,
    sources=recited(CHIPSET_SOURCES, port=src.INTEL_PCH, width=src.INTEL_PCH, pm1_base=src.INTEL_PCH,
                    fadt=src.INTEL_PCH),
))
_add(CHIPSET.replace(
    name="intel-pch-tim-dis",
    summary="an Intel PCH whose timer is disabled (ACPI_TIM_DIS): the FADT still names 0x1808, which reads all ones, "
            "and TMR_STS never comes",
    port=None, tmr_sts=TmrSts.NEVER, pm1_base=0x1800, fadt=FadtShape(named_timer_port=0x1808, tmr_val_ext=False),
    sources=recited(CHIPSET_SOURCES, port=src.INTEL_PCH_DISABLED_READS, width=src.INTEL_PCH_DISABLED_READS,
                    narrow_reads=src.INTEL_PCH_DISABLED_READS, writes=src.INTEL_PCH_DISABLED_READS,
                    tmr_sts=src.INTEL_PCH_NO_TMR_STS, first_tmr_sts=src.INTEL_PCH_NO_TMR_STS, pm1_base=src.INTEL_PCH,
                    fadt=src.INTEL_PCH_TIM_DIS, unclaimed_ports=src.INTEL_PCH_DISABLED_READS),
))
_add(CHIPSET.replace(
    name="amd-fch", summary="an AMD FCH under coreboot (Picasso and later): the timer at 0x408, 32 bits",
    sources=recited(CHIPSET_SOURCES, port=src.AMD_FCH, width=src.AMD_FCH, pm1_base=src.AMD_FCH, fadt=src.AMD_FCH),
))
_add(ACPI.replace(
    name="no-pm-timer",
    summary="no timer and no PM1 block, a hardware-reduced FADT that declares none: the shape Firecracker, QEMU "
            "microvm and ACRN's pre-launched VMs share (each a profile of its own)",
    **NO_TIMER_BOARD, fadt=FadtShape(hardware_reduced=True),
    sources=uncited(src.model("the common shape of the timerless platforms, without their differences"),
                    rtc=src.PC_RTC, com1=src.PC_COM1),
))

# Platforms whose source is closed: what is known, and from where; no profile claims them.
UNVERIFIABLE: Mapping[str, str] = MappingProxyType({
    "VMware (Workstation, ESXi)": "closed source; its 'Timekeeping in VMware Virtual Machines' guide describes a "
                                  "virtual ACPI PM timer, but no public source gives its port, width or narrow reads",
    "Parallels": "closed source; its guide names an 'Intel i965 chipset based motherboard', nothing about the timer",
    "Apple Virtualization framework": "closed source; on Apple silicon the guests are arm64, with no I/O ports and "
                                      "so no port-I/O PM timer; nothing public for Intel Macs",
})


# --- quirks: one property of one platform, on any other ------------------------------


class Quirk(Record):
    """One platform's flaw, added to another with ``--quirk``: the properties it changes, and its source."""

    __slots__ = ("name", "summary", "changes", "source")

    def __init__(self, name: str, summary: str, changes: Mapping[str, object], source: str) -> None:
        self.name = name
        self.summary = summary
        self.changes = changes
        self.source = source


QUIRKS: dict[str, Quirk] = {quirk.name: quirk for quirk in (
    Quirk("narrow-reads-refused", "a 1- or 2-byte read, or a write, stops the guest (bhyve)",
          {"narrow_reads": NarrowRead.REFUSE, "writes": TimerWrite.REFUSE, "refusal": ACPI.refusal},
          src.BHYVE_TIMER),
    Quirk("narrow-reads-low-bytes", "a narrow read returns the counter's low bytes at any of the four ports, aligned "
          "or not (a model: QEMU does so only for aligned reads)",
          {"narrow_reads": NarrowRead.LOW_BYTES}, src.CHIPSET_NARROW),
    Quirk("narrow-reads-lanes", "a narrow read returns the counter's bytes from its port's offset on (Hyper-V)",
          {"narrow_reads": NarrowRead.LANES}, src.HYPERV_TIMER),
    Quirk("narrow-reads-all-ones", "a narrow or unaligned read returns all ones (Xen, VirtualBox, Bochs)",
          {"narrow_reads": NarrowRead.ALL_ONES}, src.XEN_TIMER),
    Quirk("narrow-reads-zero", "a narrow read returns 0, a 4-byte read off the port the count (cloud-hypervisor)",
          {"narrow_reads": NarrowRead.ZERO}, src.CLOUD_HV_TIMER),
    Quirk("narrow-reads-stale", "a narrow read leaves the I/O buffer untouched: the last port access's data, any port",
          {"narrow_reads": NarrowRead.STALE},
          src.model("a VMM that leaves its I/O buffer uncleared; KVM zeroes it (torvalds/linux: "
                    "arch/x86/kvm/x86.c emulator_pio_in_out)")),
    Quirk("writes-ignored", "a write to the timer is dropped", {"writes": TimerWrite.IGNORE}, src.QEMU_TIMER),
    Quirk("tmr-sts-never", "TMR_STS is never set (bhyve, Hyper-V)", {"tmr_sts": TmrSts.NEVER}, src.BHYVE_TMR_STS),
    Quirk("tmr-sts-bit-23", "TMR_STS follows bit 23 whatever the width (QEMU, Bochs)",
          {"tmr_sts": TmrSts.BIT_23}, src.QEMU_TMR_STS),
    Quirk("tmr-sts-bit-31", "TMR_STS follows bit 31 (Xen, VirtualBox)", {"tmr_sts": TmrSts.BIT_31}, src.XEN_TMR_STS),
    Quirk("tmr-en-dropped", "PM1_EN drops TMR_EN: it reads back 0 and no timer SCI comes (bhyve, ACRN)",
          {"tmr_en": False}, src.BHYVE_TMR_EN),
    Quirk("sci-needs-sci-en", "SCI_EN is the guest's to clear, and no SCI comes while it is clear (VirtualBox)",
          {"sci": SciGate.SCI_EN}, src.VBOX_SCI),
    Quirk("sci-ignores-sci-en", "the SCI comes whatever SCI_EN says (Xen, QEMU, Bochs, Hyper-V)",
          {"sci": SciGate.IGNORES_SCI_EN}, src.XEN_SCI),
    Quirk("bhyve-rate", "the count runs 720 ppm fast, as bhyve's sbintime arithmetic makes it",
          {"time_base": BHYVE_TIME}, src.BHYVE_RATE),
    Quirk("xen-rate", "Xen's scaled rate, 0.05 ppm slow", {"time_base": XEN_TIME}, src.XEN_RATE),
    Quirk("100ns-time-base", "the count follows a clock in 100 ns units (Hyper-V)", {"time_base": HYPERV_TIME},
          src.HYPERV_RATE),
    Quirk("microsecond-steps", "the count moves in microsecond steps of 3-4 ticks (Bochs)",
          {"time_base": BOCHS_TIME}, src.BOCHS_TIMER),
    Quirk("unlatched-reads", "about 4.2% of reads are not latched and come back out of order (PIIX4)",
          {"unlatched_reads": True}, src.PIIX4_SHAPE),
    Quirk("restarts-after-restore", "after a snapshot is restored the count restarts near 0 (bhyve, cloud-hypervisor)",
          {"restore": Restore.RESTARTS}, src.BHYVE_SNAPSHOT),
    Quirk("fadt-revision-1", "a revision-1 FADT (ACPI 1.0, no X_ fields) (Bochs)",
          {"fadt": FadtShape(revision=1)}, src.BOCHS_BIOS),
    Quirk("hardware-reduced-fadt", "a hardware-reduced FADT with only X_PM_TMR_BLK and no PM1 block (cloud-hypervisor)",
          {"fadt": FadtShape(tmr_val_ext=None, pm_tmr_blk=False, hardware_reduced=True), "pm1_base": None},
          src.CLOUD_HV_FADT),
    Quirk("no-tmr-val-ext", "the FADT never sets TMR_VAL_EXT, whatever the timer's width",
          {"fadt": FadtShape(tmr_val_ext=False)}, src.XEN_FADT_FIX),
    Quirk("no-pm-timer", "no timer, and an FADT that declares none",
          {"port": None, "pm1_base": None, "fadt": FadtShape(hardware_reduced=True)}, src.MICROVM_FADT),
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
    chosen = profile(name).replace(**_quirk_changes(quirks))
    if not chosen.has_timer:
        board = f"{name} with {', '.join(quirks)}" if quirks else name
        _refuse_timer_changes(board, quirks, port=port, width=width, access=access)
        return chosen
    if access:
        chosen = chosen.replace(**access)
    if port is not None:
        chosen = chosen.replace(port=port)
    if width is not None:
        chosen = chosen.replace(width=width)
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
