"""Memory-mapped regions: the physical addresses a device answers and the access sizes it takes.

The memory-mapped counterpart of ``ports.py``'s ``PortWindow``, in the manner
of QEMU's ``MemoryRegionOps.valid`` table (qemu/qemu: include/exec/memory.h):
the machine checks every access against the region before the device sees
it.  A device declares ``regions: tuple[MmioRegion, ...]`` and answers
``mmio_read(address, width, now_ns)`` and ``mmio_write(address, width,
value, now_ns)``, ``address`` being the physical address the guest used.

Widths are 1, 2, 4 and 8 bytes: a guest's access as its instruction made it
(a 16-byte SSE access reaches a device as two 8-byte ones, as Unicorn splits
it).  An access must also be naturally aligned and lie wholly inside one
region: QEMU's ``valid.unaligned`` is false unless a device says otherwise.
"""

from __future__ import annotations

from pmtimer_harness.record import FrozenRecord

MMIO_WIDTHS = (1, 2, 4, 8)
ALL_MMIO_WIDTHS = frozenset(MMIO_WIDTHS)
PHYSICAL_LIMIT = 1 << 52  # x86's widest physical address (SDM vol. 3A, 4.1.4: MAXPHYADDR is at most 52)


class MmioRegion(FrozenRecord):
    """``length`` bytes of physical address space from ``base``, with the widths each direction allows.

    An empty ``write_widths`` makes the region read-only.  ``refusal`` says,
    in the device's own terms, what a refused access means.  A region that
    does not ``refuse_other_widths`` lets such an access float instead: a
    read returns what the platform's empty slot does and a write is dropped.
    """

    __slots__ = ("base", "length", "read_widths", "write_widths", "refusal", "refuse_other_widths")

    def __init__(
        self,
        base: int,
        length: int,
        read_widths: frozenset[int] = ALL_MMIO_WIDTHS,
        write_widths: frozenset[int] = ALL_MMIO_WIDTHS,
        refusal: str = "",
        refuse_other_widths: bool = True,
    ) -> None:
        self.base = base
        self.length = length
        self.read_widths = read_widths
        self.write_widths = write_widths
        self.refusal = refusal
        self.refuse_other_widths = refuse_other_widths
        if not all(isinstance(number, int) and not isinstance(number, bool) for number in (base, length)):
            raise ValueError(f"an MMIO region's base and length are whole numbers, not {base!r}, {length!r}")
        if not 0 <= base < PHYSICAL_LIMIT or length < 1 or base + length > PHYSICAL_LIMIT:
            raise ValueError(f"MMIO region {base:#x}+{length:#x} is outside the 52-bit physical space")
        bad = (read_widths | write_widths) - ALL_MMIO_WIDTHS
        if bad:
            raise ValueError(f"MMIO access widths must be 1, 2, 4 or 8 bytes, not {sorted(bad)}")

    @property
    def end(self) -> int:
        """The first address past the region."""
        return self.base + self.length

    def holds(self, address: int, width: int) -> bool:
        """The access's bytes all lie in this region."""
        return self.base <= address and address + width <= self.end

    def allows(self, address: int, width: int, write: bool) -> bool:
        """The region takes this access: a width it allows, naturally aligned, wholly inside."""
        widths = self.write_widths if write else self.read_widths
        return width in widths and address % width == 0 and self.holds(address, width)
