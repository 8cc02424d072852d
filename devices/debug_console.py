"""Debug console on port 0xE9: QEMU's isa-debugcon and the Bochs "port E9 hack".

Every byte written is one byte of console output.  A read returns 0xE9, which is
how a guest detects the port (qemu/qemu: hw/char/debugcon.c, ``readback``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

from pmtimer_harness.devices.ports import PortWindow

DEBUG_CONSOLE_PORT = 0xE9


def _raw_output_to_json(payload: bytes) -> bytes:
    """State version 1 was the output bytes themselves; version 2 is JSON like every device's."""
    return json.dumps({"output": payload.decode("latin-1")}).encode()


class DebugConsole:
    name = "debug-console"
    state_version = 2
    state_upgrades: ClassVar[dict[int, Callable[[bytes], bytes]]] = {1: _raw_output_to_json}

    def __init__(self, port: int = DEBUG_CONSOLE_PORT) -> None:
        self.port = port
        self.output = bytearray()
        self.windows = (PortWindow(port, 1),)

    def register_name(self, port: int) -> str:
        return "DEBUGCON"

    def read(self, port: int, width: int, now_ns: int) -> int:
        return DEBUG_CONSOLE_PORT

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        # A wider OUT carries one character: debugcon prints the low byte.
        self.output.append(value & 0xFF)

    @property
    def text(self) -> str:
        return self.output.decode("latin-1")

    def state(self, now_ns: int) -> dict[str, object]:
        return {"output": self.output.decode("latin-1")}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        output = state.get("output")
        if not isinstance(output, str):
            raise ValueError("field 'output' is missing or not text")
        self.output = bytearray(output.encode("latin-1"))
