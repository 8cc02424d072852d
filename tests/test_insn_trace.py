"""The instruction trace: what it shows, and that it changes nothing a guest sees."""

import re

import pytest
from pmtimer_harness.core.machine import InstructionTraceOptions
from pmtimer_harness.tools.runner import run_guest

from tests.guests import bundled

INSTRUCTION_LINE = re.compile(r"^0x([0-9a-f]{8})  ")


def traced(guest, limit=10_000, ranges=(), options=()):
    lines = []
    run = run_guest(
        bundled(guest), list(options), trace=lines.append,
        instruction_trace=InstructionTraceOptions(limit=limit, ranges=tuple(ranges)),
    )
    return run.result, lines


@pytest.mark.parametrize(
    "guest", ["hello.asm", "wrap24.asm", "monotonic.asm", "access_bhyve_narrow.asm", "overflow_irq.asm"]
)
def test_verdict_console_and_values_are_the_same_with_the_trace(guest):
    plain = run_guest(bundled(guest)).result
    with_trace, _ = traced(guest)
    assert (with_trace.verdict, with_trace.exit_code, with_trace.console) == (
        plain.verdict, plain.exit_code, plain.console)
    assert with_trace.virtual_ns == plain.virtual_ns or plain.verdict.value == "error"


def test_each_instruction_shows_its_source_and_the_registers_it_changed():
    _, lines = traced("hello.asm", limit=9)
    assert lines[0].startswith("0x00007c00  e9") and "report.inc:" in lines[0] and "jmp" in lines[0]
    push = lines.index(next(line for line in lines if "push esi" in line))
    assert lines[push + 1].strip() == "esp=0x7bfc"


def test_the_limit_stops_the_trace_and_the_run_goes_on():
    result, lines = traced("monotonic.asm", limit=50)
    assert sum(bool(INSTRUCTION_LINE.match(line)) for line in lines) == 50
    assert any("instruction trace stopped after 50 instructions" in line for line in lines)
    assert result.verdict.value == "pass"


def test_a_range_limits_the_trace_to_those_addresses():
    _, lines = traced("hello.asm", ranges=[(0x7C06, 0x7C10)])
    addresses = [int(match.group(1), 16) for line in lines if (match := INSTRUCTION_LINE.match(line))]
    assert addresses and all(0x7C06 <= address <= 0x7C10 for address in addresses)


def test_port_accesses_are_interleaved_with_the_instructions():
    _, lines = traced("monotonic.asm", limit=40)
    read = next(i for i, line in enumerate(lines) if "PM_TMR read" in line)
    assert "in eax, dx" in lines[read - 1]
