"""The port bus alone: routing, access rules as data, overlap, unclaimed ports."""

import pytest
from pmtimer_harness.core.bus import PortAccessError, PortBus
from pmtimer_harness.devices.ports import PortWindow, UnclaimedPorts


class Register:
    def __init__(self, name, window):
        self.name = name
        self.windows = (window,)
        self.written = []

    def read(self, port, width, now_ns):
        return 0x1234

    def write(self, port, width, value, now_ns):
        self.written.append((port, width, value))

    def state(self):
        return {}


def test_routes_an_allowed_read_and_write_to_the_device():
    register = Register("reg", PortWindow(0x100, 2))
    bus = PortBus()
    bus.attach(register)
    assert bus.read(0x101, 2, 0) == 0x1234
    bus.write(0x100, 1, 7, 0)
    assert register.written == [(0x100, 1, 7)]


def test_refuses_a_width_the_window_does_not_allow():
    bus = PortBus()
    bus.attach(Register("reg", PortWindow(0x100, 1, read_widths=frozenset({4}), refusal="only dwords")))
    with pytest.raises(PortAccessError, match="only dwords") as refused:
        bus.read(0x100, 2, 0)
    assert refused.value.access.width == 2


def test_refuses_a_write_to_a_read_only_window():
    bus = PortBus()
    bus.attach(Register("reg", PortWindow(0x100, 1, write_widths=frozenset())))
    with pytest.raises(PortAccessError, match="takes no OUT"):
        bus.write(0x100, 4, 0, 0)


def test_refuses_overlapping_claims():
    bus = PortBus()
    bus.attach(Register("first", PortWindow(0x100, 4)))
    with pytest.raises(ValueError, match="already claimed by first"):
        bus.attach(Register("second", PortWindow(0x103, 1)))


def test_unclaimed_reads_float_high_and_are_noted_once():
    bus = PortBus()
    assert bus.read(0x80, 1, 0) == 0xFF
    assert bus.read(0x80, 4, 0) == 0xFFFFFFFF
    bus.write(0x80, 1, 0, 0)
    assert len(bus.unclaimed_log) == 2  # one IN, one OUT


def test_strict_bus_refuses_unclaimed_ports():
    with pytest.raises(PortAccessError, match="strict"):
        PortBus(strict=True).read(0x80, 1, 0)


def test_windows_outside_the_io_space_are_refused():
    with pytest.raises(ValueError):
        PortWindow(0xFFFF, 2)


def test_unclaimed_reads_are_the_platforms_empty_slot():
    bus = PortBus(unclaimed=UnclaimedPorts.ZERO)  # Firecracker, crosvm
    assert (bus.read(0x80, 1, 0), bus.read(0x80, 4, 0)) == (0, 0)
    assert "read as 0" in bus.unclaimed_notes()[0]


def test_an_io_observer_sees_every_access_claimed_or_not():
    seen = []
    bus = PortBus(io_observer=lambda width, value: seen.append((width, value)))
    bus.attach(Register("reg", PortWindow(0x100, 2)))
    bus.read(0x100, 2, 0)
    bus.write(0x101, 1, 0x5A, 0)
    bus.read(0x80, 1, 0)
    bus.write(0x81, 4, 0xDEADBEEF, 0)
    assert seen == [(2, 0x1234), (1, 0x5A), (1, 0xFF), (4, 0xDEADBEEF)]


def test_a_window_that_lets_other_widths_float_reads_them_as_the_empty_slot_and_goes_on():
    # VirtualBox: a PM1 read that is not 2 bytes returns VERR_IOM_IOPORT_UNUSED, which IOM reads as all ones;
    # crosvm's bus zero-fills a read its PM1 device turns away.
    window = PortWindow(0x4000, 2, read_widths=frozenset({2}), write_widths=frozenset({2, 4}),
                        refuse_other_widths=False)
    register = Register("pm1", window)
    bus = PortBus()
    bus.attach(register)
    assert bus.read(0x4000, 1, 0) == 0xFF and bus.read(0x4000, 4, 0) == 0xFFFFFFFF
    bus.write(0x4000, 1, 1, 0)
    assert register.written == []
    assert "port 0x4000 of pm1 (it takes 2-byte accesses): 1-byte IN read as all ones" in bus.unclaimed_notes()[0]
    zero_filling = PortBus(unclaimed=UnclaimedPorts.ZERO)
    zero_filling.attach(Register("pm1", window))
    assert zero_filling.read(0x4000, 4, 0) == 0
