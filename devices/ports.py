"""Port windows: the I/O ports a device answers and the access sizes it takes.

A device declares its windows as data, in the manner of QEMU's
``MemoryRegionOps.valid`` table (qemu/qemu: include/exec/memory.h): the bus
checks every access against them before the device sees it, so a device model
never branches on an access it does not implement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

ACCESS_WIDTHS = (1, 2, 4)


class UnclaimedPorts(str, Enum):
    """What a read of a port no device claims returns: the platform's empty slot."""

    ALL_ONES = "all-ones"  # an ISA bus pulled high; QEMU's unassigned_io_ops, bhyve, Xen, Bochs
    ZERO = "zero"  # a VMM whose I/O bus answers nothing with a zeroed buffer (Firecracker, crosvm)

    @property
    def described(self) -> str:
        return "all ones" if self is UnclaimedPorts.ALL_ONES else "0"

    def fill(self, width: int) -> int:
        return (1 << (8 * width)) - 1 if self is UnclaimedPorts.ALL_ONES else 0


@dataclass(frozen=True)
class PortWindow:
    """A run of ``length`` ports from ``base``, with the widths each direction allows.

    An empty ``write_widths`` means the window is read-only: any OUT is refused.
    ``refusal`` explains, in the device's own terms, what a refused access means
    (for bhyve's timer: what bhyve itself would do).  A window that does not
    ``refuse_other_widths`` lets such an access float instead: a read returns
    what the platform's empty slot does and a write is dropped, as a device
    that answers "unused" does (VirtualBox's IOM turns
    ``VERR_IOM_IOPORT_UNUSED`` into all ones; crosvm's bus zero-fills).
    """

    base: int
    length: int
    read_widths: frozenset[int] = field(default_factory=lambda: frozenset(ACCESS_WIDTHS))
    write_widths: frozenset[int] = field(default_factory=lambda: frozenset(ACCESS_WIDTHS))
    refusal: str = ""
    refuse_other_widths: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.base <= 0xFFFF or self.length < 1 or self.base + self.length > 0x10000:
            raise ValueError(f"port window {self.base:#x}+{self.length} is outside the 64 KiB I/O space")
        bad = (self.read_widths | self.write_widths) - set(ACCESS_WIDTHS)
        if bad:
            raise ValueError(f"access widths must be 1, 2 or 4 bytes, not {sorted(bad)}")

    @property
    def ports(self) -> range:
        return range(self.base, self.base + self.length)


class DeviceError(Exception):
    """A device refuses an access or cannot complete it; ends the run with an error verdict."""


def is_whole(value: object) -> bool:
    """An int and not a bool: saved state is JSON, where ``true`` would pass for 1."""
    return isinstance(value, int) and not isinstance(value, bool)
