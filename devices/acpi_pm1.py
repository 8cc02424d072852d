"""ACPI PM1 event and control registers, with the timer's overflow status.

Sources: ACPI specification 6.5, section 4.8.3.1 (PM1 event grouping: PM1_STS,
PM1_EN) and 4.8.3.2 (PM1_CNT); bit 0 of PM1_STS is TMR_STS, bit 0 of PM1_EN is
TMR_EN, bit 0 of PM1_CNT is SCI_EN.  Port layout as in bhyve
(usr.sbin/bhyve/amd64/pm.c): PM1_STS 0x400, PM1_EN 0x402, PM1_CNT 0x404.

TMR_STS "is set when the most significant bit of the timer toggles" (bit 23,
or bit 31 when TMR_VAL_EXT is set), and writing 1 clears it.  While TMR_EN and
TMR_STS are both set, the SCI is asserted.  bhyve never sets TMR_STS; QEMU sets
it only for 24 bits (hw/acpi/core.c); here it follows the configured width.

Like the counter, TMR_STS is computed when read: the number of MSB toggles
since time 0 is ``(start + ticks) >> (width - 1)``; the bit is set when more
have happened than had when the guest last cleared it.  ``next_toggle_ns``
tells the machine when the next one comes, so it can skip idle time.
"""

from __future__ import annotations

from collections.abc import Callable

from pmtimer_harness.devices.pm_timer import NS_PER_SECOND, PM_TMR_FREQUENCY_HZ, IoSemantics, PmTimer
from pmtimer_harness.devices.ports import PortWindow

PM1A_EVT_BLK = 0x400
PM1A_CNT_BLK = 0x404
TMR_STS = 1 << 0
TMR_EN = 1 << 0
SCI_EN = 1 << 0

BHYVE_PM1_REFUSAL = "bhyve's PM1 registers (usr.sbin/bhyve/amd64/pm.c) take 2-byte accesses only"


class Pm1Registers:
    name = "acpi-pm1"

    def __init__(
        self,
        timer: PmTimer,
        event_port: int = PM1A_EVT_BLK,
        control_port: int = PM1A_CNT_BLK,
        semantics: IoSemantics = IoSemantics.BHYVE,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.timer = timer
        self._on_change = on_change  # told when TMR_STS is cleared or TMR_EN changes
        self.status_port = event_port  # PM1_STS
        self.enable_port = event_port + 2  # PM1_EN
        self.control_port = control_port  # PM1_CNT
        self.semantics = IoSemantics(semantics)
        self.tmr_en = False
        # MSB toggles when the guest last cleared TMR_STS; at reset none is pending.
        self.toggles_seen = self.msb_toggles(0)
        widths = frozenset({2}) if self.semantics is IoSemantics.BHYVE else frozenset({1, 2})
        refusal = BHYVE_PM1_REFUSAL if self.semantics is IoSemantics.BHYVE else ""
        self.windows = tuple(
            PortWindow(port, 2, read_widths=widths, write_widths=widths, refusal=refusal)
            for port in (self.status_port, self.enable_port, self.control_port)
        )

    # --- the timer's overflow ----------------------------------------------

    def msb_toggles(self, now_ns: int) -> int:
        """How many times the timer's top bit has toggled between time 0 and ``now_ns``."""
        timer = self.timer
        ticks = now_ns * PM_TMR_FREQUENCY_HZ // NS_PER_SECOND
        return (timer.start + ticks) >> (timer.width - 1)

    def tmr_sts(self, now_ns: int) -> bool:
        return self.msb_toggles(now_ns) > self.toggles_seen

    def sci_asserted(self, now_ns: int) -> bool:
        return self.tmr_en and self.tmr_sts(now_ns)

    def next_toggle_ns(self, now_ns: int) -> int:
        """The first nanosecond after ``now_ns`` at which the top bit toggles again."""
        timer = self.timer
        next_tick = ((self.msb_toggles(now_ns) + 1) << (timer.width - 1)) - timer.start
        return -(-next_tick * NS_PER_SECOND // PM_TMR_FREQUENCY_HZ)

    # --- registers ----------------------------------------------------------

    def _register(self, port: int, now_ns: int) -> tuple[int, int]:
        """(value, port of its low byte) of the 16-bit register that holds ``port``."""
        if port < self.enable_port:
            return (TMR_STS if self.tmr_sts(now_ns) else 0), self.status_port
        if port < self.enable_port + 2:
            return (TMR_EN if self.tmr_en else 0), self.enable_port
        # SMI_CMD is 0 in the FADT: the platform is always in ACPI mode, SCI_EN set.
        return SCI_EN, self.control_port

    def register_name(self, port: int) -> str:
        if port < self.enable_port:
            return "PM1_STS"
        return "PM1_EN" if port < self.enable_port + 2 else "PM1_CNT"

    def read(self, port: int, width: int, now_ns: int) -> int:
        value, low_port = self._register(port, now_ns)
        return (value >> (8 * (port - low_port))) & ((1 << (8 * width)) - 1)

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        _, low_port = self._register(port, now_ns)
        value <<= 8 * (port - low_port)
        if low_port == self.status_port and value & TMR_STS:
            self.toggles_seen = self.msb_toggles(now_ns)  # write 1 to clear
        elif low_port == self.enable_port and port == low_port:
            self.tmr_en = bool(value & TMR_EN)
        if self._on_change is not None:
            self._on_change()

    def state(self) -> dict[str, object]:
        return {"tmr_en": self.tmr_en, "toggles_seen": self.toggles_seen, "semantics": self.semantics.value}
