"""ACPI power-management timer (PM_TMR), as FreeBSD's bhyve models it.

Sources:
- ACPI specification, section 4.8.3.3 "Power Management Timer": a free-running
  counter at 3.579545 MHz, 24 bits wide, or 32 bits when the FADT flag
  TMR_VAL_EXT is set; read-only, "accessed as 32 bits".
- freebsd/freebsd-src: sys/amd64/vmm/io/vpmtmr.c: port 0x408 (``IO_PMTMR``),
  full 32-bit value, and only a 4-byte IN is handled; any other access fails the
  vCPU run and bhyve exits.
- qemu/qemu: hw/acpi/core.c (``acpi_pm_tmr_ops``): 1-, 2- and 4-byte reads
  return the low-order bytes of the counter; writes are ignored.

The count is a pure function of the time the harness passes with each access
(``now_ns``); nothing polls and the device keeps no clock of its own.
Unlike bhyve, whose sbintime rounding runs the counter about 720 ppm fast, the
rate here is exact: integer nanoseconds times 3,579,545, divided by 10^9.
"""

from __future__ import annotations

from enum import Enum

from pmtimer_harness.devices.ports import PortWindow

PM_TMR_FREQUENCY_HZ = 3_579_545
NS_PER_SECOND = 1_000_000_000
BHYVE_PM_TMR_PORT = 0x408  # IO_PMTMR in bhyve's vpmtmr.h
TIMER_WIDTHS = (24, 32)


class IoSemantics(str, Enum):
    """Which hypervisor's access rules the timer port follows."""

    BHYVE = "bhyve"
    QEMU = "qemu"


BHYVE_REFUSAL = (
    "bhyve's vpmtmr_handler accepts only a 4-byte IN at the timer port "
    "(`if (!in || bytes != 4) return (-1);`): bhyve would fail the vCPU run and exit"
)


class PmTimer:
    """PM_TMR: ``(start + ticks elapsed at now_ns) mod 2**width``, computed when read."""

    name = "pm-timer"
    # Slots: read() runs on every guest timer read, and slot attributes are the quickest to reach.
    __slots__ = ("mask", "port", "semantics", "start", "width", "windows")

    def __init__(
        self,
        port: int = BHYVE_PM_TMR_PORT,
        width: int = 32,
        start: int = 0,
        semantics: IoSemantics = IoSemantics.BHYVE,
    ) -> None:
        if width not in TIMER_WIDTHS:
            raise ValueError(f"timer width must be 24 or 32 bits, not {width}")
        if not 0 <= start < 1 << width:
            raise ValueError(f"timer start {start:#x} does not fit in {width} bits")
        self.port = port
        self.width = width
        self.start = start
        self.semantics = IoSemantics(semantics)
        self.mask = (1 << width) - 1
        self.windows = (self._window(),)

    def _window(self) -> PortWindow:
        if self.semantics is IoSemantics.BHYVE:
            # Only the timer port itself: 0x409-0x40B have no handler in bhyve.
            return PortWindow(
                self.port, 1, read_widths=frozenset({4}), write_widths=frozenset(), refusal=BHYVE_REFUSAL
            )
        return PortWindow(self.port, 4, read_widths=frozenset({1, 2, 4}), write_widths=frozenset({1, 2, 4}))

    def register_name(self, port: int) -> str:
        return "PM_TMR"

    def counter(self, now_ns: int) -> int:
        """TMR_VAL at ``now_ns``: the value a 4-byte read returns."""
        return self.read(self.port, 4, now_ns)

    def read(self, port: int, width: int, now_ns: int) -> int:
        # Whole ticks elapsed, exactly: integer nanoseconds x 3,579,545 / 10^9.
        value = (self.start + now_ns * PM_TMR_FREQUENCY_HZ // NS_PER_SECOND) & self.mask
        # QEMU implements the register as one 32-bit access and keeps the
        # low-order bytes of a narrower read, whichever of its four ports it hits.
        return value if width == 4 else value & ((1 << (8 * width)) - 1)

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        """The register is read-only; under qemu semantics a write is ignored."""

    def state(self) -> dict[str, object]:
        return {"port": self.port, "width": self.width, "start": self.start, "semantics": self.semantics.value}
