"""``plot GUEST -o FILE``: the timer values a guest read, drawn against time."""

from __future__ import annotations

import argparse
from pathlib import Path

from pmtimer_harness.frontends.plot import plot_guest
from pmtimer_harness.tools.options import add_machine_options


def add_to(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser("plot", help="draw the timer values a guest read against time (needs matplotlib)")
    plot.add_argument("guest", help="path to a NASM source (.asm) or raw flat binary (.bin)")
    plot.add_argument("-o", "--output", default="timer.png", help="the picture to write (default timer.png)")
    add_machine_options(plot)
    plot.set_defaults(handler=command_plot)


def command_plot(args: argparse.Namespace) -> int:
    output = Path(args.output)
    run = plot_guest(args.guest, args, output)
    print(f"{output}: {run.guest.name}, verdict {run.result.verdict.value}")
    return 0
