"""QEMU's ``edu`` teaching device: memory-mapped registers, a slow factorial, and an interrupt line.

Sources: qemu/qemu: docs/specs/edu.rst (the register map, "MMIO area
spec") and hw/misc/edu.c (``edu_mmio_read``, ``edu_mmio_write``,
``edu_raise_irq``, ``edu_lower_irq``, ``edu_fact_thread``).  Written from
them, for people learning to write a driver: identify the card, check it is
alive, start a computation, wait for it by polling or by its interrupt, and
acknowledge the interrupt.

The registers, at offsets from ``base``:

- 0x00 ID (RO): 0x010000ed, version 1.0;
- 0x04 LIVENESS (RW): reads back the bitwise inverse of the last value written;
- 0x08 FACTORIAL (RW): a write starts computing the factorial of the value
  (modulo 2^32), unless a computation is running; the register reads the
  value written until the result replaces it;
- 0x20 STATUS (RW): bit 0 COMPUTING (read-only), bit 7 IRQFACT: raise
  interrupt 0x1 when a factorial is done;
- 0x24 IRQ_STATUS (RO): the interrupts raised and not acknowledged;
- 0x60 IRQ_RAISE (WO): ORs the value into IRQ_STATUS;
- 0x64 IRQ_ACK (WO): clears the value's bits from IRQ_STATUS.

The interrupt line is high while IRQ_STATUS is not 0: a level-triggered
PCI INTx line, which the guest lowers by acknowledging.  Only 4-byte accesses
are allowed below 0x80, as edu.rst says; here any other is refused, where
QEMU reads it as all ones and drops it as a write.  Offsets with no register
read as all ones and drop writes, as in edu.c.

A model, not QEMU: QEMU's edu is a PCI device whose 1 MiB BAR 0 the firmware
places; here there is no PCI bus, and the BAR is at ``base`` (a multiple of
1 MiB, as a BAR is aligned to its size: PCI Local Bus spec 3.0, 6.2.5.1;
default 0xFEA00000, where SeaBIOS tends to put it on QEMU's ``pc`` machine), its
line on IRQ ``irq`` of the PIC pair (default 11, a PCI interrupt's usual
line there).  QEMU computes the factorial in a thread and finishes whenever
the host schedules it; here it finishes ``delay_ns`` of virtual time after
the write (default 1 us), the same on every run; a snapshot keeps its
distance from the time of saving, so that a restored run whose time starts
afresh (the host clock's does, at 0) waits only what was left.  Not modelled: DMA (0x80-0x98
and the buffer at 0x40000: a device here never touches guest memory, so an
access to the DMA registers is refused), MSI, and the PCI configuration space.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

from pmtimer_harness.devices.interrupt_line import InterruptLine
from pmtimer_harness.devices.mmio import MmioRegion
from pmtimer_harness.devices.ports import DeviceError

EDU_BASE = 0xFEA0_0000
EDU_IRQ = 11
BAR_SIZE = 0x10_0000  # 1 MiB, edu.rst's PCI Region 0
FACTORIAL_DELAY_NS = 1_000

ID, LIVENESS, FACTORIAL, STATUS, IRQ_STATUS, IRQ_RAISE, IRQ_ACK = 0x00, 0x04, 0x08, 0x20, 0x24, 0x60, 0x64
DMA_REGISTERS = {0x80: "DMA_SRC", 0x88: "DMA_DST", 0x90: "DMA_COUNT", 0x98: "DMA_CMD"}
REGISTER_NAMES = {
    ID: "ID", LIVENESS: "LIVENESS", FACTORIAL: "FACTORIAL", STATUS: "STATUS", IRQ_STATUS: "IRQ_STATUS",
    IRQ_RAISE: "IRQ_RAISE", IRQ_ACK: "IRQ_ACK", **DMA_REGISTERS,
}
EDU_ID = 0x010000ED
STATUS_COMPUTING = 0x01
STATUS_IRQFACT = 0x80
FACT_IRQ = 0x00000001
WORD = 0xFFFF_FFFF
FLOATING = (1 << 64) - 1  # edu_mmio_read's ``~0ULL``, cut to the access's width
STATE_FIELDS = ("liveness", "fact", "irq_on_done", "irq_status", "done_ns", "saved_ns")


def factorial32(value: int) -> int:
    """n! modulo 2^32, as edu.c's 32-bit loop computes it."""
    result = 1
    for factor in range(value, 1, -1):
        result = result * factor & WORD
        if not result:
            break  # 34! and beyond have 32 factors of 2
    return result


def _saved_time_added(payload: bytes) -> bytes:
    """Version 1 had no time of saving: its ``done_ns`` is taken as it stands, as version 1 took it."""
    state = json.loads(payload)
    state.update(saved_ns=None)
    return json.dumps(state).encode()


class Edu:
    """QEMU's edu teaching device at ``base``, its interrupt on IRQ ``irq``."""

    name = "edu"
    state_version = 2
    state_upgrades: ClassVar[dict[int, Callable[[bytes], bytes]]] = {1: _saved_time_added}
    irq_trigger = "level"  # PCI INTx
    windows = ()

    def __init__(self, base: int = EDU_BASE, irq: int = EDU_IRQ, delay_ns: int = FACTORIAL_DELAY_NS) -> None:
        if isinstance(delay_ns, bool) or not isinstance(delay_ns, int) or delay_ns < 0:
            raise ValueError(f"delay_ns must be a whole number of nanoseconds, 0 or more, not {delay_ns!r}")
        if isinstance(base, int) and base % BAR_SIZE:
            raise ValueError(f"base {base:#x} is not a multiple of 1 MiB: a PCI BAR is aligned to its size, and the "
                             "registers' 4-byte accesses must be aligned")
        self.base = base
        self.irq = irq
        self.delay_ns = delay_ns
        below_0x80 = "edu.rst allows only 4-byte accesses below 0x80 (QEMU reads one as all ones, drops a write)"
        self.regions = (
            MmioRegion(base, 0x80, read_widths=frozenset({4}), write_widths=frozenset({4}), refusal=below_0x80),
            MmioRegion(base + 0x80, BAR_SIZE - 0x80, read_widths=frozenset({4, 8}), write_widths=frozenset({4, 8}),
                       refusal="edu.rst allows 4- or 8-byte accesses from 0x80 on"),
        )
        self.line: InterruptLine | None = None
        self.liveness = 0
        self.fact = 0
        self.irq_on_done = False  # STATUS bit 7
        self.irq_status = 0
        self.done_ns: int | None = None  # when the factorial being computed is done

    def connect_irq(self, line: InterruptLine) -> None:
        self.line = line

    def register_name(self, address: int) -> str:
        return REGISTER_NAMES.get(address - self.base, "EDU")

    # --- the registers -------------------------------------------------------------

    def mmio_read(self, address: int, width: int, now_ns: int) -> int:
        self._finish_factorial(now_ns)
        offset = address - self.base
        if offset in DMA_REGISTERS:
            raise DeviceError(f"{DMA_REGISTERS[offset]}: DMA is not modelled (a device here never touches guest "
                              "memory)")
        if offset == ID:
            return EDU_ID
        if offset == LIVENESS:
            return self.liveness
        if offset == FACTORIAL:
            return self.fact
        if offset == STATUS:
            return (STATUS_COMPUTING if self.done_ns is not None else 0) | (STATUS_IRQFACT if self.irq_on_done else 0)
        if offset == IRQ_STATUS:
            return self.irq_status
        return FLOATING & ((1 << 8 * width) - 1)

    def mmio_write(self, address: int, width: int, value: int, now_ns: int) -> None:
        self._finish_factorial(now_ns)
        offset = address - self.base
        if offset in DMA_REGISTERS:
            raise DeviceError(f"{DMA_REGISTERS[offset]}: DMA is not modelled (a device here never touches guest "
                              "memory)")
        if offset == LIVENESS:
            self.liveness = ~value & WORD
        elif offset == FACTORIAL and self.done_ns is None:  # a write while computing is ignored (edu.c)
            self.fact = value & WORD
            self.done_ns = now_ns + self.delay_ns
        elif offset == STATUS:
            self.irq_on_done = bool(value & STATUS_IRQFACT)
        elif offset == IRQ_RAISE:
            self._raise(value & WORD)
        elif offset == IRQ_ACK:
            self._lower(value & WORD)

    # --- the factorial and the interrupt --------------------------------------------

    def advance_to(self, now_ns: int) -> int | None:
        """The board's clock: finish a factorial that is due; when the one running will be."""
        self._finish_factorial(now_ns)
        return self.done_ns

    def _finish_factorial(self, now_ns: int) -> None:
        if self.done_ns is None or now_ns < self.done_ns:
            return
        self.done_ns = None
        self.fact = factorial32(self.fact)
        if self.irq_on_done:
            self._raise(FACT_IRQ)

    def _raise(self, value: int) -> None:
        self.irq_status |= value
        self._drive_line()

    def _lower(self, value: int) -> None:
        self.irq_status &= ~value
        self._drive_line()

    def _drive_line(self) -> None:
        if self.line is not None:
            self.line.set(self.irq_status != 0)

    # --- saved state -------------------------------------------------------------

    def state(self, now_ns: int) -> dict[str, object]:
        return {"liveness": self.liveness, "fact": self.fact, "irq_on_done": self.irq_on_done,
                "irq_status": self.irq_status, "done_ns": self.done_ns, "saved_ns": now_ns}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        missing = [field for field in STATE_FIELDS if field not in state]
        if missing:
            raise ValueError(f"edu state lacks {', '.join(missing)}")
        for field in ("liveness", "fact", "irq_status"):
            value = state[field]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= WORD:
                raise ValueError(f"edu state: {field} {value!r} is not a 32-bit value")
            setattr(self, field, value)
        done_ns, irq_on_done, saved_ns = state["done_ns"], state["irq_on_done"], state["saved_ns"]
        for name, time in (("done_ns", done_ns), ("saved_ns", saved_ns)):
            if time is not None and (not isinstance(time, int) or isinstance(time, bool) or time < 0):
                raise ValueError(f"edu state: {name} {time!r} is not a time")
        if done_ns is not None and saved_ns is not None:
            done_ns = max(0, done_ns + now_ns - saved_ns)
        if not isinstance(irq_on_done, bool):
            raise ValueError(f"edu state: irq_on_done {irq_on_done!r} is not true/false")
        self.irq_on_done = irq_on_done
        self.done_ns = done_ns
