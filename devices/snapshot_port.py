"""The snapshot request port, 0xF5: a guest asks the harness to save the machine here.

Any write to the port is a request.  The harness lets the CPU finish its
current block of instructions (a jump ends one: put ``jmp`` right after the
OUT to save exactly there), saves a snapshot to the file named by
``--snapshot`` and lets the guest go on.  Reading the port returns how many
snapshots have been requested, counting this one, so a guest can tell.
"""

from __future__ import annotations

from collections.abc import Callable

from pmtimer_harness.devices.ports import PortWindow, is_whole

SNAPSHOT_PORT = 0xF5


class SnapshotPort:
    name = "snapshot-request"
    state_version = 1

    def __init__(self, on_request: Callable[[], None], port: int = SNAPSHOT_PORT) -> None:
        self.port = port
        self.taken = 0
        self._on_request = on_request
        self.windows = (PortWindow(port, 1),)

    def register_name(self, port: int) -> str:
        return "SNAPSHOT"

    def read(self, port: int, width: int, now_ns: int) -> int:
        return self.taken

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        self.taken += 1
        self._on_request()

    def state(self, now_ns: int) -> dict[str, object]:
        return {"taken": self.taken}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        taken = state.get("taken")
        if not is_whole(taken):
            raise ValueError("field 'taken' is missing or not a number")
        self.taken = taken
