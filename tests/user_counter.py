"""A user's device as a project of its own would write it: a microsecond counter at port 0x510.

A read gives the microseconds since the last write (any write zeroes it), so
a restore that lost its state would read a different count.
"""

from pmtimer_harness import PortWindow


class MicrosecondCounter:
    name = "us-counter"
    state_version = 1

    def __init__(self, port: int = 0x510) -> None:
        self.windows = (PortWindow(port, 1, read_widths=frozenset({4}), write_widths=frozenset({1})),)
        self.zero_ns = 0

    def read(self, port: int, width: int, now_ns: int) -> int:
        return (now_ns - self.zero_ns) // 1000 & 0xFFFF_FFFF

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        self.zero_ns = now_ns

    def state(self, now_ns: int) -> dict[str, object]:
        return {"zero_ns": self.zero_ns}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        self.zero_ns = int(state["zero_ns"])


class NeedsArgument(MicrosecondCounter):
    def __init__(self, port: int) -> None:
        super().__init__(port)


class Broken:
    def __init__(self) -> None:
        raise RuntimeError("no such hardware")


class NoWindows:
    name = "no-windows"


NOT_A_CLASS = 42
