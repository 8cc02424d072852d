"""The guest's console on the terminal while the guest runs: ``run`` and ``resume`` show it as it comes.

The console device (``devices/debug_console.py``) hands each byte, from port
0xE9 or the UART, to a listener; the listener only appends it to a buffer, and
a background thread writes what has gathered every ``INTERVAL_S`` and flushes,
so a guest that prints a partial line and then spins is seen at once, and the
CPU never waits for the terminal.  Control characters are shown as the final
report shows them (``printable``).  The run's console text is collected as
before.  A terminal that falls behind (a pipe nobody reads) does not hold
the guest up nor grow the buffer past ``MAX_PENDING`` bytes: what does not fit is
counted and said in its place.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TextIO

from pmtimer_harness.core.machine import Machine
from pmtimer_harness.frontends.commands.common import printable


class ConsoleEcho:
    INTERVAL_S = 0.05
    MAX_PENDING = 1 << 20
    STUCK_S = 1.0  # how long the end of a run waits for a stream that takes nothing

    def __init__(self, machine: Machine, stream: TextIO) -> None:
        self.console = machine.board.console
        self.stream = stream
        self.shown = False  # whether any byte was echoed
        self._pending = bytearray()
        self._unshown = 0  # bytes that came while the buffer was full
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain_every_interval, daemon=True)
        self._ends_line = True

    def __enter__(self) -> ConsoleEcho:
        self.console.listener = self._arrived
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.console.listener = None
        self._stop.set()
        self._thread.join(self.STUCK_S)
        if self._thread.is_alive():
            return  # the stream takes nothing (a full pipe nobody reads): the run still ends
        self._drain()
        if self.shown:  # the report that follows starts on a line of its own, after a blank one
            self.stream.write(("" if self._ends_line else "\n") + "\n")
            self.stream.flush()

    def _arrived(self, byte: int) -> None:
        with self._lock:
            if len(self._pending) < self.MAX_PENDING:
                self._pending.append(byte)
            else:
                self._unshown += 1

    def _drain_every_interval(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            data, self._pending, unshown, self._unshown = bytes(self._pending), bytearray(), self._unshown, 0
        if not data:
            return
        text = printable(data.decode("latin-1"))
        if unshown:
            text += f"\n[{unshown:,} console bytes not shown here: the terminal fell behind]\n"
        self.stream.write(text)
        self.stream.flush()
        self.shown = True
        self._ends_line = text.endswith("\n")
