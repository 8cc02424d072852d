"""The 16550 UART at 0x3F8: registers after the PC16550D datasheet, IRQ 4, output on the console."""

from __future__ import annotations

import pytest
from guests import run_source
from pmtimer_harness.core import board as board_module
from pmtimer_harness.core.board import Board
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.devices.uart16550 import LOOP, OUT2, THRE, Uart16550

BASE = 0x3F8
THR, IER, IIR, LCR, MCR, LSR, MSR, SCR = BASE, BASE + 1, BASE + 2, BASE + 3, BASE + 4, BASE + 5, BASE + 6, BASE + 7


class Line:
    """An IRQ line that records its level."""

    def __init__(self) -> None:
        self.level = False

    def set(self, level: bool) -> None:
        self.level = bool(level)


def uart() -> tuple[Uart16550, bytearray, Line]:
    sent = bytearray()
    device = Uart16550(on_transmit=sent.append)
    line = Line()
    device.connect_irq(line)  # type: ignore[arg-type]
    return device, sent, line


def test_a_byte_written_to_thr_is_sent_and_the_lsr_says_empty_again():
    device, sent, _ = uart()
    device.write(THR, 1, ord("A"), 0)
    assert sent == b"A"
    assert device.read(LSR, 1, 0) == 0x60  # THRE and TEMT, no data


def test_dlab_switches_offsets_0_and_1_to_the_divisor_latch():
    device, sent, _ = uart()
    device.write(LCR, 1, 0x83, 0)
    device.write(THR, 1, 0x01, 0)  # DLL
    device.write(IER, 1, 0x00, 0)  # DLM
    assert (device.divisor, sent) == (1, bytearray())
    assert device.register_name(BASE) == "DLL"
    device.write(LCR, 1, 0x03, 0)
    assert device.read(IER, 1, 0) == 0


def test_the_thre_interrupt_reaches_irq_4_only_through_out2():
    device, _, line = uart()
    device.write(IER, 1, 0x02, 0)  # enabled while the THR is empty: pending at once
    assert not line.level  # OUT2 clear: the PC's gate is shut
    device.write(MCR, 1, OUT2, 0)
    assert line.level
    assert device.read(IIR, 1, 0) == 0x02  # THR empty, and reading it clears it
    assert not line.level
    assert device.read(IIR, 1, 0) == 0x01
    device.write(THR, 1, ord("x"), 0)  # the THR empties again at once
    assert line.level


def test_loopback_receives_what_is_sent_and_maps_the_modem_outputs_to_inputs():
    device, sent, line = uart()
    device.write(MCR, 1, LOOP | OUT2 | 0x03, 0)
    device.write(IER, 1, 0x01, 0)
    device.write(THR, 1, 0x5A, 0)
    assert sent == bytearray()
    assert device.read(LSR, 1, 0) & 0x01
    assert not line.level  # loopback forces OUT2 inactive
    assert device.read(IIR, 1, 0) == 0x04
    assert device.read(BASE, 1, 0) == 0x5A
    assert device.read(LSR, 1, 0) & 0x01 == 0
    assert device.read(MSR, 1, 0) & 0xF0 == 0x30 | 0x80  # CTS=RTS, DSR=DTR, DCD=OUT2


def test_a_second_byte_unread_without_fifos_is_an_overrun():
    device, _, _ = uart()
    device.write(MCR, 1, LOOP, 0)
    device.write(THR, 1, 1, 0)
    device.write(THR, 1, 2, 0)
    assert device.read(LSR, 1, 0) & 0x03 == 0x03
    assert device.read(LSR, 1, 0) & 0x02 == 0  # reading the LSR clears OE
    assert device.read(BASE, 1, 0) == 2


def test_state_restores_into_a_fresh_uart_and_bad_state_is_refused():
    device, _, _ = uart()
    device.write(SCR, 1, 0x42, 0)
    device.write(MCR, 1, LOOP, 0)
    device.write(THR, 1, 7, 0)
    fresh, _, _ = uart()
    fresh.restore(device.state(0), 0)
    assert fresh.state(0) == device.state(0)
    with pytest.raises(ValueError, match="rx"):
        fresh.restore({**device.state(0), "rx": [256]}, 0)


def test_the_board_puts_com1_on_irq_4_beside_the_debug_console():
    board = Board(MachineConfig())
    assert board.irq_name(4) == "uart16550"
    board.bus.write(THR, 1, ord("u"), 0)
    board.bus.write(0xE9, 1, ord("e"), 0)
    assert board.console.text == "ue"


POLLING_GUEST = """\
        %include "report.inc"
guest_main:
        mov     si, text
next:   lodsb
        test    al, al
        jz      done
        mov     bl, al
        mov     cx, 1000                ; a UART that never empties its THR is a failure, not a hang
poll:   mov     dx, 0x3FD               ; LSR
        in      al, dx
        test    al, 0x20                ; THRE
        jnz     send
        loop    poll
        CHECK   nz, "the THR empties within 1000 reads of the LSR"
        FINISH
send:   mov     dx, 0x3F8
        mov     al, bl
        out     dx, al
        jmp     next
done:   FINISH
text:   db      "hello through COM1", 10, 0
"""


def test_a_guest_polling_the_lsr_prints_through_com1(tmp_path):
    run = run_source(tmp_path, POLLING_GUEST)
    assert run.result.verdict.value == "pass"
    assert run.result.console.startswith("hello through COM1\n")


class NeverEmpty(Uart16550):
    def read(self, port: int, width: int, now_ns: int) -> int:
        value = super().read(port, width, now_ns)
        return value & ~THRE if port == LSR else value


def test_a_uart_whose_thr_never_empties_fails_the_polling_guest(tmp_path, monkeypatch):
    monkeypatch.setattr(board_module, "Uart16550", NeverEmpty)
    run = run_source(tmp_path, POLLING_GUEST)
    assert run.result.verdict.value == "fail"
    assert "hello" not in run.result.console
    assert "the THR empties within 1000 reads" in run.result.console


def test_a_golden_snapshot_from_before_com1_loads_with_the_uart_at_reset_and_one_note():
    from pathlib import Path

    from pmtimer_harness.core.snapshot import load

    machine = load((Path(__file__).parent / "data" / "monotonic-at-50000.snap").read_bytes())
    notes = [note for note in machine.warnings if "uart16550" in note]
    assert len(notes) == 1 and "reset state" in notes[0]
    assert machine.board.uart.state(0) == Uart16550(on_transmit=print).state(0)


def test_a_word_write_to_thr_is_two_byte_writes_thr_then_ier_as_the_isa_bus_splits_it():
    device, sent, _ = uart()
    device.write(THR, 2, 0x0241, 0)
    assert (sent, device.read(IER, 1, 0)) == (bytearray(b"A"), 0x02)
    assert device.read(LSR, 2, 0) == 0x0060 | device.msr << 8


class OnIrq4:
    name = "on-irq-4"
    irq = 4
    windows = ()

    def connect_irq(self, line) -> None:
        pass

    def read(self, port: int, width: int, now_ns: int) -> int:
        return 0

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        pass


def test_a_users_device_cannot_take_com1s_irq_4(tmp_path):
    from pmtimer_harness.core.config import ConfigError

    with pytest.raises(ConfigError, match="IRQ 4 is COM1's line"):
        run_source(tmp_path, "        jmp $\n", devices=[OnIrq4()])


# The PIC at the BIOS's base: IRQ 4 is the master's line 4, vector 0x0C; only it unmasked.
# Each THR-empty interrupt sends the next byte; the last one turns the interrupt off and says done.
INTERRUPT_DRIVEN = """\
        %include "report.inc"
guest_main:
        cli
        mov     al, 0x11
        out     0x20, al
        mov     al, 0x08
        out     0x21, al
        mov     al, 4
        out     0x21, al
        mov     al, 1
        out     0x21, al
        mov     al, 0xEF
        out     0x21, al
        mov     word [0x0C * 4], irq4
        mov     word [0x0C * 4 + 2], 0
        mov     dx, 0x3FC               ; MCR
        mov     al, MCR_VALUE
        out     dx, al
        mov     dx, 0x3F9               ; IER: ETBEI, with the THR empty: the first interrupt
        mov     al, 0x02
        out     dx, al
        sti
idle:   cmp     byte [done], 1          ; a busy wait: the handler does the work
        jne     idle
        cmp     word [interrupts], 8    ; seven bytes, and the one that found nothing left
        CHECK   e, "one THR-empty interrupt per byte, and one more"
        FINISH

irq4:   push    ax
        push    dx
        push    si
        inc     word [interrupts]
        mov     dx, 0x3FA               ; IIR: THR empty, and reading it clears it
        in      al, dx
        cmp     al, 0x02
        jne     .eoi
        mov     si, [next]
        lodsb
        mov     [next], si
        mov     dx, 0x3F8
        test    al, al
        jz      .last
        out     dx, al
        jmp     .eoi
.last:  mov     dx, 0x3F9
        out     dx, al                  ; IER 0: no more interrupts
        mov     byte [done], 1
.eoi:   mov     al, 0x20
        out     0x20, al
        pop     si
        pop     dx
        pop     ax
        iret

text:       db  "by irq", 10, 0
next:       dw  text
interrupts: dw  0
done:       db  0
"""


def test_a_guest_sends_a_line_one_thr_empty_interrupt_per_byte_on_irq_4(tmp_path):
    run = run_source(tmp_path, "%define MCR_VALUE 0x08\n" + INTERRUPT_DRIVEN, "--max-instructions", "100000")
    assert run.result.verdict.value == "pass", run.result.console
    assert run.result.console.startswith("by irq\n")


def test_without_out2_the_interrupt_never_reaches_the_pic_and_the_guest_waits_for_ever(tmp_path):
    run = run_source(tmp_path, "%define MCR_VALUE 0x00\n" + INTERRUPT_DRIVEN, "--max-instructions", "100000")
    assert run.result.verdict.value == "timeout"
    assert "by irq" not in run.result.console
