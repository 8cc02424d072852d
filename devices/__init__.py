"""Device models: plain Python, no CPU emulator inside.

Each device declares the I/O ports it answers as ``PortWindow`` data, answers
``read(port, width, now_ns)`` and ``write(port, width, value, now_ns)`` (or,
for memory-mapped registers, ``MmioRegion`` data and ``mmio_read`` and
``mmio_write``), and
saves and takes back its state as plain values with ``state(now_ns)`` and
``restore(state, now_ns)``.  Time arrives with each access: a device computes
its registers from ``now_ns`` and owns no clock.
"""

from pmtimer_harness.devices.debug_console import DebugConsole
from pmtimer_harness.devices.debug_exit import DebugExit
from pmtimer_harness.devices.mmio import MmioRegion
from pmtimer_harness.devices.pm_timer import PM_TMR_FREQUENCY_HZ, IoSemantics, PmTimer
from pmtimer_harness.devices.ports import DeviceError, PortWindow

__all__ = [
    "PM_TMR_FREQUENCY_HZ",
    "DebugConsole",
    "DebugExit",
    "DeviceError",
    "IoSemantics",
    "MmioRegion",
    "PmTimer",
    "PortWindow",
]
