"""``suite [PATH...]``: guests from files and folders (the bundled ones by default), run and tabulated."""

from __future__ import annotations

import argparse
import json
import sys

from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends.commands.common import (
    FAIL_STATUS,
    INTERRUPTED_STATUS,
    PASS_STATUS,
    USAGE_ERROR,
    USER_ERRORS,
    add_cache_option,
    use_cache,
)
from pmtimer_harness.frontends.suite import format_table, format_tap, guests_in
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.options import add_machine_options
from pmtimer_harness.tools.runner import run_guest


def add_to(commands: argparse._SubParsersAction) -> None:
    suite = commands.add_parser("suite", help="run guests from files and folders (default: the bundled ones)")
    suite.add_argument("paths", nargs="*", metavar="PATH",
                       help="guest files (.asm, .bin) or folders of .asm guests, searched below (not include/)")
    output = suite.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    output.add_argument("--tap", action="store_true", help="print TAP version 13, one test point per guest")
    add_cache_option(suite)
    add_machine_options(suite)
    suite.set_defaults(handler=command_suite)


def command_suite(args: argparse.Namespace) -> int:
    from pmtimer_harness.frontends.progress import SuiteProgress  # tqdm: only the suite needs it

    guests = guests_in(args.paths)
    runs = []
    with SuiteProgress(len(guests)) as progress:
        for guest in guests:
            progress.starting(shown_name(guest.name))
            try:
                runs.append(run_guest(guest, args, use_cache=use_cache(args)))
            except USER_ERRORS as error:
                print(f"harness: error: {shown_name(guest.name)}: {error}", file=sys.stderr)
                return USAGE_ERROR
            progress.finished(runs[-1])
            if runs[-1].result.verdict is Verdict.INTERRUPTED:
                break  # Ctrl-C stops the suite, not just the guest it fell on
    if args.json:
        print(json.dumps([run.as_dict() for run in runs], indent=2, default=str))
    elif args.tap:
        print(format_tap(runs))
    else:
        print(format_table(runs))
    if runs and runs[-1].result.verdict is Verdict.INTERRUPTED:
        return INTERRUPTED_STATUS
    return PASS_STATUS if all(run.as_expected for run in runs) else FAIL_STATUS
