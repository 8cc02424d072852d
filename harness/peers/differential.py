"""The differential check: each portable guest in the harness and in QEMU, compared.

The harness runs the guest on QEMU's platform (timer at 0x608, 24 bits, QEMU's
access rules, the host clock, as QEMU's timer follows real time) and QEMU
boots it through SeaBIOS.  They agree when the verdict, the exit code and the
guest's check lines (``PASS: ...``/``FAIL: ...``, in order) are the same;
``INFO:`` lines carry measured values, which differ between two machines and
are shown, not compared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pmtimer_harness.core.result import RunResult
from pmtimer_harness.devices.pm_timer import PmTimer
from pmtimer_harness.peers.qemu import QEMU_PLATFORM_OPTIONS, QemuRun, portability, run_in_qemu
from pmtimer_harness.tools.runner import run_guest

CHECK_LINE = re.compile(r"^(PASS|FAIL): (.*)$", re.MULTILINE)


def checks(console: str) -> list[tuple[str, str]]:
    return CHECK_LINE.findall(console)


@dataclass
class Comparison:
    guest: Path
    skipped: str | None = None  # why the guest was not run in QEMU
    harness: RunResult | None = None
    qemu: QemuRun | None = None

    @property
    def agree(self) -> bool:
        if self.harness is None or self.qemu is None:
            return True
        return (
            self.harness.verdict.value == self.qemu.verdict
            and self.harness.exit_code == self.qemu.exit_code
            and checks(self.harness.console) == checks(self.qemu.console)
        )

    def differences(self) -> list[str]:
        if self.harness is None or self.qemu is None or self.agree:
            return []
        lines = [f"verdict: harness {self.harness.verdict.value}, QEMU {self.qemu.verdict}"]
        ours, theirs = checks(self.harness.console), checks(self.qemu.console)
        lines += [f"harness only: {kind}: {what}" for kind, what in ours if (kind, what) not in theirs]
        lines += [f"QEMU only:    {kind}: {what}" for kind, what in theirs if (kind, what) not in ours]
        return lines


def compare(guest: Path, timeout_s: float = 60.0, timer_model: type[PmTimer] = PmTimer) -> Comparison:
    reason = portability(guest)
    if reason is not None:
        return Comparison(guest, skipped=reason)
    harness = run_guest(guest, list(QEMU_PLATFORM_OPTIONS), timer_model=timer_model).result
    return Comparison(guest, harness=harness, qemu=run_in_qemu(guest, timeout_s))


def format_comparisons(comparisons: Sequence[Comparison]) -> str:
    rows = [("guest", "harness", "QEMU", "", "note")]
    for item in comparisons:
        if item.skipped is not None:
            rows.append((item.guest.name, "-", "-", "skipped", item.skipped))
            continue
        assert item.harness is not None and item.qemu is not None
        rows.append((
            item.guest.name, item.harness.verdict.value, item.qemu.verdict, "agree" if item.agree else "DIFFER",
            f"{len(checks(item.qemu.console))} checks; QEMU {item.qemu.wall_seconds:.2f} s",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4])
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 4)
    for item in comparisons:
        lines += [f"{item.guest.name}: {difference}" for difference in item.differences()]
    ran = [item for item in comparisons if item.skipped is None]
    differ = sum(not item.agree for item in ran)
    lines.append("")
    lines.append(f"{len(ran) - differ} of {len(ran)} portable guests agree with QEMU"
                 + (f", {differ} DIFFER" if differ else "") + f"; {len(comparisons) - len(ran)} not portable")
    return "\n".join(lines)
