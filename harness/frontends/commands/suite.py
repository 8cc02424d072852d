"""``suite``: every bundled guest, run and tabulated."""

from __future__ import annotations

import argparse
import json
import sys

from pmtimer_harness.frontends.commands.common import USAGE_ERROR, USER_ERRORS, add_cache_option, use_cache
from pmtimer_harness.frontends.suite import bundled_guests, format_table
from pmtimer_harness.tools.options import add_machine_options
from pmtimer_harness.tools.runner import run_guest


def add_to(commands: argparse._SubParsersAction) -> None:
    suite = commands.add_parser("suite", help="run every bundled guest and print a table")
    suite.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    add_cache_option(suite)
    add_machine_options(suite)
    suite.set_defaults(handler=command_suite)


def command_suite(args: argparse.Namespace) -> int:
    runs = []
    from pmtimer_harness.frontends.progress import SuiteProgress  # tqdm: only the suite needs it

    guests = bundled_guests()
    with SuiteProgress(len(guests)) as progress:
        for guest in guests:
            progress.starting(guest.name)
            try:
                runs.append(run_guest(guest, args, use_cache=use_cache(args)))
            except USER_ERRORS as error:
                print(f"harness: error: {guest.name}: {error}", file=sys.stderr)
                return USAGE_ERROR
            progress.finished(runs[-1])
    if args.json:
        print(json.dumps([run.as_dict() for run in runs], indent=2, default=str))
    else:
        print(format_table(runs))
    return 0 if all(run.as_expected for run in runs) else 1
