"""Broken PM timers, each with one deliberate fault, for the fault-injection tests."""

from pmtimer_harness.devices.acpi_pm1 import Pm1Registers
from pmtimer_harness.devices.pm_timer import NS_PER_SECOND, PM_TMR_FREQUENCY_HZ, PmTimer


class SteppingBackTimer(PmTimer):
    """Every 1000th read returns a value 5 ticks behind the true count."""

    reads = 0

    def read(self, port, width, now_ns):
        self.reads += 1
        value = super().read(port, width, now_ns)
        return (value - 5) & self.mask if self.reads % 1000 == 0 else value


class WrapsAtBit23Timer(PmTimer):
    """Masks one bit too few: a 24-bit timer that wraps at 2^23."""

    def read(self, port, width, now_ns):
        return super().read(port, width, now_ns) & (self.mask >> 1)


class WrapsAtBit25Timer(PmTimer):
    """Masks one bit too many: a 24-bit timer that wraps at 2^25."""

    def read(self, port, width, now_ns):
        ticks = now_ns * PM_TMR_FREQUENCY_HZ // NS_PER_SECOND
        return (self.start + ticks) & ((self.mask << 1) | 1)


class AlwaysWraps24Timer(PmTimer):
    """Claims 32 bits but wraps at 2^24."""

    def read(self, port, width, now_ns):
        return super().read(port, width, now_ns) & 0xFFFFFF


class BhyveRateTimer(PmTimer):
    """Runs 720 ppm fast, as bhyve's sbintime rounding makes it (about 3,582,124 Hz)."""

    def read(self, port, width, now_ns):
        return (self.start + now_ns * 3_582_124 // NS_PER_SECOND) & self.mask


class StuckTimer(PmTimer):
    """Never advances: every read returns the start value."""

    def read(self, port, width, now_ns):
        return super().read(port, width, 0)


class ByteLaneTimer(PmTimer):
    """A narrow read returns the byte lane its port addresses, not the low-order bytes."""

    def read(self, port, width, now_ns):
        value = super().read(port, 4, now_ns) >> (8 * (port - self.port))
        return value & ((1 << (8 * width)) - 1)


class AnyWidthTimer(PmTimer):
    """bhyve semantics that wrongly accept narrow reads and writes."""

    def _window(self):
        window = super()._window()
        return type(window)(window.base, window.length)


class ResetOnWriteTimer(PmTimer):
    """A write resets the count to zero."""

    offset_ns = 0

    def read(self, port, width, now_ns):
        value = (now_ns - self.offset_ns) * PM_TMR_FREQUENCY_HZ // NS_PER_SECOND
        return value & self.mask & ((1 << (8 * width)) - 1)

    def write(self, port, width, value, now_ns):
        self.offset_ns = now_ns


class TmrStsNeverSets(Pm1Registers):
    """bhyve's PM1: the timer's top bit toggles, TMR_STS never says so."""

    def msb_toggles(self, now_ns):
        return 0


class TmrStsAtBit22(Pm1Registers):
    """TMR_STS follows the wrong bit: one below the top of a 24-bit timer."""

    def msb_toggles(self, now_ns):
        ticks = now_ns * PM_TMR_FREQUENCY_HZ // NS_PER_SECOND
        return (self.timer.start + ticks) >> (self.timer.width - 2)

    def next_toggle_ns(self, now_ns):
        next_tick = ((self.msb_toggles(now_ns) + 1) << (self.timer.width - 2)) - self.timer.start
        return -(-next_tick * NS_PER_SECOND // PM_TMR_FREQUENCY_HZ)
