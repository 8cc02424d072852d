"""Clocks: where the harness's idea of time comes from.

The harness owns time.  At every port access the run loop asks its clock what
time it is, giving the number of guest instructions retired before the access
and the number of port accesses before it, and hands that time to the device.

- ``VirtualClock`` (the default) is a pure function of those two counts, so the
  same guest with the same options reads the same values on every run and OS.
- ``HostClock`` follows the host's monotonic clock, as bhyve does (vpmtmr.c
  reads ``sbinuptime()``); it ignores the counts, and results vary run to run.

The time-stamp counter follows the same clock.  Under the virtual clock RDTSC
and RDTSCP read ``VirtualClock.tsc_ticks`` of the time at that instruction
(``tsc.py``); under the host clock they run natively and read the host's TSC,
which runs in real time as the timer then does.
"""

from __future__ import annotations

import time

DEFAULT_INSN_NS = 1
# An I/O port read over the LPC bus takes about a microsecond on physical
# chipsets; it is why Linux's io_delay writes to port 0x80.  It also makes
# consecutive PM timer reads differ by three or four ticks, as on hardware.
DEFAULT_IO_NS = 1000
# The virtual TSC's rate: one tick per virtual nanosecond.  The counter then
# shows the virtual time itself, with no rounding at any instruction, and a
# guest sees a plausible invariant TSC (real ones tick at 1-4 GHz): 279.37
# ticks per PM timer tick, 10^9 a second.
TSC_HZ = 1_000_000_000
NS_PER_S = 1_000_000_000
TSC_MASK = (1 << 64) - 1


class VirtualClock:
    """Virtual time = instructions x ``insn_ns`` + port accesses x ``io_ns`` + idle time.

    Idle time is what the CPU skipped while halted, waiting for an interrupt:
    under the virtual clock a HLT jumps straight to the next timer event.
    """

    kind = "virtual"

    def __init__(self, insn_ns: int = DEFAULT_INSN_NS, io_ns: int = DEFAULT_IO_NS) -> None:
        if insn_ns < 0 or io_ns < 0:
            raise ValueError("virtual nanoseconds per instruction and per port access must be >= 0")
        self.insn_ns = insn_ns
        self.io_ns = io_ns

    def now_ns(self, instructions: int, port_accesses: int, idle_ns: int = 0) -> int:
        return instructions * self.insn_ns + port_accesses * self.io_ns + idle_ns

    @staticmethod
    def tsc_ticks(now_ns: int) -> int:
        """The time-stamp counter at virtual time ``now_ns``: 0 at the first instruction, 64 bits, wrapping."""
        return now_ns * TSC_HZ // NS_PER_S & TSC_MASK


class HostClock:
    """Host monotonic nanoseconds since the run began (``restart``)."""

    kind = "host"

    def __init__(self) -> None:
        self.origin_ns = time.perf_counter_ns()

    def restart(self) -> None:
        """Time 0 is now: the guest's first instruction, not the machine's construction."""
        self.origin_ns = time.perf_counter_ns()

    def now_ns(self, instructions: int = 0, port_accesses: int = 0, idle_ns: int = 0) -> int:
        return time.perf_counter_ns() - self.origin_ns


Clock = VirtualClock | HostClock


def make_clock(kind: str, insn_ns: int = DEFAULT_INSN_NS, io_ns: int = DEFAULT_IO_NS) -> Clock:
    if kind == "virtual":
        return VirtualClock(insn_ns, io_ns)
    if kind == "host":
        return HostClock()
    raise ValueError(f"unknown clock {kind!r}: choose 'virtual' or 'host'")
