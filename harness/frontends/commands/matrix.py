"""``matrix [GUEST...] [--platforms a,b] [--json | --markdown]``: which guest works on which platform."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends.commands.common import FAIL_STATUS, INTERRUPTED_STATUS, PASS_STATUS, USER_ERRORS
from pmtimer_harness.frontends.matrix import format_markdown, format_matrix, platforms_option, run_matrix
from pmtimer_harness.frontends.suite import bundled_guests
from pmtimer_harness.platform.profiles import PROFILES
from pmtimer_harness.tools.guest import checked_header


def add_to(commands: argparse._SubParsersAction) -> None:
    matrix = commands.add_parser("matrix", help="run guests on platforms: a compatibility table")
    matrix.add_argument("guests", nargs="*", metavar="GUEST", help="guests to run (default: the bundled ones)")
    matrix.add_argument("--platforms", type=platforms_option, default=None, metavar="A,B,...",
                        help="the platforms, comma-separated (default: all)")
    shape = matrix.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="a JSON list, one object per guest and platform")
    shape.add_argument("--markdown", action="store_true", help="a Markdown table (as the README shows it)")
    matrix.set_defaults(handler=command_matrix)


def command_matrix(args: argparse.Namespace) -> int:
    guests = list(dict.fromkeys(Path(guest) for guest in args.guests)) or bundled_guests()
    for guest in guests:  # every header read before the first cell runs: a bad one costs no table
        checked_header(guest)
    platforms = args.platforms or list(PROFILES)
    cells = run_matrix(guests, platforms, user_errors=USER_ERRORS)
    if args.json:
        print(json.dumps([cell.as_dict() for cell in cells], indent=2))
    elif args.markdown:
        print(format_markdown(cells, platforms))
    else:
        print(format_matrix(cells, platforms))
    if cells and cells[-1].verdict == Verdict.INTERRUPTED.value:
        return INTERRUPTED_STATUS
    return FAIL_STATUS if any(cell.unmet for cell in cells) else PASS_STATUS
