"""The memory-mapped bus: routes each guest access to a claimed physical range to the device that claims it.

A device declares ``MmioRegion``s (``devices/mmio.py``) beside or instead of
its port windows.  The bus refuses, when the device is attached, a region
that overlaps another device's or the memory the machine maps itself (guest
RAM, and the ACPI tables and BIOS area within it), and checks every access
against the region's rules before the device sees it, as the port bus does
(``bus.py``): a refused access ends the run with the same report as a refused
port access.

Unicorn maps MMIO a 4 KiB page at a time.  The part of a claimed page that no
region covers is the platform's empty slot, as an unclaimed port is: a read
returns all ones (or 0 where the platform's bus answers so), a write is
dropped, each address noted once; with ``--strict-io`` it ends the run.  A
PC's chipset does the same for an address nobody decodes in the PCI hole (the
bus master aborts and reads float high).  Memory outside the claimed pages
and guest RAM stays unmapped: an access there is a fault, as before.

A device the user attached is checked as on the port bus: each value it
reads must be an int that fits the access.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Sequence

from pmtimer_harness.core.bus import MAX_UNCLAIMED_NOTES, Device, PortAccessError, checked_value
from pmtimer_harness.devices.mmio import MmioRegion
from pmtimer_harness.devices.ports import UnclaimedPorts
from pmtimer_harness.record import Record

READ, WRITE = "read", "write"
PAGE = 0x1000
# Addresses and directions noted at most: as many as the port bus can note.  A guest sweeping a large region
# that floats other widths would otherwise grow the record by an entry an access.
MAX_NOTED_ADDRESSES = 2 * 0x10000
MmioReader = Callable[[int, int, int], int]  # (address, width, now_ns) -> value
Reserved = tuple[int, int, str]  # (first address, end, what the machine keeps there)


class MmioAccess(Record):
    """One read or write of a claimed page, as the guest's instruction made it."""

    __slots__ = ("direction", "address", "width", "value")

    def __init__(self, direction: str, address: int, width: int, value: int | None = None) -> None:
        self.direction = direction
        self.address = address
        self.width = width
        self.value = value

    def describe(self) -> str:
        what = f"{self.width}-byte MMIO {self.direction} at {self.address:#010x}"
        if self.value is not None:
            what += f" value {self.value:#0{2 + 2 * self.width}x}"
        return what


class MmioAccessError(PortAccessError):
    """An MMIO access the bus cannot complete; reported as a refused port access is."""


class MmioClaim(Record):
    __slots__ = ("region", "device", "read")

    def __init__(self, region: MmioRegion, device: Device, read: MmioReader) -> None:
        self.region = region
        self.device = device
        self.read = read


class MmioBus:
    def __init__(
        self, strict: bool = False, unclaimed: UnclaimedPorts = UnclaimedPorts.ALL_ONES,
        reserved: Sequence[Reserved] = (),
    ) -> None:
        self.strict = strict
        self.unclaimed = UnclaimedPorts(unclaimed)
        self.reserved = tuple(reserved)
        self.devices: list[Device] = []
        self.claims: list[MmioClaim] = []
        self.mapped: list[tuple[int, int]] = []  # (first, end) of the pages mapped for the claims
        self.unclaimed_log: list[str] = []
        self.unclaimed_count = 0
        self._logged: set[tuple[str, int]] = set()
        self.uncounted = False  # an address went unnoted: MAX_NOTED_ADDRESSES were noted already

    def attach(self, device: Device, *, checked: bool = True) -> list[tuple[int, int]]:
        """Claim the device's regions; the runs of pages (address, size) the machine must now map.

        A region that is not an ``MmioRegion``, or overlaps a claim or the
        machine's own memory, raises ValueError; so does a device with regions
        and no ``mmio_read``/``mmio_write``.
        """
        regions = _regions_of(device)
        if not regions:
            return []
        for index, region in enumerate(regions):
            for other in regions[index + 1 :]:
                if _overlap(region, other.base, other.end):
                    raise ValueError(f"{device.name}'s MMIO regions {_span(region)} and {_span(other)} overlap")
            self._check_free(device, region)
        read = checked_reader(device) if checked else device.mmio_read  # type: ignore[attr-defined]
        self.claims.extend(MmioClaim(region, device, read) for region in regions)
        self.devices.append(device)
        return self._map_pages(regions)

    def _check_free(self, device: Device, region: MmioRegion) -> None:
        for first, end, what in self.reserved:
            if _overlap(region, first, end):
                raise ValueError(f"{device.name}'s MMIO region {_span(region)} overlaps {what} "
                                 f"({first:#x}-{end - 1:#x})")
        for claim in self.claims:
            if _overlap(region, claim.region.base, claim.region.end):
                raise ValueError(f"{device.name}'s MMIO region {_span(region)} overlaps {claim.device.name}'s "
                                 f"{_span(claim.region)}")

    def _map_pages(self, regions: Sequence[MmioRegion]) -> list[tuple[int, int]]:
        """The whole pages the regions touch, less those mapped already (a page two regions share)."""
        runs: list[tuple[int, int]] = []
        for region in regions:
            first, end = region.base // PAGE * PAGE, -(-region.end // PAGE) * PAGE
            runs += _uncovered(first, end, self.mapped + runs)
        self.mapped += runs
        return [(start, stop - start) for start, stop in runs]

    def claimant(self, address: int, width: int = 1) -> MmioClaim | None:
        """The claim whose region the access's bytes touch first, if any."""
        for claim in self.claims:
            if _overlap(claim.region, address, address + width):
                return claim
        return None

    def register_name(self, address: int) -> str:
        """What the address is, as its device names it, for traces."""
        claim = self.claimant(address)
        if claim is None:
            return "unclaimed"
        describe = getattr(claim.device, "register_name", None)
        if describe is None:
            return claim.device.name
        try:
            name = describe(address)
        except Exception:  # a user's device: a trace line must not end the run
            return claim.device.name
        return name if isinstance(name, str) else claim.device.name

    def read(self, address: int, width: int, now_ns: int) -> int:
        claim = self.claimant(address, width)
        if claim is not None and claim.region.allows(address, width, write=False):
            return claim.read(address, width, now_ns)
        self._refuse_or_note(MmioAccess(READ, address, width), claim)
        return self.unclaimed.fill(width)

    def write(self, address: int, width: int, value: int, now_ns: int) -> None:
        claim = self.claimant(address, width)
        if claim is not None and claim.region.allows(address, width, write=True):
            claim.device.mmio_write(address, width, value, now_ns)  # type: ignore[attr-defined]
            return
        self._refuse_or_note(MmioAccess(WRITE, address, width, value), claim)

    def _refuse_or_note(self, access: MmioAccess, claim: MmioClaim | None) -> None:
        if claim is not None:
            region, name = claim.region, claim.device.name
            rule = _taken(region, access.direction)
            if not region.refuse_other_widths:
                self._note(access, f"MMIO {access.address:#010x} of {name} ({rule})")
                return
            reason = f"refused by {name} ({rule})"
            if region.refusal:
                reason += f"; {region.refusal}"
            raise MmioAccessError(access, reason)  # type: ignore[arg-type]
        if self.strict:
            raise MmioAccessError(access, "no device claims this address (strict I/O)")  # type: ignore[arg-type]
        self._note(access, f"unclaimed MMIO {access.address:#010x}")

    def _note(self, access: MmioAccess, subject: str) -> None:
        key = (access.direction, access.address)
        if key in self._logged:
            return
        if len(self._logged) >= MAX_NOTED_ADDRESSES:
            self.uncounted = True
            return
        self._logged.add(key)
        self.unclaimed_count += 1
        if len(self.unclaimed_log) >= MAX_UNCLAIMED_NOTES:
            return
        outcome = f"read as {self.unclaimed.described}" if access.direction == READ else "write dropped"
        self.unclaimed_log.append(
            f"{subject}: {access.width}-byte {access.direction} {outcome} (noted once per address and direction)"
        )

    def unclaimed_notes(self) -> list[str]:
        notes = list(self.unclaimed_log)
        more = self.unclaimed_count - len(notes)
        if more:
            notes.append(f"unclaimed MMIO: {more:,} more noted, not listed (the first {MAX_UNCLAIMED_NOTES} are)")
        if self.uncounted:
            notes.append(f"unclaimed MMIO: past {MAX_NOTED_ADDRESSES:,} addresses and directions, more went uncounted")
        return notes


def _uncovered(first: int, end: int, mapped: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``first``-``end`` that no (start, stop) of ``mapped`` covers."""
    parts = [(first, end)]
    for start, stop in mapped:
        parts = [piece for low, high in parts for piece in ((low, min(high, start)), (max(low, stop), high))
                 if piece[0] < piece[1]]
    return parts


def _overlap(region: MmioRegion, first: int, end: int) -> bool:
    return region.base < end and first < region.end


def _span(region: MmioRegion) -> str:
    return f"{region.base:#x}-{region.end - 1:#x}"


def _taken(region: MmioRegion, direction: str) -> str:
    widths = region.read_widths if direction == READ else region.write_widths
    if not widths:
        return f"it takes no {direction}"
    sizes = " or ".join(f"{width}-byte" for width in sorted(widths))
    return f"it takes {sizes} {direction}s, naturally aligned, inside {_span(region)}"


def _regions_of(device: Device) -> tuple[MmioRegion, ...]:
    name = device.name
    try:
        regions = tuple(getattr(device, "regions", ()))
    except Exception:  # a user's object: whatever reading it raises, it is not a sequence of regions
        raise ValueError(f"device {name}: regions must be a sequence of MmioRegion") from None
    if not all(isinstance(region, MmioRegion) for region in regions):
        raise ValueError(f"device {name}: regions must be a sequence of MmioRegion, not {reprlib.repr(regions)}")
    for method in ("mmio_read", "mmio_write") if regions else ():
        if not callable(getattr(device, method, None)):
            raise ValueError(f"device {name} has MMIO regions and no {method}() method")
    return regions


def checked_reader(device: Device) -> MmioReader:
    """``device.mmio_read``, refusing a value that is not an int from 0 to the access's all-ones."""
    read = device.mmio_read  # type: ignore[attr-defined]

    def read_checked(address: int, width: int, now_ns: int) -> int:
        value = read(address, width, now_ns)
        if value.__class__ is int and 0 <= value < 1 << 8 * width:
            return value
        try:
            return checked_value(device.name, MmioAccess(READ, address, width), value)  # type: ignore[arg-type]
        except PortAccessError as error:
            raise MmioAccessError(error.access, error.reason) from None

    return read_checked
