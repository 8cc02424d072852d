"""Clocks: where the harness's idea of time comes from.

The harness owns time.  At every port access the run loop asks its clock what
time it is, giving the number of guest instructions retired before the access
and the number of port accesses before it, and hands that time to the device.

- ``VirtualClock`` (the default) is a pure function of those two counts, so the
  same guest with the same options reads the same values on every run and OS.
- ``HostClock`` follows the host's monotonic clock, as bhyve does (vpmtmr.c
  reads ``sbinuptime()``); it ignores the counts, and results vary run to run.
"""

from __future__ import annotations

import time

DEFAULT_INSN_NS = 1
# An I/O port read over the LPC bus takes about a microsecond on physical
# chipsets; it is why Linux's io_delay writes to port 0x80.  It also makes
# consecutive PM timer reads differ by three or four ticks, as on hardware.
DEFAULT_IO_NS = 1000


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
