"""The port bus: routes every IN and OUT to the device that claims the port.

Devices register ``PortWindow``s; the bus refuses overlapping claims when a
device is attached and enforces each window's access widths on every access, so
device models only see accesses they implement.

A port nobody claims behaves like the platform's empty slot in lenient mode
(reads return all ones, or 0 where the platform's VMM answers so; writes are
dropped; each port noted once), or ends the run in strict mode
(``--strict-io``, bhyve's ``x86.strictio``).

A platform whose VMM hands every port exit one shared data buffer (KVM's
``kvm_run`` I/O page, as cloud-hypervisor uses it) gives the bus an
``io_observer``: it is told the width and data of every access, to any port,
claimed or not, so that the device modelling that buffer knows what the last
access left there.

A device from outside the harness (``run_guest(devices=...)``) is attached
*checked*: each value it reads is checked to be an int that fits the access
(an IN hands Unicorn a C integer: anything else would be garbage in AL, or a
silently truncated number), and a wrong one ends the run with an error
naming the device, the port and the value.  The board's own devices are
attached unchecked: their reads are the hot path, and their tests prove them.
"""

from __future__ import annotations

import operator
import reprlib
from collections.abc import Callable
from typing import Protocol

from pmtimer_harness.devices.ports import PortWindow, UnclaimedPorts
from pmtimer_harness.record import Record

IN, OUT = "in", "out"
Reader = Callable[[int, int, int], int]  # (port, width, now_ns) -> value
Writer = Callable[[int, int, int, int], None]  # (port, width, value, now_ns)
Observer = Callable[[int, int], None]  # (width, value) of any access
MAX_UNCLAIMED_NOTES = 32  # notes kept about unclaimed ports; the rest are counted


class Device(Protocol):
    name: str
    windows: tuple[PortWindow, ...]

    def read(self, port: int, width: int, now_ns: int) -> int: ...

    def write(self, port: int, width: int, value: int, now_ns: int) -> None: ...

    state_version: int

    def state(self, now_ns: int) -> dict[str, object]: ...

    def restore(self, state: dict[str, object], now_ns: int) -> None: ...

    # Optional: def register_name(self, port: int) -> str, the register's name for traces.
    # Optional: memory-mapped registers, ``regions: tuple[MmioRegion, ...]`` answered by
    # ``mmio_read(address, width, now_ns)`` and ``mmio_write(address, width, value, now_ns)``
    # (``core/mmio_bus.py``); a device of such registers only has ``windows = ()``.


class PortAccess(Record):
    """One IN or OUT as the guest issued it."""

    __slots__ = ("direction", "port", "width", "value")

    def __init__(self, direction: str, port: int, width: int, value: int | None = None) -> None:
        self.direction = direction
        self.port = port
        self.width = width
        self.value = value

    def describe(self) -> str:
        what = f"{self.width}-byte {self.direction.upper()} at port {self.port:#06x}"
        if self.value is not None:
            what += f" value {self.value:#0{2 + 2 * self.width}x}"
        return what


class PortAccessError(Exception):
    """An access the bus cannot complete: refused by a device's rules, or unclaimed in strict mode."""

    def __init__(self, access: PortAccess, reason: str) -> None:
        super().__init__(f"{access.describe()}: {reason}")
        self.access = access
        self.reason = reason


def route_key(port: int, width: int) -> int:
    """Port and width packed into one int: the routing tables take one dict lookup per access."""
    return port << 3 | width


class PortBus:
    def __init__(
        self,
        strict: bool = False,
        unclaimed: UnclaimedPorts = UnclaimedPorts.ALL_ONES,
        *,
        io_observer: Observer | None = None,
    ) -> None:
        self.strict = strict
        self.unclaimed = UnclaimedPorts(unclaimed)
        self.io_observer = io_observer  # told (width, value) of every access
        self.devices: list[Device] = []
        self.unclaimed_log: list[str] = []
        self._claims: dict[int, tuple[Device, PortWindow]] = {}
        # Routing tables, keyed by route_key(port, width): only allowed accesses appear.
        self.readers: dict[int, Reader] = {}
        self.writers: dict[int, Writer] = {}
        self._logged: set[tuple[str, int]] = set()
        self.unclaimed_count = 0  # ports and directions noted, kept or not

    def attach(self, device: Device, *, checked: bool = True) -> None:
        """Route the device's windows to it; ``checked``: check each value it reads (see the module's docstring).

        A device that is not shaped like one (no name, windows that are not
        ``PortWindow``s, a port already claimed) raises ValueError.
        """
        windows = _windows_of(device)
        for window in windows:
            for port in window.ports:
                if port in self._claims:
                    owner = self._claims[port][0].name
                    raise ValueError(f"{device.name} claims port {port:#x}, already claimed by {owner}")
        if not windows:  # memory-mapped registers only (``mmio_bus.py``)
            self.devices.append(device)
            return
        read = checked_reader(device) if checked else device.read
        write = device.write
        if self.io_observer is not None:
            read, write = observed_reader(read, self.io_observer), observed_writer(write, self.io_observer)
        for window in windows:
            for port in window.ports:
                self._claims[port] = (device, window)
                for width in window.read_widths:
                    self.readers[route_key(port, width)] = read
                for width in window.write_widths:
                    self.writers[route_key(port, width)] = write
        self.devices.append(device)

    def claimant(self, port: int) -> tuple[Device, PortWindow] | None:
        return self._claims.get(port)

    def register_name(self, port: int) -> str:
        """What the port is, as its device names it ("PM_TMR", "PM1_STS"), for traces."""
        claim = self._claims.get(port)
        if claim is None:
            return "unclaimed"
        device = claim[0]
        describe = getattr(device, "register_name", None)
        if describe is None:
            return device.name
        try:
            name = describe(port)
        except Exception:  # a user's device: a trace line must not end the run
            return device.name
        return name if isinstance(name, str) else device.name

    def read(self, port: int, width: int, now_ns: int) -> int:
        reader = self.readers.get(route_key(port, width))
        if reader is None:
            return self.read_unrouted(port, width)
        return reader(port, width, now_ns)

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        writer = self.writers.get(route_key(port, width))
        if writer is None:
            self.write_unrouted(port, width, value)
        else:
            writer(port, width, value, now_ns)

    def read_unrouted(self, port: int, width: int) -> int:
        """An IN no window allows: refused (PortAccessError), or what the platform's empty slot reads."""
        self._refuse_or_note(PortAccess(IN, port, width))
        value = self.unclaimed.fill(width)
        if self.io_observer is not None:
            self.io_observer(width, value)
        return value

    def write_unrouted(self, port: int, width: int, value: int) -> None:
        """An OUT no window allows: refused (PortAccessError), or dropped."""
        self._refuse_or_note(PortAccess(OUT, port, width, value))
        if self.io_observer is not None:
            self.io_observer(width, value)

    def _refuse_or_note(self, access: PortAccess) -> None:
        """Refuse the access, or note it: it floats, and reads as the platform's empty slot does."""
        claim = self._claims.get(access.port)
        if claim is not None:
            device, window = claim
            allowed = window.read_widths if access.direction == IN else window.write_widths
            if not window.refuse_other_widths:
                subject = f"port {access.port:#06x} of {device.name} ({_taken(allowed, access.direction)})"
                self._note(access, subject, f"read as {self.unclaimed.described}")
                return
            reason = f"refused by {device.name} ({_taken(allowed, access.direction)})"
            if window.refusal:
                reason += f"; {window.refusal}"
            raise PortAccessError(access, reason)
        if self.strict:
            raise PortAccessError(access, "no device claims this port (strict I/O)")
        self._note(access, f"unclaimed port {access.port:#06x}", f"read as {self.unclaimed.described}")

    def _note(self, access: PortAccess, subject: str, read_outcome: str) -> None:
        key = (access.direction, access.port)
        if key in self._logged:
            return
        self._logged.add(key)
        self.unclaimed_count += 1
        if len(self.unclaimed_log) >= MAX_UNCLAIMED_NOTES:
            return
        outcome = read_outcome if access.direction == IN else "write dropped"
        self.unclaimed_log.append(
            f"{subject}: {access.width}-byte {access.direction.upper()} {outcome} (noted once per port and direction)"
        )

    def unclaimed_notes(self) -> list[str]:
        """The notes kept, and one line for those that were not (a port sweep notes thousands)."""
        notes = list(self.unclaimed_log)
        more = self.unclaimed_count - len(notes)
        if more:
            notes.append(f"unclaimed ports: {more:,} more noted, not listed (the first {MAX_UNCLAIMED_NOTES} are)")
        return notes


def _taken(widths: frozenset[int], direction: str) -> str:
    if not widths:
        return f"it takes no {direction.upper()}"
    return "it takes " + " or ".join(f"{w}-byte" for w in sorted(widths)) + " accesses"


def _windows_of(device: Device) -> tuple[PortWindow, ...]:
    name = getattr(device, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"a device needs a name (a non-empty str), not {reprlib.repr(name)}")
    try:
        windows = tuple(device.windows)
    except (AttributeError, TypeError):
        raise ValueError(f"device {name}: windows must be a sequence of PortWindow") from None
    if not all(isinstance(window, PortWindow) for window in windows):
        raise ValueError(f"device {name}: windows must be a sequence of PortWindow, not {reprlib.repr(windows)}")
    for method in ("read", "write") if windows else ():  # a device of memory-mapped registers only needs none
        if not callable(getattr(device, method, None)):
            raise ValueError(f"device {name} has no {method}() method")
    return windows


def observed_reader(read: Reader, observe: Observer) -> Reader:
    """``read``, telling ``observe`` the width and value of each read."""

    def read_observed(port: int, width: int, now_ns: int) -> int:
        value = read(port, width, now_ns)
        observe(width, value)
        return value

    return read_observed


def observed_writer(write: Writer, observe: Observer) -> Writer:
    """``write``, telling ``observe`` the width and value of each write."""

    def write_observed(port: int, width: int, value: int, now_ns: int) -> None:
        observe(width, value)
        write(port, width, value, now_ns)

    return write_observed


def checked_reader(device: Device) -> Reader:
    """``device.read``, refusing a value that is not an int from 0 to the access's all-ones."""
    read = device.read

    def read_checked(port: int, width: int, now_ns: int) -> int:
        value = read(port, width, now_ns)
        if value.__class__ is int and 0 <= value < 1 << 8 * width:
            return value
        return checked_value(device.name, PortAccess(IN, port, width), value)

    return read_checked


def checked_value(name: str, access: PortAccess, value: object) -> int:
    """An int subclass or an integer type (numpy's) is taken by its value; anything else is refused."""
    limit = (1 << (8 * access.width)) - 1
    try:
        number = None if isinstance(value, bool) else operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = None
    if number is not None and 0 <= number <= limit:
        return number
    try:
        shown = reprlib.repr(value)
    except Exception:
        shown = "an object whose repr() fails"
    raise PortAccessError(
        access, f"{name} returned {shown} ({type(value).__name__}): a read returns an int from 0 to {limit:#x}"
    )
