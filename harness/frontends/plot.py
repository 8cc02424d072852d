"""``python -m pmtimer_harness plot GUEST -o timer.png``: the timer values a guest read, against virtual time.

Runs the guest with an observer on the port bus, keeps the reads of the PM
timer (virtual time, value), and draws them with matplotlib: a wrap shows as
the counter dropping to zero, and the moments the timer's top bit toggles
(when TMR_STS sets) are marked as vertical lines.  Past ``MAX_PLOT_POINTS``
reads the points are thinned evenly, and the command says so.

matplotlib is an optional extra: ``pip install .[plot]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pmtimer_harness.core.bus import IN, PortAccess
from pmtimer_harness.tools.output import open_output, output_target
from pmtimer_harness.tools.runner import GuestRun, guest_config, run_guest

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_TOGGLE_MARKS = 200
MAX_PLOT_POINTS = 100_000  # a 10 s poll reads the timer ~10 million times: a picture needs far fewer


class PlotError(Exception):
    """A plot that cannot be made as asked; the message is one line."""


class NothingToPlot(PlotError):
    pass


class PlotUnavailable(Exception):
    def __init__(self) -> None:
        super().__init__("plotting needs matplotlib: pip install '.[plot]' (or pip install matplotlib)")


@dataclass
class TimerReads:
    """The 4-byte reads of the timer port as (time, value), thinned to at most ``limit`` points.

    When the list fills, every other point is dropped and from then on only
    every ``stride``-th read is kept: memory stays bounded however long the
    guest polls, and the points still span the whole run.
    """

    port: int
    limit: int = MAX_PLOT_POINTS
    stride: int = 1
    seen: int = 0
    times_ns: list[int] = field(default_factory=list)
    values: list[int] = field(default_factory=list)

    def observe(self, access: PortAccess, now_ns: int) -> None:
        if access.direction != IN or access.width != 4 or access.port != self.port:
            return
        if self.seen % self.stride == 0:
            self.times_ns.append(now_ns)
            self.values.append(access.value or 0)
            if len(self.times_ns) >= self.limit:
                del self.times_ns[1::2], self.values[1::2]
                self.stride *= 2
        self.seen += 1

    def dropped(self) -> str | None:
        """One line saying what was left out, or None when every read is drawn."""
        if self.stride == 1:
            return None
        return (f"{self.seen:,} timer reads, 1 in {self.stride:,} drawn: {len(self.values):,} points "
                f"(at most {self.limit:,})")


@dataclass
class Plot:
    run: GuestRun
    written: Path  # the file written: a link's target
    reads: TimerReads


def toggle_times_ns(run: GuestRun, end_ns: int) -> list[int]:
    """When the timer's top bit toggled during the run (TMR_STS setting), at most MAX_TOGGLE_MARKS."""
    from pmtimer_harness.devices.acpi_pm1 import Pm1Registers
    from pmtimer_harness.devices.pm_timer import PmTimer

    config = run.config
    pm1 = Pm1Registers(PmTimer(port=config.timer_port, width=config.timer_width, start=config.timer_start))
    times = []
    now_ns = 0
    while len(times) < MAX_TOGGLE_MARKS:
        now_ns = pm1.next_toggle_ns(now_ns)
        if now_ns > end_ns:
            break
        times.append(now_ns)
    return times


def picture_format(output: Path, supported: dict[str, str]) -> str:
    """The picture format ``output``'s suffix names; matplotlib would otherwise add a suffix of its own."""
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in supported:
        choices = ", ".join(f".{name}" for name in sorted(supported))
        raise PlotError(f"{output}: the picture's name must end in one of {choices}")
    return suffix


def plot_guest(
    guest: str | Path, options: argparse.Namespace | list[str], output: Path, use_cache: bool | None = None
) -> Plot:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no screen needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable() from None
    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
    try:
        kind = picture_format(output, figure.canvas.get_supported_filetypes())
        output_target(output)  # refuse a directory or a device before the run, not after
        _, config = guest_config(guest, options)
        if config.timer_port is None:
            raise NothingToPlot(f"platform {config.platform} has no PM timer to plot")
        reads = TimerReads(config.timer_port)
        run = run_guest(guest, options, observer=reads.observe, use_cache=use_cache)
        if not reads.times_ns:
            raise NothingToPlot(f"{Path(guest).name} never read the timer at port {config.timer_port:#x}")
        draw(axes, run, reads)
        figure.tight_layout()
        with open_output(output) as file:
            figure.savefig(file, format=kind)
    finally:
        plt.close(figure)
    return Plot(run, output_target(output), reads)


def draw(axes: Axes, run: GuestRun, reads: TimerReads) -> None:
    import matplotlib.ticker

    times_ns, values = reads.times_ns, reads.values
    seconds = [t / 1e9 for t in times_ns]
    axes.plot(seconds, values, marker=".", markersize=2, linewidth=0.6, color="tab:blue", label="PM_TMR read")
    for index, toggle_ns in enumerate(toggle_times_ns(run, times_ns[-1])):
        axes.axvline(toggle_ns / 1e9, color="tab:red", linewidth=0.8, linestyle="--",
                     label="top bit toggles (TMR_STS)" if index == 0 else None)
    axes.set_xlabel("virtual time (s)" if run.result.virtual_ns is not None else "host time (s)")
    axes.set_ylabel("timer value")
    axes.set_title(f"{run.guest.name}: {reads.seen:,} reads, {run.config.timer_width}-bit timer, "
                   f"verdict {run.result.verdict.value}")
    width = run.config.timer_width
    axes.set_yticks([step << (width - 2) for step in range(5)])  # quarters of the span: 0 .. 2^width
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{int(value):#x}"))
    axes.grid(True, linewidth=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small", frameon=False)
