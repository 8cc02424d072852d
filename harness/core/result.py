"""What a run produces: one verdict, the guest's console, counts, and a report when it went wrong.

The guest's own account is read here too: its PASS/FAIL/SKIP/XFAIL/XPASS
lines and its SUMMARY line, in the form of kvm-unit-tests' lib/report.c
(``asm/include/report.inc`` prints them).
"""

from __future__ import annotations

import re
from enum import Enum

from pmtimer_harness.core.bus import PortAccess
from pmtimer_harness.core.mmio_bus import MmioAccess
from pmtimer_harness.record import Record, plain


class Verdict(str, Enum):
    PASS = "pass"  # exit code 0 written to the exit port
    FAIL = "fail"  # a non-zero exit code
    ERROR = "error"  # a fault, a refused access, a device exception
    TIMEOUT = "timeout"  # instruction or wall-clock budget spent
    HALTED = "halted"  # HLT with nothing left to wait for
    INTERRUPTED = "interrupted"  # Ctrl-C (SIGINT): the result so far
    SKIP = "skip"  # exit code SKIP_EXIT_CODE: nothing the guest set out to check applies here


SKIP_EXIT_CODE = 77  # automake's "skipped", which kvm-unit-tests' guests exit with when every test was skipped


def exit_verdict(code: int) -> Verdict:
    """The verdict of a guest that wrote ``code`` to the exit port."""
    if code == 0:
        return Verdict.PASS
    return Verdict.SKIP if code == SKIP_EXIT_CODE else Verdict.FAIL


# Patterns as text: re compiles each on first use and keeps it, so a run whose guest prints none compiles none.
CHECK_LINE = r"(?m)^(PASS|FAIL|SKIP|XFAIL|XPASS): (.*)$"
# report_summary prints a clause after "N tests" only when its count is not 0.
SUMMARY_LINE = (
    r"(?m)^SUMMARY: (?P<tests>\d+) tests"
    r"(?:, (?P<failures>\d+) unexpected failures)?"
    r"(?:, (?P<expected_failures>\d+) expected failures)?"
    r"(?:, (?P<skipped>\d+) skipped)?\s*$"
)


def check_lines(console: str) -> list[tuple[str, str]]:
    """(kind, what) for each PASS, FAIL, SKIP, XFAIL and XPASS line the guest printed."""
    return re.findall(CHECK_LINE, console)


class CheckSummary(Record):
    """The guest's SUMMARY line: every test it reported, and how many were not passes."""

    __slots__ = ("tests", "failures", "expected_failures", "skipped")

    def __init__(
        self,
        tests: int,
        failures: int = 0,  # FAIL and XPASS: the unexpected ones
        expected_failures: int = 0,  # XFAIL
        skipped: int = 0,
    ) -> None:
        self.tests = tests
        self.failures = failures
        self.expected_failures = expected_failures
        self.skipped = skipped

    @property
    def figure(self) -> str:
        """Tests that held (or failed as expected) of those that ran, as "8/8" or "3/4, 2 skipped"."""
        ran = self.tests - self.skipped
        figure = f"{ran - self.failures}/{ran}"
        return figure + (f", {self.skipped} skipped" if self.skipped else "")


def check_summary(console: str) -> CheckSummary | None:
    """The last SUMMARY line the guest printed, or None if it printed none."""
    found = list(re.finditer(SUMMARY_LINE, console))
    if not found:
        return None
    counts = {name: int(value) for name, value in found[-1].groupdict().items() if value is not None}
    return CheckSummary(**counts)


class Report(Record):
    """Why a run ended other than by the guest's own exit code, and where the guest stood."""

    __slots__ = ("reason", "address", "instruction", "source", "access", "registers", "details")
    __hash__ = None  # type: ignore[assignment]  # filled in as the run goes

    def __init__(
        self,
        reason: str,
        address: int | None = None,
        instruction: str | None = None,
        source: str | None = None,
        access: PortAccess | MmioAccess | None = None,
        registers: dict[str, int] | None = None,
        details: str | None = None,
    ) -> None:
        self.reason = reason
        self.address = address
        self.instruction = instruction
        self.source = source
        self.access = access
        self.registers = {} if registers is None else registers
        self.details = details

    def as_dict(self) -> dict[str, object]:
        return plain(self)

    def format(self) -> str:
        lines = [self.reason]
        if self.access is not None:
            lines.append(f"  access:      {self.access.describe()}")
        if self.address is not None:
            lines.append(f"  at:          {self.address:#010x}  {self.instruction or '?'}")
        if self.source:
            lines.append(f"  source:      {self.source}")
        if self.registers:
            lines.append("  registers:   " + _format_registers(self.registers))
        if self.details:
            lines.extend("  " + line for line in self.details.rstrip().splitlines())
        return "\n".join(lines)


def _format_registers(registers: dict[str, int]) -> str:
    cells = [f"{name}={value:#x}" for name, value in registers.items()]
    rows = [" ".join(cells[i : i + 6]) for i in range(0, len(cells), 6)]
    return ("\n" + " " * 15).join(rows)


class RunResult(Record):
    """How a run ended and what it did: verdict, exit code, console, counts and time."""

    __slots__ = (
        "verdict", "exit_code", "console", "instructions", "virtual_ns", "port_reads", "port_writes",
        "wall_seconds", "report", "warnings",
    )
    __hash__ = None  # type: ignore[assignment]  # filled in as the run goes

    def __init__(
        self,
        verdict: Verdict,
        exit_code: int | None,
        console: str,
        instructions: int | None,  # None under the host clock, which does not count them
        virtual_ns: int | None,  # None under the host clock
        port_reads: int,
        port_writes: int,
        wall_seconds: float,
        report: Report | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.verdict = verdict
        self.exit_code = exit_code
        self.console = console
        self.instructions = instructions
        self.virtual_ns = virtual_ns
        self.port_reads = port_reads
        self.port_writes = port_writes
        self.wall_seconds = wall_seconds
        self.report = report
        self.warnings = [] if warnings is None else warnings

    def as_dict(self) -> dict[str, object]:
        data = plain(self)
        data["verdict"] = self.verdict.value
        return data
