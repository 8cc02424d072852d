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


# --- receiving: the user's input on the serial line, at the line's rate ----------------------------------

CHARACTER_AT_9600 = 1_041_667  # 10 bits x 16 x 12 / 1.8432 MHz, rounded up
CHARACTER_AT_115200 = 86_806  # the same at divisor 1


def test_input_arrives_one_character_time_apart_at_the_reset_rate_and_sets_dr():
    device, _, _ = uart()
    device.give_input(b"ab")
    assert device.read(LSR, 1, CHARACTER_AT_9600 - 1) & 0x01 == 0
    assert device.read(LSR, 1, CHARACTER_AT_9600) & 0x01 == 1
    assert device.read(BASE, 1, CHARACTER_AT_9600) == ord("a")
    assert device.read(LSR, 1, CHARACTER_AT_9600) & 0x01 == 0  # read: DR clears until the next arrives
    assert device.read(BASE, 1, 2 * CHARACTER_AT_9600) == ord("b")
    assert device.advance_to(2 * CHARACTER_AT_9600) is None  # nothing more to come


def test_the_rate_is_the_divisor_latchs_when_the_byte_before_arrived():
    device, _, _ = uart()
    device.write(LCR, 1, 0x83, 0)
    device.write(THR, 1, 1, 0)  # DLL 1: 115200 baud
    device.write(LCR, 1, 0x03, 0)
    device.give_input(b"xy", now_ns=1_000)
    assert device.advance_to(0) == 1_000 + CHARACTER_AT_115200
    assert device.advance_to(1_000 + CHARACTER_AT_115200) == 1_000 + 2 * CHARACTER_AT_115200


def test_received_data_raises_irq_4_with_erbfi_and_out2_and_reading_rbr_lowers_it():
    device, _, line = uart()
    device.write(MCR, 1, OUT2, 0)
    device.write(IER, 1, 0x01, 0)  # ERBFI
    device.give_input(b"z")
    assert device.advance_to(CHARACTER_AT_9600 - 1) == CHARACTER_AT_9600 and not line.level
    assert device.advance_to(CHARACTER_AT_9600) is None and line.level
    assert device.read(IIR, 1, CHARACTER_AT_9600) == 0x04  # received data available
    assert device.read(BASE, 1, CHARACTER_AT_9600) == ord("z") and not line.level


def test_a_second_byte_unread_is_an_overrun_and_loopback_loses_what_arrives():
    device, _, _ = uart()
    device.give_input(b"123")
    device.advance_to(2 * CHARACTER_AT_9600)
    assert device.read(LSR, 1, 2 * CHARACTER_AT_9600) & 0x03 == 0x03  # DR and OE: no FIFO, "1" overwritten
    assert device.read(BASE, 1, 2 * CHARACTER_AT_9600) == ord("2")
    device.write(MCR, 1, LOOP, 2 * CHARACTER_AT_9600)
    assert device.read(LSR, 1, 3 * CHARACTER_AT_9600) & 0x01 == 0  # "3" arrived while the input was cut off


def test_the_input_still_to_come_is_saved_and_goes_on_after_a_restore():
    device, _, _ = uart()
    device.give_input(b"abc")
    saved = device.state(CHARACTER_AT_9600)  # "a" has arrived, "bc" is on its way
    fresh, _, _ = uart()
    fresh.restore(saved, CHARACTER_AT_9600)
    assert fresh.read(BASE, 1, CHARACTER_AT_9600) == ord("a")
    assert fresh.read(BASE, 1, 2 * CHARACTER_AT_9600) == ord("b")
    with pytest.raises(ValueError, match="next_arrival_ns"):
        fresh.restore({**saved, "next_arrival_ns": None}, 0)
    with pytest.raises(ValueError, match="incoming"):
        fresh.restore({**saved, "incoming": "zz"}, 0)


def test_a_version_1_state_loads_with_no_input_on_its_way():
    import json

    from pmtimer_harness.devices.uart16550 import _input_added, _saved_time_added

    device, _, _ = uart()
    added_since = ("incoming", "next_arrival_ns", "saved_ns")
    old = {key: value for key, value in device.state(0).items() if key not in added_since}
    upgraded = json.loads(_saved_time_added(_input_added(json.dumps(old).encode())))
    fresh, _, _ = uart()
    fresh.restore(upgraded, 0)
    assert (fresh.incoming, fresh.next_arrival_ns) == (b"", None)


def test_more_input_than_com1_takes_is_refused():
    from pmtimer_harness.devices.uart16550 import MAX_INPUT_BYTES

    device, _, _ = uart()
    with pytest.raises(ValueError, match="at most"):
        device.give_input(bytes(MAX_INPUT_BYTES + 1))


# The guest sets 115200 baud, then echoes each byte it receives until a newline.
POLLING_ECHO = """\
        %include "report.inc"
guest_main:
        mov     dx, 0x3FB
        mov     al, 0x83                ; DLAB
        out     dx, al
        mov     dx, 0x3F8
        mov     al, 1                   ; DLL 1: 115200 baud
        out     dx, al
        mov     dx, 0x3FB
        mov     al, 0x03
        out     dx, al
receive: mov    ecx, 10000              ; a UART that never says data ready is a failure, not a hang
poll_lsr: mov   dx, 0x3FD
        in      al, dx
        test    al, 0x01                ; DR
        jnz     got
        dec     ecx
        jnz     poll_lsr
        CHECK   nz, "data ready within 10,000 reads of the LSR (10 ms, 115 characters)"
        FINISH
got:    mov     dx, 0x3F8
        in      al, dx
        out     dx, al                  ; echo it
        cmp     al, 10
        jne     receive
        FINISH
"""


def test_a_guest_echoes_what_it_receives_by_polling_the_lsr(tmp_path):
    run = run_source(tmp_path, POLLING_ECHO, uart_input=b"hello\n")
    assert run.result.verdict.value == "pass", run.result.console
    assert run.result.console.startswith("hello\n")
    assert run.result.virtual_ns >= 6 * CHARACTER_AT_115200  # the bytes came at the line's rate


class NeverReady(Uart16550):
    def read(self, port: int, width: int, now_ns: int) -> int:
        value = super().read(port, width, now_ns)
        return value & ~0x01 if port == LSR else value


def test_a_uart_that_never_says_data_ready_fails_the_echo_guest(tmp_path, monkeypatch):
    monkeypatch.setattr(board_module, "Uart16550", NeverReady)
    run = run_source(tmp_path, POLLING_ECHO, uart_input=b"hello\n")
    assert run.result.verdict.value == "fail"
    assert "data ready within 10,000 reads" in run.result.console


# Interrupt-driven: IRQ 4 (vector 0x0C) on received data; the CPU halts between bytes.
INTERRUPT_ECHO = """\
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
        mov     al, 0xEF                ; IRQ 4 alone
        out     0x21, al
        mov     word [0x0C * 4], irq4
        mov     word [0x0C * 4 + 2], 0
        mov     dx, 0x3FC
        mov     al, 0x08                ; OUT2
        out     dx, al
        mov     dx, 0x3F9
        mov     al, 0x01                ; ERBFI
        out     dx, al
        mov     ecx, 1000000
idle:   sti
        cmp     byte [done], 1
        je      finished
        dec     ecx
        jnz     idle
        CHECK   nz, "the line ends within a million waits"
        FINISH
finished:
        cmp     word [interrupts], 3
        CHECK   e, "one received-data interrupt a byte"
        FINISH

irq4:   push    ax
        push    dx
        inc     word [interrupts]
        mov     dx, 0x3F8
        in      al, dx
        out     dx, al
        cmp     al, 10
        jne     .eoi
        mov     byte [done], 1
.eoi:   mov     al, 0x20
        out     0x20, al
        pop     dx
        pop     ax
        iret

interrupts: dw  0
done:       db  0
"""


def test_a_guest_echoes_by_received_data_interrupts_on_irq_4(tmp_path):
    run = run_source(tmp_path, INTERRUPT_ECHO, uart_input=b"ok\n")
    assert run.result.verdict.value == "pass", run.result.console
    assert run.result.console.startswith("ok\n")


class NeverInterrupts(Uart16550):
    def _update_irq(self) -> None:
        if self._line is not None:
            self._line.set(False)


def test_a_uart_whose_received_data_never_interrupts_fails_the_interrupt_guest(tmp_path, monkeypatch):
    monkeypatch.setattr(board_module, "Uart16550", NeverInterrupts)
    run = run_source(tmp_path, INTERRUPT_ECHO, uart_input=b"ok\n")
    assert run.result.verdict.value == "fail"
    assert "the line ends within a million waits" in run.result.console


def test_input_for_a_platform_without_com1_is_refused_in_one_line(tmp_path):
    from pmtimer_harness.core.config import ConfigError

    with pytest.raises(ConfigError, match="platform xen has no COM1"):
        run_source(tmp_path, POLLING_ECHO, "--platform", "xen", uart_input=b"x")


def test_a_halted_guest_wakes_for_each_byte_as_it_arrives(tmp_path):
    waiting = """        mov     ecx, 1000000
idle:   sti
        cmp     byte [done], 1
        je      finished
        dec     ecx
        jnz     idle
        CHECK   nz, "the line ends within a million waits"
        FINISH
"""
    halting = """idle:   sti
        hlt                             ; woken by the next byte's interrupt
        cmp     byte [done], 1
        jne     idle
"""
    assert waiting in INTERRUPT_ECHO
    run = run_source(tmp_path, INTERRUPT_ECHO.replace(waiting, halting), uart_input=b"ok\n")
    assert run.result.verdict.value == "pass", run.result.report
    assert run.result.console.startswith("ok\n")
    assert run.result.virtual_ns >= 3 * CHARACTER_AT_9600  # the reset rate: the guest left the divisor alone


def test_with_fifos_input_queues_to_sixteen_and_the_trigger_level_decides_received_data_over_timeout():
    device, _, _ = uart()
    device.write(IIR, 1, 0x41, 0)  # FCR: FIFOs on, trigger level 4
    device.write(IER, 1, 0x01, 0)
    device.give_input(bytes(range(1, 21)))
    device.advance_to(3 * CHARACTER_AT_9600)
    assert device.read(IIR, 1, 3 * CHARACTER_AT_9600) == 0xC0 | 0x0C  # three bytes, under the trigger: timeout
    device.advance_to(4 * CHARACTER_AT_9600)
    assert device.read(IIR, 1, 4 * CHARACTER_AT_9600) == 0xC0 | 0x04  # four: received data available
    device.advance_to(20 * CHARACTER_AT_9600)
    assert device.read(LSR, 1, 20 * CHARACTER_AT_9600) & 0x03 == 0x03  # sixteen kept, the rest overran
    assert [device.read(BASE, 1, 20 * CHARACTER_AT_9600) for _ in range(16)] == list(range(1, 17))
