"""``suite [PATH...]``: guests from files and folders (the bundled ones by default), run and tabulated.

``-j N`` runs N guests at a time, each in a worker process; the rows, their
order and the documents are those of a run in turn (``-j 1``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends.commands.common import (
    FAIL_STATUS,
    INTERRUPTED_STATUS,
    PASS_STATUS,
    USER_ERRORS,
    add_cache_option,
    add_jobs_option,
    check_specs,
    jobs,
    use_cache,
)
from pmtimer_harness.frontends.suite import SuiteRow, Unbuilt, format_table, format_tap, guests_in
from pmtimer_harness.tools.assembler import NasmNotFound
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.guest import checked_header
from pmtimer_harness.tools.options import add_machine_options, machine_config
from pmtimer_harness.tools.parallel import run_jobs
from pmtimer_harness.tools.runner import run_guest


def add_to(commands: argparse._SubParsersAction) -> None:
    suite = commands.add_parser("suite", help="run guests from files and folders (default: the bundled ones)")
    suite.add_argument("paths", nargs="*", metavar="PATH",
                       help="guest files (.asm, .bin) or folders of .asm guests, searched below (not include/)")
    output = suite.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    output.add_argument("--tap", action="store_true", help="print TAP version 13, one test point per guest")
    add_cache_option(suite)
    add_jobs_option(suite, "guests")
    add_machine_options(suite)
    suite.set_defaults(handler=command_suite)


def command_suite(args: argparse.Namespace) -> int:
    from pmtimer_harness.frontends.progress import SuiteProgress  # tqdm: only the suite needs it

    guests = guests_in(args.paths)
    # The command line's machine, and every header, checked before the first guest runs: a mistake
    # there is the user's (a usage error), where a guest that cannot be built is that guest's row.
    machine_config((), args)
    check_specs(args)
    todo = [SuiteJob(guest, checked_header(guest).expect, args) for guest in guests]
    with SuiteProgress(len(guests)) as progress:
        rows = run_jobs(
            run_row, todo, jobs(args), died=SuiteJob.died, stops=_interrupted,
            starting=lambda index: progress.starting(shown_name(guests[index].name)),
            finished=lambda index, row: progress.finished(row),
        )
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2, default=str))
    elif args.tap:
        print(format_tap(rows))
    else:
        print(format_table(rows))
    if any(_interrupted(row) for row in rows):
        return INTERRUPTED_STATUS
    return PASS_STATUS if all(row.as_expected for row in rows) else FAIL_STATUS


@dataclass(frozen=True)
class SuiteJob:
    """One guest of the suite, as a worker process is handed it."""

    guest: Path
    expect: Verdict
    args: argparse.Namespace  # the command line's machine

    def died(self, reason: str) -> SuiteRow:
        """The row of a guest whose worker process died under it."""
        return Unbuilt(self.guest, self.expect, reason)


def run_row(job: SuiteJob) -> SuiteRow:
    """One guest's row: its run, or why it could not be built."""
    try:
        return run_guest(job.guest, job.args, use_cache=use_cache(job.args))
    except NasmNotFound:
        raise  # no guest can be built: the suite cannot run at all
    except USER_ERRORS as error:  # this guest cannot be built; the others still run
        return Unbuilt(job.guest, job.expect, str(error))


def _interrupted(row: SuiteRow) -> bool:
    # Ctrl-C stops the suite, not just the guest it fell on.
    return row.result.verdict is Verdict.INTERRUPTED
