"""Debug console on port 0xE9: QEMU's isa-debugcon and the Bochs "port E9 hack".

Every byte written is one byte of console output.  A read returns 0xE9, which is
how a guest detects the port (qemu/qemu: hw/char/debugcon.c, ``readback``).

The capture is bounded, so that a guest printing without end cannot exhaust
the host's memory: the first ``HEAD_BYTES`` are kept, then the last
``TAIL_BYTES`` (a report's summary comes last); what lies between is dropped
and counted, and the text says where.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

from pmtimer_harness.devices.ports import PortWindow

DEBUG_CONSOLE_PORT = 0xE9
HEAD_BYTES = 512 * 1024
TAIL_BYTES = 512 * 1024


def _raw_output_to_json(payload: bytes) -> bytes:
    """State version 1 was the output bytes themselves; version 2 is JSON like every device's."""
    return json.dumps({"output": payload.decode("latin-1")}).encode()


class DebugConsole:
    name = "debug-console"
    state_version = 2
    state_upgrades: ClassVar[dict[int, Callable[[bytes], bytes]]] = {1: _raw_output_to_json}

    def __init__(self, port: int = DEBUG_CONSOLE_PORT) -> None:
        self.port = port
        self._head = bytearray()
        self._tail = bytearray()  # up to twice TAIL_BYTES between trims
        self.dropped = 0  # bytes between the head and the tail, not kept
        self.windows = (PortWindow(port, 1),)
        self.listener: Callable[[int], None] | None = None  # sees each byte as it comes (the terminal's echo)

    def register_name(self, port: int) -> str:
        return "DEBUGCON"

    def read(self, port: int, width: int, now_ns: int) -> int:
        return DEBUG_CONSOLE_PORT

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        # A wider OUT carries one character: debugcon prints the low byte.
        self.put(value & 0xFF)

    def put(self, byte: int) -> None:
        """One byte of console output, from this port or another device (the UART)."""
        if self.listener is not None:
            self.listener(byte)
        if len(self._head) < HEAD_BYTES:
            self._head.append(byte)
            return
        tail = self._tail
        tail.append(byte)
        if len(tail) >= 2 * TAIL_BYTES:
            excess = len(tail) - TAIL_BYTES
            del tail[:excess]
            self.dropped += excess

    def _trim(self) -> None:
        excess = len(self._tail) - TAIL_BYTES
        if excess > 0:
            del self._tail[:excess]
            self.dropped += excess

    @property
    def output(self) -> bytes:
        """The bytes kept: the head, then the tail (the dropped bytes between them are not marked)."""
        self._trim()
        return bytes(self._head) + bytes(self._tail)

    @output.setter
    def output(self, data: bytes) -> None:
        self._head = bytearray(data[:HEAD_BYTES])
        self._tail = bytearray(data[HEAD_BYTES:])
        self.dropped = 0

    @property
    def text(self) -> str:
        self._trim()
        if not self.dropped:
            return self.output.decode("latin-1")
        marker = f"\n[{self.dropped:,} console bytes dropped here]\n"
        return self._head.decode("latin-1") + marker + self._tail.decode("latin-1")

    @property
    def dropped_note(self) -> str | None:
        """One line saying what the capture dropped, or None."""
        self._trim()
        if not self.dropped:
            return None
        return (
            f"console: {self.dropped:,} bytes dropped after the first {HEAD_BYTES // 1024} KiB; "
            f"the last {TAIL_BYTES // 1024} KiB kept"
        )

    def state(self, now_ns: int) -> dict[str, object]:
        return {"output": self.output.decode("latin-1")}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        output = state.get("output")
        if not isinstance(output, str):
            raise ValueError("field 'output' is missing or not text")
        self.output = output.encode("latin-1")
