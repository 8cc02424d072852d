"""The PC's CMOS real-time clock, a Motorola MC146818A, at ports 0x70/0x71 with its interrupt on IRQ 8.

Source: Motorola MC146818A datasheet ("Real-Time Clock plus RAM (RTC)"):
registers 0x00-0x09 hold the time (seconds, minutes, hours with their alarms,
day of week, date, month, year), 0x0A-0x0D the control registers A-D, and
0x0E-0x3F are RAM (the PC's chips extend the RAM to 0x7F: 114 bytes in all).
The PC/AT wiring: an OUT to 0x70 selects a register with bits 0-6 and masks
the NMI with bit 7; 0x71 reads or writes it; the chip's IRQ output reaches
IRQ 8 of the slave PIC, an edge-triggered input.  QEMU's hw/rtc/mc146818rtc.c
is the reference model.

What is modelled:
- the time of day from the virtual clock: EPOCH at time 0, plus the seconds
  the guest set.  Under the host clock, too, the time starts at EPOCH when
  the machine starts: the same guest reads the same date on every clock.  A
  restored snapshot reads on from the time of day it saved.
- register B: DM (binary or BCD), 24/12 (12-hour mode: bit 7 of the hours is
  PM), SET (the time holds still and takes the guest's writes; it runs on from
  them when SET is cleared), PIE and UIE;
- register A: the rate select RS (3 to 15: 65536 >> RS Hz, 8192 Hz down to
  2 Hz; 1 and 2: 256 and 128 Hz; 0: none) and UIP, set during the 244 us
  before each update (the datasheet's t_BUC);
- register C: PF at the periodic rate, UF at each update (once a second), and
  IRQF when one of them is set with its enable bit; reading C clears it.  The
  IRQ line is IRQF: it rises with IRQF and falls when C is read, so an edge
  input sees one request until the guest reads C (the datasheet's IRQ pin);
- register D: VRT, always set (the battery is good).

Time is computed when asked, as the PM timer's is: the flags record the
periodic and update events between the last look and now, and ``advance_to``
gives the board the time of the next one that would raise the line, so a HLT
wakes at the tick.  Not modelled: the alarm interrupt (AF, AIE: the alarm
registers are plain RAM), the divider bits of register A (the oscillator
always runs), square-wave output, daylight saving (DSE), and writes to the day
of the week (it follows from the date).  Years are 2000-2099 (the century byte
at 0x32 is RAM, set to 20 at reset).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmtimer_harness.devices.interrupt_line import InterruptLine
from pmtimer_harness.devices.ports import PortWindow

if TYPE_CHECKING:
    from datetime import datetime

RTC_INDEX_PORT = 0x70
RTC_DATA_PORT = 0x71
RTC_IRQ = 8
EPOCH = (2000, 1, 1)  # what the clock reads at time 0: a Saturday, 00:00:00
NS_PER_S = 1_000_000_000
CENTURY_S = 100 * 366 * 86_400  # the most a saved setting may lie from EPOCH
UIP_NS = 244_000  # UIP is set this long before each update (datasheet: t_BUC)

SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DATE, MONTH, YEAR = 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09
REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
CENTURY = 0x32  # RAM by the datasheet; the PC's BIOSes keep the century here
REGISTERS = 128
RAM_START = 0x0E

UIP = 0x80  # register A
RS = 0x0F
SET, PIE, AIE, UIE, DM, HOUR_24 = 0x80, 0x40, 0x20, 0x10, 0x04, 0x02  # register B
IRQF, PF, AF, UF = 0x80, 0x40, 0x20, 0x10  # register C
VRT = 0x80  # register D
PM = 0x80  # in the hours, 12-hour mode

RESET_A = 0x26  # divider 010 (32.768 kHz), RS 6: 1024 Hz, the PC BIOS's setting
RESET_B = HOUR_24  # BCD, 24-hour, no interrupts
ONE_BYTE = frozenset({1})
STATE_FIELDS = ("index", "nmi_masked", "cmos", "flags", "seen_ns", "offset_s", "held")


def bcd(value: int) -> int:
    """Two decimal digits in one byte: 59 -> 0x59."""
    return (value // 10) << 4 | value % 10


def from_bcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0x0F)


def periodic_hz(reg_a: int) -> int | None:
    """The periodic interrupt's rate for register A's RS bits (datasheet, Table 5, 32.768 kHz time base)."""
    rs = reg_a & RS
    if rs == 0:
        return None
    return 65536 >> rs if rs >= 3 else 256 >> (rs - 1)


def ticks_until(now_ns: int, hz: int) -> int:
    """Ticks of a ``hz`` clock from time 0 to ``now_ns``, that moment included."""
    return now_ns * hz // NS_PER_S


def tick_after(now_ns: int, hz: int) -> int:
    """The time of the first tick of a ``hz`` clock after ``now_ns``."""
    return -(-(ticks_until(now_ns, hz) + 1) * NS_PER_S // hz)


class CmosRtc:
    """The MC146818A of the PC: time of day, periodic and update interrupts, 114 bytes of CMOS RAM."""

    name = "cmos-rtc"
    state_version = 1
    irq = RTC_IRQ
    irq_trigger = "edge"
    # Added after snapshots existed: a snapshot without its chunk resumes with the clock at reset.
    reset_if_unsaved = True

    def __init__(self) -> None:
        self.windows = (
            PortWindow(RTC_INDEX_PORT, 1, read_widths=ONE_BYTE, write_widths=ONE_BYTE),
            PortWindow(RTC_DATA_PORT, 1, read_widths=ONE_BYTE, write_widths=ONE_BYTE),
        )
        self.line: InterruptLine | None = None
        self.index = 0
        self.nmi_masked = False
        self.cmos = bytearray(REGISTERS)  # alarms, A, B and the RAM; the time and C, D are computed
        self.cmos[REG_A], self.cmos[REG_B], self.cmos[CENTURY] = RESET_A, RESET_B, bcd(20)
        self.flags = 0  # PF, AF, UF as set since C was last read
        self.seen_ns = 0  # the flags account for every event up to this time
        self.offset_s = 0  # the guest's setting: seconds from EPOCH + now to the time it set
        self.held: datetime | None = None  # the time while SET holds it

    def connect_irq(self, line: InterruptLine) -> None:
        self.line = line

    def register_name(self, port: int) -> str:
        return "RTC_INDEX" if port == RTC_INDEX_PORT else "RTC_DATA"

    # --- ports --------------------------------------------------------------------

    def read(self, port: int, width: int, now_ns: int) -> int:
        if port == RTC_INDEX_PORT:
            return self.index | (0x80 if self.nmi_masked else 0)  # QEMU reads the index back; the AT chip is write-only
        self._catch_up(now_ns)
        if self.index == REG_A:
            return self.cmos[REG_A] | (UIP if self._updating(now_ns) else 0)
        if self.index == REG_C:
            return self._read_c()
        if self.index == REG_D:
            return VRT
        if self.index in TIME_FIELDS:
            return self._encode(self.index, self.clock(now_ns))
        return self.cmos[self.index]

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        if port == RTC_INDEX_PORT:
            self.index, self.nmi_masked = value & 0x7F, bool(value & 0x80)
            return
        self._catch_up(now_ns)
        if self.index == REG_A:
            self.cmos[REG_A] = value & ~UIP
        elif self.index == REG_B:
            self._write_b(value, now_ns)
        elif self.index in TIME_FIELDS:
            self._set_time(self.index, value, now_ns)
        elif self.index not in (REG_C, REG_D):  # C and D are read-only
            self.cmos[self.index] = value
        self._drive_line()

    def _write_b(self, value: int, now_ns: int) -> None:
        if value & SET and self.held is None:
            self.held = self.clock(now_ns)
        elif not value & SET and self.held is not None:
            self.offset_s = self._seconds(self.held) - now_ns // NS_PER_S
            self.held = None
        self.cmos[REG_B] = value

    def _read_c(self) -> int:
        value = self.flags | (IRQF if self._irqf() else 0)
        self.flags = 0
        self._drive_line()
        return value

    # --- time of day ----------------------------------------------------------------

    def clock(self, now_ns: int) -> datetime:
        """The time of day the registers show at ``now_ns``."""
        if self.held is not None:
            return self.held
        return after_epoch(self.offset_s + now_ns // NS_PER_S)

    @staticmethod
    def _seconds(moment: datetime) -> int:
        return int((moment - after_epoch(0)).total_seconds())

    def _encode(self, register: int, moment: datetime) -> int:
        value = TIME_FIELDS[register](moment)
        pm = 0
        if register == HOURS and not self.cmos[REG_B] & HOUR_24:
            value, pm = (value % 12 or 12), (PM if value >= 12 else 0)
        return (value if self.cmos[REG_B] & DM else bcd(value)) | pm

    def _set_time(self, register: int, value: int, now_ns: int) -> None:
        """The guest writes one field of the time; an impossible date is dropped, as the chip would garble it."""
        pm = value & PM if register == HOURS and not self.cmos[REG_B] & HOUR_24 else 0
        number = (value & ~pm) if self.cmos[REG_B] & DM else from_bcd(value & ~pm)
        if register == HOURS and not self.cmos[REG_B] & HOUR_24:
            number = number % 12 + (12 if pm else 0)
        moment = self.clock(now_ns)
        try:
            moment = moment.replace(**{TIME_NAMES[register]: number + (2000 if register == YEAR else 0)})
        except (KeyError, ValueError):  # the day of the week, or a field out of range
            return
        if self.held is not None:
            self.held = moment
        else:
            self.offset_s = self._seconds(moment) - now_ns // NS_PER_S

    def _updating(self, now_ns: int) -> bool:
        return self.held is None and 0 < -now_ns % NS_PER_S <= UIP_NS

    # --- interrupts ---------------------------------------------------------------

    def _catch_up(self, now_ns: int) -> None:
        """Set PF and UF for the ticks and updates between the last look and ``now_ns``."""
        if now_ns <= self.seen_ns:
            return
        hz = periodic_hz(self.cmos[REG_A])
        if hz is not None and ticks_until(now_ns, hz) > ticks_until(self.seen_ns, hz):
            self.flags |= PF
        if self.held is None and now_ns // NS_PER_S > self.seen_ns // NS_PER_S:
            self.flags |= UF
        self.seen_ns = now_ns

    def _irqf(self) -> bool:
        enabled = self.cmos[REG_B] & (PIE | UIE)
        return bool(self.flags & enabled)

    def _drive_line(self) -> None:
        if self.line is not None:
            self.line.set(self._irqf())

    def advance_to(self, now_ns: int) -> int | None:
        """Act on the events due by ``now_ns``; when the next one that would raise the line comes."""
        self._catch_up(now_ns)
        self._drive_line()
        if self._irqf():
            return None  # the line stays up until the guest reads C
        events = []
        hz = periodic_hz(self.cmos[REG_A])
        if self.cmos[REG_B] & PIE and hz is not None:
            events.append(tick_after(now_ns, hz))
        if self.cmos[REG_B] & UIE and self.held is None:
            events.append(tick_after(now_ns, 1))
        return min(events, default=None)

    # --- snapshots ----------------------------------------------------------------

    def state(self, now_ns: int) -> dict[str, object]:
        self._catch_up(now_ns)
        return {
            "index": self.index, "nmi_masked": self.nmi_masked, "cmos": self.cmos.hex(), "flags": self.flags,
            "seen_ns": self.seen_ns, "offset_s": self.offset_s,
            "held": None if self.held is None else self._seconds(self.held),
        }

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        cmos = bytes.fromhex(str(state["cmos"]))
        if len(cmos) != REGISTERS:
            raise ValueError(f"cmos holds {len(cmos)} bytes, expected {REGISTERS}")
        index, flags = int(state["index"]), int(state["flags"])  # type: ignore[call-overload]
        if not 0 <= index < REGISTERS or flags & ~(PF | AF | UF):
            raise ValueError(f"index {index} or flags {flags:#x} out of range")
        held, seen_ns = state["held"], int(state["seen_ns"])  # type: ignore[call-overload]
        # ``seen_ns`` is the time of saving: the clock reads on from the second it read then, also when the
        # restored run's time starts afresh (the host clock's does, at 0).
        offset_s = int(state["offset_s"]) + seen_ns // NS_PER_S - now_ns // NS_PER_S  # type: ignore[call-overload]
        if not all(-CENTURY_S <= seconds <= CENTURY_S for seconds in (offset_s, 0 if held is None else int(held))):
            raise ValueError("offset_s or held is more than a century from the epoch")
        self.index, self.nmi_masked, self.cmos, self.flags = index, bool(state["nmi_masked"]), bytearray(cmos), flags
        self.seen_ns = min(seen_ns, now_ns)
        self.offset_s = offset_s
        self.held = None if held is None else after_epoch(int(held))  # type: ignore[call-overload]


def after_epoch(seconds: int) -> datetime:
    """The time of day ``seconds`` after EPOCH."""
    from datetime import datetime, timedelta  # loaded once a guest reads or sets the clock, not at start-up

    return datetime(*EPOCH) + timedelta(seconds=seconds)


TIME_NAMES = {SECONDS: "second", MINUTES: "minute", HOURS: "hour", DATE: "day", MONTH: "month", YEAR: "year"}
TIME_FIELDS = {
    SECONDS: lambda t: t.second, MINUTES: lambda t: t.minute, HOURS: lambda t: t.hour,
    DAY_OF_WEEK: lambda t: t.isoweekday() % 7 + 1,  # 1 is Sunday
    DATE: lambda t: t.day, MONTH: lambda t: t.month, YEAR: lambda t: t.year % 100,
}
