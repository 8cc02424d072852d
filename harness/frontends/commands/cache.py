"""``cache info`` and ``cache clear``: the assembly cache's folder, size and entries."""

from __future__ import annotations

import argparse


def add_to(commands: argparse._SubParsersAction) -> None:
    cache = commands.add_parser("cache", help="show or clear the assembly cache")
    actions = cache.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    info = actions.add_parser("info", help="the cache folder, its entries and size")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.set_defaults(handler=command_info)
    actions.add_parser("clear", help="remove every cached assembly").set_defaults(handler=command_clear)


def command_info(args: argparse.Namespace) -> int:
    from pmtimer_harness.tools import cache

    if args.json:
        import json

        print(json.dumps(cache.summary(), indent=2))
    else:
        print(cache.describe())
    return 0


def command_clear(args: argparse.Namespace) -> int:
    from pmtimer_harness.tools import cache
    from pmtimer_harness.tools.files import shown_name

    removed = cache.clear()  # CacheError (one line, the usage status) when anything is left
    print(f"{shown_name(cache.folder())}: {removed} cached assemblies removed")
    return 0
