"""The guest's console on the terminal while the guest runs: ``run`` and ``resume`` show it as it comes.

The console device (``devices/debug_console.py``) hands each byte, from port
0xE9 or the UART, to a listener; the listener only appends it to a buffer, and
a background thread writes what has gathered every ``INTERVAL_S`` and flushes,
so a guest that prints a partial line and then spins is seen at once, and the
CPU never waits for the terminal.  Control characters are shown as the final
report shows them (``printable``).  The run's console text is collected as
before; this echo is printed in full, the capture's bound not applying to it.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TextIO

from pmtimer_harness.core.machine import Machine
from pmtimer_harness.frontends.commands.common import printable


class ConsoleEcho:
    INTERVAL_S = 0.05

    def __init__(self, machine: Machine, stream: TextIO) -> None:
        self.console = machine.board.console
        self.stream = stream
        self.shown = False  # whether any byte was echoed
        self._pending = bytearray()
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
        self._thread.join()
        self._drain()
        if self.shown:  # the report that follows starts on a line of its own, after a blank one
            self.stream.write(("" if self._ends_line else "\n") + "\n")
            self.stream.flush()

    def _arrived(self, byte: int) -> None:
        with self._lock:
            self._pending.append(byte)

    def _drain_every_interval(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            data, self._pending = bytes(self._pending), bytearray()
        if not data:
            return
        text = printable(data.decode("latin-1"))
        self.stream.write(text)
        self.stream.flush()
        self.shown = True
        self._ends_line = text.endswith("\n")
