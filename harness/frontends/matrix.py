"""The compatibility matrix: each guest on each platform, in one process.

Guests are rows, platforms columns; a cell is the verdict, with the exit code
when the guest failed.  Each guest is assembled for the platform it runs on
(the NASM defines come from the platform's configuration).  A guest may declare
what it expects per platform (``; expect: bhyve=error``): such a guest is held, on every
platform, to what it declares there (or to its plain ``; expect:``, pass when
absent).  A guest that names no platform is held to its plain ``; expect:`` on
its own platform (its header's ``--platform``, else the default), where ``run``
and ``suite`` run it, and only shown on the others.  A cell not as declared is
marked ``!``, and only those make the matrix fail; a guest NASM rejects is an
error cell that is never as declared (``expect: error`` means the machine
refused something the guest did).  A cell that ended for a reason (an error, a
timeout, a halt) carries a footnote number, and the reason is written once
under the table.

Every cell has a wall-clock budget (``--timeout``, else the matrix's), and
under the virtual clock an instruction budget too; a cell on the host clock
(the guest's header or the command line asks for it) has no instruction count,
so it runs under the wall-clock budget alone.  The command line's other
machine options (``--quirk``, ``--clock``, ``--io-ns``, ``--insn-ns``) apply to
every cell, over the guest's header.

Cells may run side by side, each in a worker process (``tools/parallel.py``):
a cell is the same call there, and the cells come back in the matrix's order.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from pmtimer_harness.columns import aligned
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.platform.profiles import PROFILES, UnknownPlatform, profile
from pmtimer_harness.tools.assembler import AssemblyError, NasmNotFound
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.guest import GuestHeader, checked_header
from pmtimer_harness.tools.options import parse_header_options
from pmtimer_harness.tools.parallel import run_jobs
from pmtimer_harness.tools.runner import run_guest

if TYPE_CHECKING:
    from pmtimer_harness.frontends.progress import SuiteProgress

# A guest that waits for a timer that never comes must not hold the matrix up:
# every cell gets this budget (--timeout names another wall-clock budget).
MATRIX_MAX_INSTRUCTIONS = 20_000_000
MATRIX_TIMEOUT_S = 10.0
NOTHING_GIVEN: Mapping[str, object] = MappingProxyType({})  # no machine options on the command line
EVERY_PLATFORM = "all"  # --platforms all, as when none are named


@dataclass
class Cell:
    guest: Path
    platform: str
    verdict: str
    exit_code: int | None
    console: str
    expected: Verdict | None  # what the guest's header holds it to on this platform, or None
    reason: str = ""
    assembled: bool = True  # False: NASM rejected the source, so the guest never ran
    wall_seconds: float = 0.0

    @property
    def unmet(self) -> bool:
        return self.expected is not None and (not self.assembled or self.verdict != self.expected.value)

    def shown(self, note: int | None = None) -> str:
        text = self.verdict
        if self.verdict == Verdict.FAIL.value and self.exit_code is not None:
            text += f" {self.exit_code}"
        if note is not None:
            text += f" [{note}]"
        return text + (" !" if self.unmet else "")

    @property
    def outcome(self) -> str:
        """The cell as a progress line shows it."""
        return self.verdict + (" (NOT AS DECLARED)" if self.unmet else "")

    @property
    def note(self) -> str:
        """The reason as a footnote gives it: its first line (NASM may write many; ``--json`` has them all)."""
        lines = self.reason.strip().splitlines()
        if len(lines) <= 1:
            return self.reason.strip()
        return f"{lines[0]} (+{len(lines) - 1} more lines in --json)"

    def as_dict(self) -> dict[str, object]:
        return {
            "guest": self.guest.name, "platform": self.platform, "verdict": self.verdict,
            "exit_code": self.exit_code, "console": self.console,
            "expected": self.expected.value if self.expected else None, "as_declared": not self.unmet,
            "reason": self.reason,
        }


def budget(header: GuestHeader, given: Mapping[str, object] = NOTHING_GIVEN) -> dict[str, object]:
    """The cell's budget: seconds always (``given``'s, else the matrix's), instructions only where they are counted.

    ``given`` holds the machine options the command line named, by field.
    """
    seconds = {"timeout": given.get("timeout", MATRIX_TIMEOUT_S)}
    clock = given.get("clock") or vars(parse_header_options(header.options)).get("clock")
    if clock == "host":
        return seconds
    return {"max_instructions": MATRIX_MAX_INSTRUCTIONS, **seconds}


def held_to(header: GuestHeader, platform: str) -> Verdict | None:
    """What a cell must show: the platform's declaration, or the plain one on the guest's own platform."""
    if header.on_platform or platform == header.platform:
        return header.expect_on(platform)
    return None


def run_cell(
    guest: Path, platform: str, given: Mapping[str, object] = NOTHING_GIVEN,
    user_errors: tuple[type[Exception], ...] = (), use_cache: bool | None = None,
) -> Cell:
    header = checked_header(guest)
    expected = held_to(header, platform)
    options = argparse.Namespace(**{**given, **budget(header, given), "platform": platform})
    try:
        run = run_guest(guest, options, use_cache=use_cache)
    except NasmNotFound:
        raise  # no guest can be built: the matrix cannot run at all
    except user_errors as error:  # the guest cannot be built for this platform
        assembled = not isinstance(error, AssemblyError)
        return Cell(guest, platform, Verdict.ERROR.value, None, "", expected, str(error), assembled)
    result = run.result
    reason = result.report.reason if result.report is not None else ""
    return Cell(guest, platform, result.verdict.value, result.exit_code, result.console, expected, reason,
                wall_seconds=result.wall_seconds)


@dataclass(frozen=True)
class CellJob:
    """One cell to run, as a worker process is handed it."""

    guest: Path
    platform: str
    given: dict[str, object]
    user_errors: tuple[type[Exception], ...]
    use_cache: bool | None

    @property
    def name(self) -> str:
        return f"{shown_name(self.guest.name)} on {self.platform}"

    def died(self, reason: str) -> Cell:
        """The cell of a guest whose worker process died under it."""
        return Cell(self.guest, self.platform, Verdict.ERROR.value, None, "",
                    held_to(checked_header(self.guest), self.platform), reason)


def run_cell_job(job: CellJob) -> Cell:
    return run_cell(job.guest, job.platform, job.given, job.user_errors, job.use_cache)


def run_matrix(
    guests: Sequence[Path], platforms: Sequence[str], given: Mapping[str, object] = NOTHING_GIVEN,
    user_errors: tuple[type[Exception], ...] = (), use_cache: bool | None = None,
    progress: SuiteProgress | None = None, jobs: int = 1,
) -> list[Cell]:
    """Every guest on every platform, ``given`` (the command line's machine options, by field) over each header.

    ``jobs`` cells at a time, each in a worker process; 1: in turn, in this process.
    """
    todo = [CellJob(guest, platform, dict(given), user_errors, use_cache)
            for guest in guests for platform in platforms]

    def starting(index: int) -> None:
        if progress is not None:
            progress.starting(todo[index].name)

    def finished(index: int, cell: Cell) -> None:
        if progress is not None:
            progress.finished_item(todo[index].name, cell.outcome, cell.wall_seconds)

    return run_jobs(run_cell_job, todo, jobs, died=CellJob.died, stops=_interrupted,
                    starting=starting, finished=finished)


def _interrupted(cell: Cell) -> bool:
    return cell.verdict == Verdict.INTERRUPTED.value  # Ctrl-C stops the matrix, not just the cell it fell on


def format_matrix(cells: Sequence[Cell], platforms: Sequence[str]) -> str:
    guests = list(dict.fromkeys(cell.guest for cell in cells))
    by_key = {(cell.guest, cell.platform): cell for cell in cells}
    notes = footnotes(cells)
    rows = [["guest", *platforms]]
    rows += [
        [shown_name(guest.name), *(_shown(by_key.get((guest, platform)), notes) for platform in platforms)]
        for guest in guests
    ]
    lines = aligned(rows)
    unmet = [cell for cell in cells if cell.unmet]
    if notes:
        lines.append("")
        lines += [f"[{number}] {note}" for note, number in notes.items()]
    lines.append("")
    declared = sum(cell.expected is not None for cell in cells)
    lines.append(f"{len(cells)} cells, {declared} declared in guest headers, {len(unmet)} not as declared (!)")
    lines += [f"  {shown_name(cell.guest.name)} on {cell.platform}: expected {cell.expected.value}, got {cell.verdict}"
              for cell in unmet if cell.expected is not None]
    return "\n".join(lines)


def format_markdown(cells: Sequence[Cell], platforms: Sequence[str]) -> str:
    """The matrix as a Markdown table (docs/matrix.md's), each cell its verdict and a failing guest's exit code."""
    guests = list(dict.fromkeys(cell.guest for cell in cells))
    by_key = {(cell.guest, cell.platform): cell for cell in cells}
    lines = ["| guest | " + " | ".join(platforms) + " |", "|---" * (len(platforms) + 1) + "|"]
    for guest in guests:
        row = [_markdown_cell(by_key.get((guest, platform))) for platform in platforms]
        lines.append(f"| `{shown_name(guest.name)}` | " + " | ".join(row) + " |")
    return "\n".join(lines)


def _markdown_cell(cell: Cell | None) -> str:
    return "-" if cell is None else cell.shown()


def footnotes(cells: Sequence[Cell]) -> dict[str, int]:
    """A number for each distinct reason a cell ended for, in the order the reasons first appear."""
    reasons = dict.fromkeys(cell.note for cell in cells if cell.reason)
    return {note: number for number, note in enumerate(reasons, 1)}


def _shown(cell: Cell | None, notes: dict[str, int]) -> str:
    if cell is None:
        return "-"  # not run: a Ctrl-C stopped the matrix first
    return cell.shown(notes[cell.note] if cell.reason else None)


def platforms_option(text: str) -> list[str] | None:
    """``--platforms a,b``: each a platform that exists, each once, in the order given; ``all`` (None): every one."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if names == [EVERY_PLATFORM]:
        return None
    if not names:
        raise argparse.ArgumentTypeError(f"name at least one platform; the platforms are {', '.join(PROFILES)}")
    for name in names:
        if name == EVERY_PLATFORM:
            raise argparse.ArgumentTypeError(f"{EVERY_PLATFORM!r} stands alone: it is every platform")
        try:
            profile(name)
        except UnknownPlatform as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return names
