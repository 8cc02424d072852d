"""``platforms [NAME] [--json | --markdown]``: the platform profiles a run can pick, or one in full."""

from __future__ import annotations

import argparse
import json

from pmtimer_harness.frontends.commands.peer_options import add_timeout
from pmtimer_harness.platform.listing import as_json, detail, expected_fingerprint, markdown, table
from pmtimer_harness.platform.profiles import PlatformError, profile


def add_to(commands: argparse._SubParsersAction) -> None:
    platforms = commands.add_parser("platforms", help="list the platform profiles (--platform NAME) and quirks")
    platforms.add_argument("name", nargs="?", metavar="NAME",
                           help="one profile in full: every property with its source, and the fingerprint the "
                                "probe shows under it (the probe runs, as fingerprint --platform NAME)")
    shape = platforms.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true",
                       help="JSON: every profile, each property with its source or marked as a model "
                            "(with NAME: that one, and its fingerprint)")
    shape.add_argument("--markdown", action="store_true", help="docs/platforms.md, as generated from the profiles")
    add_timeout(platforms, "with NAME: stop the probe after this many seconds (default 60)")
    platforms.set_defaults(handler=command_platforms)


def command_platforms(args: argparse.Namespace) -> int:
    if args.name is not None:
        return _one_profile(args)
    if args.json:
        print(json.dumps(as_json(), indent=2))
    elif args.markdown:
        print(markdown(), end="")
    else:
        print(table())
    return 0


def _one_profile(args: argparse.Namespace) -> int:
    from pmtimer_harness.frontends.commands.common import stop_with
    from pmtimer_harness.frontends.commands.fingerprint import ProbeFailed, of_platform

    if args.markdown:
        return stop_with(args, "--markdown is the whole listing: give no NAME with it")
    try:
        chosen = profile(args.name)
        fingerprint = of_platform(args.name, args.timeout)
    except PlatformError as error:
        return stop_with(args, str(error))
    except ProbeFailed as error:
        return stop_with(args, str(error), error.status)
    if args.json:
        print(json.dumps({**chosen.as_dict(), "fingerprint": expected_fingerprint(chosen, fingerprint)}, indent=2))
    else:
        print(detail(chosen, fingerprint))
    return 0
