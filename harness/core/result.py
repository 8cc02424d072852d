"""What a run produces: one verdict, the guest's console, counts, and a report when it went wrong.

The guest's own account is read here too: its PASS/FAIL/SKIP/XFAIL/XPASS
lines and its SUMMARY line, in the form of kvm-unit-tests' lib/report.c
(``asm/include/report.inc`` prints them).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum

from pmtimer_harness.core.bus import PortAccess
from pmtimer_harness.core.mmio_bus import MmioAccess


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


@dataclass(frozen=True)
class CheckSummary:
    """The guest's SUMMARY line: every test it reported, and how many were not passes."""

    tests: int
    failures: int = 0  # FAIL and XPASS: the unexpected ones
    expected_failures: int = 0  # XFAIL
    skipped: int = 0

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


@dataclass
class Report:
    """Why a run ended other than by the guest's own exit code, and where the guest stood."""

    reason: str
    address: int | None = None
    instruction: str | None = None
    source: str | None = None
    access: PortAccess | MmioAccess | None = None
    registers: dict[str, int] = field(default_factory=dict)
    details: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

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


@dataclass
class RunResult:
    """How a run ended and what it did: verdict, exit code, console, counts and time."""

    verdict: Verdict
    exit_code: int | None
    console: str
    instructions: int | None  # None under the host clock, which does not count them
    virtual_ns: int | None  # None under the host clock
    port_reads: int
    port_writes: int
    wall_seconds: float
    report: Report | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data
