"""The snapshot request port, 0xF5: a guest asks the harness to save the machine here.

Any write to the port is a request.  The harness finishes the current block
of instructions, saves a snapshot to the file named by ``--snapshot``, and
lets the guest go on; reading the port returns how many snapshots have been
taken so far, so a guest can tell a first run from a restored one.
"""

from __future__ import annotations

from collections.abc import Callable

from devices.ports import PortWindow

SNAPSHOT_PORT = 0xF5


class SnapshotPort:
    name = "snapshot-request"

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
        self._on_request()

    def state(self) -> dict[str, object]:
        return {"port": self.port, "taken": self.taken}
