"""A device's interrupt line: the wire from a device to one input (IRQ n) of the PIC pair.

A device asks for a line by naming its IRQ (an attribute ``irq``) and takes it
in ``connect_irq(line)``; it never sees the PIC or the machine.  The PIC sees
the line's level: an edge-triggered input latches a request when the line
rises, a level-triggered one requests while it is high (``devices/pic8259.py``).
One device per line: the board refuses a second device on an IRQ already wired.
What a device may use of it is ``devices/interrupt_line.py``'s ``InterruptLine``.
"""

from __future__ import annotations

from collections.abc import Callable

LineChanged = Callable[[int, bool], None]  # (irq, level): the line moved
LineLevel = Callable[[int], bool]  # the level the PIC sees on IRQ n: saved and restored with the PIC


class IrqLine:
    """IRQ ``irq`` as its device drives it."""

    def __init__(self, irq: int, on_change: LineChanged, sensed: LineLevel) -> None:
        self.irq = irq
        self._on_change = on_change
        self._sensed = sensed

    @property
    def level(self) -> bool:
        return self._sensed(self.irq)

    def set(self, level: bool) -> None:
        """Drive the line to ``level``; nothing happens if it is there already."""
        level = bool(level)
        if level != self.level:
            self._on_change(self.irq, level)

    def raise_(self) -> None:
        self.set(True)

    def lower(self) -> None:
        self.set(False)

    def pulse(self) -> None:
        """Up and down again: a request on an edge-triggered input, nothing lasting on a level one."""
        self.raise_()
        self.lower()
