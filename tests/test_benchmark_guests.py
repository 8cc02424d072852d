"""The benchmarks' guests are read by the same rules as any guest: ``make bench`` must not stop on a header."""

import pytest
from pmtimer_harness.tools.guest import read_header

from tests.guests import REPO

BENCHMARK_GUESTS = sorted((REPO / "benchmarks").glob("*.asm"))


@pytest.mark.parametrize("guest", BENCHMARK_GUESTS, ids=lambda path: path.name)
def test_a_benchmark_guest_s_header_is_accepted(guest):
    read_header(guest)
