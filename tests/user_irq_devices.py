"""Users' devices that drive an interrupt line, as a project of its own would write them.

``IrqButton`` at port 0x520 moves its line on a write (1: up, 0: down, 2: a
pulse); ``LevelButton`` is the same on a level-triggered line.
``PeriodicTicker`` at port 0x530 pulses its line every ``period_ns`` once the
guest writes to it, and reads back how many ticks it made.
"""

from pmtimer_harness import PortWindow

ONE_BYTE = frozenset({1})


class IrqButton:
    name = "irq-button"
    state_version = 1
    irq = 5

    def __init__(self, port: int = 0x520) -> None:
        self.windows = (PortWindow(port, 1, read_widths=ONE_BYTE, write_widths=ONE_BYTE),)
        self.line = None

    def connect_irq(self, line) -> None:
        self.line = line

    def read(self, port: int, width: int, now_ns: int) -> int:
        return int(self.line.level)

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        if value == 2:
            self.line.pulse()
        else:
            self.line.set(bool(value))

    def state(self, now_ns: int) -> dict[str, object]:
        return {}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        pass


class LevelButton(IrqButton):
    irq_trigger = "level"


class PeriodicTicker:
    name = "ticker"
    state_version = 1
    irq = 5

    def __init__(self, period_ns: int = 100_000, port: int = 0x530) -> None:
        self.windows = (PortWindow(port, 1, read_widths=ONE_BYTE, write_widths=ONE_BYTE),)
        self.period_ns = period_ns
        self.next_ns: int | None = None
        self.ticks = 0
        self.line = None

    def connect_irq(self, line) -> None:
        self.line = line

    def read(self, port: int, width: int, now_ns: int) -> int:
        return self.ticks & 0xFF

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        self.next_ns = now_ns + self.period_ns

    def advance_to(self, now_ns: int) -> int | None:
        while self.next_ns is not None and self.next_ns <= now_ns:
            self.ticks += 1
            self.line.pulse()
            self.next_ns += self.period_ns
        return self.next_ns

    def state(self, now_ns: int) -> dict[str, object]:
        return {"next_ns": self.next_ns, "ticks": self.ticks}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        self.next_ns, self.ticks = state["next_ns"], int(state["ticks"])
