"""``plot GUEST -o FILE``: the timer values a guest read and the steps between them, drawn against time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pmtimer_harness.frontends.commands.common import VERDICT_STATUS, add_cache_option, use_cache
from pmtimer_harness.frontends.plot import VIEWS, plot_guest
from pmtimer_harness.tools.options import add_machine_options
from pmtimer_harness.tools.output import shown


def add_to(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser("plot", help="draw the timer values a guest read against time (needs matplotlib)")
    plot.add_argument("guest", help="path to a guest: NASM (.asm), C (.c, .S), ELF (.elf) or flat binary (.bin)")
    plot.add_argument("-o", "--output", default="timer.png",
                      help="the picture to write; its suffix names the format (default timer.png)")
    plot.add_argument("--view", choices=VIEWS, default="both",
                      help="both panels (default), the counter only, or only the steps between successive reads")
    plot.add_argument("--json", action="store_true", help="print the run as one JSON object, with the file written")
    add_cache_option(plot)
    add_machine_options(plot)
    plot.set_defaults(handler=command_plot)


def command_plot(args: argparse.Namespace) -> int:
    plot = plot_guest(args.guest, args, Path(args.output), use_cache=use_cache(args), view=args.view)
    dropped = plot.reads.dropped()
    if dropped is not None:
        print(f"harness: note: {dropped}", file=sys.stderr)
    if args.json:
        document = {"picture": str(plot.written), "timer_reads": plot.reads.as_dict(), **plot.run.as_dict()}
        print(json.dumps(document, indent=2, default=str))
    else:
        print(f"{shown(args.output)}: {plot.run.guest.name}, verdict {plot.run.result.verdict.value}")
    return VERDICT_STATUS[plot.run.result.verdict]  # as run's: the picture is drawn whatever the verdict
