"""``matrix [PATH...] [--platforms a,b|all] [machine options] [--json | --markdown]``: which guest works where."""

from __future__ import annotations

import argparse
import json

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
from pmtimer_harness.frontends.matrix import (
    MATRIX_TIMEOUT_S,
    format_markdown,
    format_matrix,
    platforms_option,
    run_matrix,
)
from pmtimer_harness.frontends.suite import guests_in
from pmtimer_harness.platform.profiles import PROFILES
from pmtimer_harness.tools.guest import checked_header
from pmtimer_harness.tools.options import OPTION_FIELDS, machine_config, number, seconds

UNSET = argparse.SUPPRESS  # an option not given leaves the guest's header (or the matrix's budget) to decide


def add_to(commands: argparse._SubParsersAction) -> None:
    matrix = commands.add_parser("matrix", help="run guests on platforms: a compatibility table")
    matrix.add_argument("paths", nargs="*", metavar="PATH",
                        help="guest files (.asm, .bin) or folders of .asm guests, searched below (not include/); "
                             "default: the bundled ones")
    matrix.add_argument("--platforms", type=platforms_option, default=None, metavar="A,B,...",
                        help="the platforms, comma-separated, or all (the default)")
    shape = matrix.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="a JSON list, one object per guest and platform")
    shape.add_argument("--markdown", action="store_true", help="a Markdown table (as docs/matrix.md shows it)")
    add_cache_option(matrix)
    add_jobs_option(matrix, "cells")
    add_cell_options(matrix)
    matrix.set_defaults(handler=command_matrix)


def add_cell_options(parser: argparse.ArgumentParser) -> None:
    """The machine options of ``run`` that mean the same in every column (the platform is the column's)."""
    cell = parser.add_argument_group("every cell's machine (over each guest's header)")
    cell.add_argument("--quirk", dest="quirks", action="append", default=UNSET, metavar="NAME",
                      help="add one platform's flaw to every platform, e.g. unlatched-reads (repeatable)")
    cell.add_argument("--clock", choices=("virtual", "host"), default=UNSET,
                      help="virtual: from instruction counts (default); host: monotonic host time")
    cell.add_argument("--insn-ns", type=number, default=UNSET, help="virtual nanoseconds per instruction (default 1)")
    cell.add_argument("--io-ns", type=number, default=UNSET, help="virtual nanoseconds per port access (default 1000)")
    cell.add_argument("--device", action="append", default=UNSET, metavar="SPEC",
                      help="attach your own device to every cell's board (repeatable; as run --device)")
    cell.add_argument("--timeout", type=seconds, default=UNSET,
                      help=f"wall-clock budget per cell in seconds (default {MATRIX_TIMEOUT_S:g})")


def command_matrix(args: argparse.Namespace) -> int:
    from pmtimer_harness.frontends.progress import SuiteProgress  # tqdm: only where progress is shown

    guests = guests_in(args.paths)
    # The command line's machine, and every header, checked before the first cell runs: a mistake
    # there costs no table.
    machine_config((), args)
    check_specs(args)
    for guest in guests:
        checked_header(guest)
    platforms = args.platforms or list(PROFILES)
    given = {name: value for name, value in vars(args).items() if name in (*OPTION_FIELDS, "device")}
    with SuiteProgress(len(guests) * len(platforms), unit="cell") as progress:
        cells = run_matrix(guests, platforms, given, USER_ERRORS, use_cache(args), progress, jobs(args))
    if args.json:
        print(json.dumps([cell.as_dict() for cell in cells], indent=2))
    elif args.markdown:
        print(format_markdown(cells, platforms))
    else:
        print(format_matrix(cells, platforms))
    if any(cell.verdict == Verdict.INTERRUPTED.value for cell in cells):
        return INTERRUPTED_STATUS
    return FAIL_STATUS if any(cell.unmet for cell in cells) else PASS_STATUS
