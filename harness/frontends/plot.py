"""``python -m pmtimer_harness plot GUEST -o timer.png``: the timer values a guest read, against virtual time.

Runs the guest with an observer on the port bus and keeps the reads of the PM
timer: for each, the virtual time, the value and the step from the read before
(``(value - previous) mod 2^width``, taken as negative past half the span: a
backward step).  Two panels show them: the counter (a wrap shows as the value
dropping to zero; the moments its top bit toggles, when TMR_STS sets, are
vertical lines) and the steps, where PIIX4's unlatched reads (256 ticks behind)
and a timer that jumps stand out from the flat line of a steady poll.  Both axes
fit the reads drawn.  ``--view counter`` or ``--view steps`` draws one panel.

A read is marked failed when it stepped backwards, read all ones, or has bits
set above the timer's width; it is marked a jump when its step is off the trend
(the median of the three steps before it).  Past ``MAX_PLOT_POINTS`` ordinary
reads are thinned evenly, and the command says so; marked reads are never
thinned, up to ``MAX_MARKED_POINTS`` of them.

matplotlib is an optional extra: ``pip install -e '.[plot]'``; everything but the
drawing works without it.
"""

from __future__ import annotations

import argparse
import enum
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
MAX_MARKED_POINTS = 100_000  # PIIX4 fails 4.2% of reads: a long poll could otherwise keep them all
ALL_ONES = 0xFFFF_FFFF  # what a 4-byte read of a port no device claims returns
OFF_TREND_TICKS = 8  # a steady poll's steps differ by a tick or two of rounding; a stepped timer's by its quantum
TREND_STEPS = 3  # the trend is their median: one bad read cannot move it
VIEWS = ("both", "counter", "steps")


class ReadKind(enum.Enum):
    ORDINARY = "ordinary"
    JUMP = "jump"  # a step well off the trend of the steps before it
    FAILED = "failed"  # a backward step, all ones, or bits above the timer's width


class PlotError(Exception):
    """A plot that cannot be made as asked; the message is one line."""


class NothingToPlot(PlotError):
    pass


class PlotUnavailable(Exception):
    def __init__(self) -> None:
        super().__init__("plotting needs matplotlib: pip install -e '.[plot]' in the harness's folder "
                         "(or pip install matplotlib)")


def signed_step(value: int, previous: int, width: int) -> int:
    """``value - previous`` on a ``width``-bit counter: forward across a wrap, negative past half the span."""
    span = 1 << width
    step = (value - previous) % span
    return step - span if step >= span // 2 else step


def off_trend(step: int, recent: list[int]) -> bool:
    """Whether ``step`` is far from the median of the steps before it (by 1/16 of it, and at least a few ticks)."""
    if len(recent) < TREND_STEPS:
        return False
    trend = sorted(recent)[TREND_STEPS // 2]
    return abs(step - trend) > abs(trend) // 16 + OFF_TREND_TICKS


@dataclass
class TimerReads:
    """The 4-byte reads of the timer port: (time, value, step, kind), ordinary reads thinned to ``limit``.

    When the ordinary reads fill the list, every other one is dropped and from
    then on only every ``stride``-th is kept: memory stays bounded however long
    the guest polls, and the points still span the whole run.  A failed read
    or a jump is always kept (its step is the one from the read before it,
    drawn or not), up to ``marked_limit`` of them; the first read has step 0.
    """

    port: int
    width: int = 32
    limit: int = MAX_PLOT_POINTS
    marked_limit: int = MAX_MARKED_POINTS
    stride: int = 1
    seen: int = 0
    failed: int = 0
    jumps: int = 0
    ordinary_kept: int = 0
    times_ns: list[int] = field(default_factory=list)
    values: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    kinds: list[ReadKind] = field(default_factory=list)
    previous: int | None = None
    recent_steps: list[int] = field(default_factory=list)
    ordinary_seen: int = 0

    def observe(self, access: PortAccess, now_ns: int) -> None:
        if access.direction != IN or access.width != 4 or access.port != self.port:
            return
        value = access.value or 0
        kind, step = self.classify(value)
        self.seen += 1
        if kind is ReadKind.ORDINARY:
            self.keep_ordinary(now_ns, value, step)
        elif len(self.kinds) - self.ordinary_kept < self.marked_limit:
            self.keep(now_ns, value, step, kind)

    def classify(self, value: int) -> tuple[ReadKind, int]:
        """The read's kind and its step; counts it, and moves the trend on."""
        previous, self.previous = self.previous, value
        if previous is None:
            kind, step = ReadKind.ORDINARY, 0
        else:
            step = signed_step(value, previous, self.width)
            kind = ReadKind.JUMP if off_trend(step, self.recent_steps) else ReadKind.ORDINARY
            self.recent_steps.append(step)
            if len(self.recent_steps) > TREND_STEPS:
                del self.recent_steps[0]
            if step < 0:
                kind = ReadKind.FAILED
        if value == ALL_ONES or value >> self.width:
            kind = ReadKind.FAILED
        if kind is ReadKind.FAILED:
            self.failed += 1
        elif kind is ReadKind.JUMP:
            self.jumps += 1
        return kind, step

    def keep_ordinary(self, now_ns: int, value: int, step: int) -> None:
        if self.ordinary_seen % self.stride == 0:
            self.keep(now_ns, value, step, ReadKind.ORDINARY)
            self.ordinary_kept += 1
            if self.ordinary_kept >= self.limit:
                self.thin_ordinary()
        self.ordinary_seen += 1

    def keep(self, now_ns: int, value: int, step: int, kind: ReadKind) -> None:
        self.times_ns.append(now_ns)
        self.values.append(value)
        self.steps.append(step)
        self.kinds.append(kind)

    def thin_ordinary(self) -> None:
        """Drop every other ordinary point; marked points all stay."""
        kept = []
        ordinary = 0
        for index, kind in enumerate(self.kinds):
            if kind is not ReadKind.ORDINARY:
                kept.append(index)
            else:
                if ordinary % 2 == 0:
                    kept.append(index)
                ordinary += 1
        self.times_ns = [self.times_ns[i] for i in kept]
        self.values = [self.values[i] for i in kept]
        self.steps = [self.steps[i] for i in kept]
        self.kinds = [self.kinds[i] for i in kept]
        self.ordinary_kept = (ordinary + 1) // 2
        self.stride *= 2

    def marked(self, kind: ReadKind) -> list[int]:
        """The indexes of the points of ``kind``."""
        return [index for index, each in enumerate(self.kinds) if each is kind]

    def dropped(self) -> str | None:
        """One line saying what was left out, or None when every read is drawn."""
        marked = self.failed + self.jumps
        marked_kept = len(self.kinds) - self.ordinary_kept
        if self.stride == 1 and marked_kept == marked:
            return None
        line = (f"{self.seen:,} timer reads, {len(self.values):,} points drawn: "
                f"1 in {self.stride:,} ordinary reads (at most {self.limit:,})")
        if marked_kept == marked:
            return f"{line}, every failed read and jump"
        return f"{line}, the first {marked_kept:,} of {marked:,} failed reads and jumps"

    def as_dict(self) -> dict[str, int]:
        return {"seen": self.seen, "drawn": len(self.values), "failed": self.failed, "jumps": self.jumps}


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


def read_timer(guest: str | Path, options: argparse.Namespace | list[str],
               use_cache: bool | None = None) -> tuple[GuestRun, TimerReads]:
    """Run the guest and keep its timer reads: what the plot is drawn from."""
    _, config = guest_config(guest, options)
    if config.timer_port is None:
        raise NothingToPlot(f"platform {config.platform} has no PM timer to plot")
    reads = TimerReads(config.timer_port, width=config.timer_width)
    run = run_guest(guest, options, observer=reads.observe, use_cache=use_cache)
    if not reads.times_ns:
        raise NothingToPlot(f"{Path(guest).name} never read the timer at port {config.timer_port:#x}")
    return run, reads


def plot_guest(
    guest: str | Path, options: argparse.Namespace | list[str], output: Path, use_cache: bool | None = None,
    view: str = "both",
) -> Plot:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no screen needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable() from None
    panels = 2 if view == "both" else 1
    figure, axes = plt.subplots(panels, 1, figsize=(9, 3 + 2.5 * panels), dpi=100, sharex=True, squeeze=False)
    try:
        kind = picture_format(output, figure.canvas.get_supported_filetypes())
        output_target(output)  # refuse a directory or a device before the run, not after
        run, reads = read_timer(guest, options, use_cache)
        draw(list(axes[:, 0]), run, reads, view)
        figure.tight_layout()
        with open_output(output) as file:
            figure.savefig(file, format=kind)
    finally:
        plt.close(figure)
    return Plot(run, output_target(output), reads)


def draw(panels: list[Axes], run: GuestRun, reads: TimerReads, view: str) -> None:
    panels[0].set_title(f"{run.guest.name}: {reads.seen:,} reads ({reads.failed:,} failed, {reads.jumps:,} jumps), "
                        f"{run.config.timer_width}-bit timer, verdict {run.result.verdict.value}")
    if view in ("both", "counter"):
        draw_counter(panels[0], run, reads)
    if view in ("both", "steps"):
        draw_steps(panels[-1], reads)
    for axes in panels:
        if axes is panels[0] and view != "steps":
            mark(axes, reads, reads.values, (ReadKind.FAILED,))  # jumps there would hide the sawtooth
        else:
            mark(axes, reads, reads.steps, (ReadKind.JUMP, ReadKind.FAILED))
        axes.grid(True, linewidth=0.3)
    panels[-1].set_xlabel("virtual time (s)" if run.result.virtual_ns is not None else "host time (s)")
    panels[-1].legend(*legend_entries(panels), loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=4,
                      fontsize="small", frameon=False)


def draw_counter(axes: Axes, run: GuestRun, reads: TimerReads) -> None:
    import matplotlib.ticker

    seconds = [t / 1e9 for t in reads.times_ns]
    axes.plot(seconds, reads.values, marker=".", markersize=2, linewidth=0.6, color="tab:blue", label="PM_TMR read")
    for index, toggle_ns in enumerate(toggle_times_ns(run, reads.times_ns[-1])):
        axes.axvline(toggle_ns / 1e9, color="tab:gray", linewidth=0.8, linestyle="--",
                     label="top bit toggles (TMR_STS)" if index == 0 else None)
    axes.set_ylabel("timer value")
    span = ordinary_range(reads)
    if span is not None:
        low, high = span
        margin = max((high - low) // 20, 1)
        axes.set_ylim(low - margin, high + margin)
    axes.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, integer=True))
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{int(value):#x}"))


def draw_steps(axes: Axes, reads: TimerReads) -> None:
    import matplotlib.ticker

    seconds = [t / 1e9 for t in reads.times_ns[1:]]
    steps = reads.steps[1:]  # the first read has no step
    axes.plot(seconds, steps, marker=".", markersize=2, linestyle="none", color="tab:green",
              label="step from the read before (ticks)")
    axes.set_ylabel("step (ticks)")
    linear = step_linear_range(steps)
    if linear is not None:
        axes.set_yscale("symlog", linthresh=linear)
    else:
        axes.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axes.ticklabel_format(axis="y", useOffset=False, style="plain")


def step_linear_range(steps: list[int]) -> int | None:
    """Where the step axis stops being linear, when a few huge steps would flatten the rest; None: linear."""
    if not steps:
        return None
    typical = sorted(abs(step) for step in steps)[len(steps) // 2]
    largest = max(abs(step) for step in steps)
    linear = max(2 * typical, 16)
    return linear if largest > 16 * linear else None


def ordinary_range(reads: TimerReads) -> tuple[int, int] | None:
    """The lowest and highest value of the ordinary reads: the counter axis, so one bad read cannot flatten it."""
    values = [value for value, kind in zip(reads.values, reads.kinds, strict=True) if kind is ReadKind.ORDINARY]
    return (min(values), max(values)) if values else None


MARK_STYLES = {
    ReadKind.JUMP: {"marker": "D", "color": "tab:orange", "label": "jump (off the trend)"},
    ReadKind.FAILED: {"marker": "x", "color": "tab:red", "label": "failed read (backward, all ones)"},
}


def mark(axes: Axes, reads: TimerReads, series: list[int], kinds: tuple[ReadKind, ...]) -> None:
    """The reads of ``kinds`` over ``series``; one beyond the axis is drawn at its edge, pointing out."""
    low, high = axes.get_ylim()
    for kind in kinds:
        style = MARK_STYLES[kind]
        indexes = reads.marked(kind)
        inside = [i for i in indexes if low <= series[i] <= high]
        if inside:
            axes.scatter([reads.times_ns[i] / 1e9 for i in inside], [series[i] for i in inside], s=18, zorder=3,
                         linewidths=1, **style)
        for edge, beyond, marker in ((high, [i for i in indexes if series[i] > high], "^"),
                                     (low, [i for i in indexes if series[i] < low], "v")):
            if beyond:
                axes.scatter([reads.times_ns[i] / 1e9 for i in beyond], [edge] * len(beyond), s=30, zorder=3,
                             marker=marker, color=style["color"], clip_on=False)
    axes.set_ylim(low, high)


def legend_entries(panels: list[Axes]) -> tuple[list, list[str]]:
    """Each label once, across the panels."""
    handles, labels = [], []
    for axes in panels:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels
