"""``snapshot info FILE``: what a snapshot holds."""

from __future__ import annotations

import argparse
import json

from pmtimer_harness.core.snapshot_format import SnapshotError


def add_to(commands: argparse._SubParsersAction) -> None:
    snapshot = commands.add_parser("snapshot", help="inspect a snapshot")
    actions = snapshot.add_subparsers(dest="snapshot_command", required=True, metavar="ACTION")
    info = actions.add_parser("info", help="print the header, configuration and chunks")
    info.add_argument("file", help="a snapshot")
    info.add_argument("--json", action="store_true", help="print one JSON object: format, configuration, time, chunks")
    info.set_defaults(handler=command_snapshot_info)


def command_snapshot_info(args: argparse.Namespace) -> int:
    from pmtimer_harness.core.snapshot import describe, summary
    from pmtimer_harness.tools.files import shown_name
    from pmtimer_harness.tools.snapshot_file import read_snapshot_file

    data = read_snapshot_file(args.file)
    try:
        print(json.dumps(summary(data), indent=2) if args.json else describe(data))
    except SnapshotError as error:
        raise SnapshotError(f"{shown_name(args.file)}: {error}") from None
    return 0
