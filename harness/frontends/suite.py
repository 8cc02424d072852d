"""The bundled guest suite: every guest in ``asm/``, run and tabulated."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pmtimer_harness.asm import BUNDLED_GUESTS_DIR
from pmtimer_harness.tools.runner import GuestRun

SUMMARY_LINE = re.compile(r"^SUMMARY: (\d+) checks?, (\d+) failed", re.MULTILINE)


def bundled_guests() -> list[Path]:
    return sorted(BUNDLED_GUESTS_DIR.glob("*.asm"))


def checks_figure(console: str) -> str:
    match = SUMMARY_LINE.search(console)
    if match is None:
        return "-"
    total, failed = int(match.group(1)), int(match.group(2))
    return f"{total - failed}/{total}"


def _duration(ns: int) -> str:
    return f"{ns / 1e6:.3f} ms" if ns < 1_000_000_000 else f"{ns / 1e9:.3f} s"


def format_table(runs: Sequence[GuestRun]) -> str:
    header = ("guest", "expect", "verdict", "", "checks", "instructions", "reads", "virtual", "wall")
    rows = [header]
    for run in runs:
        result = run.result
        virtual = "host" if result.virtual_ns is None else _duration(result.virtual_ns)
        rows.append((
            run.guest.name,
            run.expect.value,
            result.verdict.value,
            "ok" if run.as_expected else "UNEXPECTED",
            checks_figure(result.console),
            "-" if result.instructions is None else f"{result.instructions:,}",
            f"{result.port_reads:,}",
            virtual,
            f"{result.wall_seconds:.2f} s",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = {4, 5, 6, 7, 8}
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(width) if column in numeric else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    unexpected = sum(not run.as_expected for run in runs)
    lines.append("")
    summary = f"{len(runs) - unexpected} of {len(runs)} guests as expected"
    lines.append(summary + (f", {unexpected} NOT" if unexpected else ""))
    return "\n".join(lines)
