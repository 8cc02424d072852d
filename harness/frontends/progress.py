"""Progress: the suite's, the matrix's and the differential's (a tqdm bar on a
terminal, one plain line per guest, cell or row elsewhere) and a long run's (a status line, on a terminal only).

Both go to standard error, so the results table on standard output stays
clean for a pipe or a file.  The status line is rewritten with a carriage
return and spaces alone, cut to the terminal's width: no escape codes, which a
Windows console without virtual-terminal processing prints as they are.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.timekeeping import VirtualTime
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.runner import GuestRun

if TYPE_CHECKING:
    from tqdm import tqdm


class SuiteProgress:
    def __init__(self, total: int, stream: TextIO | None = None, unit: str = "guest") -> None:
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.done = 0
        self._bar: tqdm | None = None  # made on entering, on a terminal only

    def __enter__(self) -> SuiteProgress:
        if self.interactive:
            from tqdm import tqdm  # imported only where a bar is drawn: it costs start-up time

            self._bar = tqdm(total=self.total, file=self.stream, unit=self.unit, leave=False)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()

    def starting(self, name: str) -> None:
        if self._bar is not None:
            self._bar.set_description(name)

    def finished(self, run: GuestRun) -> None:
        verdict = run.result.verdict.value + ("" if run.as_expected else " (UNEXPECTED)")
        self.finished_item(shown_name(run.guest.name), verdict, run.result.wall_seconds)

    def finished_item(self, name: str, outcome: str, wall_seconds: float) -> None:
        """One item done (a guest, a matrix cell, a differential row), ``outcome`` as its line says it."""
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
            return
        print(f"[{self.done}/{self.total}] {name}: {outcome} in {wall_seconds:.2f} s", file=self.stream, flush=True)


class RunProgress:
    """A status line for a long run on a terminal: instructions and time so far, every half second.

    Shown only after the first second, and only on a terminal; it reads the
    machine's counters from a background thread and never touches the CPU.
    """

    DELAY_S = 1.0
    INTERVAL_S = 0.5

    def __init__(self, machine: Machine, name: str, stream: TextIO | None = None) -> None:
        self.machine = machine
        self.name = name
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 0  # of the status line on screen: what the next one must cover

    def __enter__(self) -> RunProgress:
        if self.stream.isatty():
            self._thread = threading.Thread(target=self._report, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._width:
            self._rewrite("")

    def _report(self) -> None:
        began = time.monotonic()
        if self._stop.wait(self.DELAY_S):
            return
        while not self._stop.is_set():
            self._rewrite(self.status(time.monotonic() - began))
            self._stop.wait(self.INTERVAL_S)

    def _rewrite(self, text: str) -> None:
        # A line that wraps cannot be rewritten from its start: keep it within one row.
        text = text[: max(self._columns() - 1, 1)]
        end = "\r" if not text else ""
        print("\r" + text.ljust(self._width), end=end, file=self.stream, flush=True)
        self._width = len(text)

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):  # not a real terminal's stream: COLUMNS, or 80
            return shutil.get_terminal_size().columns

    def status(self, wall_seconds: float) -> str:
        run_time = self.machine.time
        parts = [f"{self.name}: running {wall_seconds:.0f} s"]
        if isinstance(run_time, VirtualTime):
            parts.append(f"{run_time.counts.retired:,} instructions")
            parts.append(f"{run_time.now_ns() / 1e9:.6f} s virtual")
        parts.append(f"{run_time.counts.port_accesses:,} port accesses")
        return ", ".join(parts)
