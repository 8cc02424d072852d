"""Broken PM timers and edu devices, each with one deliberate fault, for the fault-injection tests."""

from pmtimer_harness.devices.acpi_pm1 import Pm1Registers
from pmtimer_harness.devices.edu import ID, LIVENESS, Edu
from pmtimer_harness.devices.pm_timer import NS_PER_SECOND, PM_TMR_FREQUENCY_HZ, PmTimer


class SteppingBackTimer(PmTimer):
    """Every 1000th read returns a value 5 ticks behind the true count."""

    reads = 0

    def read(self, port, width, now_ns):
        self.reads += 1
        value = super().read(port, width, now_ns)
        return (value - 5) & self.mask if self.reads % 1000 == 0 else value


class JumpsBackOnceTimer(PmTimer):
    """From the 2500th read on, the count is 10,000 ticks behind: one step back, then in order again."""

    reads = 0

    def read(self, port, width, now_ns):
        self.reads += 1
        value = super().read(port, width, now_ns)
        return (value - 10_000) & self.mask if self.reads >= 2500 else value


class JumpsAheadOnceTimer(PmTimer):
    """From the 10,500th read on, the count is 5,000 ticks ahead: a delay in progress ends too late in ticks."""

    reads = 0

    def read(self, port, width, now_ns):
        self.reads += 1
        value = super().read(port, width, now_ns)
        return (value + 5_000) & self.mask if self.reads >= 10_500 else value


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


# --- What a busy host looks like to a guest, and the timers it must not excuse ---
# A host that stops a guest for a while stops none of its clocks: the PM timer
# and the TSC both run on, and the guest sees both jump.  ``PausingTimer``
# makes that happen under the virtual clock, at a chosen moment, by adding
# idle time to the machine, from which every clock the guest has is derived.
# The timers below it jump on their own, with no time passing: what a guest
# built for a real clock must still catch.

PAUSE_TICKS = 20_000  # about 5.6 ms, as a host's preemption
PAUSE_NS = PAUSE_TICKS * NS_PER_SECOND // PM_TMR_FREQUENCY_HZ


def _ticks(timer, now_ns):
    return timer.start + now_ns * PM_TMR_FREQUENCY_HZ // NS_PER_SECOND


def _pause(machine):
    machine.time.counts.idle_ns += PAUSE_NS


class PausingTimer(PmTimer):
    """A sound timer, through which the host stops the whole guest once, when the count first reaches ``pause_from``.

    The test sets ``machine`` (whose clocks the pause moves) and ``pause_from``
    on the instance.  ``inside_the_read``: the pause falls inside the read that
    reaches it, after the guest's RDTSC before it; otherwise at the next block
    boundary, after the read and its RDTSC, before the next read.
    """

    machine = None
    pause_from = 1 << 24
    inside_the_read = False
    paused = False

    def read(self, port, width, now_ns):
        if not self.paused and _ticks(self, now_ns) >= self.pause_from:
            self.paused = True
            if self.inside_the_read:
                _pause(self.machine)
                now_ns += PAUSE_NS
            else:
                self.machine.on_snapshot = _pause
                self.machine.save_at(self.machine.time.counts.retired + 1)
        return super().read(port, width, now_ns)


class JumpsOnceAtTheWrapTimer(PmTimer):
    """Skips PAUSE_TICKS at the first wrap, with no time passing: the count is ahead from then on."""

    def read(self, port, width, now_ns):
        count = _ticks(self, now_ns)
        jumped = PAUSE_TICKS if count >> self.width else 0
        return (count + jumped) & self.mask


class JumpsAtEveryWrapTimer(PmTimer):
    """Every wrap skips PAUSE_TICKS, with no time passing."""

    def read(self, port, width, now_ns):
        # The k-th jump comes when the count, k - 1 jumps ahead, reaches k x 2^width.
        count = _ticks(self, now_ns)
        jumps = max(0, (count - PAUSE_TICKS) // ((1 << self.width) - PAUSE_TICKS))
        return (count + PAUSE_TICKS * jumps) & self.mask


class PausedOnceAfterTheWrapTimer(PmTimer):
    """The guest was stopped 2,000 ticks after the first wrap (during seabios_pmtmr.asm's first deadline)."""

    def read(self, port, width, now_ns):
        count = _ticks(self, now_ns)
        jumped = PAUSE_TICKS if count >= (1 << 24) + 2_000 else 0
        return (count + jumped) & self.mask


class CoarseTimer(PmTimer):
    """Moves in steps of 1024 ticks: a deadline always passes late."""

    def read(self, port, width, now_ns):
        return super().read(port, 4, now_ns) & ~1023 & ((1 << (8 * width)) - 1)


class SteppingBackOftenTimer(PmTimer):
    """Every fifth read is 0x10000 ticks behind: a step back, not a late wrap."""

    reads = 0

    def read(self, port, width, now_ns):
        self.reads += 1
        value = super().read(port, width, now_ns)
        return (value - 0x10000) & self.mask if self.reads % 5 == 0 else value


LATE_TICKS = 50_000  # about 14 ms


class _LateTmrSts(Pm1Registers):
    """TMR_STS comes LATE_TICKS after the toggle for the toggles ``late`` picks."""

    def late(self, toggle):
        raise NotImplementedError

    def _toggle_tick(self, toggle):
        return (toggle << (self.timer.width - 1)) - self.timer.start

    def msb_toggles(self, now_ns):
        ticks = now_ns * PM_TMR_FREQUENCY_HZ // NS_PER_SECOND
        toggles = super().msb_toggles(now_ns)
        while toggles > 0 and self.late(toggles) and ticks < self._toggle_tick(toggles) + LATE_TICKS:
            toggles -= 1
        return toggles

    def next_toggle_ns(self, now_ns):
        toggle = self.msb_toggles(now_ns) + 1
        tick = self._toggle_tick(toggle) + (LATE_TICKS if self.late(toggle) else 0)
        return -(-tick * NS_PER_SECOND // PM_TMR_FREQUENCY_HZ)


class TmrStsLateOnce(_LateTmrSts):
    """TMR_STS comes late at the first toggle only; the rest on time."""

    def late(self, toggle):
        return toggle == 1


class TmrStsAlwaysLate(_LateTmrSts):
    """Every overflow interrupt comes LATE_TICKS after its toggle."""

    def late(self, toggle):
        return True


class SciEnNeverSet(Pm1Registers):
    """PM1_CNT reads 0: the platform never enters ACPI mode."""

    def read(self, port, width, now_ns):
        if self.register_name(port) == "PM1_CNT":
            return 0
        return super().read(port, width, now_ns)


# --- edu (devices/edu.py): what asm/edu_mmio.asm must catch ---------------------------------


class EduWrongId(Edu):
    """Identifies as version 1.1: 0x010100ed."""

    def mmio_read(self, address, width, now_ns):
        value = super().mmio_read(address, width, now_ns)
        return 0x010100ED if address - self.base == ID else value


class EduLivenessNotInverted(Edu):
    """Stores the liveness value as written, not its inverse."""

    def mmio_write(self, address, width, value, now_ns):
        if address - self.base == LIVENESS:
            self.liveness = value
            return
        super().mmio_write(address, width, value, now_ns)


class EduFactorialOneShort(Edu):
    """Computes (n-1)! instead of n!."""

    def _finish_factorial(self, now_ns):
        if self.done_ns is not None and now_ns >= self.done_ns:
            self.fact = max(self.fact, 1) - 1
        super()._finish_factorial(now_ns)


class EduInterruptNeverRaised(Edu):
    """Sets IRQ_STATUS but never drives its line."""

    def _drive_line(self):
        pass


class EduAckKeepsTheLine(Edu):
    """An acknowledgement clears IRQ_STATUS but leaves the line high."""

    def _lower(self, value):
        self.irq_status &= ~value


class AllOnesTimer(PmTimer):
    """Every read is all ones: a port whose pins nothing drives, as a timer the firmware disabled reads."""

    def read(self, port, width, now_ns):
        return (1 << (8 * width)) - 1
