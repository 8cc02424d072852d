"""A suite of guests: the bundled ones in ``asm/``, or the user's files and folders; a table or TAP.

A guest the suite could not build (NASM rejected it, its image does not fit)
is a row of its own, never as expected, with the reason; the others still run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pmtimer_harness.asm import BUNDLED_GUESTS_DIR, C_GUEST_DIR, C_LIBRARY_DIR
from pmtimer_harness.columns import aligned
from pmtimer_harness.core.result import Report, RunResult, Verdict, check_summary
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.guest import C_SUFFIXES, SOURCE_SUFFIXES, GuestError, check_guest_path, is_source
from pmtimer_harness.tools.runner import GuestRun


@dataclass(frozen=True)
class Unbuilt:
    """A guest with no run to show: the harness could not build it, or its worker process died; ``reason`` says."""

    guest: Path
    expect: Verdict
    reason: str
    as_expected = False  # not even under '; expect: error', which is about what a guest does when it runs

    @property
    def result(self) -> RunResult:
        """The row as a run that ended at once in an error: what a progress line shows."""
        return RunResult(Verdict.ERROR, None, "", None, None, 0, 0, 0.0, Report(self.reason))

    def as_dict(self) -> dict[str, object]:
        return {"guest": str(self.guest), "expect": self.expect.value, "verdict": Verdict.ERROR.value,
                "exit_code": None, "console": "", "error": self.reason}


SuiteRow = GuestRun | Unbuilt


def bundled_guests() -> list[Path]:
    """The bundled NASM guests (``asm/*.asm``)."""
    return sorted(BUNDLED_GUESTS_DIR.glob("*.asm"))


def bundled_c_guests() -> list[Path]:
    """The bundled C guests: ``asm/c/*.c``, then the catalogue of real consumers (``asm/c/catalogue``)."""
    return sorted(C_GUEST_DIR.glob("*.c")) + sorted((C_GUEST_DIR / "catalogue").glob("*.c"))


def guests_in(paths: Sequence[str | Path]) -> list[Path]:
    """The guests ``paths`` name: files as given, folders searched below for sources outside ``include/``.

    None named: every bundled guest, NASM and C.
    """
    if not paths:
        return bundled_guests() + bundled_c_guests()
    guests: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                found for found in path.rglob("*")
                if is_source(found) and found.is_file() and found.resolve().parent != C_LIBRARY_DIR
                and "include" not in found.relative_to(path).parent.parts
            )
            if not found:
                suffixes = ", ".join((*SOURCE_SUFFIXES, *C_SUFFIXES))
                raise GuestError(f"{shown_name(path)}: no guest sources ({suffixes}) in this folder")
            guests += found
        else:
            check_guest_path(path)
            guests.append(path)
    return list(dict.fromkeys(guests))  # a guest named twice runs once


TAP_FAILURES = 20  # FAIL lines in a failing guest's YAML block
TAP_CONSOLE_TAIL = 10  # and the last console lines, as a CI log wants them beside the verdict


def format_tap(runs: Sequence[SuiteRow]) -> str:
    """TAP version 13, as kvm-unit-tests' runner and CI systems read it: ``ok``/``not ok`` and a YAML block."""
    lines = ["TAP version 13", f"1..{len(runs)}"]
    for number, run in enumerate(runs, 1):
        lines.append(f"{'ok' if run.as_expected else 'not ok'} {number} - {_tap_name(run)}{_tap_directive(run)}")
        if isinstance(run, Unbuilt):
            lines += ["  ---", f"  expect: {run.expect.value}", f"  verdict: {Verdict.ERROR.value}",
                      f"  reason: {json.dumps(run.reason)}", "  ..."]
            continue
        if run.as_expected:
            continue
        result = run.result
        lines += [
            "  ---",
            f"  expect: {run.expect.value}",
            f"  verdict: {result.verdict.value}",
            f"  exit_code: {'~' if result.exit_code is None else result.exit_code}",
            f"  checks: {json.dumps(checks_figure(result.console))}",
        ]
        if result.report is not None:
            lines.append(f"  reason: {json.dumps(result.report.reason)}")
        failures = [line for line in result.console.splitlines() if line.startswith(("FAIL:", "XPASS:"))]
        if failures:
            lines.append("  failures:")
            lines += [f"    - {json.dumps(line)}" for line in failures[:TAP_FAILURES]]
        tail = result.console.splitlines()[-TAP_CONSOLE_TAIL:]
        if tail:
            lines.append("  console_tail:")
            lines += [f"    - {json.dumps(line)}" for line in tail]
        lines.append("  ...")
    return "\n".join(lines)


def _tap_directive(run: SuiteRow) -> str:
    """``# SKIP``, TAP's word for a test that did not apply, when the guest skipped as it expected to."""
    if isinstance(run, Unbuilt) or not run.as_expected or run.result.verdict is not Verdict.SKIP:
        return ""
    skips = [line for line in run.result.console.splitlines() if line.startswith("SKIP:")]
    return " # SKIP " + (skips[0].removeprefix("SKIP:").strip() if skips else "every test was skipped")


def _tap_name(run: SuiteRow) -> str:
    # '#' starts a TAP directive and a line break ends the test point: keep both out of the description.
    return shown_name(run.guest).replace("#", "_")


def checks_figure(console: str) -> str:
    summary = check_summary(console)
    return "-" if summary is None else summary.figure


def _duration(ns: int) -> str:
    return f"{ns / 1e6:.3f} ms" if ns < 1_000_000_000 else f"{ns / 1e9:.3f} s"


def format_table(runs: Sequence[SuiteRow]) -> str:
    header = ("guest", "expect", "verdict", "", "checks", "instructions", "reads", "virtual", "wall")
    rows = [header]
    for run in runs:
        if isinstance(run, Unbuilt):
            rows.append((shown_name(run.guest.name), run.expect.value, Verdict.ERROR.value, "UNEXPECTED",
                         *("-" * 5)))
            continue
        result = run.result
        virtual = "host" if result.virtual_ns is None else _duration(result.virtual_ns)
        rows.append((
            shown_name(run.guest.name),
            run.expect.value,
            result.verdict.value,
            "ok" if run.as_expected else "UNEXPECTED",
            checks_figure(result.console),
            "-" if result.instructions is None else f"{result.instructions:,}",
            f"{result.port_reads:,}",
            virtual,
            f"{result.wall_seconds:.2f} s",
        ))
    lines = aligned(rows, right={4, 5, 6, 7, 8}, rule=True)
    unexpected = sum(not run.as_expected for run in runs)
    lines.append("")
    summary = f"{len(runs) - unexpected} of {len(runs)} guests as expected"
    lines.append(summary + (f", {unexpected} NOT" if unexpected else ""))
    lines += [f"  {shown_name(run.guest.name)}: {run.reason}" for run in runs if isinstance(run, Unbuilt)]
    return "\n".join(lines)
