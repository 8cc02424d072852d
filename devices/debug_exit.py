"""Debug exit port, compatible with QEMU's isa-debug-exit (qemu/qemu: hw/misc/debugexit.c).

The guest writes its exit code to port 0xF4.  QEMU would end with host status
``(code << 1) | 1``; this harness keeps the code itself and turns it into a
verdict: 0 is a pass, anything else a fail.

The first code written is latched: the CPU may retire a few more instructions
before the run loop stops it, and a later write must not change the verdict.
"""

from __future__ import annotations

from collections.abc import Callable

from pmtimer_harness.devices.ports import PortWindow, is_whole

DEBUG_EXIT_PORT = 0xF4


class DebugExit:
    name = "debug-exit"
    state_version = 1

    def __init__(self, on_exit: Callable[[int], None], port: int = DEBUG_EXIT_PORT) -> None:
        self.port = port
        self.code: int | None = None
        self._on_exit = on_exit
        self.windows = (PortWindow(port, 1),)

    def register_name(self, port: int) -> str:
        return "DEBUG_EXIT"

    def read(self, port: int, width: int, now_ns: int) -> int:
        # isa-debug-exit's read handler returns 0.
        return 0

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        if self.code is None:
            self.code = value
            self._on_exit(value)

    def state(self, now_ns: int) -> dict[str, object]:
        return {"code": self.code}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        code = state.get("code")
        if code is not None and not is_whole(code):
            raise ValueError("field 'code' is not a number")
        self.code = code
