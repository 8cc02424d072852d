"""What a run produces: one verdict, the guest's console, counts, and a report when it went wrong."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

from pmtimer_harness.core.bus import PortAccess


class Verdict(str, Enum):
    PASS = "pass"  # exit code 0 written to the exit port
    FAIL = "fail"  # a non-zero exit code
    ERROR = "error"  # a fault, a refused access, a device exception
    TIMEOUT = "timeout"  # instruction or wall-clock budget spent
    HALTED = "halted"  # HLT with nothing left to wait for
    INTERRUPTED = "interrupted"  # Ctrl-C (SIGINT): the result so far


@dataclass
class Report:
    """Why a run ended other than by the guest's own exit code, and where the guest stood."""

    reason: str
    address: int | None = None
    instruction: str | None = None
    source: str | None = None
    access: PortAccess | None = None
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
