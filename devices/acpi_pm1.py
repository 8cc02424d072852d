"""ACPI PM1 event and control registers, with the timer's overflow status.

Sources: ACPI specification 6.5, section 4.8.3.1 (PM1 event grouping: PM1_STS,
PM1_EN) and 4.8.3.2 (PM1_CNT); bit 0 of PM1_STS is TMR_STS, bit 0 of PM1_EN is
TMR_EN, bit 0 of PM1_CNT is SCI_EN.  Port layout as in bhyve
(usr.sbin/bhyve/amd64/pm.c): PM1_STS 0x400, PM1_EN 0x402, PM1_CNT 0x404.

TMR_STS "is set when the most significant bit of the timer toggles" (bit 23,
or bit 31 when TMR_VAL_EXT is set), and writing 1 clears it.  While TMR_EN and
TMR_STS are both set, the SCI is asserted.  Platforms differ (``Pm1Rules``,
chosen by ``harness/platform/profiles.py`` with their sources): bhyve and
Hyper-V never set TMR_STS, QEMU and Bochs watch bit 23, Xen and VirtualBox bit
31; VirtualBox raises the SCI only while SCI_EN is set, Xen, QEMU and Bochs do
not look.

Legacy mode (ACPI 6.5, 4.8.2.5 "Legacy/ACPI Select"): a platform whose FADT
names an SMI_CMD port hands over with SCI_EN clear, and the OS switches to ACPI
mode by writing the FADT's ACPI_ENABLE there; the chipset then sets SCI_EN
(ACPI_DISABLE clears it).  QEMU (hw/acpi/core.c ``acpi_pm1_cnt_update``,
reached from the APM port 0xB2) and Bochs (iodev/acpi.cc ``generate_smi``) do
it in the chipset model, not in SMM code, and the port reads back the last
byte written (QEMU hw/isa/apm.c, Bochs iodev/pci2isa.cc: the APMC register).

Like the counter, TMR_STS is computed when read: the number of toggles of the
watched bit since time 0 is ``(start + ticks) >> bit``; the status is set when
more have happened than had when the guest last cleared it.  Until the guest
first clears it, some platforms set it at another count (``first_tmr_sts``):
QEMU at once (``acpi_pm_tmr_reset`` leaves ``overflow_time`` 0), Bochs at
0xFFFFFF (``reset`` sets ``tmr_overflow_time = 0xffffff``).  ``next_toggle_ns``
tells the board when the next one comes, so it can skip idle time.

Saved state (``state``): TMR_EN, TMR_STS, SCI_EN, the ticks left until a first
TMR_STS still to come, and the SMI_CMD byte last written.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import ClassVar

from pmtimer_harness.devices.pm_timer import IoSemantics, PmTimer
from pmtimer_harness.devices.ports import ACCESS_WIDTHS, PortWindow, is_whole
from pmtimer_harness.record import Record

PM1A_EVT_BLK = 0x400
PM1A_CNT_BLK = 0x404
TMR_STS = 1 << 0
TMR_EN = 1 << 0
SCI_EN = 1 << 0

BHYVE_PM1_REFUSAL = "bhyve's PM1 registers (usr.sbin/bhyve/amd64/pm.c) take 2-byte accesses only"


class TmrSts(str, Enum):
    """Which timer bit's toggles set TMR_STS."""

    TOP_BIT = "top-bit"  # bit 23, or 31 for a 32-bit timer: the specification
    BIT_23 = "bit-23"
    BIT_31 = "bit-31"
    NEVER = "never"


class SciGate(str, Enum):
    """What the SCI needs besides TMR_EN and TMR_STS."""

    ALWAYS_ACPI = "always-acpi"  # SCI_EN reads 1 and cannot be cleared (SMI_CMD 0: always in ACPI mode)
    SCI_EN = "sci-en"  # SCI_EN is the guest's to set and clear; no SCI while it is clear
    IGNORES_SCI_EN = "ignores-sci-en"  # SCI_EN is kept, but the SCI does not look at it
    SMI_CMD_ONLY = "smi-cmd-only"  # only SMI_CMD changes SCI_EN (PM1_CNT writes keep it); the SCI ignores it (bhyve)
    SMI_CMD_GATES = "smi-cmd-gates"  # only SMI_CMD changes SCI_EN, and no SCI comes while it is clear (ACRN)


class Handover(Record):
    """How the firmware leaves the platform: in ACPI mode (``smi_cmd`` 0), or in legacy mode until the OS asks."""

    __slots__ = ("smi_cmd", "acpi_enable", "acpi_disable", "sci_en_clear", "enable_sets_tmr_en")

    def __init__(
        self,
        smi_cmd: int = 0,  # the SMI_CMD port; 0: none, SCI_EN is set at hand-over
        acpi_enable: int = 0,  # the byte written there that sets SCI_EN
        acpi_disable: int = 0,  # and the one that clears it
        sci_en_clear: bool = False,  # no SMI_CMD, yet SCI_EN starts clear, the OS's to set (crosvm)
        enable_sets_tmr_en: bool = False,  # ACPI_ENABLE sets TMR_EN too (Hyper-V Gen1's pcat_facp_acpi_enable)
    ) -> None:
        self.smi_cmd = smi_cmd
        self.acpi_enable = acpi_enable
        self.acpi_disable = acpi_disable
        self.sci_en_clear = sci_en_clear
        self.enable_sets_tmr_en = enable_sets_tmr_en

    @property
    def legacy(self) -> bool:
        return self.smi_cmd != 0

    @property
    def sci_en(self) -> bool:
        """SCI_EN as the firmware leaves it."""
        return not (self.legacy or self.sci_en_clear)


ACPI_MODE = Handover()


def _smi_command_added(payload: bytes) -> bytes:
    """State version 2 adds the first TMR_STS still to come and the SMI_CMD byte; version 1 restores as it did."""
    return payload


TWO_BYTES = frozenset({2})


class Pm1Access(Record):
    """Which accesses the PM1 registers take, and what one of another width does.

    ``spans_block``: an access runs over the block byte by byte, so a 4-byte
    read of PM1_STS carries PM1_EN in its upper half (Xen's ``handle_evt_io``;
    QEMU's memory core splits it into the 2-byte accesses its ops take).
    Otherwise it goes to the register that holds its first byte, and bytes past
    that register read 0 and are not written (OpenVMM's ``io_read``,
    VirtualBox's ``u32 &= 0xffff``).
    """

    __slots__ = ("read_widths", "write_widths", "refusal", "floats", "spans_block", "ports_per_register")

    def __init__(
        self,
        read_widths: frozenset[int] = TWO_BYTES,
        write_widths: frozenset[int] = TWO_BYTES,
        refusal: str = BHYVE_PM1_REFUSAL,  # why another width stops the guest; "" with floats
        floats: bool = False,  # another width reads as the platform's empty slot, writes nothing, and the guest goes on
        spans_block: bool = True,
        # 1: each register claims only its first port (bhyve, VirtualBox); the next is empty
        ports_per_register: int = 2,
    ) -> None:
        self.read_widths = read_widths
        self.write_widths = write_widths
        self.refusal = refusal
        self.floats = floats
        self.spans_block = spans_block
        self.ports_per_register = ports_per_register

    def describe(self) -> str:
        widths = "/".join(str(width) for width in sorted(self.read_widths))
        text = f"{widths}-byte reads"
        if self.write_widths != self.read_widths:
            text += ", " + "/".join(str(width) for width in sorted(self.write_widths)) + "-byte writes"
        every_width = frozenset(ACCESS_WIDTHS)
        if self.read_widths != every_width or self.write_widths != every_width:
            text += "; others read as the empty slot" if self.floats else "; others stop the guest"
        if self.ports_per_register == 1:
            text += "; each register claims one port"
        return text + ("" if self.spans_block else "; an access stays in its register")


BHYVE_PM1 = Pm1Access(ports_per_register=1)
BYTES_PM1 = Pm1Access(frozenset({1, 2}), frozenset({1, 2}), refusal="")


class Pm1Rules(Record):
    __slots__ = ("tmr_sts", "sci", "access", "first_tmr_sts", "handover", "tmr_en_kept")

    def __init__(
        self,
        tmr_sts: TmrSts = TmrSts.TOP_BIT,
        sci: SciGate = SciGate.ALWAYS_ACPI,
        access: Pm1Access = BHYVE_PM1,
        first_tmr_sts: int | None = None,  # the count that first sets TMR_STS; None: the watched bit's next toggle
        handover: Handover = ACPI_MODE,
        tmr_en_kept: bool = True,  # False: PM1_EN drops TMR_EN (bhyve keeps only its RTC, power button and GBL bits)
    ) -> None:
        self.tmr_sts = tmr_sts
        self.sci = sci
        self.access = access
        self.first_tmr_sts = first_tmr_sts
        self.handover = handover
        self.tmr_en_kept = tmr_en_kept

    @staticmethod
    def of(semantics: IoSemantics) -> Pm1Rules:
        if IoSemantics(semantics) is IoSemantics.BHYVE:
            return Pm1Rules()
        return Pm1Rules(access=BYTES_PM1)


class Pm1Registers:
    name = "acpi-pm1"
    state_version = 2
    state_upgrades: ClassVar[dict[int, Callable[[bytes], bytes]]] = {1: _smi_command_added}

    def __init__(
        self,
        timer: PmTimer | None,
        event_port: int = PM1A_EVT_BLK,
        control_port: int = PM1A_CNT_BLK,
        semantics: IoSemantics = IoSemantics.BHYVE,
        on_change: Callable[[], None] | None = None,
        *,
        rules: Pm1Rules | None = None,
    ) -> None:
        self.timer = timer  # None: a block without a timer (crosvm, ACRN's device model): TMR_STS is never set
        self._on_change = on_change  # told when TMR_STS is cleared or TMR_EN changes
        self.status_port = event_port  # PM1_STS
        self.enable_port = event_port + 2  # PM1_EN
        self.control_port = control_port  # PM1_CNT
        self.semantics = IoSemantics(semantics)
        self.rules = rules or Pm1Rules.of(self.semantics)
        self.tmr_en = False
        handover = self.rules.handover
        self.sci_en = handover.sci_en
        self.smi_command = 0  # the byte last written to SMI_CMD
        self.status_bit = self._status_bit()
        # Toggles when the guest last cleared TMR_STS; at reset none is pending.
        self.toggles_seen = self.msb_toggles(0)
        # Until the guest first clears TMR_STS, the count that sets it, where the platform has its own.
        self.first_tmr_sts = self.rules.first_tmr_sts if self.status_bit is not None else None
        access = self.rules.access
        self.windows = tuple(
            PortWindow(port, access.ports_per_register, read_widths=access.read_widths,
                       write_widths=access.write_widths, refusal=access.refusal, refuse_other_widths=not access.floats)
            for port in (self.status_port, self.enable_port, self.control_port)
        )
        if handover.legacy:
            self.windows += (PortWindow(handover.smi_cmd, 1),)

    def _status_bit(self) -> int | None:
        if self.timer is None:
            return None
        watched = {TmrSts.TOP_BIT: self.timer.width - 1, TmrSts.BIT_23: 23, TmrSts.BIT_31: 31}.get(self.rules.tmr_sts)
        return watched if watched is not None and watched < self.timer.width else None

    # --- the timer's overflow ----------------------------------------------

    def msb_toggles(self, now_ns: int) -> int:
        """How many times the watched bit has toggled between time 0 and ``now_ns`` (0: never watched)."""
        if self.status_bit is None:
            return 0
        return self.count(now_ns) >> self.status_bit

    def count(self, now_ns: int) -> int:
        """The count since time 0, not wrapped: what ``first_tmr_sts`` is compared with."""
        if self.timer is None:
            return 0
        return self.timer.start + self.timer.ticks(now_ns)

    def tmr_sts(self, now_ns: int) -> bool:
        if self.first_tmr_sts is not None:
            return self.count(now_ns) >= self.first_tmr_sts
        return self.msb_toggles(now_ns) > self.toggles_seen

    def sci_asserted(self, now_ns: int) -> bool:
        if self.rules.sci in (SciGate.SCI_EN, SciGate.SMI_CMD_GATES) and not self.sci_en:
            return False
        return self.tmr_en and self.tmr_sts(now_ns)

    def next_toggle_ns(self, now_ns: int) -> int | None:
        """The first nanosecond after ``now_ns`` at which the watched bit toggles again; None: never."""
        if self.status_bit is None:
            return None
        timer = self.timer
        if self.first_tmr_sts is not None and self.count(now_ns) < self.first_tmr_sts:
            return timer.time_base.first_ns_at(self.first_tmr_sts - timer.start)
        next_tick = ((self.msb_toggles(now_ns) + 1) << self.status_bit) - timer.start
        return timer.time_base.first_ns_at(next_tick)

    # --- registers ----------------------------------------------------------

    def _register(self, port: int, now_ns: int) -> tuple[int, int]:
        """(value, port of its low byte) of the register that holds ``port``."""
        if port == self.rules.handover.smi_cmd:
            return self.smi_command, port
        if port < self.enable_port:
            return (TMR_STS if self.tmr_sts(now_ns) else 0), self.status_port
        if port < self.enable_port + 2:
            return (TMR_EN if self.tmr_en else 0), self.enable_port
        return (SCI_EN if self.sci_en else 0), self.control_port

    def register_name(self, port: int) -> str:
        if port == self.rules.handover.smi_cmd:
            return "SMI_CMD"
        if port < self.enable_port:
            return "PM1_STS"
        return "PM1_EN" if port < self.enable_port + 2 else "PM1_CNT"

    def read(self, port: int, width: int, now_ns: int) -> int:
        """Byte by byte, as the block is laid out (or only within the first byte's register: ``Pm1Access``)."""
        value = 0
        for lane in range(width):
            if self._reaches(port, port + lane):
                value |= self._byte(port + lane, now_ns) << (8 * lane)
        return value

    def _reaches(self, first: int, port: int) -> bool:
        """Whether an access that starts at ``first`` reaches ``port``'s byte (bytes it does not reach read 0)."""
        if self.rules.access.spans_block:
            return True
        return self._holds(port) and self._register_base(first) == self._register_base(port)

    def _register_base(self, port: int) -> int:
        if port == self.rules.handover.smi_cmd:
            return port
        return self.status_port + (port - self.status_port) // 2 * 2

    def _byte(self, port: int, now_ns: int) -> int:
        if not self._holds(port):
            return 0xFF  # past the register block, where an access that spans it ends: a floating bus
        value, low_port = self._register(port, now_ns)
        return (value >> (8 * (port - low_port))) & 0xFF

    def _holds(self, port: int) -> bool:
        return self.status_port <= port < self.control_port + 2 or port == self.rules.handover.smi_cmd

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        """Byte by byte too: each byte goes to the register that holds it."""
        for lane in range(width):
            if self._holds(port + lane) and self._reaches(port, port + lane):
                self._write_byte(port + lane, (value >> (8 * lane)) & 0xFF, now_ns)
        if self._on_change is not None:
            self._on_change()

    def _write_byte(self, port: int, byte: int, now_ns: int) -> None:
        _, low_port = self._register(port, now_ns)
        if port != low_port:
            return  # the high byte of each register: no bit there is modelled
        if low_port == self.rules.handover.smi_cmd:
            self._smi_command(byte)
        elif low_port == self.status_port and byte & TMR_STS:
            if self.tmr_sts(now_ns):
                self.first_tmr_sts = None  # from now on, each toggle of the watched bit
            self.toggles_seen = self.msb_toggles(now_ns)  # write 1 to clear
        elif low_port == self.enable_port:
            self.tmr_en = bool(byte & TMR_EN) and self.rules.tmr_en_kept
        elif low_port == self.control_port and self.rules.sci in (SciGate.SCI_EN, SciGate.IGNORES_SCI_EN):
            self.sci_en = bool(byte & SCI_EN)

    def _smi_command(self, command: int) -> None:
        """SMI_CMD: ACPI_ENABLE sets SCI_EN, ACPI_DISABLE clears it (ACPI 6.5, 4.8.2.5); other bytes do nothing here."""
        handover = self.rules.handover
        self.smi_command = command
        if command == handover.acpi_enable:
            self.sci_en = True
            if handover.enable_sets_tmr_en:
                self.tmr_en = self.rules.tmr_en_kept
        elif command == handover.acpi_disable:
            self.sci_en = False

    # --- saved state ----------------------------------------------------------

    def state(self, now_ns: int) -> dict[str, object]:
        state: dict[str, object] = {"tmr_en": self.tmr_en, "tmr_sts": self.tmr_sts(now_ns), "sci_en": self.sci_en}
        if self.first_tmr_sts is not None and not state["tmr_sts"]:
            state["first_tmr_sts_in"] = self.first_tmr_sts - self.count(now_ns)
        if self.rules.handover.legacy:
            state["smi_cmd"] = self.smi_command
        return state

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        """Take the saved bits back at ``now_ns``; the timer is restored first.

        Version 1 saved neither a first TMR_STS still to come (the next toggle
        sets it) nor the SMI_CMD byte (0).
        """
        for name in ("tmr_en", "tmr_sts"):
            if not isinstance(state.get(name), bool):
                raise ValueError(f"field {name!r} is missing or not true/false")
        first_in, command = state.get("first_tmr_sts_in"), state.get("smi_cmd", 0)
        if first_in is not None and not (is_whole(first_in) and 0 < first_in <= 1 << 32):
            raise ValueError(f"first_tmr_sts_in {first_in!r} is not a number of ticks to come")
        if not (is_whole(command) and 0 <= command <= 0xFF):
            raise ValueError(f"smi_cmd {command!r} is not a byte")
        # A platform that drops TMR_EN, or has no timer to set TMR_STS, keeps neither from another's snapshot.
        self.tmr_en = bool(state["tmr_en"]) and self.rules.tmr_en_kept
        self.sci_en = bool(state.get("sci_en", True))
        pending = bool(state["tmr_sts"]) and self.status_bit is not None
        self.toggles_seen = self.msb_toggles(now_ns) - int(pending)
        watched = first_in is not None and self.status_bit is not None
        self.first_tmr_sts = self.count(now_ns) + first_in if watched else None
        self.smi_command = command
