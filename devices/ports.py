"""Port windows: the I/O ports a device answers and the access sizes it takes.

A device declares its windows as data, in the manner of QEMU's
``MemoryRegionOps.valid`` table (qemu/qemu: include/exec/memory.h): the bus
checks every access against them before the device sees it, so a device model
never branches on an access it does not implement.
"""

from __future__ import annotations

from enum import Enum

from pmtimer_harness.record import FrozenRecord

ACCESS_WIDTHS = (1, 2, 4)
ALL_ACCESS_WIDTHS = frozenset(ACCESS_WIDTHS)


class UnclaimedPorts(str, Enum):
    """What a read of a port no device claims returns: the platform's empty slot."""

    ALL_ONES = "all-ones"  # an ISA bus pulled high; QEMU's unassigned_io_ops, bhyve, Xen, Bochs
    ZERO = "zero"  # a VMM whose I/O bus answers nothing with a zeroed buffer (Firecracker, crosvm)

    @property
    def described(self) -> str:
        return "all ones" if self is UnclaimedPorts.ALL_ONES else "0"

    def fill(self, width: int) -> int:
        return (1 << (8 * width)) - 1 if self is UnclaimedPorts.ALL_ONES else 0


class PortWindow(FrozenRecord):
    """A run of ``length`` ports from ``base``, with the widths each direction allows.

    An empty ``write_widths`` means the window is read-only: any OUT is refused.
    ``refusal`` explains, in the device's own terms, what a refused access means
    (for bhyve's timer: what bhyve itself would do).  A window that does not
    ``refuse_other_widths`` lets such an access float instead: a read returns
    what the platform's empty slot does and a write is dropped, as a device
    that answers "unused" does (VirtualBox's IOM turns
    ``VERR_IOM_IOPORT_UNUSED`` into all ones; crosvm's bus zero-fills).
    """

    __slots__ = ("base", "length", "read_widths", "write_widths", "refusal", "refuse_other_widths")

    def __init__(
        self,
        base: int,
        length: int,
        read_widths: frozenset[int] = ALL_ACCESS_WIDTHS,
        write_widths: frozenset[int] = ALL_ACCESS_WIDTHS,
        refusal: str = "",
        refuse_other_widths: bool = True,
    ) -> None:
        self.base = base
        self.length = length
        self.read_widths = read_widths
        self.write_widths = write_widths
        self.refusal = refusal
        self.refuse_other_widths = refuse_other_widths
        if not 0 <= base <= 0xFFFF or length < 1 or base + length > 0x10000:
            raise ValueError(f"port window {base:#x}+{length} is outside the 64 KiB I/O space")
        bad = (read_widths | write_widths) - ALL_ACCESS_WIDTHS
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
