"""A 16550 UART (COM1: ports 0x3F8-0x3FF, IRQ 4), after the TI PC16550D datasheet (SNLS378C).

The registers by offset from the base (datasheet Table 2, "Register Addresses"),
DLAB being bit 7 of the LCR:

    0  RBR (read) / THR (write); DLL, the divisor latch's low byte, when DLAB = 1
    1  IER; DLM, the divisor latch's high byte, when DLAB = 1
    2  IIR (read) / FCR (write)
    3  LCR    4  MCR    5  LSR    6  MSR    7  SCR

Transmission is instant: a byte written to the THR goes to the console at
once, so THRE and TEMT read 1 again before the guest's next access.  The
interrupt identification is the datasheet's Table 4, highest priority first:
receiver line status (0x06), received data available (0x04) or character
timeout (0x0C), THR empty (0x02), modem status (0x00).  The THRE interrupt is
cleared by reading the IIR when it is the source, or by writing the THR; the
THR empties again at once, so it comes back (as on a UART whose shift register
is idle, and QEMU's hw/char/serial.c).  Enabling it in the IER while the THR
is empty raises it.  The INTRPT output reaches IRQ 4 through OUT2 (MCR bit 3),
which PCs use as the interrupt's gate, and not in loopback mode, where the
datasheet forces the modem-control outputs inactive.

Loopback (MCR bit 4): the transmitted byte is received instead of sent (DR,
the receive FIFO, overrun), and the MSR's inputs are the MCR's outputs (CTS =
RTS, DSR = DTR, RI = OUT1, DCD = OUT2), with their delta bits.

Input (``give_input``): the user's bytes arrive on the serial input one
character time apart, the first one character time after they were given
(time 0 for a run's input).  A character time is 10 bit times (start, 8
data, stop) at the baud rate of the divisor latch: 10 x 16 x divisor / 1.8432
MHz, 1,041,667 ns at the reset divisor 12 (9600 baud), 86,806 ns at divisor 1
(115,200 baud); each byte's rate is the one programmed when the byte before
it arrived.  A byte arriving lands in the receive FIFO (the RBR without
FIFOs) as a byte received does: DR, the received-data interrupt (IER bit 0),
overrun when the guest has not made room.  In loopback the serial input is
disconnected (datasheet, MCR bit 4): a byte arriving then is lost.  Arrival
is computed from the time, when the guest reads a register or when the board
asks (``advance_to`` gives the next arrival: a HLT wakes for it), so the same
input reaches the same guest at the same virtual times on every run; the
bytes still to come are part of the saved state, with the time they were
saved at, so that they keep their distance from it when a restored run's
time starts afresh (the host clock's does, at 0).

Not modelled: word length, parity and stop bits are kept in the LCR but
change nothing (no parity, framing or break errors arise; a byte always
arrives whole); the character timeout is given at once, not after four
character times; DMA mode (FCR bit 3) and the transmit FIFO's depth do not
matter with instant transmission; an RBR read with nothing received reads 0,
where the chip's RBR keeps the last byte (QEMU's too, without FIFOs).  Outside
loopback the modem inputs read as QEMU's with no modem attached: CTS, DSR and
DCD on, RI off.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

from pmtimer_harness.devices.interrupt_line import InterruptLine
from pmtimer_harness.devices.ports import PortWindow

COM1_BASE = 0x3F8
COM1_IRQ = 4
FIFO_BYTES = 16
RESET_DIVISOR = 12  # 9600 baud from the PC's 1.8432 MHz clock: QEMU's serial_reset
CLOCK_HZ = 1_843_200  # the PC's UART clock; the baud rate is CLOCK_HZ / (16 x divisor)
BITS_PER_CHARACTER = 10  # start, 8 data bits, stop
MAX_INPUT_BYTES = 65_536  # the most input one run may give COM1 (it is saved with the UART's state)
NS_PER_S = 1_000_000_000
TRIGGER_LEVELS = (1, 4, 8, 14)  # FCR bits 7-6
REGISTER_NAMES = (("RBR/THR", "IER", "IIR/FCR", "LCR", "MCR", "LSR", "MSR", "SCR"),
                  ("DLL", "DLM", "IIR/FCR", "LCR", "MCR", "LSR", "MSR", "SCR"))

# IER bits
ERBFI, ETBEI, ELSI, EDSSI = 0x01, 0x02, 0x04, 0x08
# IIR identifications (bit 0 clear: an interrupt is pending)
NO_INTERRUPT, IIR_MODEM, IIR_THRE, IIR_RDA, IIR_RLS, IIR_TIMEOUT, IIR_FIFOS = 0x01, 0x00, 0x02, 0x04, 0x06, 0x0C, 0xC0
# FCR bits
FIFO_ENABLE, RCVR_RESET, XMIT_RESET = 0x01, 0x02, 0x04
# LCR
DLAB = 0x80
# MCR bits
DTR, RTS, OUT1, OUT2, LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
# LSR bits
DR, OE, THRE, TEMT, FIFO_ERROR = 0x01, 0x02, 0x20, 0x40, 0x80
LINE_ERRORS = 0x1E  # OE, PE, FE, BI: cleared by reading the LSR
# MSR bits: deltas in 3-0, the inputs in 7-4
DCTS, DDSR, TERI, DDCD = 0x01, 0x02, 0x04, 0x08
CTS, DSR, RI, DCD = 0x10, 0x20, 0x40, 0x80
NO_MODEM_INPUTS = CTS | DSR | DCD


def character_ns(divisor: int) -> int:
    """One character time on the line at ``divisor``, in ns, rounded up (a divisor of 0 counts as 65536)."""
    return -(-BITS_PER_CHARACTER * 16 * (divisor or 0x10000) * NS_PER_S // CLOCK_HZ)


def _input_added(payload: bytes) -> bytes:
    """Version 1 had no input: nothing is on its way."""
    state = json.loads(payload)
    state.update(incoming="", next_arrival_ns=None)
    return json.dumps(state).encode()


def _saved_time_added(payload: bytes) -> bytes:
    """Version 2 had no time of saving: its arrival time is taken as it stands, as version 2 took it."""
    state = json.loads(payload)
    state.update(saved_ns=None)
    return json.dumps(state).encode()


def loopback_inputs(mcr: int) -> int:
    """The MSR's inputs in loopback: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2 (datasheet, MCR bit 4)."""
    return ((mcr & RTS) << 3) | ((mcr & DTR) << 5) | ((mcr & OUT1) << 4) | ((mcr & OUT2) << 4)


class Uart16550:
    name = "uart16550"
    state_version = 3
    state_upgrades: ClassVar[dict[int, Callable[[bytes], bytes]]] = {1: _input_added, 2: _saved_time_added}
    irq = COM1_IRQ
    reset_if_unsaved = True  # added to the board after the golden snapshots were written

    def __init__(self, on_transmit: Callable[[int], None], base: int = COM1_BASE) -> None:
        self.base = base
        self._on_transmit = on_transmit
        self._line: InterruptLine | None = None
        self.windows = (PortWindow(base, 8),)
        self.reset()

    def reset(self) -> None:
        """The datasheet's Table 5, "UART Reset Configuration"; the SCR and the divisor are not reset."""
        self.ier = 0
        self.fcr = 0
        self.lcr = 0
        self.mcr = 0
        self.lsr = THRE | TEMT
        self.msr = NO_MODEM_INPUTS
        self.scr = 0
        self.divisor = RESET_DIVISOR
        self.rx: list[int] = []  # the receive FIFO (one byte deep with FIFOs off)
        self.thr_ipending = False
        self.incoming = b""  # the input still to arrive on the serial line
        self.next_arrival_ns: int | None = None  # when its first byte arrives; None while there is none

    def connect_irq(self, line: InterruptLine) -> None:
        self._line = line

    def give_input(self, data: bytes, now_ns: int = 0) -> None:
        """Send ``data`` down the serial line to the UART, from ``now_ns`` on: one byte a character time."""
        if len(self.incoming) + len(data) > MAX_INPUT_BYTES:
            raise ValueError(f"COM1 takes at most {MAX_INPUT_BYTES:,} bytes of input, not "
                             f"{len(self.incoming) + len(data):,}")
        if data and not self.incoming:
            self.next_arrival_ns = now_ns + character_ns(self.divisor)
        self.incoming += data

    def advance_to(self, now_ns: int) -> int | None:
        """The bytes due by ``now_ns`` arrive; when the next one will."""
        self._arrive(now_ns)
        return self.next_arrival_ns

    def _arrive(self, now_ns: int) -> None:
        arrived = False
        while self.next_arrival_ns is not None and self.next_arrival_ns <= now_ns:
            byte, self.incoming = self.incoming[0], self.incoming[1:]
            if not self.mcr & LOOP:  # loopback disconnects the serial input: the byte is lost
                self._receive(byte)
                arrived = True
            self.next_arrival_ns = self.next_arrival_ns + character_ns(self.divisor) if self.incoming else None
        if arrived:
            self._update_irq()

    def register_name(self, port: int) -> str:
        return REGISTER_NAMES[bool(self.lcr & DLAB)][port - self.base]

    # --- the guest's accesses ------------------------------------------------------

    def read(self, port: int, width: int, now_ns: int) -> int:
        self._arrive(now_ns)
        # The UART's bus is 8 bits wide: a wider access is one byte access per port, as the ISA bus splits it.
        value = 0
        for lane in range(width):
            byte = self._read_byte(port + lane) if port + lane < self.base + 8 else 0xFF
            value |= byte << 8 * lane
        return value

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        self._arrive(now_ns)  # what arrived before the write arrived at the settings then
        for lane in range(width):
            if port + lane < self.base + 8:
                self._write_byte(port + lane, value >> 8 * lane)

    def _read_byte(self, port: int) -> int:
        offset = port - self.base
        if offset == 0:
            return self.divisor & 0xFF if self.lcr & DLAB else self._read_rbr()
        if offset == 1:
            return self.divisor >> 8 if self.lcr & DLAB else self.ier
        if offset == 2:
            return self._read_iir()
        if offset == 5:
            return self._read_lsr()
        if offset == 6:
            return self._read_msr()
        return (self.lcr, self.mcr, self.scr)[(3, 4, 7).index(offset)]

    def _write_byte(self, port: int, value: int) -> None:
        offset, value = port - self.base, value & 0xFF
        if offset == 0:
            if self.lcr & DLAB:
                self.divisor = (self.divisor & 0xFF00) | value
            else:
                self._transmit(value)
        elif offset == 1:
            if self.lcr & DLAB:
                self.divisor = (self.divisor & 0x00FF) | value << 8
            else:
                self._write_ier(value)
        elif offset == 2:
            self._write_fcr(value)
        elif offset == 3:
            self.lcr = value
        elif offset == 4:
            self._write_mcr(value)
        elif offset == 7:
            self.scr = value
        # The LSR and MSR are read-only here: a write to them is for factory testing (datasheet note 4).
        self._update_irq()

    # --- the registers ----------------------------------------------------------------

    def _transmit(self, byte: int) -> None:
        if self.mcr & LOOP:
            self._receive(byte)
        else:
            self._on_transmit(byte)
        self.lsr |= THRE | TEMT  # sent at once: the holding and shift registers are empty again
        self.thr_ipending = True

    def _receive(self, byte: int) -> None:
        depth = FIFO_BYTES if self.fcr & FIFO_ENABLE else 1
        if len(self.rx) < depth:
            self.rx.append(byte)
        elif self.fcr & FIFO_ENABLE:
            self.lsr |= OE  # a full FIFO keeps its bytes; the one in the shift register is lost
        else:
            self.rx[-1] = byte  # without FIFOs the new byte overwrites the unread one
            self.lsr |= OE
        self.lsr |= DR

    def _read_rbr(self) -> int:
        if not self.rx:
            return 0
        byte = self.rx.pop(0)
        if not self.rx:
            self.lsr &= ~DR
        self._update_irq()
        return byte

    def _read_iir(self) -> int:
        iir = self._identification()
        if iir == IIR_THRE:
            self.thr_ipending = False  # reading the IIR clears a THRE interrupt it reports
            self._update_irq()
        return iir | (IIR_FIFOS if self.fcr & FIFO_ENABLE else 0)

    def _read_lsr(self) -> int:
        lsr = self.lsr
        self.lsr &= ~(LINE_ERRORS | FIFO_ERROR)
        self._update_irq()
        return lsr

    def _read_msr(self) -> int:
        msr = self.msr
        self.msr &= ~(DCTS | DDSR | TERI | DDCD)
        self._update_irq()
        return msr

    def _write_ier(self, value: int) -> None:
        if value & ETBEI and not self.ier & ETBEI and self.lsr & THRE:
            self.thr_ipending = True  # enabled while the THR is empty: the interrupt comes at once
        self.ier = value & 0x0F

    def _write_fcr(self, value: int) -> None:
        if (value ^ self.fcr) & FIFO_ENABLE or value & RCVR_RESET:
            self.rx.clear()  # changing the FIFO mode clears the FIFOs (datasheet, FCR bit 0)
            self.lsr &= ~DR
        self.fcr = value & 0xC9  # the reset bits clear themselves

    def _write_mcr(self, value: int) -> None:
        self.mcr = value & 0x1F
        inputs = loopback_inputs(self.mcr) if self.mcr & LOOP else NO_MODEM_INPUTS
        self._set_inputs(inputs)

    def _set_inputs(self, inputs: int) -> None:
        old = self.msr & 0xF0
        changed = old ^ inputs
        deltas = (changed >> 4) & (DCTS | DDSR | DDCD)
        if old & RI and not inputs & RI:
            deltas |= TERI  # RI's trailing edge only
        self.msr = (self.msr & 0x0F) | deltas | inputs

    # --- the interrupt ------------------------------------------------------------------

    def _identification(self) -> int:
        """The highest-priority pending interrupt the IER enables (datasheet Table 4)."""
        if self.ier & ELSI and self.lsr & LINE_ERRORS:
            return IIR_RLS
        if self.ier & ERBFI and self.rx:
            trigger = TRIGGER_LEVELS[self.fcr >> 6] if self.fcr & FIFO_ENABLE else 1
            return IIR_RDA if len(self.rx) >= trigger else IIR_TIMEOUT
        if self.ier & ETBEI and self.thr_ipending:
            return IIR_THRE
        if self.ier & EDSSI and self.msr & 0x0F:
            return IIR_MODEM
        return NO_INTERRUPT

    def _update_irq(self) -> None:
        if self._line is not None:
            gated = bool(self.mcr & OUT2) and not self.mcr & LOOP
            self._line.set(gated and self._identification() != NO_INTERRUPT)

    # --- saved state --------------------------------------------------------------------

    def state(self, now_ns: int) -> dict[str, object]:
        # Bytes due but not yet looked at stay on their way: they arrive at the same times after a restore, and
        # saving moves no interrupt line (the PIC's state may be saved already).
        return {"ier": self.ier, "fcr": self.fcr, "lcr": self.lcr, "mcr": self.mcr, "lsr": self.lsr,
                "msr": self.msr, "scr": self.scr, "divisor": self.divisor, "rx": list(self.rx),
                "thr_ipending": self.thr_ipending, "incoming": self.incoming.hex(),
                "next_arrival_ns": self.next_arrival_ns, "saved_ns": now_ns}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        for name in ("ier", "fcr", "lcr", "mcr", "lsr", "msr", "scr"):
            value = state.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFF:
                raise ValueError(f"field {name!r} is missing or not a byte")
            setattr(self, name, value)
        divisor, rx, pending = state.get("divisor"), state.get("rx"), state.get("thr_ipending")
        if not isinstance(divisor, int) or isinstance(divisor, bool) or not 0 <= divisor <= 0xFFFF:
            raise ValueError("field 'divisor' is missing or not 16 bits")
        if not isinstance(rx, list) or len(rx) > FIFO_BYTES or not all(
                isinstance(byte, int) and not isinstance(byte, bool) and 0 <= byte <= 0xFF for byte in rx):
            raise ValueError(f"field 'rx' is missing or not a list of at most {FIFO_BYTES} bytes")
        if not isinstance(pending, bool):
            raise ValueError("field 'thr_ipending' is missing or not true/false")
        self.divisor, self.rx, self.thr_ipending = divisor, list(rx), pending
        self.incoming, self.next_arrival_ns = _incoming(state, now_ns)


def _incoming(state: dict[str, object], now_ns: int) -> tuple[bytes, int | None]:
    """The saved input still to arrive, and when its first byte does (as far from ``now_ns`` as from the save)."""
    text, arrival, saved_ns = state.get("incoming"), state.get("next_arrival_ns"), state.get("saved_ns")
    if saved_ns is not None and not (isinstance(saved_ns, int) and not isinstance(saved_ns, bool) and saved_ns >= 0):
        raise ValueError("field 'saved_ns' is not a time in ns, or null")
    try:
        incoming = bytes.fromhex(text) if isinstance(text, str) else None
    except ValueError:
        incoming = None
    if incoming is None or len(incoming) > MAX_INPUT_BYTES:
        raise ValueError(f"field 'incoming' is missing or not at most {MAX_INPUT_BYTES:,} bytes in hex")
    waiting = isinstance(arrival, int) and not isinstance(arrival, bool) and arrival >= 0
    if bool(incoming) != waiting or (arrival is not None and not waiting):
        raise ValueError("field 'next_arrival_ns' is not a time in ns, with input to come, or null without")
    if not waiting:
        return incoming, None
    return incoming, max(0, arrival + now_ns - saved_ns) if saved_ns is not None else arrival

