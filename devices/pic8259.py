"""The two cascaded 8259A programmable interrupt controllers of the PC.

Source: Intel 8259A datasheet (initialization command words ICW1-ICW4,
operation command words OCW1-OCW3); the PC/AT wiring: master at 0x20/0x21,
slave at 0xA0/0xA1 on the master's IRQ 2, so IRQ n >= 8 is the slave's line
n - 8.  QEMU's hw/intc/i8259.c is the reference model.

What is modelled: the initialization sequence (vector base from ICW2; ICW3 and
ICW4 accepted), the mask register (OCW1), non-specific and specific EOI (OCW2),
reading IRR or ISR (OCW3), fully nested priority (IRQ 0 highest), and both
kinds of input the PC's chipsets give each line through their Edge/Level
Control Registers (ELCR1/ELCR2, ports 0x4D0/0x4D1, one bit a line: Intel
82371AB PIIX4 datasheet; QEMU's ``elcr`` in hw/intc/i8259.c):

- edge-triggered, the 8259A's own mode and the ISA default: a rising edge
  latches a request (IRR), which stays until acknowledged even if the line
  falls; a line held high asks once;
- level-triggered, as the SCI's line 9 is (ACPI, FADT SCI_INT: a shareable,
  level-triggered interrupt): the request follows the line, and a line still
  high after its EOI asks again.

The ELCR is set by the board (the firmware's choice), not by the guest: its
ports are not modelled.  Not modelled either: rotation, special mask mode,
polling, auto-EOI.
"""

from __future__ import annotations

from collections.abc import Callable

from pmtimer_harness.devices.ports import PortWindow, is_whole

MASTER_PORT = 0x20
SLAVE_PORT = 0xA0
CASCADE_IRQ = 2

ICW1 = 0x10  # command-port bit 4: start initialization
ICW1_NEEDS_ICW4 = 0x01
OCW3 = 0x08  # command-port bit 3 (with bit 4 clear): OCW3, else OCW2
OCW3_READ_REGISTER = 0x02
OCW3_READ_ISR = 0x01
OCW2_EOI = 0x20
OCW2_SPECIFIC = 0x40
LEVEL_IRQS = frozenset({9})  # the firmware's ELCR on a PC: the SCI's line is level-triggered


STATE_FIELDS = ("irr", "isr", "imr", "vector_base", "lines", "init_step", "needs_icw4", "read_isr")


class Pic8259:
    """One 8259A."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.irr = 0  # interrupt request register: lines asking for service
        self.isr = 0  # in-service register: delivered, not yet EOI'd
        self.imr = 0xFF  # interrupt mask register: all masked until the guest programs it
        self.vector_base = 0x08 if name == "master" else 0x70  # the BIOS's defaults
        self.lines = 0  # input levels
        self.init_step = 0  # 0: operating; 2, 3, 4: the next ICW expected
        self.needs_icw4 = False
        self.read_isr = False
        self.level_lines = 0  # the ELCR's bits for this chip: set, level-triggered; clear, edge

    def write_command(self, value: int) -> int | None:
        """The command register; an EOI gives the line it ended."""
        if value & ICW1:
            self.init_step = 2
            self.needs_icw4 = bool(value & ICW1_NEEDS_ICW4)
            self.imr = 0
            self.isr = 0
            self.irr = self.lines & self.level_lines
            self.read_isr = False
        elif value & OCW3:
            if value & OCW3_READ_REGISTER:
                self.read_isr = bool(value & OCW3_READ_ISR)
        elif value & OCW2_EOI:
            return self._end_of_interrupt(value)
        return None

    def _end_of_interrupt(self, value: int) -> int | None:
        """Clear the in-service bit the EOI names (or the highest); the line it ended, if one was in service."""
        line = value & 7 if value & OCW2_SPECIFIC else (self.isr & -self.isr).bit_length() - 1
        ended = line if line >= 0 and self.isr & 1 << line else None
        if line >= 0:
            self.isr &= ~(1 << line)
        self.irr |= self.lines & self.level_lines  # a level line still asserted asks again
        return ended

    def write_data(self, value: int) -> None:
        if self.init_step == 2:
            self.vector_base = value & 0xF8
            self.init_step = 3
        elif self.init_step == 3:
            self.init_step = 4 if self.needs_icw4 else 0
        elif self.init_step == 4:
            self.init_step = 0
        else:
            self.imr = value

    def read_command(self) -> int:
        return self.isr if self.read_isr else self.irr

    def set_line(self, line: int, level: bool) -> None:
        bit = 1 << line
        rising = level and not self.lines & bit
        if level:
            self.lines |= bit
        else:
            self.lines &= ~bit
        if self.level_lines & bit:
            self.irr = self.irr | bit if level else self.irr & ~bit
        elif rising:
            self.irr |= bit  # an edge latches: the request outlives the line (8259A datasheet, "Edge triggered mode")

    def highest_request(self) -> int | None:
        """The line that would be delivered next: requested, unmasked, above everything in service."""
        requests = self.irr & ~self.imr
        if not requests:
            return None
        line = (requests & -requests).bit_length() - 1
        in_service = self.isr & ((1 << (line + 1)) - 1)  # same or higher priority
        return None if in_service else line

    def acknowledge(self, line: int) -> int:
        self.isr |= 1 << line
        self.irr &= ~(1 << line)
        return self.vector_base + line


class PicPair:
    """Master and slave, cascaded on IRQ 2, as on the PC/AT."""

    name = "pic8259"
    state_version = 1

    def __init__(
        self,
        on_change: Callable[[], None] | None = None,
        level_irqs: frozenset[int] = LEVEL_IRQS,
        on_eoi: Callable[[int], None] = lambda irq: None,
    ) -> None:
        self._on_change = on_change
        self._on_eoi = on_eoi  # hears the IRQ each EOI ended: for the trace
        self.master = Pic8259("master")
        self.slave = Pic8259("slave")
        self.master.level_lines = 1 << CASCADE_IRQ  # the slave's output is a level the master follows
        for irq in level_irqs:
            self.set_level_triggered(irq)
        one_byte = frozenset({1})
        self.windows = (
            PortWindow(MASTER_PORT, 2, read_widths=one_byte, write_widths=one_byte),
            PortWindow(SLAVE_PORT, 2, read_widths=one_byte, write_widths=one_byte),
        )

    def _chip(self, port: int) -> Pic8259:
        return self.master if port < SLAVE_PORT else self.slave

    def register_name(self, port: int) -> str:
        chip = "PIC1" if port < SLAVE_PORT else "PIC2"
        return f"{chip} {'command' if port % 2 == 0 else 'data'}"

    def read(self, port: int, width: int, now_ns: int) -> int:
        chip = self._chip(port)
        return chip.read_command() if port % 2 == 0 else chip.imr

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        chip = self._chip(port)
        if port % 2 == 0:
            ended = chip.write_command(value)
            if ended is not None:
                self._on_eoi(ended + (8 if chip is self.slave else 0))
        else:
            chip.write_data(value)
        self._cascade()
        if self._on_change is not None:
            self._on_change()

    def set_irq(self, irq: int, level: bool) -> None:
        if irq >= 8:
            self.slave.set_line(irq - 8, level)
        else:
            self.master.set_line(irq, level)
        self._cascade()

    def set_level_triggered(self, irq: int) -> None:
        """Set the line's ELCR bit, as the firmware does for a shared, level-triggered line."""
        chip, line = (self.slave, irq - 8) if irq >= 8 else (self.master, irq)
        chip.level_lines |= 1 << line

    def line_level(self, irq: int) -> bool:
        chip, line = (self.slave, irq - 8) if irq >= 8 else (self.master, irq)
        return bool(chip.lines & 1 << line)

    def _cascade(self) -> None:
        self.master.set_line(CASCADE_IRQ, self.slave.highest_request() is not None)

    def pending_vector(self) -> int | None:
        """The vector the CPU would get if it took an interrupt now."""
        line = self.master.highest_request()
        if line is None:
            return None
        if line == CASCADE_IRQ:
            slave_line = self.slave.highest_request()
            return None if slave_line is None else self.slave.vector_base + slave_line
        return self.master.vector_base + line

    def acknowledge(self) -> int | None:
        """INTA: move the request into service and return its vector."""
        taken = self.acknowledge_irq()
        return None if taken is None else taken[1]

    def acknowledge_irq(self) -> tuple[int, int] | None:
        """INTA: move the request into service; its IRQ and its vector."""
        line = self.master.highest_request()
        if line is None:
            return None
        irq, vector = line, self.master.acknowledge(line)
        if line == CASCADE_IRQ:
            slave_line = self.slave.highest_request()
            if slave_line is None:  # pragma: no cover - the cascade line follows the slave
                return None
            irq, vector = 8 + slave_line, self.slave.acknowledge(slave_line)
        self._cascade()
        return irq, vector

    def held_back(self) -> str | None:
        """Why the PIC delivers none of the requests it holds, in words: for a guest that halts waiting for one."""
        for chip, first in ((self.slave, 8), (self.master, 0)):
            for line in range(8):
                bit = 1 << line
                if not chip.irr & bit:
                    continue
                slave_line = self.slave.highest_request() if chip is self.master and line == CASCADE_IRQ else None
                irq = 8 + slave_line if slave_line is not None else first + line
                if chip.imr & bit and irq != first + line:
                    return f"IRQ {irq} is requested, but the master PIC masks IRQ {CASCADE_IRQ}, the slave's input"
                if chip.imr & bit:
                    return f"IRQ {irq} is requested, but masked at the PIC"
                in_service = chip.isr & ((bit << 1) - 1)  # fully nested: the same line or one above it
                if in_service:
                    blocking = first + (in_service & -in_service).bit_length() - 1
                    cascade = " (the slave's input at the master)" if chip is self.master and blocking == 2 else ""
                    return f"IRQ {irq} is requested, but IRQ {blocking}{cascade} is still in service: no EOI ended it"
        for chip, first in ((self.slave, 8), (self.master, 0)):
            held_high = chip.lines & ~chip.level_lines & ~chip.imr  # the cascade is level: never here
            if held_high:
                irq = first + (held_high & -held_high).bit_length() - 1
                return (f"IRQ {irq}'s line stays high: an edge-triggered input asks again only when its line "
                        "falls and rises (has the device been acknowledged?)")
        return None

    def state(self, now_ns: int) -> dict[str, object]:
        chips = (self.master, self.slave)
        return {chip.name: {name: int(getattr(chip, name)) for name in STATE_FIELDS} for chip in chips}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        for chip in (self.master, self.slave):
            values = state.get(chip.name)
            if not isinstance(values, dict):
                raise ValueError(f"no registers for the {chip.name}")
            for name in STATE_FIELDS:
                value = values.get(name)
                if not is_whole(value) or not 0 <= value <= 0xFF:
                    raise ValueError(f"{chip.name} register {name!r} is missing or not a byte")
                setattr(chip, name, value)
            chip.needs_icw4, chip.read_isr = bool(chip.needs_icw4), bool(chip.read_isr)
