"""``python -m pmtimer_harness plot GUEST -o timer.png``: the timer values a guest read, against virtual time.

Runs the guest with an observer on the port bus, keeps every read of the PM
timer (virtual time, value), and draws them with matplotlib: a wrap shows as
the counter dropping to zero, and the moments the timer's top bit toggles
(when TMR_STS sets) are marked as vertical lines.

matplotlib is an optional extra: ``pip install .[plot]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from pmtimer_harness.core.bus import IN, PortAccess
from pmtimer_harness.tools.runner import GuestRun, run_guest

MAX_TOGGLE_MARKS = 200


class NothingToPlot(Exception):
    pass


class PlotUnavailable(Exception):
    def __init__(self) -> None:
        super().__init__("plotting needs matplotlib: pip install '.[plot]' (or pip install matplotlib)")


@dataclass
class PortReads:
    """Every 4-byte IN of a run: (port, time, value)."""

    reads: list[tuple[int, int, int]] = field(default_factory=list)

    def observe(self, access: PortAccess, now_ns: int) -> None:
        if access.direction == IN and access.width == 4:
            self.reads.append((access.port, now_ns, access.value or 0))

    def of_port(self, port: int) -> tuple[list[int], list[int]]:
        times = [now_ns for read_port, now_ns, _ in self.reads if read_port == port]
        values = [value for read_port, _, value in self.reads if read_port == port]
        return times, values


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


def plot_guest(guest: str | Path, options: argparse.Namespace | list[str], output: Path) -> GuestRun:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no screen needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable() from None
    reads = PortReads()
    run = run_guest(guest, options, observer=reads.observe)
    times_ns, values = reads.of_port(run.config.timer_port)
    if not times_ns:
        raise NothingToPlot(f"{Path(guest).name} never read the timer at port {run.config.timer_port:#x}")
    end_ns = times_ns[-1]
    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
    seconds = [t / 1e9 for t in times_ns]
    axes.plot(seconds, values, marker=".", markersize=2, linewidth=0.6, color="tab:blue", label="PM_TMR read")
    for index, toggle_ns in enumerate(toggle_times_ns(run, end_ns)):
        axes.axvline(toggle_ns / 1e9, color="tab:red", linewidth=0.8, linestyle="--",
                     label="top bit toggles (TMR_STS)" if index == 0 else None)
    axes.set_xlabel("virtual time (s)" if run.result.virtual_ns is not None else "host time (s)")
    axes.set_ylabel("timer value")
    axes.set_title(f"{Path(guest).name}: {len(values):,} reads, {run.config.timer_width}-bit timer, "
                   f"verdict {run.result.verdict.value}")
    width = run.config.timer_width
    axes.set_yticks([step << (width - 2) for step in range(5)])  # quarters of the span: 0 .. 2^width
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{int(value):#x}"))
    axes.grid(True, linewidth=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small", frameon=False)
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)
    return run
