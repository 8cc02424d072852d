"""``platforms [--json | --markdown]``: the platform profiles a run can pick."""

from __future__ import annotations

import argparse
import json

from pmtimer_harness.platform.listing import as_json, markdown, table


def add_to(commands: argparse._SubParsersAction) -> None:
    platforms = commands.add_parser("platforms", help="list the platform profiles (--platform NAME) and quirks")
    shape = platforms.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="a JSON list of profiles, with every property's source")
    shape.add_argument("--markdown", action="store_true", help="docs/platforms.md, as generated from the profiles")
    platforms.set_defaults(handler=command_platforms)


def command_platforms(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(as_json(), indent=2))
    elif args.markdown:
        print(markdown(), end="")
    else:
        print(table())
    return 0
