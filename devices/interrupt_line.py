"""What a device sees of its interrupt line: a wire it drives high or low.

The board hands a device that names an ``irq`` its line through
``connect_irq(line)`` (``harness/core/irq_lines.py`` makes it and wires it to
the PIC); a device model needs nothing more of it than this.
"""

from __future__ import annotations

from typing import Protocol


class InterruptLine(Protocol):
    def set(self, level: bool) -> None:
        """Drive the line to ``level``."""
