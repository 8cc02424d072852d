import pytest
from pmtimer_harness.core.clock import HostClock, VirtualClock, make_clock


def test_virtual_time_is_instructions_and_port_accesses_weighted():
    clock = VirtualClock(insn_ns=3, io_ns=250)
    assert clock.now_ns(1000, 4) == 3 * 1000 + 250 * 4


def test_virtual_time_is_a_pure_function_of_the_counts():
    assert VirtualClock().now_ns(12345, 67) == VirtualClock().now_ns(12345, 67)


def test_host_time_moves_forward_and_ignores_the_counts():
    clock = HostClock()
    first = clock.now_ns(0, 0)
    second = clock.now_ns(0, 0)
    assert 0 <= first <= second


def test_negative_virtual_costs_are_refused():
    with pytest.raises(ValueError):
        VirtualClock(insn_ns=-1)


def test_unknown_clock_kind_is_refused():
    with pytest.raises(ValueError, match="virtual"):
        make_clock("sundial")
